//! Connection limits and fairness through a real server on loopback ports, over the fake
//! backend (no root, no Node): slow and idle connections are closed, connections past the
//! caps are refused while others are served, and one client cannot take more than its share
//! of the run slots while another is still admitted. Clients on other addresses come from
//! 127.0.0.2 and 127.0.0.3 (all of 127/8 is loopback).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodecell::{Engine, EngineConfig};
use nodecell_server::grpc::pb::{self, sandbox_service_client::SandboxServiceClient};
use nodecell_server::shares::Client;
use nodecell_server::{Server, ServerConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const TOKENS: [&str; 2] = ["first-token-0123456789", "second-token-0123456789"];

fn config() -> ServerConfig {
    ServerConfig {
        http_listen: "127.0.0.1:0".parse().unwrap(),
        grpc_listen: "127.0.0.1:0".parse().unwrap(),
        pool_size: 0,
        backend: "fake".into(),
        ..ServerConfig::default()
    }
}

async fn start(config: ServerConfig) -> Server {
    let engine = Engine::fake(EngineConfig::default()).expect("the fake engine needs nothing");
    Server::start_with_engine(config, Arc::new(engine))
        .await
        .expect("server starts")
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// A TCP connection to `addr` from 127.0.0.`from`.
async fn connect_from(from: u8, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(ip(from), 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Whether the server closes `conn` within `within` (end of stream or a reset), reading and
/// discarding what comes before.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// One HTTP/1.1 request on a kept-alive connection; the response's head and body as text.
async fn http_get(conn: &mut TcpStream, path: &str) -> String {
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(5), async {
        // /healthz answers "ok" with a content length: the whole response ends with it.
        while !got.ends_with(b"\r\n\r\nok") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("an answer");
    String::from_utf8(got).unwrap()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < Duration::from_secs(5), "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_header_or_nothing_at_all_is_closed_after_the_header_timeout() {
    let server = start(ServerConfig {
        header_timeout_ms: 300,
        ..config()
    })
    .await;
    let mut half = TcpStream::connect(server.http_addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(server.http_addr).await.unwrap();
    let mut silent_grpc = TcpStream::connect(server.grpc_addr).await.unwrap();
    // Half of HTTP/2's preface, on the gRPC port.
    let mut half_preface = TcpStream::connect(server.grpc_addr).await.unwrap();
    half_preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let t0 = Instant::now();
    for (what, conn) in [
        ("half a header", &mut half),
        ("a silent HTTP connection", &mut silent),
        ("a silent gRPC connection", &mut silent_grpc),
        ("half a preface", &mut half_preface),
    ] {
        assert!(
            closed_within(conn, Duration::from_secs(5)).await,
            "{what} is still open"
        );
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "closed before the timeout"
    );
    // A header trickled in a byte at a time is held to the same timeout.
    let mut trickle = TcpStream::connect(server.http_addr).await.unwrap();
    let t1 = Instant::now();
    let mut trickled = 0;
    for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
        .iter()
        .cycle()
    {
        if trickle.write_all(&[*b]).await.is_err() {
            break;
        }
        trickled += 1;
        assert!(
            t1.elapsed() < Duration::from_secs(5),
            "a trickled header kept the connection open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(trickled > 3, "{trickled}");
    // Connections that send their requests are served meanwhile, and nothing is left open.
    let mut ok = TcpStream::connect(server.http_addr).await.unwrap();
    assert!(http_get(&mut ok, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
    drop(ok);
    wait_until("every connection is gone", || {
        server.state.connections.open(ip(1)) == (0, 0)
    })
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_but_never_one_with_a_run_in_progress() {
    let server = start(ServerConfig {
        idle_timeout_ms: 400,
        ..config()
    })
    .await;
    let mut idle = TcpStream::connect(server.http_addr).await.unwrap();
    assert!(http_get(&mut idle, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
    let t0 = Instant::now();
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)).await,
        "an idle kept-alive connection is still open"
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "closed too soon"
    );
    // An HTTP/2 connection on the gRPC port that opened properly and sends no request.
    let mut h2 = TcpStream::connect(server.grpc_addr).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0\0\0\0\x04\x01\0\0\0\0")
        .await
        .unwrap();
    assert!(
        closed_within(&mut h2, Duration::from_secs(5)).await,
        "an idle HTTP/2 connection is still open"
    );

    // A run longer than the idle timeout keeps its connection, on both transports.
    let base = format!("http://{}", server.http_addr);
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/execute"))
        .body(r#"{"code": "sleep 1000\nreturn 1"}"#)
        .send()
        .await
        .expect("the answer comes");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["result"], 1, "{v}");
    let mut grpc = SandboxServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .unwrap();
    let mut stream = grpc
        .execute_stream(pb::ExecuteStreamRequest {
            request: Some(pb::ExecuteRequest {
                code: "log a\nsleep 1000\nlog b\nreturn 2".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = 0;
    while let Some(ev) = stream.message().await.expect("the stream is not cut") {
        events += 1;
        if let Some(pb::execute_stream_response::Event::Outcome(o)) = ev.event {
            assert_eq!(o.status, pb::Status::Ok as i32);
        }
    }
    assert_eq!(events, 3);
    server.shutdown().await;
}

/// A run request whose body never arrives in full (a slow-body Slowloris: the idle timeout
/// never closes a connection with a request in progress) gets `request_timeout` after
/// `body_timeout_ms`, on both transports, and its connection is then free to go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_never_arrives_in_full_is_cut_at_the_body_timeout() {
    let server = start(ServerConfig {
        body_timeout_ms: 300,
        ..config()
    })
    .await;
    // HTTP/1.1: 100 bytes announced, 10 sent, then nothing.
    let mut conn = TcpStream::connect(server.http_addr).await.unwrap();
    conn.write_all(
        b"POST /v1/execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"code\": \"",
    )
    .await
    .unwrap();
    let t0 = Instant::now();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut got)).await;
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("\"request_timeout\""), "{got}");
    assert!(t0.elapsed() >= Duration::from_millis(250), "cut too soon");

    // gRPC: the request's headers, then a message stream that never yields nor ends.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = format!("/{}/Execute", pb::sandbox_service_server::SERVICE_NAME);
    let codec = tonic_prost::ProstCodec::<pb::ExecuteRequest, pb::ExecuteResponse>::default();
    let t0 = Instant::now();
    let status = tokio::time::timeout(
        Duration::from_secs(5),
        grpc.client_streaming(
            tonic::Request::new(tokio_stream::pending::<pb::ExecuteRequest>()),
            path.parse().unwrap(),
            codec,
        ),
    )
    .await
    .expect("an answer within 5 s")
    .expect_err("no outcome without a request");
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().starts_with("request_timeout:"),
        "{status:?}"
    );
    assert_eq!(
        status.metadata().get("nodecell-error-code").unwrap(),
        "request_timeout"
    );
    assert!(t0.elapsed() >= Duration::from_millis(250), "cut too soon");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_caps_are_refused_while_others_are_served() {
    let server = start(ServerConfig {
        max_connections_per_peer: 3,
        max_connections: 5,
        ..config()
    })
    .await;
    // Three from 127.0.0.1, over both listeners: its share of connections.
    let mut first = connect_from(1, server.http_addr).await;
    assert!(http_get(&mut first, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
    let mut second = connect_from(1, server.http_addr).await;
    assert!(http_get(&mut second, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
    let _grpc = connect_from(1, server.grpc_addr).await;
    wait_until("three connections counted", || {
        server.state.connections.open(ip(1)) == (3, 3)
    })
    .await;
    for addr in [server.http_addr, server.grpc_addr] {
        let mut refused = connect_from(1, addr).await;
        assert!(
            closed_within(&mut refused, Duration::from_secs(2)).await,
            "a fourth connection from one peer was kept ({addr})"
        );
    }
    // Another peer is served meanwhile, and the first peer's open connections too.
    let mut other = connect_from(2, server.http_addr).await;
    assert!(http_get(&mut other, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(http_get(&mut first, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
    let _other_grpc = connect_from(2, server.grpc_addr).await;
    wait_until("five connections counted", || {
        server.state.connections.open(ip(2)) == (5, 2)
    })
    .await;
    // Five in all: a third peer is refused too.
    let mut third = connect_from(3, server.http_addr).await;
    assert!(closed_within(&mut third, Duration::from_secs(2)).await);
    // A connection that closes gives its place back.
    drop(second);
    wait_until("the place came back", || {
        server.state.connections.open(ip(1)) == (4, 2)
    })
    .await;
    let mut again = connect_from(1, server.http_addr).await;
    assert!(http_get(&mut again, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
    server.shutdown().await;
}

/// An HTTP client from 127.0.0.`from`, with `token` when given.
fn http_client(from: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip(from))
        .build()
        .unwrap()
}

async fn execute(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    code: &str,
) -> (u16, Value, Option<String>) {
    let mut req = client
        .post(format!("{base}/v1/execute"))
        .body(serde_json::json!({ "code": code }).to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), r.json().await.unwrap(), retry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_take_more_than_its_share_while_another_is_admitted() {
    // Two run slots and two queue places: a share of 50% is two per client.
    let server = start(ServerConfig {
        max_concurrent: 2,
        max_queue: 2,
        client_share_percent: 50,
        ..config()
    })
    .await;
    let state = server.state.clone();
    let base = format!("http://{}", server.http_addr);
    let (a, b) = (http_client(1), http_client(2));
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let (a, base) = (a.clone(), base.clone());
            tokio::spawn(async move { execute(&a, &base, None, "sleep 800\nreturn 1").await })
        })
        .collect();
    wait_until("two runs of client a", || state.in_flight() == 2).await;
    let (status, body, retry) = execute(&a, &base, None, "return 3").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "client_share_exceeded", "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    // The same over gRPC: the share is the client's, whichever transport it uses.
    let mut grpc = SandboxServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .unwrap();
    let status = grpc
        .execute(pb::ExecuteRequest {
            code: "return 3".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(
        status.message().starts_with("client_share_exceeded:"),
        "{status:?}"
    );
    // Another client is admitted (it waits for a slot, then runs).
    let (status, body, _) = execute(&b, &base, None, "return 4").await;
    assert_eq!((status, &body["result"]), (200, &Value::from(4)), "{body}");
    for t in slow {
        let (status, body, _) = t.await.unwrap();
        assert_eq!((status, &body["result"]), (200, &Value::from(1)), "{body}");
    }
    // The share came back with the runs.
    assert_eq!(state.shares.held(&Client::Peer(ip(1))), 0);
    let (status, body, _) = execute(&a, &base, None, "return 5").await;
    assert_eq!((status, &body["result"]), (200, &Value::from(5)), "{body}");

    // A client that goes away gives its share back at once (its run is dropped).
    let impatient = reqwest::Client::builder()
        .local_address(ip(1))
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    for _ in 0..2 {
        assert!(impatient
            .post(format!("{base}/v1/execute"))
            .body(r#"{"code": "sleep 5000"}"#)
            .send()
            .await
            .is_err());
    }
    wait_until("client a's share is back", || {
        state.shares.held(&Client::Peer(ip(1))) == 0
    })
    .await;
    let (status, body, _) = execute(&a, &base, None, "return 6").await;
    assert_eq!((status, &body["result"]), (200, &Value::from(6)), "{body}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tokens_the_client_is_the_token_not_the_address() {
    let server = start(ServerConfig {
        max_concurrent: 1,
        max_queue: 1,
        client_share_percent: 50,
        auth_tokens: TOKENS.map(String::from).to_vec(),
        ..config()
    })
    .await;
    let state = server.state.clone();
    let base = format!("http://{}", server.http_addr);
    let one = http_client(1);
    let slow = {
        let (one, base) = (one.clone(), base.clone());
        tokio::spawn(
            async move { execute(&one, &base, Some(TOKENS[0]), "sleep 500\nreturn 1").await },
        )
    };
    wait_until("the first token's run", || state.in_flight() == 1).await;
    // The same token from another address: the same client.
    let (status, body, _) = execute(&http_client(2), &base, Some(TOKENS[0]), "return 2").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("client_share_exceeded"))
    );
    // Another token from the same address: another client, admitted.
    let (status, body, _) = execute(&one, &base, Some(TOKENS[1]), "return 3").await;
    assert_eq!((status, &body["result"]), (200, &Value::from(3)), "{body}");
    let (status, _, _) = slow.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(state.shares.held(&Client::Token(0)), 0);
    server.shutdown().await;
}
