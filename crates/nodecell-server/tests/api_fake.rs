//! The API layer in-process, on the fake backend (no root, no Node, no sockets but the fake
//! runner's socket pairs): HTTP through `router()` and `oneshot`, gRPC over an in-memory
//! connection. Fast: the real-backend server tests (http.rs, grpc.rs) cover the same paths
//! end to end.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use nodecell::{Engine, EngineConfig};
use nodecell_server::grpc::pb::{
    self, execute_stream_response::Event, sandbox_service_client::SandboxServiceClient,
};
use nodecell_server::{grpc, http, AppState, ServerConfig};
use serde_json::{json, Value};
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt;
use tower::ServiceExt;

fn state_with(config: ServerConfig) -> Arc<AppState> {
    let engine = Engine::fake(EngineConfig::default()).expect("the fake engine needs nothing");
    AppState::new(
        ServerConfig {
            backend: "fake".into(),
            ..config
        },
        Arc::new(engine),
        nodecell_server::metrics_handle(),
    )
}

fn state() -> Arc<AppState> {
    state_with(ServerConfig {
        pool_size: 1,
        ..ServerConfig::default()
    })
}

async fn call(state: &Arc<AppState>, req: Request<Body>) -> (StatusCode, Value, Option<String>) {
    let resp = http::router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let retry = resp
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, body, retry)
}

fn post(body: &str) -> Request<Body> {
    Request::post("/v1/execute")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn outcomes_and_request_errors_over_http() {
    let state = state();
    let (status, body, _) = call(
        &state,
        post(r#"{"code": "log hi\nreturn {\"n\": 42}", "inputs": {"a": 1}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["result"], json!({"n": 42}));
    assert_eq!(body["logs"][0]["message"], "hi");
    assert_eq!(body["backend"], "fake");

    let (_, body, _) = call(&state, post(r#"{"code": "throw boom"}"#)).await;
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"]["message"], "boom");

    let (_, body, _) = call(
        &state,
        post(r#"{"code": "sleep 1000", "limits": {"timeout_ms": 100}}"#),
    )
    .await;
    assert_eq!(body["status"], "timeout", "{body}");

    // The host holds a result to max_result_bytes even when the runner does not (the fake
    // runner does not; a sandbox can forge a result).
    let big = json!({
        "code": format!("return \"{}\"", "x".repeat(2000)),
        "limits": {"max_result_bytes": 1024}
    })
    .to_string();
    let (_, body, _) = call(&state, post(&big)).await;
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error"]["name"], "ResultTooLarge");

    // A body over twice the code and inputs a request may carry is refused before it is
    // parsed (it was parsed whole below 80 MiB, the maximum limits').
    let huge = json!({"code": "1", "inputs": {"a": vec![0; 3 << 20]}}).to_string();
    let (status, body, _) = call(&state, post(&huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "request_too_large", "{body}");

    for (req, want_status, want_code) in [
        (r#"{"code": 1}"#, 400, "invalid_request"),
        (r#"{"code": "1", "extra": 1}"#, 400, "invalid_request"),
        (r#"not json"#, 400, "invalid_request"),
        (
            r#"{"code": "1", "limits": {"timeout_ms": 999999999}}"#,
            400,
            "invalid_limits",
        ),
        (
            r#"{"code": "1", "backend": "bochs"}"#,
            400,
            "unknown_backend",
        ),
    ] {
        let (status, body, _) = call(&state, post(req)).await;
        assert_eq!(status.as_u16(), want_status, "{req}: {body}");
        assert_eq!(body["error"]["code"], want_code, "{req}: {body}");
    }
    for pool in state.pools() {
        pool.shutdown().await;
    }
}

#[tokio::test]
async fn the_fake_backend_is_reported_and_ready() {
    let state = state();
    let (status, info, _) = call(
        &state,
        Request::get("/v1/info").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["default_backend"], "fake");
    assert_eq!(info["backends"][0]["available"], true);
    let t0 = std::time::Instant::now();
    loop {
        let (status, _, _) =
            call(&state, Request::get("/readyz").body(Body::empty()).unwrap()).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "never ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for pool in state.pools() {
        pool.shutdown().await;
    }
}

#[tokio::test]
async fn tokens_are_checked_in_process() {
    let token = "a-token-of-sixteen-chars";
    let state = state_with(ServerConfig {
        pool_size: 0,
        auth_tokens: vec![token.into()],
        ..ServerConfig::default()
    });
    let (status, body, _) = call(&state, post(r#"{"code": "return 1"}"#)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");
    let mut req = post(r#"{"code": "return 1"}"#);
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    let (status, body, _) = call(&state, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], 1);
}

#[tokio::test]
async fn overload_is_a_429_with_retry_after() {
    let state = state_with(ServerConfig {
        pool_size: 0,
        max_concurrent: 1,
        max_queue: 0,
        // One client fills the service here: the whole of it is its share.
        client_share_percent: 100,
        ..ServerConfig::default()
    });
    let slow = tokio::spawn({
        let state = state.clone();
        async move { call(&state, post(r#"{"code": "sleep 500\nreturn 1"}"#)).await }
    });
    let t0 = std::time::Instant::now();
    while state.in_flight() == 0 {
        assert!(t0.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (status, body, retry) = call(&state, post(r#"{"code": "return 2"}"#)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "overloaded");
    assert_eq!(retry.as_deref(), Some("1"));
    let (status, body, _) = slow.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"], 1);
}

/// A gRPC client of `state`'s service over one in-memory connection; the server stops when
/// the returned sender is dropped.
async fn grpc_client(
    state: &Arc<AppState>,
) -> (
    SandboxServiceClient<Channel>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (client_io, server_io) = tokio::io::duplex(1 << 16);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(grpc::serve_incoming(
        state.clone(),
        // One connection, then none: an incoming stream that ended would shut the server down.
        tokio_stream::StreamExt::chain(
            tokio_stream::once(Ok::<_, std::io::Error>(server_io)),
            tokio_stream::pending(),
        ),
        async move {
            let _ = stopped.await;
        },
    ));
    let mut client_io = Some(client_io);
    let channel = Endpoint::try_from("http://in-memory")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_| {
            let io = client_io.take();
            async move {
                io.map(hyper_util::rt::TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("one in-memory connection only"))
            }
        }))
        .await
        .unwrap();
    (SandboxServiceClient::new(channel), stop)
}

/// The fields a gRPC error's BadRequest details name.
fn violated_fields(err: &tonic::Status) -> Vec<String> {
    err.get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

fn grpc_req(code: &str) -> pb::ExecuteRequest {
    pb::ExecuteRequest {
        code: code.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn outcomes_streams_and_error_details_over_grpc() {
    let state = state();
    let (mut client, _stop) = grpc_client(&state).await;
    let r = client
        .execute(grpc_req("log hi\nreturn [1, 2]"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.status, pb::Status::Ok as i32);
    assert_eq!(r.logs[0].message, "hi");
    assert_eq!(r.backend, "fake");
    let list = match r.result.unwrap().to_value().kind.unwrap() {
        prost_types::value::Kind::ListValue(l) => l.values.len(),
        other => panic!("{other:?}"),
    };
    assert_eq!(list, 2);

    let mut stream = client
        .execute_stream(pb::ExecuteStreamRequest {
            request: Some(grpc_req("log one\nstdout two\nreturn 3")),
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while let Some(ev) = stream.message().await.unwrap() {
        events.push(ev.event.unwrap());
    }
    // Logs and stdout come on streams of their own: their order is not kept.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Log(l) if l.message == "one")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Stdout(s) if s == "two")),
        "{events:?}"
    );
    assert!(matches!(events.last(), Some(Event::Outcome(o)) if o.status == pb::Status::Ok as i32));

    // A request error: the stable code, and google.rpc details naming the field.
    let bad = pb::ExecuteRequest {
        limits: Some(pb::Limits {
            max_processes: Some(1_000_000),
            ..Default::default()
        }),
        ..grpc_req("return 1")
    };
    let err = client.execute(bad).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let details = err.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "invalid_limits");
    assert_eq!(violated_fields(&err), ["limits.max_processes"]);

    // Inputs protobuf can carry but JSON cannot: refused naming the field, not a decoding
    // failure (they are read from the wire straight into JSON text).
    let nan = prost_types::Value {
        kind: Some(prost_types::value::Kind::NumberValue(f64::NAN)),
    };
    let mut deep = prost_types::Value {
        kind: Some(prost_types::value::Kind::NullValue(0)),
    };
    for _ in 0..nodecell::json_text::MAX_DEPTH {
        deep = prost_types::Value {
            kind: Some(prost_types::value::Kind::ListValue(
                prost_types::ListValue { values: vec![deep] },
            )),
        };
    }
    for (value, says) in [(nan, "NaN"), (deep, "more than 120")] {
        let inputs = prost_types::Struct {
            fields: [("x".to_string(), value)].into(),
        };
        let err = client
            .execute(pb::ExecuteRequest {
                inputs: Some(inputs.into()),
                ..grpc_req("return 1")
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains(says), "{}", err.message());
        assert_eq!(violated_fields(&err), ["inputs"]);
    }

    // An empty backend is the default on both transports.
    let r = client
        .execute(pb::ExecuteRequest {
            backend: String::new(),
            ..grpc_req("return 1")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.backend, "fake");
    let (status, body, _) = call(&state, post(r#"{"code": "return 1", "backend": ""}"#)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["backend"], "fake");
    for pool in state.pools() {
        pool.shutdown().await;
    }
}
