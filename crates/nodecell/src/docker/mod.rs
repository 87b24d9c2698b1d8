//! nodecell's client of a Docker Engine (Docker, Docker Desktop, Podman's Docker-compatible
//! API), through its API socket with bollard, never the `docker` CLI: the connection and the
//! sandbox image. The docker and gvisor backends stand on it.

pub mod image;

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
        Ok(DockerClient { docker, at })
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
