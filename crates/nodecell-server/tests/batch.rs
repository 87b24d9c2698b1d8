//! Batches (one code over many items, AVS's loop) through a real server: HTTP
//! `POST /v1/execute/batch` and gRPC `ExecuteBatch`, both isolations.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// One server at a time per process.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

mod support;
use support::{config, start_ready as start};

async fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn statuses(v: &Value) -> Vec<String> {
    v["outcomes"]
        .as_array()
        .unwrap_or_else(|| panic!("no outcomes: {v}"))
        .iter()
        .map(|o| o["status"].as_str().unwrap().to_string())
        .collect()
}

fn results(v: &Value) -> Vec<Value> {
    v["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["result"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn items_run_in_order_with_their_names_under_both_isolations() {
    let _serial = SERIAL.lock().await;
    let (server, base) = start(config()).await;
    let items = json!([1, "two", {"n": 3}, null, [5]]);
    for isolation in ["item", "batch"] {
        for parallelism in [1, 3] {
            let (s, v) = post(
                &base,
                "/v1/execute/batch",
                &json!({
                    "code": "console.log('item', index); return { value, index, base }",
                    "inputs": {"base": 10},
                    "items": items,
                    "isolation": isolation,
                    "parallelism": parallelism,
                }),
            )
            .await;
            assert_eq!(s, 200, "{isolation}: {v}");
            assert_eq!(statuses(&v), vec!["ok"; 5], "{isolation}: {v}");
            let got = results(&v);
            for (i, item) in items.as_array().unwrap().iter().enumerate() {
                assert_eq!(
                    got[i],
                    json!({"value": item, "index": i, "base": 10}),
                    "{isolation}"
                );
                assert_eq!(
                    v["outcomes"][i]["logs"],
                    json!([{"level": "log", "message": format!("item {i}")}]),
                    "{isolation}: each item has its own console lines"
                );
            }
        }
    }
    // Under avs, AVS's loop names as well; on every backend this host has.
    let info: Value = reqwest::get(format!("{base}/v1/info"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let backends: Vec<String> = info["backends"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["available"] == json!(true))
        .map(|b| b["backend"].as_str().unwrap().to_string())
        .collect();
    assert!(backends.iter().any(|b| b == "native"), "{info}");
    for backend in &backends {
        for isolation in ["item", "batch"] {
            let (s, v) = post(
                &base,
                "/v1/execute/batch",
                &json!({"code": "[iterVal, iterKey, value]", "items": ["a", "b"], "profile": "avs", "isolation": isolation, "backend": backend}),
            )
            .await;
            assert_eq!(s, 200, "{backend}: {v}");
            assert_eq!(
                results(&v),
                vec![json!(["a", 0, "a"]), json!(["b", 1, "b"])],
                "{backend} {isolation}"
            );
            assert_eq!(v["outcomes"][0]["backend"], json!(backend));
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_isolation_gives_each_item_a_fresh_context_and_its_own_time_limit() {
    let _serial = SERIAL.lock().await;
    let (server, base) = start(config()).await;
    // A global set by one item is not there for the next; Array.prototype is each item's own.
    let (s, v) = post(
        &base,
        "/v1/execute/batch",
        &json!({
            "code": "const seen = [typeof globalThis.leak, typeof Array.prototype.mine]; globalThis.leak = index; Array.prototype.mine = 1; return [...seen, [].mine === 1]",
            "items": [0, 1, 2],
            "isolation": "batch",
        }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        results(&v),
        vec![json!(["undefined", "undefined", true]); 3]
    );
    // One item loops for ever, synchronously or in promise jobs: only it times out.
    for spin in ["while (true) {}", "await null; while (true) {}"] {
        let (s, v) = post(
            &base,
            "/v1/execute/batch",
            &json!({
                "code": format!("if (value === 'spin') {{ {spin} }} return value"),
                "items": ["a", "spin", "c"],
                "isolation": "batch",
                "limits": {"timeout_ms": 300},
            }),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(statuses(&v), vec!["ok", "timeout", "ok"], "{spin}: {v}");
        assert_eq!(v["outcomes"][2]["result"], json!("c"));
        assert_eq!(v["outcomes"][1]["error"]["name"], json!("TimeoutError"));
    }
    // Under avs, expressions in one sandbox keep AVS's branch rule per item.
    for code in ["value", "value.x.y"] {
        let (s, v) = post(
            &base,
            "/v1/execute/batch",
            &json!({"code": code, "mode": "expression", "profile": "avs", "items": [true, 1, false], "isolation": "batch"}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let want = if code == "value" {
            vec![json!(true), json!(false), json!(false)]
        } else {
            vec![json!(false); 3]
        };
        assert_eq!(results(&v), want, "{code}: {v}");
    }
    // An item's error is its own.
    let (_, v) = post(
        &base,
        "/v1/execute/batch",
        &json!({"code": "if (index === 1) throw new TypeError('bad ' + value); return value", "items": ["x", "y"], "isolation": "batch"}),
    )
    .await;
    assert_eq!(statuses(&v), vec!["ok", "error"]);
    assert_eq!(v["outcomes"][1]["error"]["message"], json!("bad y"));
    assert_eq!(v["outcomes"][1]["error"]["line"], json!(1));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_batches_get_clear_errors() {
    let _serial = SERIAL.lock().await;
    let (server, base) = start(config()).await;
    let too_many: Vec<u32> = (0..101).collect();
    for (body, field) in [
        (json!({"code": "value", "items": too_many}), "items"),
        (
            json!({"code": "value", "items": [1], "parallelism": 0}),
            "parallelism",
        ),
        (
            json!({"code": "value", "items": [1], "parallelism": 17}),
            "parallelism",
        ),
    ] {
        let (s, v) = post(&base, "/v1/execute/batch", &body).await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(v["error"]["code"], json!("invalid_request"), "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}: ")), "{v}");
    }
    for body in [
        json!({"code": "value"}),
        json!({"code": "a", "items": [1], "mode": "template", "isolation": "batch"}),
        json!({"code": "value", "items": [1], "isolation": "none"}),
        json!({"code": "value", "items": [1], "profile": "goja"}),
        json!({"code": "value", "items": [1], "extra": true}),
    ] {
        let (s, v) = post(&base, "/v1/execute/batch", &body).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert_eq!(v["error"]["code"], json!("invalid_request"), "{v}");
    }
    // An empty batch is no work: no outcomes.
    let (s, v) = post(
        &base,
        "/v1/execute/batch",
        &json!({"code": "1", "items": []}),
    )
    .await;
    assert_eq!((s, v["outcomes"].clone()), (200, json!([])), "{v}");
    server.shutdown().await;
}

/// A batch holds at most `parallelism` run slots, and its items queue like single runs: a
/// single run sent while a long batch runs finishes long before the batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_does_not_starve_single_runs() {
    let _serial = SERIAL.lock().await;
    let mut c = config();
    c.max_concurrent = 2;
    let (server, base) = start(c).await;
    let batch_base = base.clone();
    let batch = tokio::spawn(async move {
        let r = post(
            &batch_base,
            "/v1/execute/batch",
            &json!({
                "code": "await new Promise(r => setTimeout(r, 150)); return index",
                "items": (0..16).collect::<Vec<u32>>(),
                "parallelism": 2,
            }),
        )
        .await;
        (r, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (s, v) = post(&base, "/v1/execute", &json!({"code": "return 'single'"})).await;
    let single_done = Instant::now();
    assert_eq!((s, v["result"].clone()), (200, json!("single")), "{v}");
    let ((s, v), batch_done) = batch.await.unwrap();
    assert_eq!(s, 200, "{v}");
    assert_eq!(results(&v), (0..16).map(|i| json!(i)).collect::<Vec<_>>());
    assert!(
        single_done < batch_done,
        "the single run waited for the whole batch"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grpc_execute_batch_matches_http() {
    use nodecell_server::grpc::pb;
    let _serial = SERIAL.lock().await;
    let (server, _base) = start(config()).await;
    let mut client = pb::sandbox_service_client::SandboxServiceClient::connect(format!(
        "http://{}",
        server.grpc_addr
    ))
    .await
    .unwrap();
    for isolation in ["", "batch"] {
        let items = ["x", "y", "z"]
            .iter()
            .map(|s| {
                nodecell_server::wire_value::WireValue::from_text(
                    nodecell::JsonText::parse(&format!("\"{s}\"")).unwrap(),
                )
            })
            .collect();
        let r = client
            .execute_batch(pb::ExecuteBatchRequest {
                request: Some(pb::ExecuteRequest {
                    code: "value + index".into(),
                    ..Default::default()
                }),
                items,
                parallelism: Some(2),
                isolation: isolation.into(),
            })
            .await
            .unwrap()
            .into_inner();
        let got: Vec<Value> = r
            .outcomes
            .iter()
            .map(|o| o.result.as_ref().unwrap().to_json().unwrap())
            .collect();
        assert_eq!(
            got,
            vec![json!("x0"), json!("y1"), json!("z2")],
            "{isolation:?}"
        );
    }
    let e = client
        .execute_batch(pb::ExecuteBatchRequest {
            request: Some(pb::ExecuteRequest {
                code: "value".into(),
                ..Default::default()
            }),
            items: vec![],
            parallelism: None,
            isolation: "sideways".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    server.shutdown().await;
}
