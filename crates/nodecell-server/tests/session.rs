//! Host calls through gRPC `ExecuteSession` on a real server: the round trip, the profile's
//! conversions, errors, the limits, a caller that never answers or goes away, and the
//! refusal of host functions everywhere else.

use std::time::{Duration, Instant};

use nodecell_server::grpc::pb;
use pb::execute_session_response::Event;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

mod support;
use support::{config, start_ready};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

type Client = pb::sandbox_service_client::SandboxServiceClient<Channel>;

fn one_warm() -> nodecell_server::ServerConfig {
    let mut c = config();
    c.pool_size = 1;
    c
}

async fn client(server: &nodecell_server::Server) -> Client {
    Client::connect(format!("http://{}", server.grpc_addr))
        .await
        .unwrap()
}

/// The serial lock, a ready server with one warm sandbox, and a client of it.
async fn setup() -> (
    tokio::sync::MutexGuard<'static, ()>,
    nodecell_server::Server,
    Client,
) {
    let serial = SERIAL.lock().await;
    let (server, _) = start_ready(one_warm()).await;
    let client = client(&server).await;
    (serial, server, client)
}

fn declare(names: &[&str]) -> Vec<pb::HostFunction> {
    names
        .iter()
        .map(|n| pb::HostFunction {
            name: (*n).into(),
            returns_promise: false,
        })
        .collect()
}

fn value(v: Value) -> nodecell_server::wire_value::WireValue {
    nodecell_server::wire_value::WireValue::from_text(nodecell::JsonText::from_value(&v))
}

fn ok(id: u64, v: Value) -> pb::HostReply {
    pb::HostReply {
        id,
        reply: Some(pb::host_reply::Reply::Result(value(v))),
    }
}

type Events = tonic::Streaming<pb::ExecuteSessionResponse>;

/// Opens a session whose first message is `first`; the sender stays for replies.
async fn open(
    client: &mut Client,
    first: pb::execute_session_request::Message,
) -> (
    mpsc::Sender<pb::ExecuteSessionRequest>,
    Result<Events, tonic::Status>,
) {
    let (tx, rx) = mpsc::channel(8);
    tx.send(pb::ExecuteSessionRequest {
        message: Some(first),
    })
    .await
    .unwrap();
    let events = client
        .execute_session(ReceiverStream::new(rx))
        .await
        .map(tonic::Response::into_inner);
    (tx, events)
}

/// Runs `start` as a session, answering each call with `answer` (`None`: no reply), and
/// returns the calls seen (name, args) and the outcome.
async fn session(
    client: &mut Client,
    start: pb::ExecuteRequest,
    mut answer: impl FnMut(&pb::HostCall) -> Option<pb::HostReply>,
) -> (Vec<(String, Value)>, pb::ExecuteResponse) {
    let (tx, events) = open(client, pb::execute_session_request::Message::Start(start)).await;
    let mut events = events.unwrap();
    let mut calls = Vec::new();
    while let Some(ev) = events.message().await.unwrap() {
        match ev.event.unwrap() {
            Event::HostCall(call) => {
                let args: Vec<Value> = call.args.iter().map(|a| a.to_json().unwrap()).collect();
                calls.push((call.name.clone(), Value::Array(args)));
                if let Some(reply) = answer(&call) {
                    tx.send(pb::ExecuteSessionRequest {
                        message: Some(pb::execute_session_request::Message::Reply(reply)),
                    })
                    .await
                    .unwrap();
                }
            }
            Event::Outcome(o) => return (calls, o),
            _ => {}
        }
    }
    panic!("the stream ended without an outcome");
}

fn result(o: &pb::ExecuteResponse) -> Value {
    assert_eq!(o.status, pb::Status::Ok as i32, "{o:?}");
    o.result.as_ref().unwrap().to_json().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_calls_round_trip_with_the_profiles_conversions() {
    let (_serial, server, mut client) = setup().await;
    let code = r#"
        const seen = state.get("k");
        state.set("when", { d: new Date(0), n: 10n });
        const big = chainlinkPrice("0xfeed");
        const r = fetch("http://example.test/x", { method: "POST" });
        console.log("between");
        return [seen, typeof state.list("none"), typeof big, String(big), r.Status, await state.get("k")];
    "#;
    let start = pb::ExecuteRequest {
        code: code.into(),
        profile: "avs".into(),
        host_functions: declare(&[
            "state.get",
            "state.set",
            "state.list",
            "fetch",
            "chainlinkPrice",
        ]),
        ..Default::default()
    };
    let (calls, o) = session(&mut client, start, |call| {
        Some(match call.name.as_str() {
            "state.get" => ok(call.id, json!({"x": 1})),
            "state.set" | "state.list" => pb::HostReply {
                id: call.id,
                reply: None,
            },
            "chainlinkPrice" => ok(call.id, json!({"$bigint": "262199000000000000000000"})),
            "fetch" => ok(call.id, json!({"Status": 200, "Body": "hi"})),
            other => panic!("undeclared call {other}"),
        })
    })
    .await;
    assert_eq!(
        result(&o),
        json!([{"x": 1}, "undefined", "bigint", "262199000000000000000000", 200, {"x": 1}])
    );
    let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "state.get",
            "state.set",
            "chainlinkPrice",
            "fetch",
            "state.list",
            "state.get"
        ]
    );
    // Arguments in order, with avs's conversions (a Date as RFC 3339, a BigInt as digits).
    assert_eq!(calls[0].1, json!(["k"]));
    assert_eq!(
        calls[1].1,
        json!(["when", {"d": "1970-01-01T00:00:00Z", "n": "10"}])
    );
    assert_eq!(
        calls[3].1,
        json!(["http://example.test/x", {"method": "POST"}])
    );
    let usage = o.usage.unwrap();
    assert_eq!(usage.host_calls, 6);
    assert!(
        usage.host_wait_ms > 0.0 && usage.host_wait_ms <= usage.wall_ms,
        "{usage:?}"
    );
    assert_eq!(o.logs[0].message, "between");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_replies_throw_and_limits_hold() {
    let (_serial, server, mut client) = setup().await;
    let fail = |call: &pb::HostCall| {
        Some(pb::HostReply {
            id: call.id,
            reply: Some(pb::host_reply::Reply::Error(pb::HostError {
                message: format!("no {}", call.args[0].to_json().unwrap()),
            })),
        })
    };
    let start = |code: &str, limits: Option<pb::HostCallLimits>| pb::ExecuteRequest {
        code: code.into(),
        host_functions: declare(&["lookup"]),
        host_call_limits: limits,
        ..Default::default()
    };

    // Caught in user code with the caller's message; uncaught, the run's error.
    let (_, o) = session(
        &mut client,
        start(
            "try { lookup('a') } catch (e) { return [e instanceof Error, e.message] }",
            None,
        ),
        fail,
    )
    .await;
    assert_eq!(result(&o), json!([true, "no \"a\""]));
    let (_, o) = session(&mut client, start("lookup('b')", None), fail).await;
    assert_eq!(o.status, pb::Status::Error as i32);
    assert_eq!(o.error.unwrap().message, "no \"b\"");

    // Calls past max_calls throw without reaching the caller.
    let code = "const r = []; for (let i = 0; i < 3; i++) { try { r.push(lookup(i)) } catch (e) { r.push(e.message) } } return r";
    let limits = pb::HostCallLimits {
        max_calls: Some(2),
        ..Default::default()
    };
    let (calls, o) = session(&mut client, start(code, Some(limits)), |c| {
        Some(ok(c.id, json!(c.id)))
    })
    .await;
    assert_eq!(calls.len(), 2);
    assert_eq!(
        result(&o),
        json!([
            1,
            2,
            "lookup: more than max_calls (2) host calls in one run"
        ])
    );

    // Arguments or a reply over max_payload_bytes are refused, in user code.
    let limits = pb::HostCallLimits {
        max_payload_bytes: Some(100),
        ..Default::default()
    };
    let code = "const r = []; for (const a of ['x'.repeat(200), 'small']) { try { r.push(lookup(a)) } catch (e) { r.push(e.message) } } return r";
    let (calls, o) = session(&mut client, start(code, Some(limits)), |c| {
        Some(ok(c.id, json!("y".repeat(500))))
    })
    .await;
    assert_eq!(calls.len(), 1);
    assert_eq!(
        result(&o),
        json!([
            "the arguments of lookup exceed max_payload_bytes (100 bytes of JSON)",
            "the host's reply to lookup exceeds max_payload_bytes (100 bytes of JSON)"
        ])
    );

    // Out-of-range limits and bad names are the request's error.
    for (limits, names, field) in [
        (
            Some(pb::HostCallLimits {
                reply_timeout_ms: Some(10_000_000),
                ..Default::default()
            }),
            vec!["f"],
            "reply_timeout_ms",
        ),
        (None, vec!["a.b.c"], "host_functions"),
        (None, vec!["state", "state.get"], "clashes"),
    ] {
        let start = pb::ExecuteRequest {
            code: "1".into(),
            host_functions: declare(&names),
            host_call_limits: limits,
            ..Default::default()
        };
        let (_tx, events) = open(
            &mut client,
            pb::execute_session_request::Message::Start(start),
        )
        .await;
        let e = async {
            let mut s = events?;
            while s.message().await?.is_some() {}
            Ok::<_, tonic::Status>(())
        }
        .await
        .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains(field), "{e:?}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_never_answers_ends_the_run_as_a_timeout_naming_the_call() {
    let (_serial, server, mut client) = setup().await;
    let start = |limits| pb::ExecuteRequest {
        code: "state.get('k'); return 1".into(),
        profile: "avs".into(),
        host_functions: declare(&["state.get"]),
        host_call_limits: limits,
        limits: Some(pb::Limits {
            timeout_ms: Some(2000),
            ..Default::default()
        }),
        ..Default::default()
    };
    let t0 = Instant::now();
    let (_, o) = session(
        &mut client,
        start(Some(pb::HostCallLimits {
            reply_timeout_ms: Some(300),
            ..Default::default()
        })),
        |_| None,
    )
    .await;
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(o.status, pb::Status::Timeout as i32);
    assert_eq!(
        o.error.unwrap().message,
        "no reply to host call state.get (call 1) within reply_timeout_ms (300 ms)"
    );
    let usage = o.usage.unwrap();
    assert!(usage.host_wait_ms >= 290.0, "{usage:?}");

    // The run's own time limit, while waiting, names the call too.
    let (_, o) = session(&mut client, start(None), |_| None).await;
    assert_eq!(o.status, pb::Status::Timeout as i32);
    assert!(o
        .error
        .unwrap()
        .message
        .contains("time limit of 2000 ms waiting for the reply to host call state.get"),);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_goes_away_mid_call_has_its_sandbox_killed() {
    let (_serial, server, mut client) = setup().await;
    let start = pb::ExecuteRequest {
        code: "f(); while (true) {}".into(),
        host_functions: declare(&["f"]),
        ..Default::default()
    };
    let (tx, events) = open(
        &mut client,
        pb::execute_session_request::Message::Start(start),
    )
    .await;
    let mut events = events.unwrap();
    let first = events.message().await.unwrap().unwrap();
    assert!(matches!(first.event, Some(Event::HostCall(_))), "{first:?}");
    assert_eq!(server.state.in_flight(), 1);
    drop(events);
    drop(tx);
    let t0 = Instant::now();
    while server.state.in_flight() > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "the run outlived its caller"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_functions_are_refused_where_nobody_can_answer_them() {
    let _serial = SERIAL.lock().await;
    let (server, base) = start_ready(one_warm()).await;
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/execute"))
        .json(&json!({"code": "1", "host_functions": [{"name": "fetch"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_request", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ExecuteSession"),
        "{v}"
    );
    let mut client = client(&server).await;
    let req = pb::ExecuteRequest {
        code: "1".into(),
        host_functions: declare(&["fetch"]),
        ..Default::default()
    };
    let e = client.execute(req.clone()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let e = client
        .execute_batch(pb::ExecuteBatchRequest {
            request: Some(req),
            items: vec![value(json!(1))],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    // A session must start with its run.
    let (_tx, events) = open(
        &mut client,
        pb::execute_session_request::Message::Reply(ok(1, json!(1))),
    )
    .await;
    let e = events.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    // Without declarations nothing is installed (node), and avs keeps its stubs.
    let (_, o) = session(
        &mut client,
        pb::ExecuteRequest {
            code: "[typeof state, typeof fetch]".into(),
            ..Default::default()
        },
        |_| None,
    )
    .await;
    assert_eq!(result(&o), json!(["undefined", "function"]));
    let (_, o) = session(
        &mut client,
        pb::ExecuteRequest {
            code: "try { state.get('k') } catch (e) { e.name }".into(),
            profile: "avs".into(),
            ..Default::default()
        },
        |_| None,
    )
    .await;
    assert_eq!(result(&o), json!("HostCallError"));
    server.shutdown().await;
}

/// Every backend this host makes available carries host calls (the job channel stays open
/// for replies through pipes, nsjail's passed fds and a container's attach stream alike).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_calls_work_on_every_available_backend() {
    let _serial = SERIAL.lock().await;
    let mut c = one_warm();
    c.other_backends_pool_size = 1;
    let (server, _) = start_ready(c).await;
    let engine = server.state.engine.clone();
    let backends: Vec<&str> = engine
        .backends()
        .filter(|b| engine.report(*b).available)
        .map(|b| b.as_str())
        .collect();
    assert!(backends.contains(&"native"), "{backends:?}");
    let mut client = client(&server).await;
    for backend in backends {
        let start = pb::ExecuteRequest {
            code: "state.set('a', 1); return [state.get('a'), state.get('b')]".into(),
            profile: "avs".into(),
            backend: backend.into(),
            host_functions: declare(&["state.get", "state.set"]),
            ..Default::default()
        };
        let mut store = std::collections::HashMap::new();
        let (calls, o) = session(&mut client, start, |call| {
            let key = call.args[0]
                .to_json()
                .unwrap()
                .as_str()
                .unwrap()
                .to_string();
            Some(match call.name.as_str() {
                "state.set" => {
                    store.insert(key, call.args[1].to_json().unwrap());
                    pb::HostReply {
                        id: call.id,
                        reply: None,
                    }
                }
                _ => match store.get(&key) {
                    Some(v) => ok(call.id, v.clone()),
                    None => pb::HostReply {
                        id: call.id,
                        reply: None,
                    },
                },
            })
        })
        .await;
        assert_eq!(o.backend, backend);
        assert_eq!(result(&o), json!([1, null]), "{backend}: {o:?}");
        assert_eq!(calls.len(), 3, "{backend}");
    }
    server.shutdown().await;
}

/// `body_timeout_ms` holds a session's start, not the session: a run that lasts longer than
/// it still gets its replies and its outcome, while a start that never comes is cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_timeout_holds_a_sessions_start_not_its_run() {
    let _serial = SERIAL.lock().await;
    let mut c = one_warm();
    c.body_timeout_ms = 500;
    let (server, _) = start_ready(c).await;
    let mut client = client(&server).await;
    let start = pb::ExecuteRequest {
        code: "await new Promise(r => setTimeout(r, 1500)); return state.get('k')".into(),
        profile: "avs".into(),
        host_functions: declare(&["state.get"]),
        ..Default::default()
    };
    let (calls, o) = session(&mut client, start, |call| Some(ok(call.id, json!(7)))).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(result(&o), json!(7));

    // A stream that never sends its start.
    let (_tx, rx) = mpsc::channel::<pb::ExecuteSessionRequest>(1);
    let t0 = Instant::now();
    let status = client
        .execute_session(ReceiverStream::new(rx))
        .await
        .expect_err("a session without its start");
    assert!(
        status.message().starts_with("request_timeout:"),
        "{status:?}"
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t0.elapsed()
    );
    server.shutdown().await;
}
