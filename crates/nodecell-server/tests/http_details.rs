//! HTTP's edges as a generated client or a proxy meets them: every error in the JSON error
//! format (404, 405 with Allow, 415), WWW-Authenticate on 401, the bearer scheme in any case,
//! and an OpenAPI `result` that may be any JSON value.

use serde_json::Value;

mod support;
use support::{config, start_ready};

/// The metrics counters belong to the process, which every test of this binary shares: the
/// tests take turns so that one counting runs sees no run of another.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_with_the_headers_of_their_status() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let token = "s3cret-token-0123456789";
    let mut c = config();
    c.pool_size = 1;
    c.auth_tokens = vec![token.into()];
    let (server, base) = start_ready(c).await;
    let client = reqwest::Client::new();
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or("").to_string();

    let r = client.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(&r.json().await.unwrap()), "not_found");

    let r = client
        .get(format!("{base}/v1/execute"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let allow = r
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(code(&r.json().await.unwrap()), "method_not_allowed");
    assert_eq!(allow.as_deref(), Some("POST"));

    let run = |content_type: Option<&'static str>, auth: String| {
        let mut r = client
            .post(format!("{base}/v1/execute"))
            .header("authorization", auth)
            .body(r#"{"code": "return 6 * 7"}"#);
        if let Some(t) = content_type {
            r = r.header("content-type", t);
        }
        r.send()
    };
    let with_token = format!("Bearer {token}");
    for t in [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
    ] {
        let r = run(Some(t), with_token.clone()).await.unwrap();
        assert_eq!(r.status(), 415, "{t}");
        assert_eq!(
            code(&r.json().await.unwrap()),
            "unsupported_media_type",
            "{t}"
        );
    }
    // JSON, no type at all, and what `curl -d` sends all run.
    for t in [
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let r = run(t, with_token.clone()).await.unwrap();
        assert_eq!(r.status(), 200, "{t:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["result"], 42, "{t:?}");
    }

    // The scheme is case-insensitive; a wrong or missing token says how to authenticate.
    let lower = format!("bearer {token}");
    assert_eq!(run(None, lower).await.unwrap().status(), 200);
    let r = run(None, "Bearer wrong-token-0123456789".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers().get("www-authenticate").unwrap(),
        r#"Bearer realm="nodecell""#
    );

    // A generated client must accept any JSON value as a result.
    let doc: Value = client
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let result = &doc["components"]["schemas"]["Outcome"]["properties"]["result"];
    assert!(result.is_object(), "{result}");
    assert!(
        result.get("type").is_none() && result.get("$ref").is_none(),
        "result is restricted: {result}"
    );
    server.shutdown().await;
}

/// `/metrics` on a fresh server: HELP for every metric of the table, every series a dashboard
/// reads already there at zero, the process's own metrics, and the latency histograms
/// labelled by backend and status once runs end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_described_and_present_from_the_start() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut c = config();
    c.pool_size = 1;
    c.max_concurrent = 3;
    let (server, base) = start_ready(c).await;
    let client = reqwest::Client::new();
    let scrape = || async {
        client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let text = scrape().await;
    for m in nodecell_server::telemetry::METRICS {
        assert!(
            text.contains(&format!("# HELP {} {}", m.name, m.help)),
            "no HELP for {}",
            m.name
        );
    }
    // Counters of one process are shared by every server a test binary starts: these are
    // checked for presence, and for counting from what they were (the tests take turns).
    let value = |text: &str, series: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    };
    let ok_runs = r#"nodecell_runs_total{status="ok",backend="native"}"#;
    let ok_hist = r#"nodecell_run_seconds_count{status="ok",backend="native"}"#;
    for series in [
        ok_runs,
        r#"nodecell_runs_total{status="timeout",backend="native"}"#,
        r#"nodecell_rejected_total{reason="overloaded"}"#,
        r#"nodecell_sandboxes_killed_total{reason="memory_limit"}"#,
        "nodecell_connections_refused_total",
        "nodecell_queue_depth",
        "nodecell_runs_in_flight",
        r#"nodecell_warm_sandboxes{backend="native"}"#,
        ok_hist,
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(value(&text, series).is_some(), "no series {series}");
    }
    assert_eq!(value(&text, "nodecell_run_slots"), Some(3.0));
    let (runs0, hist0) = (
        value(&text, ok_runs).unwrap(),
        value(&text, ok_hist).unwrap(),
    );
    let r = client
        .post(format!("{base}/v1/execute"))
        .body(r#"{"code": "return 1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = scrape().await;
    assert_eq!(value(&text, ok_runs), Some(runs0 + 1.0));
    assert_eq!(value(&text, ok_hist), Some(hist0 + 1.0));
    server.shutdown().await;
}

/// A pool whose every warm sandbox is taken by runs is busy, not broken: `/readyz` stays 200
/// while runs hold them and the pool starts more (it said 503 in those moments, so a load
/// balancer took the replica out at its busiest).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pool_stays_ready() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut c = config();
    c.pool_size = 1;
    c.max_concurrent = 4;
    let (server, base) = start_ready(c).await;
    let client = reqwest::Client::new();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            client
                .post(format!("{base}/v1/execute"))
                .body(
                    r#"{"code": "const t = Date.now() + 600; while (Date.now() < t) {} return 1"}"#,
                )
                .send()
        })
        .collect();
    let runs = tokio::spawn(futures_util::future::join_all(runs));
    let t = std::time::Instant::now();
    let mut not_ready = Vec::new();
    while !runs.is_finished() && t.elapsed() < std::time::Duration::from_secs(10) {
        let r = client.get(format!("{base}/readyz")).send().await.unwrap();
        if r.status() != 200 {
            not_ready.push(r.text().await.unwrap());
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    for r in runs.await.unwrap() {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert!(not_ready.is_empty(), "not ready while busy: {not_ready:?}");
    server.shutdown().await;
}
