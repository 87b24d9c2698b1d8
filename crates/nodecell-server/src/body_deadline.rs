//! gRPC run requests must arrive in full within `body_timeout_ms` of their header: a request
//! message trickled in a byte at a time would otherwise hold its stream, and its connection,
//! for ever (the idle timeout never closes a connection with a request in progress). HTTP's
//! `POST /v1/execute` reads its body under the same deadline itself (`http.rs`).
//!
//! Only the calls of nodecell's own service are timed, whose requests are one message each;
//! a method whose requests stream for the whole call (server reflection, or a bidirectional
//! session) must not be, so a new client-streaming method of the service is listed in
//! [`STREAMING_REQUESTS`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;
use tonic::Status;

use crate::admission;
use crate::grpc::{pb, to_status};

/// Methods of the service whose request is a stream, not one message: not timed here.
/// `ExecuteSession`'s requests stream replies for as long as its run lasts; its first message
/// (the run) is held to the deadline by `grpc_session::session` itself.
const STREAMING_REQUESTS: &[&str] = &["ExecuteSession"];

/// Puts every request body of nodecell's service under the deadline.
#[derive(Clone, Copy)]
pub struct BodyDeadlineLayer {
    pub timeout: Duration,
}

impl<S> tower::Layer<S> for BodyDeadlineLayer {
    type Service = BodyDeadline<S>;

    fn layer(&self, inner: S) -> BodyDeadline<S> {
        BodyDeadline {
            inner,
            timeout: self.timeout,
        }
    }
}

#[derive(Clone)]
pub struct BodyDeadline<S> {
    inner: S,
    timeout: Duration,
}

/// Whether a request to `path` carries one message that must arrive by the deadline.
fn timed(path: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|p| p.strip_prefix(pb::sandbox_service_server::SERVICE_NAME))
        .and_then(|p| p.strip_prefix('/'))
        .is_some_and(|method| !STREAMING_REQUESTS.contains(&method))
}

impl<S> tower::Service<axum::http::Request<tonic::body::Body>> for BodyDeadline<S>
where
    S: tower::Service<axum::http::Request<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: axum::http::Request<tonic::body::Body>) -> S::Future {
        if !timed(req.uri().path()) {
            return self.inner.call(req);
        }
        let timeout = self.timeout;
        self.inner.call(req.map(|body| {
            tonic::body::Body::new(DeadlineBody {
                inner: body,
                deadline: Box::pin(tokio::time::sleep(timeout)),
                timeout,
            })
        }))
    }
}

/// A body that fails with `request_timeout` if it has not ended by its deadline.
struct DeadlineBody {
    inner: tonic::body::Body,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
}

impl Body for DeadlineBody {
    type Data = tonic::codegen::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Status>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let ms = this.timeout.as_millis() as u64;
                    Poll::Ready(Some(Err(to_status(admission::body_timed_out(ms)))))
                }
                Poll::Pending => Poll::Pending,
            },
            ready => ready,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_services_one_message_requests_are_timed() {
        let service = pb::sandbox_service_server::SERVICE_NAME;
        assert!(timed(&format!("/{service}/Execute")));
        assert!(timed(&format!("/{service}/ExecuteStream")));
        assert!(!timed(&format!("/{service}/ExecuteSession")));
        assert!(!timed(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!timed("/grpc.health.v1.Health/Watch"));
        assert!(!timed(&format!("/{service}X/Execute")));
    }
}
