//! What both transports share: the engine, the warm pool, admission, readiness, metrics.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use nodecell::{
    BackendId, BatchOutcome, BatchRequest, Engine, ExecRequest, Isolation, LiveEvent, Outcome,
    Pool, Protection,
};
use tokio::sync::Semaphore;

use crate::config::ServerConfig;
use crate::connections::Connections;
use crate::error::{ApiError, ErrorCode};
use crate::shares::{Client, Shares};
use crate::telemetry;

/// Where a run's live events go, and where host-call replies come from.
enum Link {
    Plain(Option<tokio::sync::mpsc::Sender<LiveEvent>>),
    Session(
        tokio::sync::mpsc::Sender<LiveEvent>,
        tokio::sync::mpsc::Receiver<nodecell::HostReply>,
    ),
}

pub struct AppState {
    pub config: ServerConfig,
    pub engine: Arc<Engine>,
    /// The default backend's pool.
    pub pool: Arc<Pool>,
    /// Pools of the other backends this host makes available (`other_backends_pool_size`
    /// warm sandboxes each).
    pub other_pools: Vec<Arc<Pool>>,
    pub backend: BackendId,
    slots: Semaphore,
    /// Each client's share of the run slots and the queue.
    pub shares: Arc<Shares>,
    /// The connections open on both listeners, against their caps.
    pub connections: Arc<Connections>,
    queued: AtomicUsize,
    draining: AtomicBool,
    in_flight: AtomicUsize,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl AppState {
    /// Every pool, the default backend's first.
    pub fn pools(&self) -> impl Iterator<Item = &Arc<Pool>> {
        std::iter::once(&self.pool).chain(&self.other_pools)
    }

    pub fn new(
        config: ServerConfig,
        engine: Arc<Engine>,
        metrics: metrics_exporter_prometheus::PrometheusHandle,
    ) -> Arc<AppState> {
        let backend = engine
            .backend(&config.backend)
            .expect("validated with the config");
        let pool = Pool::new(engine.clone(), backend, config.pool_size);
        let other_pools = engine
            .backends()
            .filter(|b| *b != backend && engine.report(*b).available)
            .map(|b| Pool::new(engine.clone(), b, config.other_backends_pool_size))
            .collect();
        let state = Arc::new(AppState {
            other_pools,
            slots: Semaphore::new(config.max_concurrent),
            connections: Connections::new(&config),
            shares: Shares::new(
                config.max_concurrent + config.max_queue,
                config.client_share_percent,
            ),
            queued: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            config,
            engine,
            pool,
            backend,
            metrics,
        });
        crate::telemetry::register(&state);
        state
    }

    /// Why the service is not ready, if it is not.
    pub fn not_ready(&self) -> Option<String> {
        if self.draining.load(Ordering::Acquire) {
            return Some(format!(
                "{}: the service is shutting down",
                ErrorCode::Draining
            ));
        }
        let report = self.engine.report(self.backend);
        if !report.available {
            return Some(format!(
                "backend {} unavailable: {}",
                self.backend.as_str(),
                report.problems.join("; ")
            ));
        }
        // Every warm sandbox taken by runs is a busy pool, not a broken one: it stays ready
        // while its starts succeed (a load balancer would take it out at its busiest).
        if self.config.pool_size > 0 && self.pool.warm_count() == 0 {
            match self.pool.last_error() {
                Some(e) => return Some(format!("sandboxes cannot start: {e}")),
                None if !self.pool.has_started_one() => return Some("no warm sandbox yet".into()),
                None => {}
            }
        }
        None
    }

    /// Why backend native boots Node in each sandbox although its zygote path is
    /// configured (`/readyz` says it; the service is ready either way).
    pub fn zygote_fallback(&self) -> Option<String> {
        if !self.engine.config().backends.native.zygote {
            return None;
        }
        let why = self.engine.zygote_fallback()?;
        Some(format!("backend native boots Node in each sandbox: {why}"))
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Admission, then one run, for `client`. Errors are the request's own (never a run's
    /// outcome). A request that declares host functions is refused: only a session
    /// ([`AppState::execute_session`]) can answer them.
    pub async fn execute(
        &self,
        client: Client,
        req: ExecRequest,
        live: Option<tokio::sync::mpsc::Sender<LiveEvent>>,
    ) -> Result<Outcome, ApiError> {
        crate::admission::without_host_functions(&req)?;
        self.run(client, req, Link::Plain(live)).await
    }

    /// One run whose code calls the functions `req` declares: each call goes to `live` as
    /// [`LiveEvent::HostCall`], each reply comes from `replies`.
    pub async fn execute_session(
        &self,
        client: Client,
        req: ExecRequest,
        live: tokio::sync::mpsc::Sender<LiveEvent>,
        replies: tokio::sync::mpsc::Receiver<nodecell::HostReply>,
    ) -> Result<Outcome, ApiError> {
        self.run(client, req, Link::Session(live, replies)).await
    }

    async fn run(&self, client: Client, req: ExecRequest, link: Link) -> Result<Outcome, ApiError> {
        let t0 = Instant::now();
        self.accepting()?;
        let mut req = req;
        self.default_backend(&mut req.backend);
        // Checked once, before admission: a bad request never waits in the queue.
        let checked = self.engine.check_request(&req).map_err(ApiError::from)?;
        let own_pool = self.pool_for(checked.backend)?;
        let _admitted = self.admit(client).await?;
        metrics::histogram!(telemetry::QUEUE_WAIT_SECONDS).record(t0.elapsed().as_secs_f64());
        // Counted while running, also when the caller gives up and the run is dropped.
        let running = Counted::new(&self.in_flight);
        let result = match link {
            Link::Plain(live) => own_pool.run_checked(&req, &checked, live).await,
            Link::Session(live, replies) => {
                own_pool.run_session(&req, &checked, live, replies).await
            }
        };
        drop(running);
        let outcome = result.map_err(ApiError::from)?;
        record_outcome(&outcome, t0);
        Ok(outcome)
    }

    /// A batch: one code over many items, the outcomes in item order. Under item isolation
    /// every item is admitted as a single run is (its share, a run slot in the queue's
    /// order), at most `parallelism` at a time: a batch never holds more slots than that,
    /// and single runs queued meanwhile take their turn between its items. Under batch
    /// isolation the whole batch is one run. An item that cannot be admitted fails the
    /// batch with that error (nothing of it is half-reported).
    pub async fn execute_batch(
        &self,
        client: Client,
        batch: BatchRequest,
    ) -> Result<BatchOutcome, ApiError> {
        let t0 = Instant::now();
        self.accepting()?;
        let mut batch = batch;
        self.default_backend(&mut batch.backend);
        batch.check_shape().map_err(ApiError::from)?;
        let checked = self
            .engine
            .check_request(&batch.shared_request())
            .map_err(ApiError::from)?;
        match batch.isolation() {
            Isolation::Item => {
                // Every item's request is checked before any runs (an item that makes the
                // inputs too large fails the batch up front).
                let requests = (0..batch.items.len())
                    .map(|i| {
                        let req = batch.item_request(i, checked.profile);
                        self.engine.check_request(&req).map_err(ApiError::from)?;
                        Ok(req)
                    })
                    .collect::<Result<Vec<_>, ApiError>>()?;
                let outcomes: Vec<Result<Outcome, ApiError>> = futures_util::stream::iter(requests)
                    .map(|req| self.execute(client, req, None))
                    .buffered(batch.parallelism())
                    .collect()
                    .await;
                let outcomes = outcomes.into_iter().collect::<Result<Vec<_>, _>>()?;
                let usage =
                    nodecell::batch::total_usage(&outcomes, t0.elapsed().as_secs_f64() * 1e3);
                Ok(BatchOutcome {
                    outcomes,
                    usage,
                    stdout: String::new(),
                    stderr: String::new(),
                    request_id: None,
                })
            }
            Isolation::Batch => {
                let pool = self.pool_for(checked.backend)?;
                let _admitted = self.admit(client).await?;
                let running = Counted::new(&self.in_flight);
                let result = pool.run_batch_checked(&batch, &checked).await;
                drop(running);
                let outcome = result.map_err(ApiError::from)?;
                for o in &outcome.outcomes {
                    record_outcome(o, t0);
                }
                Ok(outcome)
            }
        }
    }

    /// Whether new runs are taken (not while draining).
    fn accepting(&self) -> Result<(), ApiError> {
        if self.draining.load(Ordering::Acquire) {
            return Err(ApiError::new(
                ErrorCode::Draining,
                "the service is shutting down",
            ));
        }
        Ok(())
    }

    /// A request that names no backend runs on the service's default.
    fn default_backend(&self, backend: &mut Option<String>) {
        if backend.is_none() {
            *backend = Some(self.backend.as_str().to_string());
        }
    }

    /// The pool that runs `backend` (the default's when the backend has none); a pool whose
    /// sandboxes cannot start answers for the request at once.
    fn pool_for(&self, backend: BackendId) -> Result<&Arc<Pool>, ApiError> {
        // The pool of the request's backend, if it has one; sandboxes of the others starting
        // or not says nothing about this request.
        let own_pool = self.pools().find(|p| p.backend() == backend);
        if let Some(pool) = own_pool.filter(|p| p.warm_count() == 0) {
            if let Some(e) = pool.last_error() {
                return Err(ApiError::new(
                    ErrorCode::SandboxUnavailable,
                    format!("sandboxes cannot start: {e}"),
                ));
            }
        }
        Ok(own_pool.unwrap_or(&self.pool))
    }

    /// Admission of one run for `client`: its share, then a run slot (queued up to
    /// `max_queue_wait_ms`). Held for as long as the returned guards live.
    async fn admit(
        &self,
        client: Client,
    ) -> Result<(crate::shares::ShareGuard, tokio::sync::SemaphorePermit<'_>), ApiError> {
        let share = self
            .shares
            .take(client)
            .ok_or_else(|| share_exceeded(self.shares.limit()))?;
        let permit = match self.slots.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                // Counted while waiting, also when the caller gives up (the guard drops).
                let queued = Counted::new(&self.queued);
                if queued.before >= self.config.max_queue {
                    return Err(overloaded("the queue is full"));
                }
                metrics::gauge!(telemetry::QUEUE_DEPTH)
                    .set(self.queued.load(Ordering::Acquire) as f64);
                let waited = tokio::time::timeout(
                    Duration::from_millis(self.config.max_queue_wait_ms),
                    self.slots.acquire(),
                )
                .await;
                drop(queued);
                metrics::gauge!(telemetry::QUEUE_DEPTH)
                    .set(self.queued.load(Ordering::Acquire) as f64);
                match waited {
                    Ok(Ok(p)) => p,
                    Ok(Err(_)) => {
                        return Err(ApiError::new(
                            ErrorCode::Draining,
                            "the service is shutting down",
                        ))
                    }
                    Err(_) => return Err(overloaded("no run slot became free in time")),
                }
            }
        };
        Ok((share, permit))
    }

    /// Version, Node, backends with their enforcement reports, limits, modules.
    pub fn info(&self) -> serde_json::Value {
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "node": self.engine.layout().node_version().unwrap_or_default(),
            "default_backend": self.backend.as_str(),
            "backends": self.engine.backends().map(|b| self.engine.report(b)).collect::<Vec<_>>(),
            "default_limits": self.engine.config().default_limits,
            "max_limits": self.engine.config().max_limits,
            "allowed_modules": self.engine.layout().allowed_modules,
            "native_zygote": {
                "configured": self.engine.config().backends.native.zygote,
                "forked": self.engine.zygote_proven(),
                "fallback": self.engine.zygote_fallback(),
            },
            "required_protections": Protection::ALL.iter()
                .filter(|p| self.engine.report(self.backend).protections.iter().any(|s| s.protection == **p && s.required))
                .map(|p| p.as_str()).collect::<Vec<_>>(),
        })
    }
}

/// A run's outcome in the metrics.
fn record_outcome(outcome: &Outcome, t0: Instant) {
    let status = outcome.status.as_str();
    let labels = [
        ("status", status.to_string()),
        ("backend", outcome.backend.clone()),
    ];
    metrics::counter!(telemetry::RUNS, &labels).increment(1);
    if matches!(
        outcome.status,
        nodecell::Status::Timeout | nodecell::Status::MemoryLimit | nodecell::Status::OutputLimit
    ) {
        metrics::counter!(telemetry::SANDBOXES_KILLED, "reason" => status).increment(1);
    }
    metrics::histogram!(telemetry::RUN_SECONDS, &labels).record(outcome.usage.wall_ms / 1e3);
    metrics::histogram!(telemetry::REQUEST_SECONDS, &labels).record(t0.elapsed().as_secs_f64());
}

/// Adds one to a counter for as long as it lives.
struct Counted<'a> {
    counter: &'a AtomicUsize,
    /// The count before this one was added.
    before: usize,
}

impl<'a> Counted<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        let before = counter.fetch_add(1, Ordering::AcqRel);
        Counted { counter, before }
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The client holds its whole share already, counted.
fn share_exceeded(limit: usize) -> ApiError {
    let code = ErrorCode::ClientShareExceeded;
    metrics::counter!(telemetry::REJECTED, "reason" => code.as_str()).increment(1);
    ApiError::new(
        code,
        format!("this client already has {limit} runs in progress or waiting, its share"),
    )
    .with_metadata("max", limit)
}

/// Overloaded (the table gives its retry delay), counted.
fn overloaded(why: &str) -> ApiError {
    let code = ErrorCode::Overloaded;
    metrics::counter!(telemetry::REJECTED, "reason" => code.as_str()).increment(1);
    ApiError::new(code, why)
}
