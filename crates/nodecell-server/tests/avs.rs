//! The `avs` profile through a real server: the server default and per-request override, the
//! fields on gRPC, and the input sizes an AVS deployment needs (docs/avs.md).

use serde_json::{json, Value};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

mod support;
use support::{config, start_ready as start};

/// One warm sandbox is enough here.
fn one_warm() -> nodecell_server::ServerConfig {
    let mut c = config();
    c.pool_size = 1;
    c
}

async fn post(base: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/execute"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

const DATE: &str = "return new Date('2026-01-15T10:30:00Z')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_default_profile_applies_unless_a_request_names_one() {
    let _serial = SERIAL.lock().await;
    let mut c = one_warm();
    c.engine.default_profile = nodecell::Profile::Avs;
    let (server, base) = start(c).await;
    let (_, v) = post(&base, &json!({"code": DATE})).await;
    assert_eq!(v["result"], json!("2026-01-15T10:30:00Z"), "{v}");
    let (_, v) = post(&base, &json!({"code": DATE, "profile": "node"})).await;
    assert_eq!(v["result"], json!("2026-01-15T10:30:00.000Z"), "{v}");
    // Warm sandboxes start from the runner's snapshot: AVS's module versions are in it.
    for _ in 0..3 {
        let (_, v) = post(
            &base,
            &json!({"code": "[require('lodash').VERSION, typeof require('uuid').v7, require('dayjs')(0).year()]"}),
        )
        .await;
        assert_eq!(v["result"], json!(["4.17.21", "undefined", 1970]), "{v}");
    }
    for (body, field) in [
        (json!({"code": "1", "profile": "goja"}), "profile"),
        (json!({"code": "1", "mode": "statement"}), "mode"),
    ] {
        let (s, v) = post(&base, &body).await;
        assert_eq!(s, 400, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{v}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_and_mode_travel_over_grpc() {
    use nodecell_server::grpc::pb;
    let _serial = SERIAL.lock().await;
    let (server, _) = start(one_warm()).await;
    let mut client = pb::sandbox_service_client::SandboxServiceClient::connect(format!(
        "http://{}",
        server.grpc_addr
    ))
    .await
    .unwrap();
    let r = client
        .execute(pb::ExecuteRequest {
            code: "'yes'".into(),
            profile: "avs".into(),
            mode: "expression".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // AVS's branch rule: a non-boolean condition is false.
    assert_eq!(r.result.unwrap().to_json().unwrap(), json!(false));
    assert_eq!(r.logs[0].message, "false (non-boolean result: string)");
    let e = client
        .execute(pb::ExecuteRequest {
            code: "1".into(),
            profile: "goja".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("unknown profile"), "{e:?}");
    server.shutdown().await;
}

/// AVS binds REST responses of up to 10 MB as variables: with docs/avs.md's settings, such
/// inputs reach the code whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabyte_inputs_run_with_the_documented_settings() {
    let _serial = SERIAL.lock().await;
    let mut c = one_warm();
    c.engine.default_profile = nodecell::Profile::Avs;
    c.engine.default_limits.max_inputs_bytes = 10 << 20;
    c.engine.default_limits.memory_mib = 256;
    c.engine.default_limits.timeout_ms = 10_000;
    let (server, base) = start(c).await;
    let row = "x".repeat(1000);
    let rows: Vec<Value> = (0..10_000).map(|i| json!({"id": i, "text": row})).collect();
    let body = json!({
        "code": "return [response.data.length, response.data[9999].id, response.data[0].text.length]",
        "inputs": {"response": {"data": rows}},
    });
    let size = serde_json::to_vec(&body).unwrap().len();
    assert!(size > 10_000_000 && size < 10 << 20, "{size}");
    let (s, v) = post(&base, &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"], json!([10_000, 9_999, 1000]), "{v}");
    server.shutdown().await;
}
