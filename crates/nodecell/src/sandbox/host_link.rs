//! A run's side of host calls: which call frames the host passes on to the caller, the one
//! call pending, its reply written back on the job channel, and the time spent waiting.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::host_call::{HostCall, HostFunctions, HostReply, Reply};

use super::channel::WriteHalf;

/// What to do with a call frame.
pub(crate) enum Verdict {
    /// Pass it on to the caller and wait for the reply.
    Forward(HostCall),
    /// Answer it at once (a limit refused it).
    Refuse(HostReply),
    /// Not a call the real runner could have made (another id, an undeclared name, a call
    /// while one is pending, or no host functions at all): ignored, at the output budget's
    /// cost.
    Ignore,
}

/// The call waiting for its reply.
pub(crate) struct Pending {
    pub id: u64,
    pub name: String,
    since: Instant,
}

pub(crate) struct HostLink<'a> {
    functions: &'a HostFunctions,
    /// The job channel, kept open for replies.
    job: Box<dyn WriteHalf>,
    replies: mpsc::Receiver<HostReply>,
    next_id: u64,
    pub pending: Option<Pending>,
    calls: u32,
    waited: Duration,
}

impl<'a> HostLink<'a> {
    pub(crate) fn new(
        functions: &'a HostFunctions,
        job: Box<dyn WriteHalf>,
        replies: mpsc::Receiver<HostReply>,
    ) -> HostLink<'a> {
        HostLink {
            functions,
            job,
            replies,
            next_id: 1,
            pending: None,
            calls: 0,
            waited: Duration::ZERO,
        }
    }

    pub(crate) fn reply_timeout(&self) -> Duration {
        Duration::from_millis(self.functions.limits.reply_timeout_ms)
    }

    /// Judges a call frame of `frame_len` bytes.
    pub(crate) fn on_call(&mut self, call: HostCall, frame_len: usize) -> Verdict {
        if self.pending.is_some() || call.id != self.next_id || !self.functions.declares(&call.name)
        {
            return Verdict::Ignore;
        }
        self.next_id += 1;
        let limits = self.functions.limits;
        let refuse = |why: String| {
            Verdict::Refuse(HostReply {
                id: call.id,
                reply: Reply::Error(why),
            })
        };
        if self.calls >= limits.max_calls {
            return refuse(format!(
                "{}: more than max_calls ({}) host calls in one run",
                call.name, limits.max_calls
            ));
        }
        if call.args.get().len() as u64 > limits.max_payload_bytes {
            return refuse(format!(
                "the arguments of {} exceed max_payload_bytes ({} bytes of JSON)",
                call.name, limits.max_payload_bytes
            ));
        }
        debug_assert!(frame_len >= call.args.get().len());
        self.calls += 1;
        self.pending = Some(Pending {
            id: call.id,
            name: call.name.clone(),
            since: Instant::now(),
        });
        Verdict::Forward(call)
    }

    /// The caller's next reply; `None` once it stopped answering. Cancel-safe.
    pub(crate) async fn next_reply(&mut self) -> Option<HostReply> {
        self.replies.recv().await
    }

    /// The reply to the pending call, held to the payload limit; `None` for a reply to
    /// anything else (ignored).
    pub(crate) fn answer(&mut self, reply: HostReply) -> Option<HostReply> {
        let pending = self.pending.as_ref().filter(|p| p.id == reply.id)?;
        let max = self.functions.limits.max_payload_bytes;
        let reply = match reply.reply {
            Reply::Value(v) if v.get().len() as u64 > max => HostReply {
                id: reply.id,
                reply: Reply::Error(format!(
                    "the host's reply to {} exceeds max_payload_bytes ({max} bytes of JSON)",
                    pending.name
                )),
            },
            _ => reply,
        };
        let pending = self.pending.take().expect("checked above");
        self.waited += pending.since.elapsed();
        Some(reply)
    }

    /// Writes a reply frame to the runner. Not cancel-safe: the caller bounds it with the
    /// run's deadline and ends the run if it is cut.
    pub(crate) async fn write(&mut self, reply: &HostReply) -> std::io::Result<()> {
        self.job
            .write_all(&crate::protocol::reply_frame(reply))
            .await?;
        self.job.flush().await
    }

    /// Calls made and the time spent waiting for replies (the pending one included).
    pub(crate) fn usage(&self) -> (u32, Duration) {
        let pending = self
            .pending
            .as_ref()
            .map_or(Duration::ZERO, |p| p.since.elapsed());
        (self.calls, self.waited + pending)
    }

    /// What a run that ended while a call was pending was waiting for.
    pub(crate) fn waiting_for(&self) -> Option<String> {
        self.pending
            .as_ref()
            .map(|p| format!("host call {} (call {})", p.name, p.id))
    }
}
