//! nodecell's service: HTTP (and gRPC) over a warm pool of single-use sandboxes. Thin: every
//! decision about execution is the library's; this crate only admits, translates and reports.
#![forbid(unsafe_code)]

pub mod access;
pub mod activity;
pub mod admission;
pub mod body_deadline;
pub mod codec;
pub mod config;
pub mod connections;
pub mod disconnect;
pub mod error;
pub mod grpc;
pub mod grpc_session;
pub mod http;
pub mod openapi;
pub mod proto_json;
pub mod settings;
pub mod shares;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod wire_struct;
pub mod wire_value;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub use config::{ConfigError, Overrides, ServerConfig};
pub use state::AppState;

/// The process-wide Prometheus recorder (installed once, shared by every server in it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets(&buckets)
                .expect("buckets")
                .build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Starting the service failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Bad configuration: nothing was bound (exit status 64).
    #[error("{0}")]
    Config(String),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
}

/// A bound, running service.
pub struct Server {
    pub state: Arc<AppState>,
    pub http_addr: std::net::SocketAddr,
    pub grpc_addr: std::net::SocketAddr,
    http: tokio::task::JoinHandle<()>,
    grpc: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    stop: tokio::sync::watch::Sender<bool>,
    tls: Option<Arc<tls::Tls>>,
    _tls_watch: Option<AbortOnDrop>,
}

/// A task aborted when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Server {
    /// Checks the configuration and the engine, then binds (in that order).
    pub async fn start(config: ServerConfig) -> Result<Server, ServeError> {
        let engine = nodecell::Engine::new(config.engine.clone())
            .map_err(|e| ServeError::Config(e.to_string()))?;
        // A Node that gets no security fixes (or one never verified) is refused at start.
        engine
            .layout()
            .supported_node_version()
            .map_err(|e| ServeError::Config(e.to_string()))?;
        Server::start_with_engine(config, Arc::new(engine)).await
    }

    /// [`Server::start`] over an engine of the caller's (tests serve the fake backend).
    pub async fn start_with_engine(
        config: ServerConfig,
        engine: Arc<nodecell::Engine>,
    ) -> Result<Server, ServeError> {
        let (http_listen, grpc_listen) = (config.http_listen, config.grpc_listen);
        let tls = match config.tls_files() {
            Some(files) => Some(Arc::new(
                tls::Tls::load(files).map_err(|e| ServeError::Config(e.to_string()))?,
            )),
            None => None,
        };
        let state = AppState::new(config, engine, metrics_handle());
        let bind = |addr| async move {
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Bind { addr, source })
        };
        let listener = bind(http_listen).await?;
        let http_addr = listener.local_addr()?;
        let grpc_listener = bind(grpc_listen).await?;
        let grpc_addr = grpc_listener.local_addr()?;
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let http = tokio::spawn(http::serve(
            state.clone(),
            listener,
            tls.clone(),
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        ));
        let mut grpc_stopped = stop.subscribe();
        let grpc = tokio::spawn(grpc::serve(
            state.clone(),
            grpc_listener,
            tls.clone(),
            async move {
                let _ = grpc_stopped.wait_for(|s| *s).await;
            },
        ));
        let tls_watch = tls.clone().map(|t| AbortOnDrop(tokio::spawn(t.watch())));
        let report = state.engine.report(state.backend);
        let enforced: Vec<&str> = report
            .protections
            .iter()
            .filter(|p| p.enforced)
            .map(|p| p.protection.as_str())
            .collect();
        let missing: Vec<&str> = report
            .protections
            .iter()
            .filter(|p| p.offered && !p.enforced)
            .map(|p| p.protection.as_str())
            .collect();
        tracing::info!(
            %http_addr,
            %grpc_addr,
            backend = state.backend.as_str(),
            pool_size = state.config.pool_size,
            max_concurrent = state.config.max_concurrent,
            max_queue = state.config.max_queue,
            enforced = %enforced.join(","),
            not_enforced = %missing.join(","),
            tokens = !state.config.auth_tokens.is_empty(),
            tls = tls.is_some(),
            mtls = state.config.tls_client_ca.is_some(),
            "serving HTTP and gRPC"
        );
        Ok(Server {
            state,
            http_addr,
            grpc_addr,
            http,
            grpc,
            stop,
            tls,
            _tls_watch: tls_watch,
        })
    }

    /// Reads the TLS files again (SIGHUP); a failure keeps what was serving and is logged.
    pub fn reload_tls(&self) {
        if let Some(tls) = &self.tls {
            tls.reload_and_log("SIGHUP");
        }
    }

    /// Graceful shutdown: not ready and refusing new runs at once, runs in flight finish
    /// within the grace period (then they are killed), and no sandbox survives.
    pub async fn shutdown(self) {
        self.state.start_draining();
        let grace = Duration::from_millis(self.state.config.shutdown_grace_ms);
        let t0 = std::time::Instant::now();
        while self.state.in_flight() > 0 && t0.elapsed() < grace {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let killed = self.state.in_flight();
        if killed > 0 {
            tracing::warn!(
                killed,
                grace_ms = grace.as_millis() as u64,
                "runs still in flight after the grace period are killed"
            );
        }
        let _ = self.stop.send(true);
        // Connections still open now are dropped with their runs, whose sandboxes are killed
        // as their futures drop.
        stop_within(self.http, Duration::from_millis(200)).await;
        stop_within(self.grpc, Duration::from_millis(200)).await;
        for pool in self.state.pools() {
            pool.shutdown().await;
        }
        // Backend native's zygotes end with the service (their last children are gone).
        self.state.engine.stop_zygotes().await;
    }
}

/// Waits for a listener task to end; aborts it (dropping its connections) after `limit`.
async fn stop_within<T>(mut task: tokio::task::JoinHandle<T>, limit: Duration) {
    if tokio::time::timeout(limit, &mut task).await.is_err() {
        task.abort();
        let _ = task.await;
    }
}

/// Runs until SIGTERM or SIGINT, then shuts down gracefully.
pub async fn serve(config: ServerConfig) -> Result<(), ServeError> {
    use tokio::signal::unix::{signal, SignalKind};
    // Handled from before the start line is logged: a supervisor that stops the service as
    // soon as it is up gets a drain, not the default action.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let server = Server::start(config).await?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => server.reload_tls(),
        }
    }
    tracing::info!("draining");
    server.shutdown().await;
    Ok(())
}
