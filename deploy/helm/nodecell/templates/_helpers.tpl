{{/* The chart's name, or nameOverride. */}}
{{- define "nodecell.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The full name of the release's objects: fullnameOverride, else "<release>-<name>" (just the
release when it already holds the name). 53 characters at most, so that "-http" and "-grpc"
still fit a Service's 63.
*/}}
{{- define "nodecell.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 53 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 53 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 53 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "nodecell.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "nodecell.labels" -}}
helm.sh/chart: {{ include "nodecell.chart" . }}
{{ include "nodecell.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The labels that select the release's pods. */}}
{{- define "nodecell.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nodecell.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "nodecell.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "nodecell.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "nodecell.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
The backends this chart runs, and the confinement of the nodecell container each needs:
native and nsjail create user and mount namespaces and mount inside them, which the
runtime's default seccomp profile (clone/unshare with namespace flags, mount, umount2,
pivot_root, sethostname) and AppArmor profile (mount) refuse to a container without
CAP_SYS_ADMIN; landlock needs neither (Landlock and seccomp are in the default profile).
*/}}
{{- define "nodecell.needsNamespaces" -}}
{{- if has .Values.backend (list "native" "nsjail") -}}true{{- end -}}
{{- end -}}

{{- define "nodecell.securityContext" -}}
{{- $ctx := deepCopy .Values.securityContext -}}
{{- $profile := ternary "Unconfined" "RuntimeDefault" (eq (include "nodecell.needsNamespaces" .) "true") -}}
{{- if not (hasKey $ctx "seccompProfile") -}}
{{- $_ := set $ctx "seccompProfile" (dict "type" $profile) -}}
{{- end -}}
{{- if not (hasKey $ctx "appArmorProfile") -}}
{{- $_ := set $ctx "appArmorProfile" (dict "type" $profile) -}}
{{- end -}}
{{- toYaml $ctx -}}
{{- end -}}

{{/* Refuses values that would deploy something broken. */}}
{{- define "nodecell.validate" -}}
{{- if not (has .Values.backend (list "native" "nsjail" "landlock")) -}}
{{- fail (printf "backend %q: this chart runs native, nsjail or landlock (docker and gvisor need a Docker Engine socket)" .Values.backend) -}}
{{- end -}}
{{- if and .Values.profile (not (has .Values.profile (list "node" "avs"))) -}}
{{- fail (printf "profile %q: node or avs (or empty)" .Values.profile) -}}
{{- end -}}
{{- if not (has .Values.logFormat (list "text" "json")) -}}
{{- fail (printf "logFormat %q: text or json" .Values.logFormat) -}}
{{- end -}}
{{- if lt (int .Values.maxConcurrent) 1 -}}
{{- fail "maxConcurrent must be at least 1" -}}
{{- end -}}
{{- $drain := add (int .Values.preStopSleepSeconds) (div (add (int64 .Values.shutdownGraceMs) 999) 1000) -}}
{{- if lt (int64 .Values.terminationGracePeriodSeconds) (int64 $drain) -}}
{{- fail (printf "terminationGracePeriodSeconds %v does not cover the drain: preStopSleepSeconds %v + shutdownGraceMs %v need at least %v s" .Values.terminationGracePeriodSeconds .Values.preStopSleepSeconds .Values.shutdownGraceMs $drain) -}}
{{- end -}}
{{- with .Values.podDisruptionBudget -}}
{{- $min := include "nodecell.optional" .minAvailable -}}
{{- $max := include "nodecell.optional" .maxUnavailable -}}
{{- if and .enabled (ne $min "") (ne $max "") -}}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both" -}}
{{- end -}}
{{- if and .enabled (eq $min "") (eq $max "") -}}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling: minReplicas is above maxReplicas" -}}
{{- end -}}
{{- end -}}

{{/* An int-or-string value: a number as a number, "50%" quoted. */}}
{{- define "nodecell.intOrString" -}}
{{- if regexMatch "^[0-9]+$" (toString .) -}}{{ . }}{{- else -}}{{ . | quote }}{{- end -}}
{{- end -}}

{{/* A value as text, "" when it is unset (null or ""); 0 stays "0". */}}
{{- define "nodecell.optional" -}}
{{- if not (kindIs "invalid" .) -}}{{ toString . }}{{- end -}}
{{- end -}}
