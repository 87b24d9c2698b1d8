//! Every setting of `nodecell serve` that is one value, as data: its key in the TOML file, its
//! environment variable, its flag, its unit and what it means. The configuration's loading
//! applies the variables and the flags from this table, and the command line's `serve --help`
//! is made from it (with each default, read from [`ServerConfig::default`]). Only
//! `[engine] sandbox_env` (a list of pairs) and the deprecated flat keys are file-only.

use std::path::PathBuf;

use nodecell::enforcement::Protection;
use nodecell::EngineConfig;

use crate::config::{listen_addr, ServerConfig};

/// One setting.
pub struct Setting {
    /// The key in the TOML file (sections joined by dots).
    pub key: &'static str,
    /// The environment variable.
    pub env: &'static str,
    /// The flag, without its leading `--`.
    pub flag: &'static str,
    /// What its value is counted in, or its form.
    pub unit: &'static str,
    pub help: &'static str,
    /// Its value in `c`, as it would be written (for defaults in `--help`; empty: unset).
    pub get: fn(&ServerConfig) -> String,
    /// Sets it in `c` from text.
    pub set: fn(&mut ServerConfig, &str) -> Result<(), String>,
}

fn number<T: std::str::FromStr>(v: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    v.trim().parse().map_err(|e| format!("{v:?}: {e}"))
}

/// A path nodecell finds at start when nothing sets it (docs/configuration.md says where it
/// looks), shown as such while it is the unlocated default.
fn located(p: &std::path::Path, unlocated: &std::path::Path) -> String {
    if p == unlocated {
        "found at start (docs/configuration.md)".into()
    } else {
        p.display().to_string()
    }
}

fn path_or_unset(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn boolean(v: &str) -> Result<bool, String> {
    match v.trim() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(format!("{other:?} is not true or false")),
    }
}

fn list(v: &str, sep: char) -> Vec<String> {
    v.split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn protections(v: &str) -> Result<Vec<Protection>, String> {
    if list(v, ',').is_empty() {
        return Err(
            "empty: name at least one protection (unset, every one this host supports is required)"
                .into(),
        );
    }
    list(v, ',')
        .iter()
        .map(|name| {
            Protection::ALL
                .into_iter()
                .find(|p| p.as_str() == name)
                .ok_or_else(|| {
                    let known: Vec<_> = Protection::ALL.iter().map(|p| p.as_str()).collect();
                    format!("unknown protection {name:?} (known: {})", known.join(", "))
                })
        })
        .collect()
}

/// A setting whose value is parsed by `FromStr` and shown by `Display`, at `$($field).+` of
/// the configuration.
macro_rules! scalar {
    ($key:expr, $env:expr, $flag:expr, $unit:expr, $help:expr, $($field:ident).+) => {
        Setting {
            key: $key,
            env: $env,
            flag: $flag,
            unit: $unit,
            help: $help,
            get: |c| c.$($field).+.to_string(),
            set: |c, v| {
                c.$($field).+ = number(v)?;
                Ok(())
            },
        }
    };
}

/// A limit, once in `default_limits` and once in `max_limits`.
macro_rules! limits {
    ($($field:ident, $upper:literal, $dashed:literal, $unit:literal, $help:literal;)*) => {
        [$(
            scalar!(
                concat!("engine.default_limits.", stringify!($field)),
                concat!("NODECELL_DEFAULT_", $upper),
                concat!("default-", $dashed),
                $unit,
                concat!($help, ", for a run that asks for none"),
                engine.default_limits.$field
            ),
            scalar!(
                concat!("engine.max_limits.", stringify!($field)),
                concat!("NODECELL_MAX_", $upper),
                concat!("max-", $dashed),
                $unit,
                concat!($help, ", the most a run may ask for"),
                engine.max_limits.$field
            ),
        )*]
    };
}

mod backends;

/// The limits' settings (nine limits, each a default and a maximum).
fn limit_settings() -> [Setting; 18] {
    limits! {
        timeout_ms, "TIMEOUT_MS", "timeout-ms", "ms", "A run's wall-clock time";
        memory_mib, "MEMORY_MIB", "memory-mib", "MiB", "A run's memory";
        max_output_bytes, "OUTPUT_BYTES", "output-bytes", "bytes",
            "A run's console lines, stdout and stderr together";
        max_result_bytes, "RESULT_BYTES", "result-bytes", "bytes", "A run's result as JSON";
        max_code_bytes, "CODE_BYTES", "code-bytes", "bytes", "A request's code";
        max_inputs_bytes, "INPUTS_BYTES", "inputs-bytes", "bytes", "A request's inputs as JSON";
        max_processes, "PROCESSES", "processes", "processes", "Processes and threads of a run";
        max_open_files, "OPEN_FILES", "open-files", "files", "Open files of a run";
        tmp_size_mib, "TMP_SIZE_MIB", "tmp-size-mib", "MiB", "A run's writable /tmp";
    }
}

/// Every setting, in the order `--help` shows them.
pub fn settings() -> Vec<Setting> {
    let mut all = vec![
        Setting {
            key: "http_listen",
            env: "NODECELL_HTTP_LISTEN",
            flag: "http-listen",
            unit: "address",
            help:
                "The HTTP listener: IP:PORT, :PORT (every interface), localhost:PORT or [::1]:PORT",
            get: |c| c.http_listen.to_string(),
            set: |c, v| {
                c.http_listen = listen_addr(v)?;
                Ok(())
            },
        },
        Setting {
            key: "grpc_listen",
            env: "NODECELL_GRPC_LISTEN",
            flag: "grpc-listen",
            unit: "address",
            help: "The gRPC listener, in the same forms",
            get: |c| c.grpc_listen.to_string(),
            set: |c, v| {
                c.grpc_listen = listen_addr(v)?;
                Ok(())
            },
        },
        Setting {
            key: "backend",
            env: "NODECELL_BACKEND",
            flag: "backend",
            unit: "name",
            help: "The default backend (native, nsjail, landlock, docker, gvisor)",
            get: |c| c.backend.clone(),
            set: |c, v| {
                c.backend = v.trim().to_string();
                Ok(())
            },
        },
        Setting {
            key: "engine.default_profile",
            env: "NODECELL_PROFILE",
            flag: "profile",
            unit: "node|avs",
            help: "The profile of requests that name none",
            get: |c| c.engine.default_profile.as_str().to_string(),
            set: |c, v| {
                c.engine.default_profile = nodecell::Profile::parse(v.trim())?
                    .ok_or("empty profile (known: node, avs)")?;
                Ok(())
            },
        },
        scalar!(
            "pool_size",
            "NODECELL_POOL_SIZE",
            "pool-size",
            "sandboxes",
            "Sandboxes kept warm for the default backend (at most 256)",
            pool_size
        ),
        scalar!(
            "other_backends_pool_size",
            "NODECELL_OTHER_BACKENDS_POOL_SIZE",
            "other-backends-pool-size",
            "sandboxes",
            "Sandboxes kept warm for each other available backend (0: each run starts its own)",
            other_backends_pool_size
        ),
        scalar!(
            "max_concurrent",
            "NODECELL_MAX_CONCURRENT",
            "max-concurrent",
            "runs",
            "Runs at the same time (1 to 1024)",
            max_concurrent
        ),
        scalar!(
            "max_queue",
            "NODECELL_MAX_QUEUE",
            "max-queue",
            "requests",
            "Requests waiting for a run slot; past it 429 overloaded",
            max_queue
        ),
        scalar!(
            "max_queue_wait_ms",
            "NODECELL_MAX_QUEUE_WAIT_MS",
            "max-queue-wait-ms",
            "ms",
            "The longest a request waits in the queue, then 429 overloaded",
            max_queue_wait_ms
        ),
        scalar!(
            "client_share_percent",
            "NODECELL_CLIENT_SHARE_PERCENT",
            "client-share-percent",
            "percent",
            "The most of the run slots and queue one client (token, else address) may hold",
            client_share_percent
        ),
        Setting {
            key: "auth_tokens",
            env: "NODECELL_AUTH_TOKENS",
            flag: "auth-tokens",
            unit: "token,token",
            help: "Bearer tokens, comma-separated; when set, every API call needs one (prefer the \
                   variable or the file: a flag is visible to other users in the process list)",
            get: |c| {
                if c.auth_tokens.is_empty() {
                    String::new()
                } else {
                    "(set)".into()
                }
            },
            set: |c, v| {
                c.auth_tokens = list(v, ',');
                Ok(())
            },
        },
        scalar!(
            "shutdown_grace_ms",
            "NODECELL_SHUTDOWN_GRACE_MS",
            "shutdown-grace-ms",
            "ms",
            "On SIGTERM/SIGINT, how long runs in flight may take before they are killed",
            shutdown_grace_ms
        ),
        scalar!(
            "max_connections",
            "NODECELL_MAX_CONNECTIONS",
            "max-connections",
            "connections",
            "Open connections, HTTP and gRPC together",
            max_connections
        ),
        scalar!(
            "max_connections_per_peer",
            "NODECELL_MAX_CONNECTIONS_PER_PEER",
            "max-connections-per-peer",
            "connections",
            "Open connections from one IP address",
            max_connections_per_peer
        ),
        scalar!(
            "header_timeout_ms",
            "NODECELL_HEADER_TIMEOUT_MS",
            "header-timeout-ms",
            "ms",
            "How long a connection may take to send a request's header",
            header_timeout_ms
        ),
        scalar!(
            "idle_timeout_ms",
            "NODECELL_IDLE_TIMEOUT_MS",
            "idle-timeout-ms",
            "ms",
            "How long a connection may stay open with no request in progress",
            idle_timeout_ms
        ),
        scalar!(
            "body_timeout_ms",
            "NODECELL_BODY_TIMEOUT_MS",
            "body-timeout-ms",
            "ms",
            "How long a run request's body may take to arrive once its header has",
            body_timeout_ms
        ),
        Setting {
            key: "tls_cert",
            env: "NODECELL_TLS_CERT",
            flag: "tls-cert",
            unit: "path",
            help: "TLS on both listeners: the certificate chain, PEM (with --tls-key); read again \
                   on SIGHUP and when the files change",
            get: |c| path_or_unset(&c.tls_cert),
            set: |c, v| {
                c.tls_cert = Some(PathBuf::from(v));
                Ok(())
            },
        },
        Setting {
            key: "tls_key",
            env: "NODECELL_TLS_KEY",
            flag: "tls-key",
            unit: "path",
            help: "The TLS certificate's private key, PEM",
            get: |c| path_or_unset(&c.tls_key),
            set: |c, v| {
                c.tls_key = Some(PathBuf::from(v));
                Ok(())
            },
        },
        Setting {
            key: "tls_client_ca",
            env: "NODECELL_TLS_CLIENT_CA",
            flag: "tls-client-ca",
            unit: "path",
            help: "With TLS: clients must present a certificate this CA signed (mTLS), PEM",
            get: |c| path_or_unset(&c.tls_client_ca),
            set: |c, v| {
                c.tls_client_ca = Some(PathBuf::from(v));
                Ok(())
            },
        },
        Setting {
            key: "engine.node_path",
            env: "NODECELL_NODE",
            flag: "node",
            unit: "path",
            help: "The Node.js binary of the sandboxes (Node 22, 24 or 26)",
            get: |c| located(&c.engine.node_path, &EngineConfig::default().node_path),
            set: |c, v| {
                c.engine.node_path = PathBuf::from(v);
                Ok(())
            },
        },
        Setting {
            key: "engine.runner_dir",
            env: "NODECELL_RUNNER_DIR",
            flag: "runner-dir",
            unit: "path",
            help: "The runner directory (runner.js and its node_modules)",
            get: |c| located(&c.engine.runner_dir, &EngineConfig::default().runner_dir),
            set: |c, v| {
                c.engine.runner_dir = PathBuf::from(v);
                Ok(())
            },
        },
        Setting {
            key: "engine.launcher_path",
            env: "NODECELL_LAUNCHER",
            flag: "launcher",
            unit: "path",
            help: "The nodecell-launcher binary (backends native and landlock)",
            get: |c| {
                located(
                    &c.engine.launcher_path,
                    &EngineConfig::default().launcher_path,
                )
            },
            set: |c, v| {
                c.engine.launcher_path = PathBuf::from(v);
                Ok(())
            },
        },
    ];
    all.extend(backends::settings());
    all.extend([
        scalar!(
            "engine.cpu_ms_per_sec",
            "NODECELL_CPU_MS_PER_SEC",
            "cpu-ms-per-sec",
            "ms per s",
            "CPU time one sandbox may use per second of wall time (0: no limit)",
            engine.cpu_ms_per_sec
        ),
        Setting {
            key: "engine.cgroup_root",
            env: "NODECELL_CGROUP_ROOT",
            flag: "cgroup-root",
            unit: "path",
            help: "Where cgroup v2, or the v1 controller hierarchies, are mounted",
            get: |c| c.engine.cgroup_root.display().to_string(),
            set: |c, v| {
                c.engine.cgroup_root = PathBuf::from(v);
                Ok(())
            },
        },
        Setting {
            key: "engine.required_protections",
            env: "NODECELL_REQUIRED_PROTECTIONS",
            flag: "required-protections",
            unit: "name,name",
            help: "Protections a run must have, comma-separated (namespaces, root_filesystem, \
                   landlock, seccomp, cgroup_memory, cgroup_pids, cgroup_cpu)",
            get: |c| match &c.engine.required_protections {
                None => "every one this host supports".into(),
                Some(p) => p.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","),
            },
            set: |c, v| {
                c.engine.required_protections = Some(protections(v)?);
                Ok(())
            },
        },
        Setting {
            key: "engine.node_flags",
            env: "NODECELL_NODE_FLAGS",
            flag: "node-flags",
            unit: "flags",
            help: "Extra Node.js flags of the sandboxes, separated by spaces",
            get: |c| c.engine.node_flags.join(" "),
            set: |c, v| {
                c.engine.node_flags = list(v, ' ');
                Ok(())
            },
        },
        Setting {
            key: "engine.randomize_hash_seed",
            env: "NODECELL_RANDOMIZE_HASH_SEED",
            flag: "randomize-hash-seed",
            unit: "true|false",
            help: "Every sandbox draws its own V8 string-hash seed (about 5 ms of CPU more each)",
            get: |c| c.engine.randomize_hash_seed.to_string(),
            set: |c, v| {
                c.engine.randomize_hash_seed = boolean(v)?;
                Ok(())
            },
        },
        Setting {
            key: "engine.runner_snapshot",
            env: "NODECELL_RUNNER_SNAPSHOT",
            flag: "runner-snapshot",
            unit: "true|false",
            help: "Sandboxes start from a V8 startup snapshot of the runner",
            get: |c| c.engine.runner_snapshot.to_string(),
            set: |c, v| {
                c.engine.runner_snapshot = boolean(v)?;
                Ok(())
            },
        },
        scalar!(
            "engine.startup_timeout_ms",
            "NODECELL_STARTUP_TIMEOUT_MS",
            "startup-timeout-ms",
            "ms",
            "How long a sandbox may take to start and load the runner",
            engine.startup_timeout_ms
        ),
        scalar!(
            "engine.warm_max_age_ms",
            "NODECELL_WARM_MAX_AGE_MS",
            "warm-max-age-ms",
            "ms",
            "The longest a warm sandbox waits for a job before it is replaced",
            engine.warm_max_age_ms
        ),
    ]);
    all.extend(limit_settings());
    all
}

/// `settings` applied to `c` from `value_of` (an environment or the flags given), each error
/// naming where the value came from (by `source`: the variable or the flag).
pub fn apply(
    c: &mut ServerConfig,
    value_of: impl Fn(&Setting) -> Option<String>,
    source: impl Fn(&Setting) -> String,
) -> Result<(), String> {
    for s in settings() {
        if let Some(v) = value_of(&s) {
            (s.set)(c, &v).map_err(|e| format!("{}: {e}", source(&s)))?;
        }
    }
    Ok(())
}
