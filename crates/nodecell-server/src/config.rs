//! The service's configuration: one typed struct, from defaults, a TOML file, `NODECELL_*`
//! environment variables and flags, in rising precedence; unknown keys rejected; validated
//! before any port is bound.

use std::net::SocketAddr;
use std::path::Path;

use nodecell::EngineConfig;

use crate::settings;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// HTTP listener (`127.0.0.1:8080`, `:8080` for every interface, `localhost:8080`,
    /// `[::1]:8080`).
    #[serde(deserialize_with = "listen_address")]
    pub http_listen: SocketAddr,
    /// gRPC listener (a separate port), in the same forms.
    #[serde(deserialize_with = "listen_address")]
    pub grpc_listen: SocketAddr,
    /// Sandboxes kept warm for the default backend.
    pub pool_size: usize,
    /// Sandboxes kept warm for each other available backend (0: a request for one of them
    /// starts a sandbox of its own).
    pub other_backends_pool_size: usize,
    /// Runs at the same time.
    pub max_concurrent: usize,
    /// Requests waiting for a run slot; beyond it, 429 / RESOURCE_EXHAUSTED at once.
    pub max_queue: usize,
    /// Longest a request waits in the queue before 429 / RESOURCE_EXHAUSTED.
    pub max_queue_wait_ms: u64,
    /// The default backend.
    pub backend: String,
    /// Bearer tokens; when any are set, every API call must carry one.
    pub auth_tokens: Vec<String>,
    /// On SIGTERM/SIGINT, how long runs in flight may take before they are killed.
    pub shutdown_grace_ms: u64,
    /// The most run slots and queue places (`max_concurrent + max_queue`) one client may hold
    /// at once, in percent (at least one); beyond it, `client_share_exceeded`. A client is its
    /// bearer token when tokens are configured, else its IP address.
    pub client_share_percent: u8,
    /// Open connections, HTTP and gRPC together; a connection past it is closed at once.
    pub max_connections: usize,
    /// Open connections from one IP address, HTTP and gRPC together.
    pub max_connections_per_peer: usize,
    /// How long a client may take to send a request's header (HTTP/1), or to start speaking
    /// at all, before its connection is closed.
    pub header_timeout_ms: u64,
    /// How long a connection may stay open with no request in progress.
    pub idle_timeout_ms: u64,
    /// How long a run request's body may take to arrive in full once its header has (HTTP
    /// `POST /v1/execute`, gRPC `Execute` and `ExecuteStream`); past it, `request_timeout`.
    pub body_timeout_ms: u64,
    /// TLS on both listeners: the certificate chain (PEM), with `tls_key`.
    pub tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM).
    pub tls_key: Option<std::path::PathBuf>,
    /// With TLS: clients must present a certificate this CA (PEM) signed (mTLS).
    pub tls_client_ca: Option<std::path::PathBuf>,
    /// The engine: Node, runner, launcher, cgroups, limits.
    pub engine: EngineConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_listen: "127.0.0.1:8080".parse().expect("valid address"),
            grpc_listen: "127.0.0.1:50051".parse().expect("valid address"),
            pool_size: 2,
            other_backends_pool_size: 0,
            max_concurrent: 4,
            max_queue: 64,
            max_queue_wait_ms: 10_000,
            backend: "native".into(),
            auth_tokens: Vec::new(),
            shutdown_grace_ms: 10_000,
            client_share_percent: 25,
            max_connections: 256,
            max_connections_per_peer: 64,
            header_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            body_timeout_ms: 30_000,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            engine: EngineConfig::default(),
        }
    }
}

/// Settings given on the command line (highest precedence): each flag of
/// [`crate::settings::settings`] given, by its name without `--`, with its value.
#[derive(Clone, Debug, Default)]
pub struct Overrides(pub Vec<(String, String)>);

impl Overrides {
    /// These overrides and `--flag value`.
    pub fn with(mut self, flag: &str, value: impl Into<String>) -> Overrides {
        self.0.push((flag.to_string(), value.into()));
        self
    }

    /// The value given for `flag` (the last, when given twice).
    pub fn get(&self, flag: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(f, _)| f == flag)
            .map(|(_, v)| v.clone())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A listen address: `IP:PORT` (`[::1]:8080` for IPv6), `:PORT` (every interface, IPv4), or
/// `localhost:PORT` (127.0.0.1). Host names are not resolved: a listener binds an address.
pub fn listen_addr(v: &str) -> Result<SocketAddr, String> {
    let v = v.trim();
    let candidate = match v.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => match v.strip_prefix("localhost:") {
            Some(port) => format!("127.0.0.1:{port}"),
            None => v.to_string(),
        },
    };
    candidate.parse().map_err(|_| {
        format!("{v:?} is not a listen address; give one such as 127.0.0.1:8080, :8080 (every interface), localhost:8080 or [::1]:8080")
    })
}

fn listen_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    listen_addr(&text).map_err(serde::de::Error::custom)
}

impl ServerConfig {
    /// The TLS files, when TLS is configured.
    pub fn tls_files(&self) -> Option<crate::tls::TlsFiles> {
        Some(crate::tls::TlsFiles {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
            client_ca: self.tls_client_ca.clone(),
        })
    }

    /// Defaults, then `file`, then `env` (`NODECELL_*`), then `flags`; then validated.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<ServerConfig, ConfigError> {
        let mut c = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
                toml::from_str::<ServerConfig>(&text)
                    .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?
            }
            None => ServerConfig::default(),
        };
        // Where Node, the runner, the launcher, nsjail and the microVM guest are, unless the
        // file said so.
        let found = EngineConfig::default().locate_installation();
        let defaults = EngineConfig::default();
        if c.engine.node_path == defaults.node_path {
            c.engine.node_path = found.node_path;
        }
        if c.engine.runner_dir == defaults.runner_dir {
            c.engine.runner_dir = found.runner_dir;
        }
        if c.engine.launcher_path == defaults.launcher_path {
            c.engine.launcher_path = found.launcher_path;
        }
        c.engine
            .upgrade_deprecated_keys()
            .map_err(|e| ConfigError(format!("engine: {e}")))?
            .into_iter()
            .for_each(|w| tracing::warn!("{w}"));
        if c.engine.backends.nsjail.path == defaults.backends.nsjail.path {
            c.engine.backends.nsjail.path = found.backends.nsjail.path;
        }
        if c.engine.backends.qemu.guest_dir == defaults.backends.qemu.guest_dir {
            c.engine.backends.qemu.guest_dir = found.backends.qemu.guest_dir;
        }
        // An empty variable is unset (as a template's empty value leaves it): it never turns
        // a file's tokens or required protections off.
        let env_value = |s: &settings::Setting| env(s.env).filter(|v| !v.trim().is_empty());
        settings::apply(&mut c, env_value, |s| s.env.to_string()).map_err(ConfigError)?;
        settings::apply(&mut c, |s| flags.get(s.flag), |s| format!("--{}", s.flag))
            .map_err(ConfigError)?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError(m));
        if self.http_listen == self.grpc_listen && self.http_listen.port() != 0 {
            return bad(format!(
                "http_listen and grpc_listen are the same address {}",
                self.http_listen
            ));
        }
        if self.other_backends_pool_size > 256 {
            return bad(format!(
                "other_backends_pool_size {} is above its maximum 256",
                self.other_backends_pool_size
            ));
        }
        if self.pool_size > 256 {
            return bad(format!(
                "pool_size {} is above its maximum 256",
                self.pool_size
            ));
        }
        if self.max_concurrent == 0 || self.max_concurrent > 1024 {
            return bad(format!(
                "max_concurrent {} must be 1 ..= 1024",
                self.max_concurrent
            ));
        }
        if self.max_queue > 100_000 {
            return bad(format!(
                "max_queue {} is above its maximum 100000",
                self.max_queue
            ));
        }
        if !(1..=100).contains(&self.client_share_percent) {
            return bad(format!(
                "client_share_percent {} must be 1 ..= 100",
                self.client_share_percent
            ));
        }
        if self.max_connections == 0 || self.max_connections_per_peer == 0 {
            return bad("max_connections and max_connections_per_peer must be at least 1".into());
        }
        if self.header_timeout_ms == 0 || self.idle_timeout_ms == 0 || self.body_timeout_ms == 0 {
            return bad(
                "header_timeout_ms, idle_timeout_ms and body_timeout_ms must be at least 1".into(),
            );
        }
        match (&self.tls_cert, &self.tls_key, &self.tls_client_ca) {
            (Some(_), None, _) | (None, Some(_), _) => {
                return bad("tls_cert and tls_key go together: give both or neither".into())
            }
            (None, None, Some(_)) => {
                return bad("tls_client_ca needs TLS: give tls_cert and tls_key too".into())
            }
            _ => {}
        }
        let known = nodecell::backend::names();
        if !known.contains(&self.backend.as_str()) {
            return bad(format!(
                "unknown backend {:?} (known: {})",
                self.backend,
                known.join(", ")
            ));
        }
        if self
            .auth_tokens
            .iter()
            .any(|t| t.len() < 16 || t.chars().any(char::is_whitespace))
        {
            return bad("auth_tokens must be at least 16 characters, without spaces".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn listen_addresses_take_the_usual_forms_and_a_bad_one_gets_an_example() {
        for (given, want) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            (":8080", "0.0.0.0:8080"),
            ("localhost:8080", "127.0.0.1:8080"),
            ("[::1]:8080", "[::1]:8080"),
            (" 0.0.0.0:0 ", "0.0.0.0:0"),
        ] {
            assert_eq!(listen_addr(given).unwrap().to_string(), want, "{given}");
        }
        for bad in [
            "foo",
            "8080",
            "localhost",
            ":",
            ":http",
            "::1:8080",
            "example.com:80",
        ] {
            let e = listen_addr(bad).unwrap_err();
            assert!(e.contains("such as 127.0.0.1:8080, :8080"), "{bad}: {e}");
        }
        // In the file, the environment and flags alike.
        let dir = std::env::temp_dir().join(format!("nodecell-listen-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "http_listen = \":9000\"\n").unwrap();
        let c = ServerConfig::load(
            Some(&file),
            env(&[("NODECELL_GRPC_LISTEN", "localhost:9001")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.http_listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.grpc_listen.to_string(), "127.0.0.1:9001");
        std::fs::write(&file, "http_listen = \"nine\"\n").unwrap();
        let e = ServerConfig::load(Some(&file), env(&[]), &Overrides::default()).unwrap_err();
        assert!(e.0.contains("such as 127.0.0.1:8080"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let dir = std::env::temp_dir().join(format!("nodecell-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "pool_size = 3\nmax_queue = 5\nmax_concurrent = 7\n[engine.default_limits]\ntimeout_ms = 1000\nmemory_mib = 64\nmax_output_bytes = 100\nmax_result_bytes = 100\nmax_code_bytes = 100\nmax_inputs_bytes = 100\nmax_processes = 32\nmax_open_files = 64\ntmp_size_mib = 1\n").unwrap();
        let flags = Overrides::default()
            .with("pool-size", "9")
            .with("max-connections", "11");
        let c = ServerConfig::load(
            Some(&file),
            env(&[
                ("NODECELL_POOL_SIZE", "4"),
                ("NODECELL_MAX_QUEUE", "6"),
                ("NODECELL_IDLE_TIMEOUT_MS", "1500"),
                ("NODECELL_MAX_CONNECTIONS", "12"),
            ]),
            &flags,
        )
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((c.pool_size, c.max_queue, c.max_concurrent), (9, 6, 7));
        assert_eq!((c.idle_timeout_ms, c.max_connections), (1500, 11));
        assert_eq!(
            (
                c.client_share_percent,
                c.max_connections_per_peer,
                c.header_timeout_ms
            ),
            (25, 64, 10_000)
        );
        assert_eq!(c.engine.default_limits.timeout_ms, 1000);
        assert_eq!(c.http_listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn an_empty_variable_is_unset_and_an_empty_protection_list_refused() {
        let dir =
            std::env::temp_dir().join(format!("nodecell-config-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "auth_tokens = [\"a-token-of-enough-length-0123\"]\n").unwrap();
        let c = ServerConfig::load(
            Some(&file),
            env(&[
                ("NODECELL_AUTH_TOKENS", ""),
                ("NODECELL_REQUIRED_PROTECTIONS", " "),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(c.auth_tokens, ["a-token-of-enough-length-0123"]);
        assert_eq!(c.engine.required_protections, None);
        let e = ServerConfig::load(
            None,
            env(&[]),
            &Overrides::default().with("required-protections", ""),
        )
        .unwrap_err();
        assert!(e.0.contains("--required-protections: empty"), "{e}");
    }

    #[test]
    fn bad_configuration_is_refused_with_a_clear_message() {
        let dir = std::env::temp_dir().join(format!("nodecell-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "pool_sise = 3\n").unwrap();
        let err = ServerConfig::load(Some(&file), env(&[]), &Overrides::default()).unwrap_err();
        assert!(
            err.0.contains("unknown field") && err.0.contains("pool_sise"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();

        let err = ServerConfig::load(
            None,
            env(&[("NODECELL_MAX_CONCURRENT", "many")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.0.contains("NODECELL_MAX_CONCURRENT"), "{err}");
        let err = ServerConfig::load(
            None,
            env(&[]),
            &Overrides::default().with("backend", "bochs"),
        )
        .unwrap_err();
        assert!(err.0.contains("unknown backend"), "{err}");
        let err = ServerConfig::load(
            None,
            env(&[("NODECELL_AUTH_TOKENS", "short")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.0.contains("auth_tokens"), "{err}");
        for (var, value, says) in [
            ("NODECELL_CLIENT_SHARE_PERCENT", "0", "client_share_percent"),
            (
                "NODECELL_CLIENT_SHARE_PERCENT",
                "101",
                "client_share_percent",
            ),
            (
                "NODECELL_MAX_CONNECTIONS_PER_PEER",
                "0",
                "max_connections_per_peer",
            ),
            ("NODECELL_HEADER_TIMEOUT_MS", "0", "header_timeout_ms"),
        ] {
            let err =
                ServerConfig::load(None, env(&[(var, value)]), &Overrides::default()).unwrap_err();
            assert!(err.0.contains(says), "{var}={value}: {err}");
        }
    }

    #[test]
    fn backend_sections_and_their_deprecated_flat_keys() {
        let dir =
            std::env::temp_dir().join(format!("nodecell-config-sections-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "[engine.backends.nsjail]\npath = \"/opt/nsjail\"\n[engine.backends.landlock]\nuser_max_processes = 99\n",
        )
        .unwrap();
        let c = ServerConfig::load(Some(&file), env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.engine.backends.nsjail.path, PathBuf::from("/opt/nsjail"));
        assert_eq!(c.engine.backends.landlock.user_max_processes, 99);

        std::fs::write(
            &file,
            "[engine]\nnsjail_path = \"/opt/nsjail\"\nlandlock_user_max_processes = 99\n",
        )
        .unwrap();
        let old = ServerConfig::load(Some(&file), env(&[]), &Overrides::default()).unwrap();
        assert_eq!(
            old.engine.backends.nsjail.path,
            PathBuf::from("/opt/nsjail")
        );
        assert_eq!(old.engine.backends.landlock.user_max_processes, 99);
        assert!(old.engine.nsjail_path.is_none());

        std::fs::write(&file, "[engine.backends.nsjail]\npth = \"/x\"\n").unwrap();
        let err = ServerConfig::load(Some(&file), env(&[]), &Overrides::default()).unwrap_err();
        assert!(err.0.contains("unknown field"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
