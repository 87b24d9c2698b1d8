//! A warm pool: sandboxes started ahead of their jobs (Node booted, the runner and every
//! allowed module loaded), each used for exactly one job and then destroyed, with a
//! replacement started in the background. No state of one run can reach the next.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::engine::{BackendId, CheckedRequest, Engine};
use crate::error::{RunError, StartError};
use crate::node_command::ModuleLoading;
use crate::outcome::Outcome;
use crate::request::ExecRequest;
use crate::sandbox::{Cleanups, LiveEvent, Sandbox};

/// How many sandboxes are kept warm, per backend.
pub struct Pool {
    engine: Arc<Engine>,
    backend: BackendId,
    target: usize,
    warm: Mutex<VecDeque<Sandbox>>,
    starting: AtomicUsize,
    /// How many sandboxes may be starting at once (one per CPU: a start is mostly one
    /// busy thread).
    parallel_starts: usize,
    /// The last start failed: the next waits (with backoff).
    failing: AtomicBool,
    /// Why the last start failed, while starts keep failing.
    last_error: Mutex<Option<String>>,
    /// A sandbox has started since the pool was made.
    started_one: AtomicBool,
    wake: Notify,
    /// Set by shutdown: the refill stops, and the starts under way (which shutdown drops,
    /// not waits for) wait on it.
    closed: watch::Sender<bool>,
    /// Teardowns of finished sandboxes still running in the background.
    cleanups: Arc<Cleanups>,
}

impl Pool {
    /// Creates the pool and starts filling it in the background.
    pub fn new(engine: Arc<Engine>, backend: BackendId, target: usize) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            engine,
            backend,
            target,
            warm: Mutex::new(VecDeque::new()),
            starting: AtomicUsize::new(0),
            parallel_starts: std::thread::available_parallelism().map_or(1, |n| n.get()),
            failing: AtomicBool::new(false),
            last_error: Mutex::new(None),
            started_one: AtomicBool::new(false),
            wake: Notify::new(),
            closed: watch::Sender::new(false),
            cleanups: Arc::new(Cleanups::default()),
        });
        tokio::spawn(Pool::refill(pool.clone()));
        pool
    }

    /// Shutdown has begun.
    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Discards the warm sandboxes that can no longer run a job.
    fn discard_dead(&self) {
        let dead: Vec<Sandbox> = {
            let mut warm = self.warm.lock().expect("pool lock");
            let (alive, dead) = warm.drain(..).partition(Sandbox::alive);
            *warm = alive;
            dead.into()
        };
        for s in dead {
            self.cleanups.spawn(s.discard());
        }
    }

    /// Sandboxes ready for a job now.
    pub fn warm_count(&self) -> usize {
        let warm = self.warm.lock().expect("pool lock");
        warm.iter().filter(|s| s.alive()).count()
    }

    /// Whether a sandbox has started since the pool was made (a pool whose sandboxes are all
    /// taken by runs, and which starts them fine, is busy, not broken).
    pub fn has_started_one(&self) -> bool {
        self.started_one.load(Ordering::Acquire)
    }

    /// Why sandboxes cannot be started, if the last attempt failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("pool lock").clone()
    }

    /// Keeps `target` sandboxes warm, starting up to `parallel_starts` at a time; backs off
    /// while starts fail.
    async fn refill(pool: Arc<Pool>) {
        let mut backoff = Duration::from_millis(50);
        while !pool.is_closed() {
            let starting = pool.starting.load(Ordering::Acquire);
            pool.discard_dead();
            if pool.warm_count() + starting >= pool.target || starting >= pool.parallel_starts {
                // Woken by a run or a start; a warm sandbox can also die on its own (its
                // container engine went away): looked at again after a while.
                let _ = tokio::time::timeout(DEAD_CHECK, pool.wake.notified()).await;
                continue;
            }
            if pool.failing.load(Ordering::Acquire) {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            } else {
                backoff = Duration::from_millis(50);
            }
            // `starting` covers the whole start, until the sandbox is queued or discarded, so
            // that shutdown (which waits for it to drop to 0) never misses one.
            pool.starting.fetch_add(1, Ordering::AcqRel);
            tokio::spawn(Pool::start_warm(pool.clone()));
        }
    }

    /// Starts one sandbox for the warm queue.
    async fn start_warm(pool: Arc<Pool>) {
        let mut closed = pool.closed.subscribe();
        let started = tokio::select! {
            started = pool.start_one(ModuleLoading::Eager) => started,
            // Shutdown does not wait for a start under way (a VM's boot takes seconds, tens
            // under TCG on a loaded host): the start is dropped, and what it had made so far
            // goes with it, as when a request's own start is dropped with its client.
            _ = closed.wait_for(|closed| *closed) => {
                pool.starting.fetch_sub(1, Ordering::AcqRel);
                return;
            }
        };
        match started {
            Ok(sandbox) if !pool.is_closed() => {
                *pool.last_error.lock().expect("pool lock") = None;
                pool.failing.store(false, Ordering::Release);
                pool.started_one.store(true, Ordering::Release);
                pool.warm.lock().expect("pool lock").push_back(sandbox);
            }
            Ok(sandbox) => sandbox.discard().await,
            Err(e) => {
                // One line per failed start, with backoff between starts, at most 10 a minute.
                crate::warn_limited!(error = %e, "starting a warm sandbox failed");
                *pool.last_error.lock().expect("pool lock") = Some(e.to_string());
                pool.failing.store(true, Ordering::Release);
            }
        }
        pool.starting.fetch_sub(1, Ordering::AcqRel);
        pool.wake.notify_one();
    }

    async fn start_one(&self, modules: ModuleLoading) -> Result<Sandbox, StartError> {
        self.engine
            .start(self.backend, &self.engine.config().default_limits, modules)
            .await
    }

    /// The backend this pool starts sandboxes of.
    pub fn backend(&self) -> BackendId {
        self.backend
    }

    /// Runs one request in a warm sandbox (or, when none is warm, in one started for it).
    /// The request's memory and process limits are applied to the sandbox before the job.
    pub async fn run(
        &self,
        req: &ExecRequest,
        live: Option<tokio::sync::mpsc::Sender<LiveEvent>>,
    ) -> Result<Outcome, RunError> {
        let checked = self.engine.check_request(req)?;
        self.run_checked(req, &checked, live).await
    }

    /// [`Pool::run`] for a request the caller has already checked with
    /// [`Engine::check_request`] (so that it is not checked twice).
    pub async fn run_checked(
        &self,
        req: &ExecRequest,
        checked: &CheckedRequest,
        live: Option<tokio::sync::mpsc::Sender<LiveEvent>>,
    ) -> Result<Outcome, RunError> {
        let (mut sandbox, _refill) = self.take_sandbox(checked).await?;
        // The outcome is returned as soon as it is complete; the teardown finishes in the
        // background, and shutdown waits for it.
        sandbox.set_cleanups(self.cleanups.clone());
        Ok(sandbox
            .execute(&checked.work(req), &checked.limits, live)
            .await)
    }

    /// [`Pool::run_checked`] for a request whose code calls the functions it declares
    /// (host calls): each call goes to `live`, each reply comes from `replies`.
    pub async fn run_session(
        &self,
        req: &ExecRequest,
        checked: &CheckedRequest,
        live: tokio::sync::mpsc::Sender<LiveEvent>,
        replies: tokio::sync::mpsc::Receiver<crate::HostReply>,
    ) -> Result<Outcome, RunError> {
        let (mut sandbox, _refill) = self.take_sandbox(checked).await?;
        sandbox.set_cleanups(self.cleanups.clone());
        Ok(sandbox
            .execute_with_host(&checked.work(req), &checked.limits, live, replies)
            .await)
    }

    /// Runs every item of `batch` in one sandbox, one after another, each in a fresh V8
    /// context (`isolation: "batch"`), against `checked`: the batch's shared request as
    /// [`Engine::check_request`] found it. The sandbox's time, output and result limits are
    /// the per-item ones times the number of items; memory and processes are shared.
    pub async fn run_batch_checked(
        &self,
        batch: &crate::batch::BatchRequest,
        checked: &CheckedRequest,
    ) -> Result<crate::batch::BatchOutcome, RunError> {
        let mut whole = checked.clone();
        let n = batch.items.len().max(1) as u64;
        whole.limits.timeout_ms = checked.limits.timeout_ms.saturating_mul(n);
        whole.limits.max_output_bytes = checked.limits.max_output_bytes.saturating_mul(n);
        whole.limits.max_result_bytes = checked.limits.max_result_bytes.saturating_mul(n);
        let (mut sandbox, _refill) = self.take_sandbox(&whole).await?;
        sandbox.set_cleanups(self.cleanups.clone());
        let shared = batch.shared_request();
        let mut work = whole.work(&shared);
        work.items = Some(crate::request::BatchItems {
            items: &batch.items,
            timeout_ms: checked.limits.timeout_ms,
        });
        let outcome = sandbox.execute(&work, &whole.limits, None).await;
        Ok(crate::batch::split_outcome(outcome, batch.items.len()))
    }

    /// A sandbox for `checked`: a warm one that fits, else one started for it. The guard
    /// starts the replacement when it drops (after the run, also when the caller gives up on
    /// it), so that its boot does not compete with the run for CPU.
    async fn take_sandbox(
        &self,
        checked: &CheckedRequest,
    ) -> Result<(Sandbox, RefillOnDrop<'_>), RunError> {
        if checked.backend != self.backend {
            return Err(RunError::Request(
                crate::error::RequestError::BackendUnavailable {
                    backend: checked.backend.as_str().into(),
                    reason: format!("this pool runs {}", self.backend.as_str()),
                },
            ));
        }
        // A warm sandbox whose V8 heap cap is not this job's memory limit (no memory cgroup:
        // the cap is fixed at start) stays for the next job; this one gets its own.
        let (warm, stale) = {
            let mut warm = self.warm.lock().expect("pool lock");
            // Sandboxes that waited longer than `warm_max_age_ms` are replaced: their life is
            // bounded (nsjail ends them by itself past `sandbox_life_limit`).
            let max_age = Duration::from_millis(self.engine.config().warm_max_age_ms);
            let mut stale = Vec::new();
            while warm
                .front()
                .is_some_and(|s| s.age() > max_age || !s.alive())
            {
                stale.extend(warm.pop_front());
            }
            let fitting = match warm.front() {
                Some(s) if s.fits(&checked.limits) => warm.pop_front(),
                _ => None,
            };
            (fitting, stale)
        };
        for s in stale {
            self.cleanups.spawn(s.discard());
        }
        let refill = RefillOnDrop(&self.wake);
        let sandbox = match warm {
            Some(s) => s,
            None => {
                self.engine
                    .start(self.backend, &checked.limits, ModuleLoading::Lazy)
                    .await?
            }
        };
        Ok((sandbox, refill))
    }

    /// Stops refilling, drops the starts under way, destroys every warm sandbox and waits for
    /// every teardown still in progress: afterwards nothing of the pool's sandboxes is left.
    pub async fn shutdown(&self) {
        self.closed.send_replace(true);
        self.wake.notify_one();
        while self.starting.load(Ordering::Acquire) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let drained: Vec<Sandbox> = self.warm.lock().expect("pool lock").drain(..).collect();
        for s in drained {
            s.discard().await;
        }
        self.cleanups.wait_idle().await;
        crate::docker::container::settle(Duration::from_secs(5)).await;
    }
}

/// How often a full pool looks for warm sandboxes that died on their own.
const DEAD_CHECK: Duration = Duration::from_secs(1);

/// Wakes the refill task when dropped.
struct RefillOnDrop<'a>(&'a Notify);

impl Drop for RefillOnDrop<'_> {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}
