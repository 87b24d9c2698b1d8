//! Request ids and access lines on both transports: the caller's `x-request-id` (when sane)
//! or a made one comes back in a header and in the outcome, and each request ends in one
//! access line (target `nodecell::access`) carrying it, its status and its run's.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nodecell_server::grpc::pb::{self, sandbox_service_client::SandboxServiceClient};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

mod support;
use support::{config, start_ready};

/// The access lines written so far, each as its fields.
static LINES: Mutex<Vec<BTreeMap<String, String>>> = Mutex::new(Vec::new());

struct Capture;

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "nodecell::access" {
            return;
        }
        let mut fields = BTreeMap::new();
        fields.insert("level".into(), event.metadata().level().to_string());
        event.record(&mut Fields(&mut fields));
        LINES.lock().unwrap().push(fields);
    }
}

/// The access line of request `id`, once written (it is written when the response is done).
async fn line_of(id: &str) -> BTreeMap<String, String> {
    let t = Instant::now();
    loop {
        let found = LINES
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.get("request_id").map(String::as_str) == Some(id))
            .cloned();
        if let Some(l) = found {
            return l;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "no access line for {id}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|&c| c == '-').count() == 4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_come_back_and_every_request_has_an_access_line() {
    let subscriber = tracing_subscriber::registry().with(Capture);
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let mut c = config();
    c.pool_size = 1;
    let (server, base) = start_ready(c).await;
    let client = reqwest::Client::new();
    let post = |body: &'static str, id: Option<String>| {
        let mut r = client.post(format!("{base}/v1/execute")).body(body);
        if let Some(id) = id {
            r = r.header("x-request-id", id);
        }
        r.send()
    };

    // The caller's id, in the header, the outcome and the access line.
    let r = post(r#"{"code": "return 6 * 7"}"#, Some("req-42.a_b:c".into()))
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-42.a_b:c");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["request_id"], "req-42.a_b:c", "{v}");
    let line = line_of("req-42.a_b:c").await;
    for (k, want) in [
        ("level", "INFO"),
        ("transport", "http"),
        ("method", "POST"),
        ("path", "/v1/execute"),
        ("status", "200"),
        ("run_status", "ok"),
        ("backend", "native"),
        ("runs", "1"),
        ("complete", "true"),
    ] {
        assert_eq!(line.get(k).map(String::as_str), Some(want), "{k}: {line:?}");
    }
    assert!(line["peer"].starts_with("127.0.0.1:"), "{line:?}");
    assert!(line["bytes"].parse::<u64>().unwrap() > 20, "{line:?}");

    // None, too long, or not printable: a made one (a UUID), the same in header and outcome.
    for id in [None, Some("x".repeat(129)), Some("has space".into())] {
        let r = post(
            r#"{"code": "while (true) {}", "limits": {"timeout_ms": 100}}"#,
            id,
        )
        .await
        .unwrap();
        let header = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(is_uuid(&header), "{header}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["request_id"], header.as_str(), "{v}");
        assert_eq!(line_of(&header).await["run_status"], "timeout");
    }

    // Refused requests have an id and a line too; probes are written at debug.
    let r = post(r#"{"code": 5}"#, Some("bad-1".into())).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-request-id"], "bad-1");
    let line = line_of("bad-1").await;
    assert_eq!(
        (line["status"].as_str(), line["run_status"].as_str()),
        ("400", "")
    );
    let r = client
        .get(format!("{base}/healthz"))
        .header("x-request-id", "probe-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "probe-1");
    assert_eq!(line_of("probe-1").await["level"], "DEBUG");

    // A batch: its id on the batch and on every item.
    let r = client
        .post(format!("{base}/v1/execute/batch"))
        .header("x-request-id", "batch-1")
        .body(r#"{"code": "return inputs.n", "items": [{"n": 1}, {"n": 2}]}"#)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["request_id"], "batch-1", "{v}");
    assert_eq!(v["outcomes"][1]["request_id"], "batch-1", "{v}");
    assert_eq!(line_of("batch-1").await["runs"], "2");

    // gRPC: metadata both ways, the outcome, a stream's outcome, and the line with its status.
    let mut grpc = SandboxServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .unwrap();
    let run = |code: &str| pb::ExecuteRequest {
        code: code.into(),
        ..Default::default()
    };
    let mut req = tonic::Request::new(run("return 1"));
    req.metadata_mut()
        .insert("x-request-id", "grpc-1".parse().unwrap());
    let resp = grpc.execute(req).await.unwrap();
    assert_eq!(resp.metadata().get("x-request-id").unwrap(), "grpc-1");
    assert_eq!(resp.into_inner().request_id, "grpc-1");
    let line = line_of("grpc-1").await;
    assert_eq!(line["transport"], "grpc");
    assert_eq!(line["path"], "/nodecell.v1.SandboxService/Execute");
    assert_eq!(line["grpc_status"], "0");
    assert_eq!(line["run_status"], "ok");

    let refused = pb::ExecuteRequest {
        backend: "nope".into(),
        ..run("return 1")
    };
    let resp = grpc.execute(refused).await.unwrap_err();
    let made = resp
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(is_uuid(made), "{made}");
    let code = (resp.code() as i32).to_string();
    assert_ne!(code, "0");
    let line = line_of(made).await;
    assert_eq!(line["grpc_status"], code);
    assert_eq!(
        line["complete"], "true",
        "an error with no body is complete"
    );

    let mut req = tonic::Request::new(pb::ExecuteStreamRequest {
        request: Some(run("console.log('x'); return 2")),
    });
    req.metadata_mut()
        .insert("x-request-id", "stream-1".parse().unwrap());
    let mut stream = grpc.execute_stream(req).await.unwrap().into_inner();
    let mut outcome = None;
    while let Some(ev) = stream.message().await.unwrap() {
        if let Some(pb::execute_stream_response::Event::Outcome(o)) = ev.event {
            outcome = Some(o);
        }
    }
    assert_eq!(outcome.unwrap().request_id, "stream-1");
    let line = line_of("stream-1").await;
    assert_eq!(
        (line["run_status"].as_str(), line["complete"].as_str()),
        ("ok", "true")
    );
    server.shutdown().await;
}
