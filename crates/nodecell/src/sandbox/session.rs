//! The one job of a sandbox: its limits applied, the job frame sent, then events, stdout and
//! stderr read concurrently against the deadline, one output budget and (without cgroups)
//! the watchdog, until the result or another end.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::host_call::HostReply;
use crate::limits::Limits;
use crate::outcome::{ErrorInfo, Outcome, Usage};
use crate::protocol::{self, Job, JobHost, RunnerResult};
use crate::request::Work;

use super::accounting::tree_usage;
use super::channel::{drain_buffered, read_events, Read};
use super::end::End;
use super::host_link::{HostLink, Verdict};
use super::output::Output;
use super::{LiveEvent, Sandbox};

/// How often the watchdog samples a sandbox that has no cgroup (or an engine's group).
const WATCHDOG_PERIOD: Duration = Duration::from_millis(10);

impl Sandbox {
    /// Runs the one job and destroys the sandbox. Never fails: whatever happens inside
    /// becomes an outcome.
    pub async fn execute(
        self,
        work: &Work<'_>,
        limits: &Limits,
        live: Option<mpsc::Sender<LiveEvent>>,
    ) -> Outcome {
        self.run_job(work, limits, live, None).await
    }

    /// [`Sandbox::execute`] for a job whose code calls functions the caller serves
    /// (`work.host`): each call goes to `live` as [`LiveEvent::HostCall`], after everything
    /// the code logged or wrote before it; each reply comes from `replies`.
    pub async fn execute_with_host(
        self,
        work: &Work<'_>,
        limits: &Limits,
        live: mpsc::Sender<LiveEvent>,
        replies: mpsc::Receiver<HostReply>,
    ) -> Outcome {
        self.run_job(work, limits, Some(live), Some(replies)).await
    }

    async fn run_job(
        mut self,
        work: &Work<'_>,
        limits: &Limits,
        live: Option<mpsc::Sender<LiveEvent>>,
        replies: Option<mpsc::Receiver<HostReply>>,
    ) -> Outcome {
        let mut out = Output::new(limits.max_output_bytes, live);
        // The limits of this job (a warm sandbox was started before they were known).
        let baseline =
            match self
                .accounting
                .apply_job_limits(limits, self.node_pid, self.root_pid())
            {
                Ok(b) => b,
                Err(e) => {
                    self.stop();
                    let usage = Usage::default();
                    return self.finish(End::HostFailure(e), out, limits, usage).await;
                }
            };
        let cpu0 = self.accounting.cpu_ns(self.node_pid);
        let mut peak_seen = 0u64;
        let mut watch = tokio::time::interval(WATCHDOG_PERIOD);
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let t0 = Instant::now();
        let deadline = tokio::time::sleep(Duration::from_millis(limits.timeout_ms));
        tokio::pin!(deadline);

        let nonce = protocol::new_nonce();
        let mut ignored = 0u32;
        // Host calls are served only where someone answers them.
        let host = work.host.filter(|_| replies.is_some());
        let job = Job {
            nonce: &nonce,
            code: work.code,
            inputs: work.inputs,
            profile: work.profile.as_str(),
            mode: work.mode.as_str(),
            items: work.items.map(|b| b.items),
            item_timeout_ms: work.items.map(|b| b.timeout_ms),
            max_result_bytes: limits.max_result_bytes,
            max_output_bytes: limits.max_output_bytes,
            host: host.map(|h| JobHost {
                functions: &h.functions,
                max_payload_bytes: h.limits.max_payload_bytes,
            }),
        };
        let (Some(mut job_pipe), Some(events)) = (self.job.take(), self.events.take()) else {
            unreachable!("execute consumes the sandbox, so its pipes are still there");
        };
        let end = tokio::select! {
            _ = &mut deadline => Some(End::Timeout),
            r = protocol::write_job(&mut job_pipe, &job) => match r {
                Ok(()) => None,
                Err(e) => Some(End::RunnerGone(format!("delivering the job: {e}"))),
            },
        };
        // With host calls the job channel stays open for their replies.
        let mut link = match (host, replies) {
            (Some(functions), Some(replies)) => Some(HostLink::new(functions, job_pipe, replies)),
            _ => {
                drop(job_pipe);
                None
            }
        };
        let reply_timer = tokio::time::sleep(Duration::from_secs(86_400));
        tokio::pin!(reply_timer);

        // Events are read by a task of their own: reading a frame is not cancel-safe.
        let frame_cap = (limits.max_output_bytes.max(limits.max_result_bytes) + 1) * 6 + 4096;
        let (tx, mut rx) = mpsc::channel(64);
        let reader = tokio::spawn(read_events(events, frame_cap, nonce, tx));

        let mut obuf = vec![0u8; 16384];
        let mut ebuf = vec![0u8; 16384];
        let (mut stdout_open, mut stderr_open) = (true, true);
        let live = out.live_sender();
        let end = match end {
            Some(e) => e,
            None => loop {
                // While a streaming caller has not taken what was read, nothing more is read.
                let blocked = out.blocked();
                let pending = link.as_ref().is_some_and(|l| l.pending.is_some());
                tokio::select! {
                    _ = &mut deadline => break match link.as_ref().and_then(HostLink::waiting_for) {
                        Some(what) => End::HostWait(format!(
                            "the run exceeded its time limit of {} ms waiting for the reply to {what}",
                            limits.timeout_ms
                        )),
                        None => End::Timeout,
                    },
                    _ = &mut reply_timer, if pending => {
                        let l = link.as_ref().expect("pending");
                        break End::HostWait(format!(
                            "no reply to {} within reply_timeout_ms ({} ms)",
                            l.waiting_for().expect("pending"),
                            l.reply_timeout().as_millis()
                        ));
                    }
                    reply = next_reply(&mut link), if pending => {
                        let l = link.as_mut().expect("pending");
                        match reply {
                            Some(reply) => if let Some(reply) = l.answer(reply) {
                                if let Err(end) = deliver(l, &reply, deadline.as_mut()).await {
                                    break end;
                                }
                            },
                            None => break End::HostWait(format!(
                                "the caller stopped answering host calls while waiting for the reply to {}",
                                l.waiting_for().expect("pending")
                            )),
                        }
                    }
                    permit = room(live.as_ref()), if blocked => out.send_pending(permit),
                    ev = rx.recv(), if !blocked => match ev {
                        Some(Read::Log(entry)) => {
                            if !out.log(entry) {
                                break End::OutputLimit;
                            }
                        }
                        Some(Read::Result(r, len)) => break End::Result(held_to_result_limit(r, len, limits)),
                        Some(Read::Call(call, len)) => {
                            let verdict = link.as_mut().map_or(Verdict::Ignore, |l| l.on_call(call, len));
                            match verdict {
                                Verdict::Forward(call) => {
                                    let l = link.as_ref().expect("forwarded");
                                    reply_timer.as_mut().reset(tokio::time::Instant::now() + l.reply_timeout());
                                    out.host_call(call);
                                }
                                Verdict::Refuse(reply) => {
                                    let l = link.as_mut().expect("refused");
                                    if let Err(end) = deliver(l, &reply, deadline.as_mut()).await {
                                        break end;
                                    }
                                }
                                Verdict::Ignore => {
                                    ignored += 1;
                                    if !out.charge(len) {
                                        break End::OutputLimit;
                                    }
                                }
                            }
                        }
                        // Frames the host cannot accept (a result without this run's nonce,
                        // anything off-schema) can only come from the user's code writing to
                        // fd 4: ignored, but their bytes count against the output budget.
                        Some(Read::Ignored(len)) => {
                            ignored += 1;
                            if !out.charge(len) {
                                break End::OutputLimit;
                            }
                        }
                        Some(Read::Closed) | None => break End::RunnerGone("the runner closed its channel without a result".into()),
                        Some(Read::Broken(e)) => break End::Protocol(e.to_string()),
                    },
                    n = self.stdout.read(&mut obuf), if stdout_open && !blocked => match n {
                        Ok(n) if n > 0 => if !out.stdout(&obuf[..n]) { break End::OutputLimit },
                        _ => stdout_open = false,
                    },
                    n = self.stderr.read(&mut ebuf), if stderr_open && !blocked => match n {
                        Ok(n) if n > 0 => if !out.stderr(&ebuf[..n]) { break End::OutputLimit },
                        _ => stderr_open = false,
                    },
                    _ = watch.tick(), if self.accounting.is_watchdog() || self.accounting.is_sampled_group() => {
                        if self.accounting.is_sampled_group() {
                            self.accounting.sample_group();
                            continue;
                        }
                        let (rss, tasks) = tree_usage(self.root_pid(), self.node_pid);
                        peak_seen = peak_seen.max(rss);
                        if rss > baseline + limits.memory_bytes() {
                            break End::MemoryLimit;
                        }
                        if tasks > limits.max_processes {
                            break End::ProcessLimit;
                        }
                    }
                }
            },
        };
        let wall = t0.elapsed();
        let mut usage = self.accounting.usage(
            wall,
            cpu0,
            baseline,
            peak_seen,
            self.node_pid,
            self.root_pid(),
        );
        if let Some(l) = link.take() {
            let (calls, waited) = l.usage();
            usage.host_calls = calls;
            usage.host_wait_ms = waited.as_secs_f64() * 1e3;
        }
        reader.abort();
        if ignored > 0 {
            // One aggregated line per run: user code decides how many frames it forges.
            tracing::debug!(ignored, "ignored frames the runner did not send");
        }
        // After a result: Node writes to the stdout and stderr pipes synchronously, so
        // everything the code wrote before its result is already buffered in them; it is
        // read without waiting for anything to exit.
        if matches!(end, End::Result(_)) {
            let ok = (!stdout_open || drain_buffered(&self.stdout, &mut obuf, |b| out.stdout(b)))
                && (!stderr_open || drain_buffered(&self.stderr, &mut ebuf, |b| out.stderr(b)));
            self.stop();
            if !ok {
                return self.finish(End::OutputLimit, out, limits, usage).await;
            }
            return self.finish(end, out, limits, usage).await;
        }
        self.stop();
        // The runner went away without a result: what it wrote is collected to EOF, which
        // comes once every process of the sandbox is gone.
        if matches!(end, End::RunnerGone(_)) {
            let drain = async {
                while stdout_open || stderr_open {
                    tokio::select! {
                        n = self.stdout.read(&mut obuf), if stdout_open => match n {
                            Ok(n) if n > 0 => if !out.stdout(&obuf[..n]) { return false },
                            _ => stdout_open = false,
                        },
                        n = self.stderr.read(&mut ebuf), if stderr_open => match n {
                            Ok(n) if n > 0 => if !out.stderr(&ebuf[..n]) { return false },
                            _ => stderr_open = false,
                        },
                    }
                }
                true
            };
            if let Ok(false) = tokio::time::timeout(Duration::from_secs(1), drain).await {
                return self.finish(End::OutputLimit, out, limits, usage).await;
            }
        }
        self.finish(end, out, limits, usage).await
    }
}

/// The caller's next reply to a host call (never, without host calls).
async fn next_reply(link: &mut Option<HostLink<'_>>) -> Option<HostReply> {
    match link {
        Some(l) => l.next_reply().await,
        None => std::future::pending().await,
    }
}

/// Writes a reply to the runner within the run's deadline.
async fn deliver(
    link: &mut HostLink<'_>,
    reply: &HostReply,
    deadline: std::pin::Pin<&mut tokio::time::Sleep>,
) -> Result<(), End> {
    tokio::select! {
        _ = deadline => Err(End::Timeout),
        r = link.write(reply) => r.map_err(|e| End::RunnerGone(format!("delivering a host call's reply: {e}"))),
    }
}

/// Room for one event in the live channel; `None` once nobody listens.
async fn room(live: Option<&mpsc::Sender<LiveEvent>>) -> Option<mpsc::Permit<'_, LiveEvent>> {
    match live {
        Some(tx) => tx.reserve().await.ok(),
        None => None,
    }
}

/// The runner holds an ok result to `max_result_bytes`; the host holds it to that too, by the
/// size of the frame it came in (code in the sandbox can forge a result: the nonce is readable
/// from inside, see docs/threat-model.md). Over the limit it becomes the runner's own error.
fn held_to_result_limit(r: RunnerResult, frame_len: usize, limits: &Limits) -> RunnerResult {
    const ENVELOPE: &str = r#"{"type":"result","status":"ok","nonce":"","result":}"#;
    match r {
        RunnerResult::Ok { nonce, .. }
            if frame_len.saturating_sub(ENVELOPE.len() + nonce.len()) as u64
                > limits.max_result_bytes =>
        {
            RunnerResult::Error {
                nonce,
                error: ErrorInfo::new(
                    "ResultTooLarge",
                    format!(
                        "result exceeds max_result_bytes ({} bytes of JSON)",
                        limits.max_result_bytes
                    ),
                ),
            }
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ok_result_over_the_limit_is_refused_by_the_host() {
        let limits = Limits {
            max_result_bytes: 4,
            ..Limits::default()
        };
        let frame = |result: &str| {
            format!(r#"{{"type":"result","status":"ok","nonce":"n","result":{result}}}"#)
        };
        let ok = |result: &str| RunnerResult::Ok {
            nonce: "n".into(),
            result: crate::json_text::JsonText::parse(result).unwrap(),
        };
        for (result, allowed) in [("1234", true), ("12345", false), (r#""ab""#, true)] {
            let held = held_to_result_limit(ok(result), frame(result).len(), &limits);
            assert_eq!(
                matches!(held, RunnerResult::Ok { .. }),
                allowed,
                "{result}: {held:?}"
            );
        }
        let err = RunnerResult::Error {
            nonce: "n".into(),
            error: ErrorInfo::new("Error", "x".repeat(100)),
        };
        assert!(matches!(
            held_to_result_limit(err, 1000, &limits),
            RunnerResult::Error { error, .. } if error.name == "Error"
        ));
    }
}
