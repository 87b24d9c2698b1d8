//! How a run ended, and the outcome that makes: every status is decided here, from what the
//! host saw.

use crate::limits::Limits;
use crate::outcome::{ErrorInfo, Outcome, Status, Usage};
use crate::protocol::RunnerResult;

use super::output::Output;

/// How a run ended, before it becomes a status.
pub(crate) enum End {
    Result(RunnerResult),
    Timeout,
    OutputLimit,
    /// The watchdog saw more resident memory than the limit allows.
    MemoryLimit,
    /// The watchdog saw more processes and threads than the limit allows.
    ProcessLimit,
    RunnerGone(String),
    Protocol(String),
    HostFailure(String),
    /// The run ended waiting for a host call's reply (the reply timeout, the run's own time
    /// limit, or a caller that stopped answering): a timeout, the message naming the call.
    HostWait(String),
}

impl End {
    /// The outcome of a run that ended this way. `exit` is the sandbox program's exit code,
    /// when known; `oom` says the memory cgroup's OOM killer acted.
    pub(crate) fn into_outcome(
        self,
        out: Output,
        limits: &Limits,
        usage: Usage,
        oom: bool,
        exit: Option<i32>,
        backend: &str,
    ) -> Outcome {
        let stderr_text = String::from_utf8_lossy(&out.stderr_bytes).into_owned();
        // V8 reports running out of its heap cap (or, under RLIMIT_DATA, out of memory it
        // could not map) on stderr before it aborts.
        let heap_oom = stderr_text.contains("out of memory");
        let memory_limit = || {
            (
                Status::MemoryLimit,
                None,
                Some(ErrorInfo::new(
                    "MemoryLimitError",
                    format!(
                        "the run exceeded its memory limit of {} MiB",
                        limits.memory_mib
                    ),
                )),
            )
        };
        let (status, result, error) = match self {
            End::Result(RunnerResult::Ok { result, .. }) => (Status::Ok, Some(result), None),
            End::Result(RunnerResult::Error { error, .. }) => (Status::Error, None, Some(error)),
            End::Timeout => (
                Status::Timeout,
                None,
                Some(ErrorInfo::new(
                    "TimeoutError",
                    format!(
                        "the run exceeded its time limit of {} ms",
                        limits.timeout_ms
                    ),
                )),
            ),
            End::HostWait(why) => (
                Status::Timeout,
                None,
                Some(ErrorInfo::new("TimeoutError", why)),
            ),
            End::OutputLimit => (
                Status::OutputLimit,
                None,
                Some(ErrorInfo::new(
                    "OutputLimitError",
                    format!(
                        "captured output exceeded its limit of {} bytes",
                        limits.max_output_bytes
                    ),
                )),
            ),
            End::MemoryLimit => memory_limit(),
            End::ProcessLimit => (
                Status::Crashed,
                None,
                Some(ErrorInfo::new(
                    "ProcessLimitError",
                    format!(
                        "the run exceeded its limit of {} processes and threads and was killed",
                        limits.max_processes
                    ),
                )),
            ),
            End::RunnerGone(_) | End::Protocol(_) if oom || heap_oom => memory_limit(),
            End::RunnerGone(why) => {
                let how = match exit {
                    Some(c) if c > 128 => format!("Node was killed by signal {}", c - 128),
                    Some(c) => format!("Node exited with code {c}"),
                    None => "Node's exit status is unknown".into(),
                };
                (
                    Status::Crashed,
                    None,
                    Some(ErrorInfo::new("CrashedError", format!("{why}; {how}"))),
                )
            }
            End::Protocol(why) => (
                Status::Crashed,
                None,
                Some(ErrorInfo::new(
                    "CrashedError",
                    format!("the runner's channel broke: {why}"),
                )),
            ),
            End::HostFailure(why) => (
                Status::Crashed,
                None,
                Some(ErrorInfo::new(
                    "HostError",
                    format!("the host could not apply the limits: {why}"),
                )),
            ),
        };
        Outcome {
            status,
            result,
            error,
            logs: out.logs,
            stdout: String::from_utf8_lossy(&out.stdout_bytes).into_owned(),
            stderr: stderr_text,
            truncated: out.truncated,
            usage,
            backend: backend.to_string(),
            request_id: None,
        }
    }
}
