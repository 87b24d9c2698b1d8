//! Backend `fake` (cargo feature `fake`): no Node, no privileges, no isolation. Its "runner"
//! is a task of the host speaking the runner protocol over unix socket pairs, so that what
//! sits on the engine (the server's transports) can be tested in-process, fast. It protects
//! nothing and is never in the registry: only [`crate::Engine::fake`] has it.
//!
//! The fake runner reads the code line by line:
//!
//! | line | does |
//! |---|---|
//! | `sleep MS` | waits MS milliseconds |
//! | `log TEXT` | a `console.log` entry |
//! | `stdout TEXT`, `stderr TEXT` | writes TEXT |
//! | `throw MESSAGE` | ends with status `error`, `{name: "Error", message}` |
//! | `return JSON` | ends with status `ok` and that result |
//!
//! Other lines are ignored; without `return` or `throw` the result is
//! `{"code": ..., "inputs": ...}`.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use crate::config::EngineConfig;
use crate::enforcement::{Guarantee, Offer, Protection};
use crate::error::StartError;
use crate::host::HostSupport;
use crate::launch::spec::LaunchReport;
use crate::protocol;
use crate::sandbox::channel::RunnerChannel;
use crate::sandbox::plan::{AccountingPlan, Confirmation, Program, SandboxPlan};
use crate::sandbox::process::{SandboxProcess, Started};

use super::{Backend, PlanContext};

pub(crate) struct Fake;

impl Backend for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn offers(&self, _host: &HostSupport, _config: &EngineConfig) -> Vec<Offer> {
        Protection::ALL
            .into_iter()
            .map(|p| Offer::absent(p, "none: the fake backend runs no code (tests only)"))
            .collect()
    }

    fn guarantees(&self, _host: &HostSupport) -> Vec<Guarantee> {
        Vec::new()
    }

    fn plan(&self, _cx: &PlanContext<'_>) -> Result<SandboxPlan, StartError> {
        let pair = || UnixStream::pair().map_err(StartError::Spawn);
        let (job, job_runner) = pair()?;
        let (events, events_runner) = pair()?;
        let (stdout, stdout_runner) = pair()?;
        let (stderr, stderr_runner) = pair()?;
        let task = tokio::spawn(fake_runner(
            job_runner,
            events_runner,
            stdout_runner,
            stderr_runner,
        ));
        Ok(SandboxPlan {
            program: Program::Started(Started {
                process: Box::new(FakeProcess(Some(task))),
                channel: RunnerChannel {
                    job: Box::new(job),
                    events: Box::new(events),
                    stdout: Box::new(stdout),
                    stderr: Box::new(stderr),
                },
                status: None,
                started: Instant::now(),
            }),
            confirmation: Confirmation::Declared(LaunchReport::default()),
            accounting: AccountingPlan::Unmetered,
            scratch: None,
            from_zygote: false,
            fixed_memory_mib: None,
        })
    }
}

/// The fake runner's task: aborted to stop it.
struct FakeProcess(Option<tokio::task::JoinHandle<()>>);

impl SandboxProcess for FakeProcess {
    fn pid(&self) -> Option<u32> {
        None
    }

    fn stop(&mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }

    fn wait(&mut self) -> Pin<Box<dyn Future<Output = std::io::Result<Option<i32>>> + Send + '_>> {
        Box::pin(async {
            if let Some(t) = self.0.take() {
                let _ = t.await;
            }
            Ok(Some(0))
        })
    }
}

async fn send(events: &mut UnixStream, event: serde_json::Value) -> std::io::Result<()> {
    events
        .write_all(&protocol::encode_frame(event.to_string().as_bytes()))
        .await
}

async fn fake_runner(
    mut job: UnixStream,
    mut events: UnixStream,
    mut stdout: UnixStream,
    mut stderr: UnixStream,
) {
    let _ = async {
        send(&mut events, serde_json::json!({"type": "ready"})).await?;
        let Some(frame) = protocol::read_frame(&mut job, 1 << 30)
            .await
            .map_err(std::io::Error::other)?
        else {
            return Ok(());
        };
        let job: serde_json::Value = serde_json::from_slice(&frame)?;
        let nonce = job["nonce"].clone();
        let code = job["code"].as_str().unwrap_or_default().to_string();
        let mut end = None;
        for line in code.lines() {
            let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
            match word {
                "sleep" => {
                    let ms = rest.trim().parse().unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                "log" => {
                    let log = serde_json::json!({"type": "log", "level": "log", "message": rest});
                    send(&mut events, log).await?;
                }
                "stdout" => stdout.write_all(rest.as_bytes()).await?,
                "stderr" => stderr.write_all(rest.as_bytes()).await?,
                "throw" => {
                    end = Some(serde_json::json!({"type": "result", "status": "error", "nonce": nonce,
                        "error": {"name": "Error", "message": rest}}));
                    break;
                }
                "return" => {
                    let result: serde_json::Value =
                        serde_json::from_str(rest).unwrap_or(serde_json::Value::Null);
                    end = Some(serde_json::json!({"type": "result", "status": "ok", "nonce": nonce, "result": result}));
                    break;
                }
                _ => {}
            }
        }
        let end = end.unwrap_or_else(|| {
            serde_json::json!({"type": "result", "status": "ok", "nonce": nonce,
                "result": {"code": code, "inputs": job["inputs"]}})
        });
        send(&mut events, end).await
    }
    .await;
}
