//! The service's memory per request, measured on a real `nodecell serve` process: what one
//! request adds to the server's peak resident memory, as a multiple of the request's limits.
//! docs/configuration.md ("Server memory per request") documents the bound checked here.
//!
//! Each case runs in a fresh server process, so that memory a previous request freed (and the
//! allocator kept) cannot hide what this one needs; the peak is the kernel's `VmHWM`, reset
//! (`/proc/PID/clear_refs`) once the server is warm.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nodecell_server::grpc::pb;
use serde_json::{json, Value};

/// The documented bound: one request adds at most this many times its limits to the server's
/// peak memory. What comes in is measured against what a request may carry
/// (`max_code_bytes` + `max_inputs_bytes`), what goes out against `max_result_bytes` or
/// `max_output_bytes`.
/// (The worst case measured is a gRPC result of small numbers: about 7.3 times, most of it
/// the response message, which protobuf makes 5.5 times the size of the JSON text.)
const MAX_MULTIPLE: f64 = 10.0;

/// The default limits this test fills (1 MiB each).
const LIMIT: usize = 1 << 20;

/// What a request may carry under the default limits: code and inputs.
const CARRIED: usize = 2 * LIMIT;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `nodecell serve` process; killed (and its sandboxes with it) when dropped.
struct Served {
    child: Child,
    http: String,
    grpc: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        // SIGTERM: a graceful stop that kills its warm sandboxes.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

async fn serve() -> Served {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let target = repo().join("target").join(profile);
    let bin = target.join("nodecell");
    assert!(
        bin.exists(),
        "{} missing: build the workspace first",
        bin.display()
    );
    let (http, grpc) = (free_port(), free_port());
    let mut child = Command::new(&bin)
        .args(["serve", "--pool-size", "1", "--http-listen"])
        .arg(format!("127.0.0.1:{http}"))
        .arg("--grpc-listen")
        .arg(format!("127.0.0.1:{grpc}"))
        .env("NODECELL_LAUNCHER", target.join("nodecell-launcher"))
        .env("NODECELL_RUNNER_DIR", repo().join("runner"))
        .env_remove("NODE_EXTRA_CA_CERTS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The server's log goes on being read (and dropped) so that it never blocks on it.
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
    let served = Served {
        child,
        http: format!("http://127.0.0.1:{http}"),
        grpc: format!("http://127.0.0.1:{grpc}"),
    };
    let t = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(format!("{}/readyz", served.http)).await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the server never got ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    served
}

/// What `request` adds to the peak resident memory of a fresh, warm server, in bytes.
async fn added_peak<F, Fut>(what: &str, limit: usize, request: F) -> u64
where
    F: Fn(Served) -> Fut,
    Fut: std::future::Future<Output = Served>,
{
    let served = serve().await;
    // Warm: one small run on each transport, so that lazily built state is there.
    let warm = reqwest::Client::new()
        .post(format!("{}/v1/execute", served.http))
        .body(r#"{"code": "return 1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 200);
    let mut client = pb::sandbox_service_client::SandboxServiceClient::connect(served.grpc.clone())
        .await
        .unwrap();
    client
        .execute(pb::ExecuteRequest {
            code: "return 1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    drop(client);
    let pid = served.child.id();
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let before = status_kib(pid, "VmRSS:");
    let served = request(served).await;
    let peak = status_kib(pid, "VmHWM:");
    let added = peak.saturating_sub(before) * 1024;
    println!(
        "{what}: server RSS {before} KiB before, peak {peak} KiB: +{:.1} MiB = {:.2} x its {} MiB limit",
        added as f64 / (1 << 20) as f64,
        added as f64 / limit as f64,
        limit >> 20
    );
    drop(served);
    added
}

/// `[0,0,…]`: the JSON whose tree of values costs the most per byte of text.
fn zeros(bytes: usize) -> Value {
    Value::Array(vec![json!(0); bytes / 2 - 1])
}

async fn post(served: &Served, body: String) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/execute", served.http))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_costs_the_server_a_small_multiple_of_its_limits() {
    let mut worst: Vec<(&str, u64, usize)> = Vec::new();

    // In: inputs just under max_inputs_bytes.
    let inputs = json!({ "a": zeros(LIMIT - 16) });
    let body = json!({"code": "return inputs.a.length", "inputs": inputs}).to_string();
    let added = added_peak("HTTP inputs of 1 MiB", CARRIED, |s| {
        let body = body.clone();
        async move {
            let (status, v) = post(&s, body).await;
            assert_eq!((status, &v["status"]), (200, &json!("ok")), "{v}");
            s
        }
    })
    .await;
    worst.push(("HTTP inputs", added, CARRIED));

    // In, refused: a body within the size cap whose inputs are over max_inputs_bytes.
    let body = json!({"code": "1", "inputs": {"a": zeros(3 * LIMIT)}}).to_string();
    let added = added_peak("HTTP inputs of 3 MiB (refused)", CARRIED, |s| {
        let body = body.clone();
        async move {
            let (status, v) = post(&s, body).await;
            assert_eq!(status, 413, "{v}");
            s
        }
    })
    .await;
    worst.push(("HTTP refused inputs", added, CARRIED));

    // Out: a result just under max_result_bytes.
    let code = format!("return new Array({}).fill(0)", LIMIT / 2 - 16);
    let body = json!({ "code": code }).to_string();
    let added = added_peak("HTTP result of 1 MiB", LIMIT, |s| {
        let body = body.clone();
        async move {
            let (status, v) = post(&s, body).await;
            assert_eq!(
                (status, &v["status"]),
                (200, &json!("ok")),
                "{}",
                v["error"]
            );
            s
        }
    })
    .await;
    worst.push(("HTTP result", added, LIMIT));

    // Out: the output budget spent on empty log entries (the most entries it buys).
    let body = json!({"code": "for (;;) console.log('')"}).to_string();
    let added = added_peak("HTTP 1 MiB of empty logs", LIMIT, |s| {
        let body = body.clone();
        async move {
            let (status, v) = post(&s, body).await;
            assert_eq!((status, &v["status"]), (200, &json!("output_limit")));
            s
        }
    })
    .await;
    worst.push(("HTTP logs", added, LIMIT));

    // In over gRPC: the largest list of zeros the message cap lets through as inputs (a
    // protobuf Struct; 11 bytes on the wire a zero).
    let inputs = nodecell_server::grpc::json_to_struct(
        json!({ "a": Value::Array(vec![json!(0); (4 * LIMIT - 4096) / 11]) })
            .as_object()
            .unwrap()
            .clone(),
    );
    let added = added_peak("gRPC inputs at the message cap", CARRIED, |s| {
        let inputs = inputs.clone();
        async move {
            let mut client =
                pb::sandbox_service_client::SandboxServiceClient::connect(s.grpc.clone())
                    .await
                    .unwrap()
                    .max_encoding_message_size(64 << 20);
            let r = client
                .execute(pb::ExecuteRequest {
                    code: "return inputs.a.length".into(),
                    inputs: Some(inputs),
                    ..Default::default()
                })
                .await;
            // Within the message cap, over max_inputs_bytes as JSON text or not: either
            // way the server decoded the whole message.
            let _ = r;
            s
        }
    })
    .await;
    worst.push(("gRPC inputs", added, CARRIED));

    // The same result over gRPC, written as a protobuf Value straight from its text.
    let added = added_peak("gRPC result of 1 MiB", LIMIT, |s| {
        let code = code.clone();
        async move {
            let mut client =
                pb::sandbox_service_client::SandboxServiceClient::connect(s.grpc.clone())
                    .await
                    .unwrap()
                    .max_decoding_message_size(64 << 20);
            let r = client
                .execute(pb::ExecuteRequest {
                    code,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(r.status, pb::Status::Ok as i32);
            s
        }
    })
    .await;
    worst.push(("gRPC result", added, LIMIT));

    for (what, added, limit) in worst {
        assert!(
            added as f64 <= MAX_MULTIPLE * limit as f64,
            "{what} added {:.1} MiB to the server's peak memory: over {MAX_MULTIPLE} x its {} MiB limit",
            added as f64 / (1 << 20) as f64,
            limit >> 20
        );
    }
}
