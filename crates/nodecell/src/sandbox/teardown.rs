//! Ending a sandbox: the program asked to stop, waited for (killed, with everything in the
//! cgroup, if it does not stop in time), the cgroup and scratch directory removed; for a
//! pool, after a result, all of that in the background, tracked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::limits::Limits;
use crate::outcome::{Outcome, Usage};

use super::end::End;
use super::output::Output;
use super::Sandbox;

/// Teardowns still running in the background (see [`Sandbox::set_cleanups`]).
#[derive(Debug, Default)]
pub struct Cleanups {
    pending: AtomicUsize,
    idle: tokio::sync::Notify,
}

/// How long a streaming caller has, once its run has ended, to take the live events still
/// waiting for room (a caller that does not read finds them only in the outcome).
const LIVE_FLUSH_TIME: Duration = Duration::from_secs(2);

impl Cleanups {
    /// Runs `teardown` in the background, tracked until it has finished.
    pub(crate) fn spawn(
        self: &Arc<Self>,
        teardown: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        let me = self.clone();
        tokio::spawn(async move {
            teardown.await;
            if me.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                me.idle.notify_waiters();
            }
        });
    }

    /// Waits until every tracked teardown has finished.
    pub async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Sandbox {
    /// After a result, let the teardown (the program's exit, the cgroup's removal) finish in
    /// the background, tracked by `cleanups`, instead of before the outcome is returned.
    pub fn set_cleanups(&mut self, cleanups: Arc<Cleanups>) {
        self.cleanups = Some(cleanups);
    }

    /// Removes the scratch directory, off the async workers (a run may have built a tree of
    /// millions of entries in it).
    async fn remove_scratch(&mut self) {
        if let Some(scratch) = self.scratch.take() {
            let _ = tokio::task::spawn_blocking(move || drop(scratch)).await;
        }
    }

    /// Asks the sandbox's program to stop the sandbox (see [`SandboxProcess::stop`]).
    pub(super) fn stop(&mut self) {
        self.process.stop();
    }

    /// Destroys a sandbox that will not get a job, and waits until nothing of it is left.
    pub async fn discard(mut self) {
        self.stop();
        if tokio::time::timeout(Duration::from_secs(5), self.process.wait())
            .await
            .is_err()
        {
            self.process.kill();
            let _ = self.process.wait().await;
        }
        if let Some(cg) = self.accounting.take_cgroup() {
            let _ = tokio::task::spawn_blocking(move || cg.remove()).await;
        }
        self.remove_scratch().await;
    }

    /// Ends the run: waits until nothing of the sandbox runs (or has it in the background,
    /// for a pool), removes its cgroup and scratch directory, and makes the outcome.
    pub(super) async fn finish(
        mut self,
        end: End,
        mut out: Output,
        limits: &Limits,
        usage: Usage,
    ) -> Outcome {
        // The sandbox has stopped: what a streaming caller has not taken yet is sent now.
        out.flush_live(LIVE_FLUSH_TIME).await;
        let t0 = Instant::now();
        if self.cleanups.is_some() && matches!(end, End::Result(_)) {
            // The result and all output are in hand (the pipes reached EOF): answer now; the
            // launcher's exit and the cgroup's removal complete in the background, tracked so
            // that whoever owns the pool can wait until nothing is left.
            let oom = self.accounting.oom_killed(&usage, limits) || self.process.oom_killed();
            let outcome = end.into_outcome(out, limits, usage, oom, None, self.backend);
            let cleanups = self.cleanups.take().expect("checked above");
            cleanups.spawn(self.discard());
            return outcome;
        }
        // Read before the wait: a container's cgroup goes with the container.
        let oom = self.accounting.oom_killed(&usage, limits) || self.process.oom_killed();
        let exit = match tokio::time::timeout(Duration::from_secs(5), self.process.wait()).await {
            Ok(Ok(code)) => code,
            _ => {
                // The program did not stop in time: kill it and everything in the cgroup.
                self.process.kill();
                if let Some(cg) = self.accounting.cgroup() {
                    cg.kill_all();
                }
                let _ = tokio::time::timeout(Duration::from_secs(5), self.process.wait()).await;
                None
            }
        };
        let reaped = t0.elapsed();
        if let Some(cg) = self.accounting.take_cgroup() {
            cg.remove();
        }
        self.remove_scratch().await;
        tracing::debug!(
            wall_ms = usage.wall_ms,
            reaped_ms = reaped.as_secs_f64() * 1e3,
            cleaned_ms = t0.elapsed().as_secs_f64() * 1e3,
            "run finished"
        );
        let backend = self.backend;
        end.into_outcome(out, limits, usage, oom, exit, backend)
    }
}
