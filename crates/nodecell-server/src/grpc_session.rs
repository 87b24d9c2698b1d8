//! gRPC's streamed runs: `ExecuteStream` (events out) and `ExecuteSession` (events and host
//! calls out, host-call replies in), relayed by one loop.
//!
//! A run lives exactly as long as its call: it runs in a task that is aborted as soon as the
//! response stream is dropped, an event cannot be delivered, or (a session) the caller's
//! stream fails. A session caller that half-closes its stream can answer no more calls: a
//! call then ends the run as `timeout`, naming the call.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use nodecell::{HostReply, LiveEvent, Outcome, Reply};
use tokio::sync::mpsc;
use tonic::{Status, Streaming};
use tracing::Instrument;

use crate::access::{self, RequestContext};
use crate::admission;
use crate::error::ApiError;
use crate::grpc::{pb, to_response, to_status};
use crate::shares::Client;
use crate::state::AppState;

/// Live events of a streamed run waiting for the task that forwards them to the client.
const LIVE_EVENTS: usize = 64;

/// Events of a streamed run waiting for the client to read them.
const STREAM_EVENTS: usize = 16;

/// Replies a session caller sent that the run has not taken yet (it takes one per call).
const REPLIES: usize = 4;

/// How long a streaming client has, once its run has ended, to read the events left and the
/// outcome (its sandbox is gone by then; only these events are held).
const STREAM_DRAIN_TIME: Duration = Duration::from_secs(30);

/// The response stream of a streamed run; dropping it (the client went away) aborts the run.
pub struct RunStream<E> {
    rx: mpsc::Receiver<Result<E, Status>>,
    _task: AbortOnDrop,
}

impl<E> tokio_stream::Stream for RunStream<E> {
    type Item = Result<E, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

pub(crate) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How one kind of streamed run's events are written.
trait Events: Send + 'static {
    fn live(ev: LiveEvent) -> Option<Self>
    where
        Self: Sized;
    fn outcome(o: pb::ExecuteResponse) -> Self;
}

impl Events for pb::ExecuteStreamResponse {
    fn live(ev: LiveEvent) -> Option<Self> {
        use pb::execute_stream_response::Event;
        let event = match ev {
            LiveEvent::Log(l) => Event::Log(crate::grpc::to_log(l)),
            LiveEvent::Stdout(s) => Event::Stdout(s),
            LiveEvent::Stderr(s) => Event::Stderr(s),
            // A plain run declares no host functions (refused at admission).
            LiveEvent::HostCall(_) => return None,
        };
        Some(Self { event: Some(event) })
    }

    fn outcome(o: pb::ExecuteResponse) -> Self {
        Self {
            event: Some(pb::execute_stream_response::Event::Outcome(o)),
        }
    }
}

impl Events for pb::ExecuteSessionResponse {
    fn live(ev: LiveEvent) -> Option<Self> {
        use pb::execute_session_response::Event;
        let event = match ev {
            LiveEvent::Log(l) => Event::Log(crate::grpc::to_log(l)),
            LiveEvent::Stdout(s) => Event::Stdout(s),
            LiveEvent::Stderr(s) => Event::Stderr(s),
            LiveEvent::HostCall(call) => Event::HostCall(pb::HostCall {
                id: call.id,
                name: call.name,
                args: array_items(call.args.get()),
            }),
        };
        Some(Self { event: Some(event) })
    }

    fn outcome(o: pb::ExecuteResponse) -> Self {
        Self {
            event: Some(pb::execute_session_response::Event::Outcome(o)),
        }
    }
}

/// A call's arguments (a JSON array the host checked) as values.
fn array_items(args: &str) -> Vec<crate::wire_value::WireValue> {
    match serde_json::from_str::<Vec<serde_json::Value>>(args) {
        Ok(items) => items
            .iter()
            .map(|v| crate::wire_value::WireValue::from_text(nodecell::JsonText::from_value(v)))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A caller's reply as the run takes it: a value that is not representable as JSON (a
/// NaN, say) becomes an error the user code sees.
fn to_reply(r: pb::HostReply) -> HostReply {
    use pb::host_reply::Reply as R;
    let reply = match r.reply {
        None => Reply::Undefined,
        Some(R::Error(e)) => Reply::Error(e.message),
        Some(R::Result(v)) => match v.to_json() {
            Ok(j) => Reply::Value(nodecell::JsonText::from_value(&j)),
            Err(e) => Reply::Error(format!("the caller's reply is not JSON: {e}")),
        },
    };
    HostReply { id: r.id, reply }
}

/// `ExecuteStream`: one run, its events as they happen, then the outcome.
pub(crate) fn stream(
    state: Arc<AppState>,
    client: Client,
    req: nodecell::ExecRequest,
    context: Option<Arc<RequestContext>>,
) -> RunStream<pb::ExecuteStreamResponse> {
    let (tx, rx) = mpsc::channel(STREAM_EVENTS);
    let task = tokio::spawn(
        async move {
            let (live_tx, live_rx) = mpsc::channel(LIVE_EVENTS);
            let run = access::stamped(context, state.execute(client, req, Some(live_tx)));
            relay(tx, live_rx, run, None).await;
        }
        .in_current_span(),
    );
    RunStream {
        rx,
        _task: AbortOnDrop(task),
    }
}

/// `ExecuteSession`: the start message, then one run whose host calls go out as events and
/// whose replies come in on the caller's stream.
pub(crate) async fn session(
    state: Arc<AppState>,
    client: Client,
    mut inbound: Streaming<pb::ExecuteSessionRequest>,
    context: Option<Arc<RequestContext>>,
) -> Result<RunStream<pb::ExecuteSessionResponse>, Status> {
    use pb::execute_session_request::Message;
    // The start is one message, held to `body_timeout_ms` as every run request is; the
    // replies after it come for as long as the run lasts (`body_deadline.rs` leaves this
    // method's stream untimed).
    let body_timeout = state.config.body_timeout_ms;
    let first = tokio::time::timeout(Duration::from_millis(body_timeout), inbound.message())
        .await
        .map_err(|_| to_status(admission::body_timed_out(body_timeout)))?;
    let start = match first? {
        Some(pb::ExecuteSessionRequest {
            message: Some(Message::Start(req)),
        }) => req,
        _ => {
            let why = "the first message of a session must be its start (the run)";
            return Err(to_status(ApiError::invalid(why).with_field("start", why)));
        }
    };
    let req = admission::request_from_proto(start).map_err(to_status)?;
    let (tx, rx) = mpsc::channel(STREAM_EVENTS);
    let task = tokio::spawn(
        async move {
            let (live_tx, live_rx) = mpsc::channel(LIVE_EVENTS);
            let (reply_tx, reply_rx) = mpsc::channel(REPLIES);
            let run = state.execute_session(client, req, live_tx, reply_rx);
            let run = access::stamped(context, run);
            relay(tx, live_rx, run, Some((inbound, reply_tx))).await;
        }
        .in_current_span(),
    );
    Ok(RunStream {
        rx,
        _task: AbortOnDrop(task),
    })
}

type Inbound = (
    Streaming<pb::ExecuteSessionRequest>,
    mpsc::Sender<HostReply>,
);

/// Moves a run's events to the client one at a time while it goes on (a client that does
/// not read holds its run back, until the run's time limit ends it, never more of the
/// server's memory than these channels), and a session caller's replies to the run.
async fn relay<E: Events>(
    tx: mpsc::Sender<Result<E, Status>>,
    mut live_rx: mpsc::Receiver<LiveEvent>,
    run: impl std::future::Future<Output = Result<Outcome, ApiError>>,
    mut inbound: Option<Inbound>,
) {
    tokio::pin!(run);
    let mut next: Option<E> = None;
    let mut live_open = true;
    let result = loop {
        tokio::select! {
            biased;
            permit = tx.reserve(), if next.is_some() => match permit {
                Ok(permit) => permit.send(Ok(next.take().expect("checked"))),
                Err(_) => return, // the client is gone: dropping `run` kills the sandbox
            },
            ev = live_rx.recv(), if next.is_none() && live_open => match ev {
                Some(ev) => next = E::live(ev),
                None => live_open = false,
            },
            msg = next_message(&mut inbound) => {
                use pb::execute_session_request::Message;
                match msg {
                    Ok(Some(pb::ExecuteSessionRequest { message: Some(Message::Reply(r)) })) => {
                        let (_, replies) = inbound.as_ref().expect("reading");
                        // More replies than calls are dropped; the run takes the one it waits for.
                        let _ = replies.try_send(to_reply(r));
                    }
                    Ok(Some(_)) => {
                        let why = "after its start, a session sends only replies";
                        let _ = tx.send(Err(to_status(ApiError::invalid(why).with_field("start", why)))).await;
                        return;
                    }
                    // Half-closed: no more replies (a call now ends the run as a timeout).
                    Ok(None) => inbound = None,
                    // The caller's stream failed (cancelled, reset): the run ends with it.
                    Err(_) => return,
                }
            }
            _ = tx.closed() => return,
            r = &mut run => break r,
        }
    };
    let last = match result {
        Ok(outcome) => Ok(E::outcome(to_response(outcome))),
        Err(e) => Err(to_status(e)),
    };
    // The run is over; what is left goes out as the client reads it, for a while.
    let rest = async {
        let live = std::iter::from_fn(|| live_rx.try_recv().ok()).filter_map(E::live);
        for ev in next.into_iter().chain(live) {
            tx.send(Ok(ev)).await?;
        }
        tx.send(last).await
    };
    let _ = tokio::time::timeout(STREAM_DRAIN_TIME, rest).await;
}

/// The caller's next message (never, without an inbound stream). Cancel-safe.
async fn next_message(
    inbound: &mut Option<Inbound>,
) -> Result<Option<pb::ExecuteSessionRequest>, Status> {
    match inbound {
        Some((stream, _)) => stream.message().await,
        None => std::future::pending().await,
    }
}
