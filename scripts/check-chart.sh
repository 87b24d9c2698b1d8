#!/usr/bin/env bash
# Checks the Helm chart deploy/helm/nodecell:
#   1. `helm lint --strict` with the default values and each deploy/helm/nodecell/ci/*.yaml;
#   2. `helm template` of each against the oldest Kubernetes the chart supports and the newest
#      kubernetes-validate ships, every object validated against that version's API schemas
#      with --strict (unknown fields are errors; an object of an unknown kind is an error);
#   3. the ServiceMonitor (a CRD, in no core schema) decoded strictly into the Prometheus
#      Operator's own Go types (monitoring/v1) with its required fields and patterns checked;
#   4. cross-checks of the rendered objects: container ports, Services' targetPorts, probes'
#      ports and paths, the listen addresses in the environment, selectors, the HPA's metric
#      (a gauge of crates/nodecell-server/src/telemetry.rs), every NODECELL_* variable read by
#      nodecell's source, the drain covered by terminationGracePeriodSeconds, the
#      securityContext each backend needs;
#   5. values the chart must refuse are refused, and each validator catches a planted error.
# Exits non-zero on any failure.
#
# Tools go to target/tools (or $NODECELL_TOOLS_DIR, e.g. a directory CI keeps): helm (the
# `helm` on the PATH if there is one, else built with `go install` from the Go module proxy),
# kubernetes-validate from PyPI in a virtual environment, and the ServiceMonitor checker
# (Go, built against the Prometheus Operator's API module). Built once, reused afterwards.
# Needs go >= 1.26 (only when helm or the checker must be built) and python3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$SECONDS

HELM_VERSION=v4.3.2
HELM_FALLBACK_VERSION=v3.21.4
KUBERNETES_VALIDATE_VERSION=1.37.0
# kubernetes-validate's own dependencies, pinned as resolved for 1.37.0 on Python 3.11.
KUBERNETES_VALIDATE_DEPS=(
  attrs==26.1.0 importlib_resources==7.1.0 jsonschema==4.26.0
  jsonschema-specifications==2025.9.1 packaging==26.4 PyYAML==6.0.4 referencing==0.37.0
  rpds-py==2026.9.1 typing_extensions==4.16.0
)
MONITORING_API_VERSION=v0.95.2
# Kubernetes versions validated against: the chart's kubeVersion floor and the newest schemas.
KUBE_VERSIONS=(1.30.0 1.37.0)

CHART=deploy/helm/nodecell
TOOLS=${NODECELL_TOOLS_DIR:-$ROOT/target/tools}
mkdir -p "$TOOLS"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - START)); }

go_env() {
  env GOMODCACHE="$TOOLS/go/mod" GOCACHE="$TOOLS/go/cache" GOPATH="$TOOLS/go/path" \
    GOFLAGS="-modcacherw -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0 "$@"
}

# --- helm -------------------------------------------------------------------------------
step "helm"
if command -v helm >/dev/null 2>&1; then
  HELM=$(command -v helm)
else
  HELM=$TOOLS/helm-$HELM_VERSION/helm
  if [[ ! -x $HELM ]]; then
    command -v go >/dev/null || { echo "no helm on the PATH and no go to build it" >&2; exit 1; }
    t0=$SECONDS
    echo "building helm $HELM_VERSION with $(go version) (minutes on 2 cores)"
    if ! go_env GOBIN="$TOOLS/helm-$HELM_VERSION" go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"; then
      echo "helm $HELM_VERSION did not build; trying $HELM_FALLBACK_VERSION" >&2
      HELM=$TOOLS/helm-$HELM_FALLBACK_VERSION/helm
      [[ -x $HELM ]] || go_env GOBIN="$TOOLS/helm-$HELM_FALLBACK_VERSION" \
        go install "helm.sh/helm/v3/cmd/helm@$HELM_FALLBACK_VERSION"
    fi
    echo "built $HELM in $((SECONDS - t0)) s"
  fi
fi
"$HELM" version

# --- kubernetes-validate ----------------------------------------------------------------
step "kubernetes-validate"
VENV=$TOOLS/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION
PY=$VENV/bin/python
if ! "$PY" -c "import kubernetes_validate" 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "${KUBERNETES_VALIDATE_DEPS[@]}"
fi
"$VENV/bin/kubernetes-validate" --version

# --- ServiceMonitor checker ---------------------------------------------------------------
step "ServiceMonitor checker (monitoring.coreos.com/v1 $MONITORING_API_VERSION)"
SMCHECK_DIR=$TOOLS/smcheck-$MONITORING_API_VERSION
cat > "$WORK/main.go" <<'GO'
// Reads a JSON array of ServiceMonitor objects on stdin and checks each one as the
// Prometheus Operator's CRD would: decoded strictly (no unknown field, every type right) into
// the operator's own monitoring/v1 Go types, with the fields marked +required present and the
// +kubebuilder validation patterns and enums of the fields used here held.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

// monitoringv1.Duration's +kubebuilder:validation:Pattern.
var duration = regexp.MustCompile(`^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`)

func check(raw json.RawMessage) []string {
	var problems []string
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var sm monitoringv1.ServiceMonitor
	if err := dec.Decode(&sm); err != nil {
		return []string{"strict decode: " + err.Error()}
	}
	if got, want := sm.APIVersion, monitoringv1.SchemeGroupVersion.String(); got != want {
		problems = append(problems, fmt.Sprintf("apiVersion %q, want %q", got, want))
	}
	if sm.Kind != monitoringv1.ServiceMonitorsKind {
		problems = append(problems, fmt.Sprintf("kind %q", sm.Kind))
	}
	if sm.Name == "" {
		problems = append(problems, "metadata.name is empty")
	}
	// spec, spec.endpoints and spec.selector are +required.
	var shape struct {
		Spec map[string]json.RawMessage `json:"spec"`
	}
	_ = json.Unmarshal(raw, &shape)
	if shape.Spec == nil {
		problems = append(problems, "spec is missing")
	}
	for _, key := range []string{"endpoints", "selector"} {
		if _, ok := shape.Spec[key]; !ok {
			problems = append(problems, "spec."+key+" is missing")
		}
	}
	if len(sm.Spec.Endpoints) == 0 {
		problems = append(problems, "spec.endpoints is empty")
	}
	for i, e := range sm.Spec.Endpoints {
		if e.Port == "" && e.TargetPort == nil {
			problems = append(problems, fmt.Sprintf("endpoints[%d]: neither port nor targetPort", i))
		}
		for name, d := range map[string]monitoringv1.Duration{"interval": e.Interval, "scrapeTimeout": e.ScrapeTimeout} {
			if d != "" && !duration.MatchString(string(d)) {
				problems = append(problems, fmt.Sprintf("endpoints[%d].%s %q is not a duration", i, name, d))
			}
		}
		if e.Scheme != nil {
			switch *e.Scheme {
			case "http", "https", "HTTP", "HTTPS":
			default:
				problems = append(problems, fmt.Sprintf("endpoints[%d].scheme %q", i, *e.Scheme))
			}
		}
	}
	if len(sm.Spec.Selector.MatchLabels) == 0 && len(sm.Spec.Selector.MatchExpressions) == 0 {
		problems = append(problems, "spec.selector selects every Service")
	}
	return problems
}

func main() {
	var objects []json.RawMessage
	if err := json.NewDecoder(os.Stdin).Decode(&objects); err != nil {
		fmt.Fprintln(os.Stderr, "reading stdin:", err)
		os.Exit(2)
	}
	failed := false
	for i, raw := range objects {
		problems := check(raw)
		for _, p := range problems {
			fmt.Printf("ERROR ServiceMonitor #%d: %s\n", i, p)
		}
		if len(problems) > 0 {
			failed = true
		} else {
			fmt.Printf("OK ServiceMonitor #%d against monitoring.coreos.com/v1 types\n", i)
		}
	}
	if failed {
		os.Exit(1)
	}
}
GO
SMCHECK=$SMCHECK_DIR/smcheck
if [[ ! -x $SMCHECK ]] || ! cmp -s "$WORK/main.go" "$SMCHECK_DIR/main.go"; then
  command -v go >/dev/null || { echo "no go to build the ServiceMonitor checker" >&2; exit 1; }
  t0=$SECONDS
  mkdir -p "$SMCHECK_DIR"
  cp "$WORK/main.go" "$SMCHECK_DIR/main.go"
  cat > "$SMCHECK_DIR/go.mod" <<EOF
module nodecell.invalid/smcheck

go 1.26.0

require github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring $MONITORING_API_VERSION
EOF
  rm -f "$SMCHECK_DIR/go.sum" "$SMCHECK"
  (cd "$SMCHECK_DIR" && go_env go mod tidy && go_env go build -o smcheck .)
  echo "built $SMCHECK in $((SECONDS - t0)) s"
fi

# --- render -------------------------------------------------------------------------------
step "helm lint and template"
VALUE_SETS=(default)
for f in "$CHART"/ci/*.yaml; do VALUE_SETS+=("$f"); done
RENDERED=()
for set in "${VALUE_SETS[@]}"; do
  args=()
  [[ $set == default ]] || args=(-f "$set")
  "$HELM" lint --strict "$CHART" "${args[@]}"
  for kv in "${KUBE_VERSIONS[@]}"; do
    out=$WORK/$(basename "$set" .yaml)-$kv.yaml
    "$HELM" template nodecell-ci "$CHART" --namespace sandbox --kube-version "$kv" "${args[@]}" > "$out"
    RENDERED+=("$kv=$set=$out")
  done
done

# Values the chart must refuse.
refuse() {
  local why=$1; shift
  if "$HELM" template nodecell-ci "$CHART" "$@" > "$WORK/refused.out" 2>&1; then
    echo "FAIL: the chart rendered values it must refuse ($why): $*" >&2
    exit 1
  fi
  echo "refused as it should ($why): $(grep -o 'execution error.*' "$WORK/refused.out" | cut -c1-160)"
}
refuse "unknown backend" --set backend=docker
refuse "both PDB fields" --set podDisruptionBudget.minAvailable=1
refuse "grace period shorter than the drain" --set terminationGracePeriodSeconds=20
refuse "bad log format" --set logFormat=yaml
refuse "HPA min above max" --set autoscaling.enabled=true --set autoscaling.minReplicas=5 --set autoscaling.maxReplicas=2

# --- validate -----------------------------------------------------------------------------
step "validate every object"
"$PY" - "$ROOT" "$SMCHECK" "${RENDERED[@]}" <<'PY'
import json, re, subprocess, sys
from pathlib import Path

import yaml
from kubernetes_validate import utils as kv

root, smcheck, rendered = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
errors = []

def err(where, msg):
    errors.append(f"{where}: {msg}")
    print(f"ERROR {where}: {msg}")

# What nodecell's source says: the variables it reads, the gauges it exports.
source = "\n".join(p.read_text() for p in (root / "crates").glob("*/src/**/*.rs"))
telemetry = (root / "crates/nodecell-server/src/telemetry.rs").read_text()
consts = dict(re.findall(r'pub const (\w+): &str = "(\w+)";', telemetry))
gauges = {consts[c] for c in re.findall(r"name: (\w+), kind: Kind::Gauge", telemetry)}
assert "nodecell_runs_in_flight" in gauges, gauges

def validate_core(obj, version, where):
    try:
        kv.validate(obj, version, strict=True)
    except kv.ValidationError as e:
        err(where, f"{'.'.join(map(str, e.path))}: {e.message}")
    except kv.SchemaNotFoundError as e:
        err(where, f"no schema: {e.message}")

def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

def port_of(ports, ref):
    """The container port a Service targetPort / probe port / policy port refers to."""
    for p in ports:
        if ref == p.get("name") or ref == p["containerPort"]:
            return p
    return None

def duration_s(ms):
    return -(-int(ms) // 1000)

def check_set(version, values, objs):
    tag = f"[{Path(values).name} k8s {version}]"
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    (dep,) = by_kind["Deployment"]
    pod = dep["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    if not labels_match(dep["spec"]["selector"]["matchLabels"], pod_labels):
        err(tag, "the Deployment's selector does not match its pods")
    spec = pod["spec"]
    (c,) = spec["containers"]
    ports = c["ports"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}
    named = {p["name"]: p["containerPort"] for p in ports}
    if set(named) != {"http", "grpc"}:
        err(tag, f"container ports {named}")
    # nodecell listens where the ports say.
    for var, name in (("NODECELL_HTTP_LISTEN", "http"), ("NODECELL_GRPC_LISTEN", "grpc")):
        listen = env.get(var, "")
        if not listen.endswith(f":{named.get(name)}"):
            err(tag, f"{var}={listen!r} is not on container port {name} ({named.get(name)})")
        if listen.startswith(("127.", "localhost", "[::1]")):
            err(tag, f"{var}={listen!r} listens on loopback only")
    for name in env:
        if name.startswith("NODECELL_") and f'"{name}"' not in source:
            err(tag, f"env {name} is read nowhere in crates/*/src")
    # Probes: the ports exist, the paths are nodecell's.
    live, ready = c.get("livenessProbe"), c.get("readinessProbe")
    for probe, path in ((live, "/healthz"), (ready, "/readyz")):
        g = (probe or {}).get("httpGet")
        if not g or g.get("path") != path or port_of(ports, g.get("port")) is None \
                or port_of(ports, g.get("port"))["name"] != "http":
            err(tag, f"probe for {path} is not an httpGet on the http port: {probe}")
    start = c.get("startupProbe")
    if start is not None:
        g = start.get("grpc")
        if not g or port_of(ports, g["port"]) is None or port_of(ports, g["port"])["name"] != "grpc":
            err(tag, f"startupProbe is not gRPC health on the grpc port: {start}")
    # Services: each targets a container port and selects the pods.
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    for role in ("http", "grpc"):
        svc = [s for s in services.values() if s["metadata"]["labels"].get("app.kubernetes.io/component") == role]
        if len(svc) != 1:
            err(tag, f"{len(svc)} Services for {role}")
            continue
        s = svc[0]
        if not labels_match(s["spec"]["selector"], pod_labels):
            err(tag, f"Service {s['metadata']['name']} does not select the pods")
        for sp in s["spec"]["ports"]:
            target = port_of(ports, sp.get("targetPort", sp["port"]))
            if target is None or target["name"] != role:
                err(tag, f"Service {s['metadata']['name']} port {sp} targets no {role} container port")
    # The drain fits the grace period.
    pre = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
    grace = duration_s(env.get("NODECELL_SHUTDOWN_GRACE_MS", 10000))
    if spec.get("terminationGracePeriodSeconds", 30) < pre + grace:
        err(tag, f"terminationGracePeriodSeconds {spec.get('terminationGracePeriodSeconds')} < preStop {pre} + grace {grace}")
    # Least privilege, and what the backend needs.
    sc, psc = c.get("securityContext", {}), spec.get("securityContext", {})
    for key, want in (("allowPrivilegeEscalation", False), ("readOnlyRootFilesystem", True),
                      ("runAsNonRoot", True)):
        if sc.get(key, psc.get(key)) is not want:
            err(tag, f"securityContext.{key} is not {want}")
    if sc.get("privileged"):
        err(tag, "privileged")
    if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc.get("capabilities", {}).get("add"):
        err(tag, f"capabilities {sc.get('capabilities')}")
    if spec.get("automountServiceAccountToken") is not False:
        err(tag, "the service account token is mounted")
    backend = env.get("NODECELL_BACKEND")
    want = "Unconfined" if backend in ("native", "nsjail") else "RuntimeDefault"
    for key in ("seccompProfile", "appArmorProfile"):
        if sc.get(key, {}).get("type") != want:
            err(tag, f"backend {backend}: {key} {sc.get(key)}, want {want}")
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    if "/tmp" not in mounts or mounts["/tmp"].get("readOnly"):
        err(tag, "no writable /tmp on a read-only root")
    # PodDisruptionBudget, NetworkPolicy, HPA, ServiceMonitor.
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not labels_match(pdb["spec"]["selector"]["matchLabels"], pod_labels):
            err(tag, "the PodDisruptionBudget does not select the pods")
    for np in by_kind.get("NetworkPolicy", []):
        if not labels_match(np["spec"]["podSelector"]["matchLabels"], pod_labels):
            err(tag, "the NetworkPolicy does not select the pods")
        if sorted(np["spec"].get("policyTypes", [])) != ["Egress", "Ingress"] or np["spec"].get("egress"):
            err(tag, "the NetworkPolicy allows egress")
        allowed = set()
        for rule in np["spec"].get("ingress", []):
            for p in rule.get("ports", []):
                target = port_of(ports, p.get("port"))
                if target is None:
                    err(tag, f"NetworkPolicy port {p} is no container port")
                else:
                    allowed.add(target["name"])
        if allowed != {"http", "grpc"}:
            err(tag, f"NetworkPolicy lets in {allowed}, want http and grpc")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        ref = hpa["spec"]["scaleTargetRef"]
        if (ref["kind"], ref["name"]) != ("Deployment", dep["metadata"]["name"]):
            err(tag, f"the HPA scales {ref}")
        if "replicas" in dep["spec"]:
            err(tag, "the Deployment sets replicas under an HPA")
        for m in hpa["spec"]["metrics"]:
            if m["type"] == "Pods" and m["pods"]["metric"]["name"] not in gauges:
                err(tag, f"HPA metric {m['pods']['metric']['name']} is not a gauge of telemetry.rs ({sorted(gauges)})")
    http_svc = [s for s in services.values() if s["metadata"]["labels"].get("app.kubernetes.io/component") == "http"]
    for sm in by_kind.get("ServiceMonitor", []):
        sel = sm["spec"]["selector"].get("matchLabels", {})
        hits = [s for s in services.values() if labels_match(sel, s["metadata"]["labels"])]
        if hits != http_svc:
            err(tag, f"the ServiceMonitor selects {[s['metadata']['name'] for s in hits]}, want the HTTP Service")
        names = {p.get("name") for s in http_svc for p in s["spec"]["ports"]}
        for e in sm["spec"]["endpoints"]:
            if e.get("port") not in names or e.get("path") != "/metrics":
                err(tag, f"ServiceMonitor endpoint {e} is not /metrics on the HTTP Service's port")
    return by_kind.get("ServiceMonitor", [])

service_monitors = []
counted = 0
for item in rendered:
    version, values, path = item.split("=", 2)
    objs = [o for o in yaml.safe_load_all(Path(path).read_text()) if o]
    for o in objs:
        where = f"[{Path(values).name} k8s {version}] {o['kind']}/{o['metadata']['name']}"
        if o["apiVersion"] == "monitoring.coreos.com/v1":
            continue
        validate_core(o, version, where)
        counted += 1
    service_monitors += check_set(version, values, objs)
    kinds = sorted({o["kind"] for o in objs})
    print(f"checked {Path(values).name} against Kubernetes {version}: {len(objs)} objects ({', '.join(kinds)})")

if not service_monitors:
    err("ServiceMonitor", "no value set renders one")
r = subprocess.run([smcheck], input=json.dumps(service_monitors), text=True, capture_output=True)
print(r.stdout, end="")
if r.returncode != 0:
    err("ServiceMonitor", r.stderr.strip() or "invalid")

# The validators catch what they must: a planted unknown field, a planted wrong type.
dep = next(o for o in yaml.safe_load_all(Path(rendered[0].split("=", 2)[2]).read_text()) if o and o["kind"] == "Deployment")
dep["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/healthz"
try:
    kv.validate(dep, "1.30.0", strict=True)
    err("self-test", "kubernetes-validate --strict accepted an unknown field")
except kv.ValidationError:
    pass
bad = json.loads(json.dumps(service_monitors[0])) if service_monitors else {}
bad.setdefault("spec", {})["endpoint"] = bad.get("spec", {}).pop("endpoints", [])
r = subprocess.run([smcheck], input=json.dumps([bad]), text=True, capture_output=True)
if r.returncode == 0:
    err("self-test", "the ServiceMonitor checker accepted spec.endpoint")

print(f"{counted} core objects valid (--strict), {len(service_monitors)} ServiceMonitors checked")
if errors:
    print(f"{len(errors)} problem(s)")
    sys.exit(1)
PY

step "chart OK"
