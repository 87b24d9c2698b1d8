//! TLS on both listeners, client certificates (mTLS), and reloading the files: on SIGHUP
//! (`Server::reload_tls`) and when they change, a broken file keeping what was serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodecell_server::grpc::pb::{self, sandbox_service_client::SandboxServiceClient};
use nodecell_server::Server;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;
use support::config;

/// A CA that signs server and client certificates.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate (PEM) and its key (PEM) named `cn`, for a server or a client.
    fn sign(&self, cn: &str, client: bool) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, text: &str) {
    // Written beside, then renamed: a reader never sees half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A TLS client of `ca`'s servers, with `identity` (certificate, key) when given.
fn client(ca: &Ca, identity: Option<&(String, String)>, alpn: &[u8]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
        .unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// One HTTP/1.1 request over TLS: the response's text, and the server certificate's common
/// name as the handshake showed it (an error if the handshake or the request failed).
async fn https(
    connector: &tokio_rustls::TlsConnector,
    addr: std::net::SocketAddr,
    request: &str,
) -> std::io::Result<(String, Vec<u8>)> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let served = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    tls.write_all(request.as_bytes()).await?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await?;
    Ok((String::from_utf8_lossy(&out).into_owned(), served))
}

fn execute(body: &str) -> String {
    format!(
        "POST /v1/execute HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

async fn wait_ready(server: &Server) {
    let t = Instant::now();
    while server.state.not_ready().is_some() {
        assert!(t.elapsed() < Duration::from_secs(20), "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_listeners_serve_tls_require_client_certificates_and_reload() {
    let dir = Dir(std::env::temp_dir().join(format!("nodecell-tls-test-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let (cert, key, client_ca) = (
        dir.0.join("cert.pem"),
        dir.0.join("key.pem"),
        dir.0.join("ca.pem"),
    );
    let ca = Ca::new("nodecell test CA");
    let first = ca.sign("first", false);
    write(&cert, &first.0);
    write(&key, &first.1);
    write(&client_ca, &ca.pem);
    let mut c = config();
    c.pool_size = 1;
    c.tls_cert = Some(cert.clone());
    c.tls_key = Some(key.clone());
    c.tls_client_ca = Some(client_ca.clone());
    let server = Server::start(c).await.expect("server starts");
    wait_ready(&server).await;
    let alice = ca.sign("alice", true);
    let with_cert = client(&ca, Some(&alice), b"http/1.1");

    // HTTPS with a client certificate: a run.
    let (text, served) = https(
        &with_cert,
        server.http_addr,
        &execute(r#"{"code": "return 6 * 7"}"#),
    )
    .await
    .unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(r#""result":42"#), "{text}");
    assert_eq!(served, der(&first.0));

    // No client certificate, or one another CA signed: no request gets through.
    let rogue = Ca::new("rogue CA").sign("mallory", true);
    for (who, connector) in [
        ("no certificate", client(&ca, None, b"http/1.1")),
        ("a rogue CA's", client(&ca, Some(&rogue), b"http/1.1")),
    ] {
        let r = https(
            &connector,
            server.http_addr,
            &execute(r#"{"code": "return 1"}"#),
        )
        .await;
        assert!(
            r.as_ref().map_or(true, |(text, _)| text.is_empty()),
            "{who}: {r:?}"
        );
    }
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut tcp = tokio::net::TcpStream::connect(server.http_addr)
        .await
        .unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    assert!(
        !String::from_utf8_lossy(&out).contains("200 OK"),
        "plain HTTP answered"
    );

    // gRPC over TLS with the client certificate (tonic's client, HTTP/2 by ALPN).
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&ca.pem))
        .identity(tonic::transport::Identity::from_pem(&alice.0, &alice.1))
        .domain_name("localhost");
    let channel = tonic::transport::Channel::from_shared(format!("https://{}", server.grpc_addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let out = SandboxServiceClient::new(channel)
        .execute(pb::ExecuteRequest {
            code: "return 1 + 1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.status(), pb::Status::Ok);

    // A client that leaves mid-run over TLS (close_notify, then FIN, which hyper has not
    // read) has its run dropped and its sandbox killed.
    let tcp = tokio::net::TcpStream::connect(server.http_addr)
        .await
        .unwrap();
    let mut tls = with_cert
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let forever = execute(r#"{"code": "while (true) {}", "limits": {"timeout_ms": 30000}}"#);
    tls.write_all(forever.as_bytes()).await.unwrap();
    let t = Instant::now();
    while server.state.in_flight() == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the run never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tls.shutdown().await.unwrap();
    drop(tls);
    let t = Instant::now();
    while server.state.in_flight() > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "the run goes on after its TLS client left"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // SIGHUP's reload: new connections get the new certificate.
    let second = ca.sign("second", false);
    write(&cert, &second.0);
    write(&key, &second.1);
    server.reload_tls();
    let health = "GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";
    let (text, served) = https(&with_cert, server.http_addr, health).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(served, der(&second.0), "SIGHUP did not reload");

    // A broken file is not served: what was serving goes on.
    write(&cert, "not a certificate");
    server.reload_tls();
    let (_, served) = https(&with_cert, server.http_addr, health).await.unwrap();
    assert_eq!(
        served,
        der(&second.0),
        "a broken reload replaced the certificate"
    );

    // Files that change are read again without a signal.
    let third = ca.sign("third", false);
    write(&key, &third.1);
    write(&cert, &third.0);
    let t = Instant::now();
    loop {
        let (_, served) = https(&with_cert, server.http_addr, health).await.unwrap();
        if served == der(&third.0) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the change was not seen"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn bad_tls_settings_are_refused_at_start_naming_the_file() {
    let mut c = config();
    c.tls_cert = Some("/nonexistent/cert.pem".into());
    c.tls_key = Some("/nonexistent/key.pem".into());
    let e = Server::start(c).await.err().expect("refused").to_string();
    assert!(e.contains("/nonexistent/cert.pem"), "{e}");
}
