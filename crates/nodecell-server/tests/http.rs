//! The HTTP API through a real server on an ephemeral port, with a real HTTP client.

#[path = "http/containers.rs"]
mod containers;
mod support;
#[path = "http/vms.rs"]
mod vms;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodecell_server::ServerConfig;
use serde_json::{json, Value};

/// One server at a time per process: tests count this process's cgroups and processes.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

use support::{config, start, wait_ready};

async fn post(base: &str, body: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/execute"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.json().await.unwrap_or(Value::Null), headers)
}

/// Run groups of this test process (each run and each warm sandbox has one).
fn own_cgroups() -> usize {
    support::own_cgroups("run-")
}

fn own_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Processes below this test process.
fn own_descendants() -> usize {
    let me = std::process::id().to_string();
    let mut n = 0;
    let mut stack = vec![me];
    while let Some(p) = stack.pop() {
        for t in std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            for c in std::fs::read_to_string(t.path().join("children"))
                .unwrap_or_default()
                .split_whitespace()
            {
                n += 1;
                stack.push(c.to_string());
            }
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn endpoints_outcomes_and_error_codes() {
    let _s = SERIAL.lock().await;
    let (server, base) = start(config()).await;
    assert_eq!(
        reqwest::get(format!("{base}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    wait_ready(&base).await;

    let (s, v, _) = post(&base, r#"{"code": "import _ from 'lodash'; console.log('hi'); _.sum(trigger.data)", "inputs": {"trigger": {"data": [1, 2, 3]}}}"#).await;
    assert_eq!(
        (s, v["status"].as_str(), v["result"].as_i64()),
        (200, Some("ok"), Some(6)),
        "{v}"
    );
    assert_eq!(v["logs"], json!([{"level": "log", "message": "hi"}]));
    let (s, v, _) = post(&base, r#"{"code": "\n  null.x"}"#).await;
    assert_eq!(
        (s, v["status"].as_str(), v["error"]["line"].as_u64()),
        (200, Some("error"), Some(2)),
        "{v}"
    );
    let (s, v, _) = post(
        &base,
        r#"{"code": "while(true){}", "limits": {"timeout_ms": 200}}"#,
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("timeout")), "{v}");

    for (body, status, code) in [
        ("{nope", 400, "invalid_request"),
        (r#"{"inputs": {}}"#, 400, "invalid_request"),
        (r#"{"code": 5}"#, 400, "invalid_request"),
        (r#"{"code": "1", "extra": true}"#, 400, "invalid_request"),
        (r#"{"code": "1", "inputs": [1]}"#, 400, "invalid_request"),
        (
            r#"{"code": "1", "inputs": {"s": "\udddd"}}"#,
            400,
            "invalid_request",
        ),
        (
            r#"{"code": "1", "limits": {"timeout_ms": 99999999}}"#,
            400,
            "invalid_limits",
        ),
        (
            r#"{"code": "1", "limits": {"memory_mib": 1}}"#,
            400,
            "invalid_limits",
        ),
        (
            r#"{"code": "1", "backend": "bochs"}"#,
            400,
            "unknown_backend",
        ),
    ] {
        let (s, v, _) = post(&base, body).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {v}"
        );
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let big = json!({"code": "x".repeat(2 << 20)}).to_string();
    let (s, v, _) = post(&base, &big).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("code_too_large")),
        "{v}"
    );
    let huge = json!({"code": "1", "inputs": {"a": "x".repeat(80 << 20)}}).to_string();
    let (s, v, _) = post(&base, &huge).await;
    assert_eq!(s, 413, "{v}");

    let info: Value = reqwest::get(format!("{base}/v1/info"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["default_backend"], "native");
    assert!(info["allowed_modules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "lodash"));
    assert_eq!(info["backends"][0]["available"], true);
    let doc: Value = reqwest::get(format!("{base}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/v1/execute"]["post"]["responses"]["429"].is_object());
    for schema in ["ExecRequest", "Outcome", "Status", "ErrorResponse"] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    // The error codes are the error table's.
    let codes = &doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"];
    assert!(
        [
            "invalid_request",
            "overloaded",
            "unauthenticated",
            "not_ready"
        ]
        .iter()
        .all(|c| codes.as_array().unwrap().iter().any(|v| v == c)),
        "{codes}"
    );
    assert!(
        doc["paths"]["/v1/execute"]["post"]["responses"]["429"]["headers"]["Retry-After"]
            .is_object()
    );
    // Generated from the code: the request schema lists the library's own fields.
    let props = &doc["components"]["schemas"]["ExecRequest"]["properties"];
    assert!(
        ["code", "inputs", "limits", "backend"]
            .iter()
            .all(|f| props[f].is_object()),
        "{props}"
    );
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "nodecell_runs_total",
        "nodecell_run_seconds",
        "nodecell_request_seconds",
        "nodecell_queue_wait_seconds",
        "nodecell_warm_sandboxes",
        "nodecell_sandboxes_killed_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    server.shutdown().await;
    assert_eq!(own_cgroups(), 0);
    assert_eq!(
        support::own_cgroups("zygote-"),
        0,
        "a zygote outlives the service's shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_backend_serves_as_default_and_per_request() {
    let _s = SERIAL.lock().await;
    for default in ["nsjail", "landlock"] {
        let c = ServerConfig {
            backend: default.into(),
            pool_size: 1,
            other_backends_pool_size: 1,
            ..config()
        };
        let (server, base) = start(c).await;
        wait_ready(&base).await;
        for backend in ["native", "nsjail", "landlock"] {
            let body = json!({"code": "const _ = require('lodash'); return _.sum([40, 2])", "backend": backend});
            let (status, outcome, _) = post(&base, &body.to_string()).await;
            assert_eq!(status, 200, "{outcome}");
            assert_eq!(outcome["status"], "ok", "{outcome}");
            assert_eq!(outcome["result"], 42);
            assert_eq!(outcome["backend"], backend);
        }
        let (_, outcome, _) = post(&base, r#"{"code": "return 1"}"#).await;
        assert_eq!(outcome["backend"], default, "{outcome}");
        // An empty backend is the default too (as over gRPC, where proto3 cannot tell).
        let (status, outcome, _) = post(&base, r#"{"code": "return 1", "backend": ""}"#).await;
        assert_eq!(status, 200, "{outcome}");
        assert_eq!(outcome["backend"], default, "{outcome}");
        server.shutdown().await;
    }
    assert_eq!(own_cgroups(), 0, "cgroups left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_are_required_when_configured() {
    let _s = SERIAL.lock().await;
    let token = "s3cret-token-0123456789";
    let (server, base) = start(ServerConfig {
        auth_tokens: vec![token.into()],
        pool_size: 0,
        ..config()
    })
    .await;
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/execute");
    for auth in [None, Some("Bearer wrong-token-0123456789"), Some(token)] {
        let mut r = client.post(&url).body(r#"{"code": "return 1"}"#);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "unauthenticated");
    }
    let r = client
        .post(&url)
        .header("authorization", format!("Bearer {token}"))
        .body(r#"{"code": "return 1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        client
            .get(format!("{base}/v1/info"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_gives_429_and_nothing_else_fails() {
    let _s = SERIAL.lock().await;
    let (server, base) = start(ServerConfig {
        max_concurrent: 1,
        max_queue: 1,
        max_queue_wait_ms: 5_000,
        // One client fills the service here: the whole of it is its share.
        client_share_percent: 100,
        ..config()
    })
    .await;
    wait_ready(&base).await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            post(
                &base,
                r#"{"code": "const t = Date.now(); while (Date.now() - t < 400) {} return 1"}"#,
            )
            .await
        }));
    }
    let (mut ok, mut limited) = (0, 0);
    for t in tasks {
        let (s, v, h) = t.await.unwrap();
        match s {
            200 => {
                assert_eq!(v["status"], "ok");
                ok += 1;
            }
            429 => {
                assert_eq!(v["error"]["code"], "overloaded");
                assert!(h.get("retry-after").is_some());
                limited += 1;
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert!(ok >= 2 && limited >= 1, "ok {ok}, 429 {limited}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_disconnects_has_its_sandbox_killed() {
    let _s = SERIAL.lock().await;
    let (server, base) = start(ServerConfig {
        pool_size: 1,
        ..config()
    })
    .await;
    wait_ready(&base).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = client
        .post(format!("{base}/v1/execute"))
        .body(r#"{"code": "while(true){}", "limits": {"timeout_ms": 60000}}"#)
        .send()
        .await;
    assert!(r.is_err(), "the request should have been cut by the client");
    let t = Instant::now();
    while server.state.in_flight() > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "the run goes on after the client left"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Only the warm pool's sandbox may remain.
    let t = Instant::now();
    while own_cgroups() > 1 {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "the abandoned sandbox is still there"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.shutdown().await;
    assert_eq!(own_cgroups(), 0);
}

/// Live processes whose command line holds `marker`.
fn marked(marker: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker.as_bytes()))
                && nodecell::procfs::alive(p)
        })
        .collect()
}

/// A client that leaves drops its run, and nothing the run started survives it, even a
/// process in a session of its own: on every backend (the landlock launcher was SIGKILLed
/// first, and what Node had detached ran on as nobody with no limits).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_disconnects_leaves_nothing_its_run_started() {
    let _s = SERIAL.lock().await;
    let vm = support::guest_dir().is_some();
    let (server, base) = start(config()).await;
    wait_ready(&base).await;
    for backend in nodecell::backend::names() {
        if backend == "qemu" && !vm {
            continue; // (said above: no QEMU here, and only root installs it)
        }
        let marker = format!("detached-{}-{backend}", std::process::id());
        let code = format!(
            "process.getBuiltinModule('child_process').spawn(process.execPath, \
             ['-e', '/* {marker} */ setInterval(() => {{}}, 1000)'], \
             {{detached: true, stdio: 'ignore'}}).unref(); while (true) {{}}"
        );
        let body = json!({"code": code, "backend": backend, "limits": {"timeout_ms": 60000}});
        let request = tokio::spawn({
            let base = base.clone();
            async move {
                reqwest::Client::new()
                    .post(format!("{base}/v1/execute"))
                    .json(&body)
                    .send()
                    .await
            }
        });
        if backend == "gvisor" {
            containers::gvisor_run_leaves_no_container(request).await; // no host processes
            continue;
        }
        if backend == "qemu" {
            vms::qemu_run_leaves_no_vm(request).await; // the guest's processes are its own
            continue;
        }
        if backend == "firecracker" {
            vms::firecracker_run_leaves_no_vm_or_is_refused(request, &base).await;
            continue;
        }
        let t = Instant::now();
        while marked(&marker).is_empty() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{backend}: nothing detached"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        request.abort(); // the client goes away
        let t = Instant::now();
        while !marked(&marker).is_empty() && t.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = marked(&marker);
        for &p in &left {
            let _ = std::process::Command::new("kill") // leave nothing behind, even failing
                .args(["-KILL", &p.to_string()])
                .status();
        }
        assert!(left.is_empty(), "{backend}: survived the run: {left:?}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_drains_then_refuses() {
    let _s = SERIAL.lock().await;
    let (server, base) = start(ServerConfig {
        shutdown_grace_ms: 5_000,
        ..config()
    })
    .await;
    wait_ready(&base).await;
    let slow = {
        let base = base.clone();
        tokio::spawn(async move {
            post(
                &base,
                r#"{"code": "await new Promise(r => setTimeout(r, 500)); return 'done'"}"#,
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let state = server.state.clone();
    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(state.not_ready().is_some_and(|r| r.contains("draining")));
    let (s, v, _) = slow.await.unwrap();
    assert_eq!(
        (s, v["result"].as_str()),
        (200, Some("done")),
        "the run in flight finished"
    );
    stopping.await.unwrap();
    assert_eq!(own_cgroups(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_of_2000_mixed_requests_leaves_nothing_behind() {
    let _s = SERIAL.lock().await;
    let (server, base) = start(ServerConfig {
        pool_size: 4,
        max_concurrent: 8,
        max_queue: 64,
        max_queue_wait_ms: 60_000,
        ..config()
    })
    .await;
    wait_ready(&base).await;
    let (fds0, procs0) = (own_fds(), own_descendants());
    let bodies = [
        json!({"code": "return inputs.i * 2", "inputs": {"i": 21}}),
        json!({"code": "import _ from 'lodash'; _.chunk([1,2,3,4], 2)"}),
        json!({"code": "throw new TypeError('nope')"}),
        json!({"code": "while (true) {}", "limits": {"timeout_ms": 50}}),
        json!({"code": "return process.getBuiltinModule('fs').readFileSync('/etc/shadow', 'utf8')"}),
        json!({"code": "process.getBuiltinModule('child_process').spawn(process.execPath, ['-e', 'setInterval(()=>{},1000)'], {detached: true, stdio: 'ignore'}).unref(); return 1"}),
        json!({"code": "process.kill(-1, 'SIGKILL')"}),
        json!({"code": "const a = []; while (true) a.push(Buffer.alloc(8 << 20, 1))", "limits": {"memory_mib": 64}}),
    ]
    .map(|b| b.to_string());
    let bodies = Arc::new(bodies);
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (client, base, bodies, next) =
            (client.clone(), base.clone(), bodies.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut statuses = std::collections::BTreeMap::<String, usize>::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= 2000 {
                    return statuses;
                }
                let r = client
                    .post(format!("{base}/v1/execute"))
                    .body(bodies[i % bodies.len()].clone())
                    .send()
                    .await
                    .unwrap();
                let code = r.status().as_u16();
                let v: Value = r.json().await.unwrap();
                assert_eq!(code, 200, "{v}");
                *statuses
                    .entry(v["status"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }));
    }
    let mut all = std::collections::BTreeMap::<String, usize>::new();
    for w in workers {
        for (k, n) in w.await.unwrap() {
            *all.entry(k).or_default() += n;
        }
    }
    assert_eq!(all.values().sum::<usize>(), 2000, "{all:?}");
    assert_eq!(all.get("crashed").copied().unwrap_or(0), 0, "{all:?}");
    server.shutdown().await;
    assert_eq!(own_cgroups(), 0);
    assert!(own_fds() <= fds0 + 2, "fds {fds0} -> {}", own_fds());
    assert!(
        own_descendants() <= procs0,
        "processes {procs0} -> {}",
        own_descendants()
    );
    eprintln!("2000 requests at concurrency 16: {all:?}");
}
