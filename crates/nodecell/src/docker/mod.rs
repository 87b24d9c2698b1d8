//! nodecell's client of a Docker Engine (Docker, Docker Desktop, Podman's Docker-compatible
//! API), through its API socket with bollard, never the `docker` CLI: the connection and the
//! sandbox image. The docker and gvisor backends stand on it.

pub mod container;
pub mod image;
mod owner;
pub mod seccomp;

use std::path::Path;
use std::time::Duration;

use bollard::Docker;

/// How long one call to the engine may take before it is an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// What went wrong talking to the engine.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("no Docker Engine answers at {at}: {source} (scripts/dockerd.sh start runs one)")]
    Unreachable {
        at: String,
        source: bollard::errors::Error,
    },
    #[error("Docker Engine at {at}: {what}: {source}")]
    Api {
        at: String,
        what: &'static str,
        source: bollard::errors::Error,
    },
    #[error("the sandbox image's root filesystem: {0}")]
    Rootfs(#[from] std::io::Error),
}

/// A connection to one engine.
#[derive(Clone)]
pub struct DockerClient {
    docker: Docker,
    /// Where it answers, for messages.
    at: String,
    /// The engine is Podman's Docker-compatible service (which differs in places).
    podman: bool,
}

impl DockerClient {
    /// Connects to the engine at `socket` (`[backends.docker] socket`), else at `DOCKER_HOST`,
    /// else at /var/run/docker.sock, and checks that it answers.
    pub async fn connect(socket: Option<&Path>) -> Result<DockerClient, DockerError> {
        let at = match socket {
            Some(p) => format!("unix://{}", p.display()),
            None => std::env::var("DOCKER_HOST")
                .unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
        };
        let unreachable = |source| DockerError::Unreachable {
            at: at.clone(),
            source,
        };
        let docker = match socket {
            Some(p) => Docker::connect_with_unix(
                &p.to_string_lossy(),
                CALL_TIMEOUT.as_secs(),
                bollard::API_DEFAULT_VERSION,
            ),
            None => Docker::connect_with_defaults().map(|d| d.with_timeout(CALL_TIMEOUT)),
        }
        .map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        let podman = docker
            .version()
            .await
            .map_err(unreachable)?
            .components
            .unwrap_or_default()
            .iter()
            .any(|c| c.name.contains("Podman"));
        Ok(DockerClient { docker, at, podman })
    }

    /// Whether the engine is Podman's Docker-compatible service.
    pub fn is_podman(&self) -> bool {
        self.podman
    }

    /// Where the engine answers.
    pub fn at(&self) -> &str {
        &self.at
    }

    /// The Engine API, for what this module does not wrap.
    pub fn api(&self) -> &Docker {
        &self.docker
    }

    pub(crate) fn error(
        &self,
        what: &'static str,
    ) -> impl FnOnce(bollard::errors::Error) -> DockerError + '_ {
        move |source| DockerError::Api {
            at: self.at.clone(),
            what,
            source,
        }
    }
}

/// What the engine says about itself, for the enforcement reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineFacts {
    /// Where it answered.
    pub at: String,
    /// The daemon remaps container users into a user namespace (`userns-remap`).
    pub userns_remap: bool,
    /// Its rootless mode (Podman's or Docker's).
    pub rootless: bool,
    /// The OCI runtimes it knows, with their extra arguments.
    pub runtimes: Vec<(String, Vec<String>)>,
    /// "cgroupfs" or "systemd".
    pub cgroup_driver: String,
}

impl EngineFacts {
    /// Asks the engine at `socket` (see [`DockerClient::connect`]); waits at most 3 s. Runs
    /// its own short-lived runtime on a thread of its own, so that it can be called anywhere.
    pub fn probe(socket: Option<&Path>) -> Result<EngineFacts, String> {
        let socket = socket.map(Path::to_path_buf);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let probe = async {
                    let client = DockerClient::connect(socket.as_deref())
                        .await
                        .map_err(|e| e.to_string())?;
                    let info = client
                        .api()
                        .info()
                        .await
                        .map_err(|e| client.error("reading its facts")(e).to_string())?;
                    let options = info.security_options.unwrap_or_default();
                    let mut runtimes: Vec<(String, Vec<String>)> = info
                        .runtimes
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(name, r)| (name, r.runtime_args.unwrap_or_default()))
                        .collect();
                    runtimes.sort();
                    Ok(EngineFacts {
                        at: client.at().to_string(),
                        userns_remap: options.iter().any(|o| o.contains("name=userns")),
                        rootless: options.iter().any(|o| o.contains("name=rootless")),
                        runtimes,
                        cgroup_driver: info
                            .cgroup_driver
                            .map(|d| d.to_string())
                            .unwrap_or_default(),
                    })
                };
                tokio::time::timeout(Duration::from_secs(3), probe)
                    .await
                    .map_err(|_| "the Docker Engine did not answer within 3 s".to_string())?
            })
        })
        .join()
        .map_err(|_| "probing the Docker Engine panicked".to_string())?
    }

    /// The extra arguments of runtime `name`, if the engine has it.
    pub fn runtime(&self, name: &str) -> Option<&[String]> {
        self.runtimes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, args)| args.as_slice())
    }
}
