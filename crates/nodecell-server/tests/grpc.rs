//! The gRPC API against a real server on a loopback port, with real sandboxes.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodecell::Engine;
use nodecell_server::grpc::pb::{
    self, execute_stream_response::Event, sandbox_service_client::SandboxServiceClient,
};
use nodecell_server::{AppState, ServerConfig};
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_types::StatusExt;

const TOKEN: &str = "a-test-token-of-enough-length";

struct TestServer {
    state: Arc<AppState>,
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl TestServer {
    async fn start(tokens: &[&str]) -> TestServer {
        Self::start_with(tokens, "native").await
    }

    /// With `backend` the service's default.
    async fn start_with(tokens: &[&str], backend: &str) -> TestServer {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .unwrap();
        // target/<profile>/deps/grpc-<hash> → target/<profile>/nodecell-launcher
        let exe = std::env::current_exe().unwrap();
        let launcher = exe
            .parent()
            .and_then(|d| d.parent())
            .unwrap()
            .join("nodecell-launcher");
        assert!(
            launcher.exists(),
            "{} is missing (cargo build the workspace)",
            launcher.display()
        );
        let mut config = ServerConfig {
            http_listen: "127.0.0.1:0".parse().unwrap(),
            grpc_listen: "127.0.0.1:0".parse().unwrap(),
            pool_size: 1,
            auth_tokens: tokens.iter().map(|t| t.to_string()).collect(),
            backend: backend.into(),
            ..ServerConfig::default()
        };
        config.engine.launcher_path = launcher;
        config.engine.runner_dir = repo.join("runner");
        config.engine.node_path = support::node();
        let engine = Arc::new(Engine::new(config.engine.clone()).expect("engine starts"));
        let state = AppState::new(config, engine, nodecell_server::metrics_handle());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(nodecell_server::grpc::serve(
            state.clone(),
            listener,
            None,
            async move {
                let _ = stopped.await;
            },
        ));
        TestServer {
            state,
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    async fn client(&self) -> SandboxServiceClient<Channel> {
        SandboxServiceClient::new(self.channel().await)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.task).await;
        self.task.abort();
        self.state.pool.shutdown().await;
    }
}

fn request(code: &str) -> pb::ExecuteRequest {
    pb::ExecuteRequest {
        code: code.into(),
        ..Default::default()
    }
}

fn with_timeout(code: &str, timeout_ms: u64) -> pb::ExecuteRequest {
    pb::ExecuteRequest {
        limits: Some(pb::Limits {
            timeout_ms: Some(timeout_ms),
            ..Default::default()
        }),
        ..request(code)
    }
}

fn json(v: &nodecell_server::wire_value::WireValue) -> serde_json::Value {
    v.to_json().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn execute_returns_the_outcome_with_inputs_and_a_result_object() {
    let server = TestServer::start(&[]).await;
    let mut client = server.client().await;
    let inputs = serde_json::json!({"a": 2, "b": [1, "x"], "name": "cell"});
    let serde_json::Value::Object(inputs) = inputs else {
        unreachable!()
    };
    let req = pb::ExecuteRequest {
        inputs: Some(nodecell_server::grpc::json_to_struct(inputs)),
        ..request(
            "console.log('hi', name); return {sum: a + inputs.b[0], s: b[1], n: null, ok: true}",
        )
    };
    let resp = client.execute(req).await.unwrap().into_inner();
    assert_eq!(resp.status(), pb::Status::Ok, "{resp:?}");
    assert_eq!(
        json(resp.result.as_ref().unwrap()),
        serde_json::json!({"sum": 3, "s": "x", "n": null, "ok": true})
    );
    assert!(resp.error.is_none());
    assert_eq!(
        resp.logs,
        [pb::Log {
            level: "log".into(),
            message: "hi cell".into()
        }]
    );
    assert_eq!(resp.backend, "native");
    assert!(resp.usage.unwrap().wall_ms > 0.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn user_errors_timeouts_and_request_errors() {
    let server = TestServer::start(&[]).await;
    let mut client = server.client().await;

    let resp = client
        .execute(request("const x = 1;\n  throw new TypeError('boom');"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.status(), pb::Status::Error, "{resp:?}");
    let err = resp.error.unwrap();
    assert_eq!(
        (err.name.as_str(), err.message.as_str()),
        ("TypeError", "boom")
    );
    assert_eq!((err.line, err.column), (Some(2), Some(9)), "{err:?}");
    assert!(resp.result.is_none());

    let t0 = Instant::now();
    let resp = client
        .execute(with_timeout("while (true) {}", 300))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.status(), pb::Status::Timeout, "{resp:?}");
    assert!(t0.elapsed() < Duration::from_secs(5));

    let err = client
        .execute(with_timeout("return 1", 10_000_000))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.metadata().get("nodecell-error-code").is_some(),
        "{err:?}"
    );
    // The standard google.rpc details, as any gRPC client reads them.
    let details = err.get_error_details();
    let info = details.error_info().expect("ErrorInfo");
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("invalid_limits", "nodecell")
    );
    assert_eq!(info.metadata["limit"], "timeout_ms");
    let violations = &details.bad_request().expect("BadRequest").field_violations;
    assert_eq!(violations[0].field, "limits.timeout_ms", "{violations:?}");

    // The limits HTTP accepts, gRPC accepts as well: they reach the library's checks.
    for (limits, field) in [
        (
            pb::Limits {
                max_result_bytes: Some(1),
                ..Default::default()
            },
            "limits.max_result_bytes",
        ),
        (
            pb::Limits {
                max_processes: Some(1),
                ..Default::default()
            },
            "limits.max_processes",
        ),
    ] {
        let err = client
            .execute(pb::ExecuteRequest {
                limits: Some(limits),
                ..request("return 1")
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        let violations = err.get_error_details().bad_request().unwrap().clone();
        assert_eq!(violations.field_violations[0].field, field, "{err:?}");
    }
    let resp = client
        .execute(pb::ExecuteRequest {
            limits: Some(pb::Limits {
                max_result_bytes: Some(64),
                max_processes: Some(32),
                ..Default::default()
            }),
            ..request("return 'x'.repeat(1000)")
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(
        resp.status(),
        pb::Status::Ok,
        "max_result_bytes applies: {resp:?}"
    );

    let err = client
        .execute(pb::ExecuteRequest {
            backend: "bochs".into(),
            ..request("return 1")
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("bochs"), "{err:?}");
    assert_eq!(
        err.metadata().get("nodecell-error-code").unwrap(),
        "unknown_backend"
    );
    let details = err.get_error_details();
    assert_eq!(details.error_info().unwrap().metadata["backend"], "bochs");
    assert_eq!(
        details.bad_request().unwrap().field_violations[0].field,
        "backend"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_required_when_configured() {
    let server = TestServer::start(&[TOKEN]).await;
    let mut client = server.client().await;

    let err = client.execute(request("return 1")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert_eq!(
        err.metadata().get("nodecell-error-code").unwrap(),
        "unauthenticated"
    );
    assert_eq!(
        err.get_error_details().error_info().unwrap().reason,
        "unauthenticated"
    );

    let mut req = Request::new(request("return 1"));
    req.metadata_mut().insert(
        "authorization",
        "Bearer not-the-right-token-at-all".parse().unwrap(),
    );
    assert_eq!(
        client.execute(req).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    let mut req = Request::new(request("return 1"));
    req.metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let resp = client.execute(req).await.unwrap().into_inner();
    assert_eq!(resp.status(), pb::Status::Ok, "{resp:?}");

    let mut req = Request::new(streamed(request("return 1")));
    req.metadata_mut().insert(
        "authorization",
        "Bearer nope-nope-nope-nope".parse().unwrap(),
    );
    assert_eq!(
        client.execute_stream(req).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn execute_stream_sends_events_as_they_happen_then_the_outcome() {
    let server = TestServer::start(&[]).await;
    let mut client = server.client().await;
    let code = "console.log('a'); process.stdout.write('b'); console.log('c'); return 1";
    let mut stream = client
        .execute_stream(streamed(request(code)))
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while let Some(ev) = stream.message().await.unwrap() {
        events.push(ev.event.unwrap());
    }
    let Some(Event::Outcome(outcome)) = events.pop() else {
        panic!("the last event is not the outcome: {events:?}")
    };
    assert_eq!(outcome.status(), pb::Status::Ok, "{outcome:?}");
    assert_eq!(json(outcome.result.as_ref().unwrap()), serde_json::json!(1));
    assert_eq!(outcome.stdout, "b");
    assert!(
        events.iter().all(|e| !matches!(e, Event::Outcome(_))),
        "{events:?}"
    );
    let logs: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Log(l) => Some(l.message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(logs, ["a", "c"], "{events:?}");
    let stdout: String = events
        .iter()
        .filter_map(|e| match e {
            Event::Stdout(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(stdout, "b", "{events:?}");

    // A request error comes as the call's status.
    let err = client
        .execute_stream(streamed(with_timeout("return 1", 10_000_000)))
        .await;
    let err = match err {
        Err(e) => e,
        Ok(s) => s.into_inner().message().await.unwrap_err(),
    };
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_turns_serving_with_a_warm_sandbox_and_reflection_lists_the_service() {
    use tonic_health::pb::{
        health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
    };
    let server = TestServer::start(&[]).await;
    let mut health = HealthClient::new(server.channel().await);
    let t0 = Instant::now();
    loop {
        let resp = health
            .check(HealthCheckRequest {
                service: "nodecell.v1.SandboxService".into(),
            })
            .await
            .unwrap()
            .into_inner();
        if resp.status() == ServingStatus::Serving {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "not serving after 20 s: {:?}",
            server.state.not_ready()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let overall = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overall.status(), ServingStatus::Serving);

    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        ServerReflectionRequest,
    };
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::once(req))
        .await
        .unwrap()
        .into_inner();
    let resp = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("{resp:?}")
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"nodecell.v1.SandboxService"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    server.stop().await;
}

/// Run groups of this test process (each run and each warm sandbox has one).
fn own_cgroups() -> usize {
    support::own_cgroups("run-")
}

async fn wait_until_idle(server: &TestServer) {
    let pool_size = server.state.config.pool_size;
    let t0 = Instant::now();
    while server.state.in_flight() > 0 || own_cgroups() > pool_size {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "the cancelled run is still there: in flight {}, cgroups {}",
            server.state.in_flight(),
            own_cgroups()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_deadline_stops_the_run() {
    let server = TestServer::start(&[]).await;
    let mut client = server.client().await;

    let mut req = Request::new(with_timeout("while (true) {}", 60_000));
    req.set_timeout(Duration::from_millis(300));
    let t0 = Instant::now();
    let err = client.execute(req).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t0.elapsed()
    );
    wait_until_idle(&server).await;

    // A streamed run stops when the client goes away.
    let mut stream = client
        .execute_stream(streamed(with_timeout(
            "console.log('started'); while (true) {}",
            60_000,
        )))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert!(matches!(first.event, Some(Event::Log(_))), "{first:?}");
    assert_eq!(server.state.in_flight(), 1);
    drop(stream);
    wait_until_idle(&server).await;

    // And a client-side deadline on the stream (the client stops waiting and resets it).
    let mut req = Request::new(streamed(with_timeout("while (true) {}", 60_000)));
    req.set_timeout(Duration::from_millis(300));
    let t0 = Instant::now();
    let call = async {
        let mut s = client.execute_stream(req).await?.into_inner();
        while s.message().await?.is_some() {}
        Ok::<_, tonic::Status>(())
    };
    let _ = tokio::time::timeout(Duration::from_millis(300), call).await;
    assert!(t0.elapsed() < Duration::from_secs(2));
    wait_until_idle(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_backend_is_the_services_default() {
    // A default other than the library's own, so that "empty" cannot pass for "native".
    let server = TestServer::start_with(&[], "landlock").await;
    let mut client = server.client().await;
    let resp = client
        .execute(pb::ExecuteRequest {
            backend: String::new(),
            ..request("return 1")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.status(), pb::Status::Ok, "{resp:?}");
    assert_eq!(resp.backend, "landlock");
    server.stop().await;
}

/// A run request as ExecuteStream takes it.
fn streamed(request: pb::ExecuteRequest) -> pb::ExecuteStreamRequest {
    pb::ExecuteStreamRequest {
        request: Some(request),
    }
}
