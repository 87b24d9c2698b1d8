//! A client of Firecracker's API: HTTP/1.1 over its unix socket (hyper), one connection per
//! VM, JSON bodies, errors as Firecracker's `fault_message`.

use std::path::Path;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{header, Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// A connection to one Firecracker's API socket.
pub(crate) struct ApiClient {
    sender: SendRequest<Full<Bytes>>,
}

impl ApiClient {
    /// Connects to the socket at `path`, waiting for it to appear (Firecracker creates it
    /// once it has started) at most `wait`.
    pub(crate) async fn connect(path: &Path, wait: Duration) -> Result<ApiClient, String> {
        let t0 = Instant::now();
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(s) => break s,
                Err(e) if t0.elapsed() > wait => {
                    return Err(format!("the API socket {}: {e}", path.display()))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("the API socket {}: {e}", path.display()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(ApiClient { sender })
    }

    /// `PUT <path>` with `body`: Ok on a 2xx answer, Firecracker's fault message otherwise.
    pub(crate) async fn put(&mut self, path: &str, body: &serde_json::Value) -> Result<(), String> {
        let request = Request::builder()
            .method(Method::PUT)
            .uri(path)
            .header(header::HOST, "localhost")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| format!("PUT {path}: {e}"))?;
        self.sender
            .ready()
            .await
            .map_err(|e| format!("PUT {path}: {e}"))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("PUT {path}: {e}"))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        Err(format!("PUT {path}: {status}: {}", fault_message(&bytes)))
    }
}

/// What a Firecracker error body says (`{"fault_message": "..."}`), else the body itself.
fn fault_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("fault_message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn faults_are_read_from_firecrackers_error_body() {
        assert_eq!(
            fault_message(br#"{"fault_message":"The kernel file cannot be opened"}"#),
            "The kernel file cannot be opened"
        );
        assert_eq!(fault_message(b" not json \n"), "not json");
    }

    /// The client's requests as an API server sees them, and its reading of an error.
    #[tokio::test]
    async fn requests_are_json_puts_and_errors_carry_the_fault() {
        let dir = std::env::temp_dir().join(format!(
            "nodecell-api-test-{}",
            crate::protocol::new_nonce()
        ));
        std::fs::create_dir(&dir).unwrap();
        let sock = dir.join("api.sock");
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = vec![0u8; 4096];
            for answer in [
                "HTTP/1.1 204 No Content\r\n\r\n",
                "HTTP/1.1 400 Bad Request\r\nContent-Length: 27\r\n\r\n{\"fault_message\":\"no boot\"}",
            ] {
                let n = s.read(&mut buf).await.unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).to_string());
                s.write_all(answer.as_bytes()).await.unwrap();
            }
            seen
        });
        let mut api = ApiClient::connect(&sock, Duration::from_secs(5))
            .await
            .unwrap();
        api.put("/machine-config", &serde_json::json!({"vcpu_count": 1}))
            .await
            .unwrap();
        let err = api
            .put(
                "/actions",
                &serde_json::json!({"action_type": "InstanceStart"}),
            )
            .await
            .unwrap_err();
        assert_eq!(err, "PUT /actions: 400 Bad Request: no boot");
        let seen = server.await.unwrap();
        assert!(
            seen[0].starts_with("PUT /machine-config HTTP/1.1\r\n"),
            "{}",
            seen[0]
        );
        assert!(seen[0].ends_with("{\"vcpu_count\":1}"), "{}", seen[0]);
        assert!(
            seen[1].contains("content-type: application/json"),
            "{}",
            seen[1]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
