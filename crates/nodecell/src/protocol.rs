//! The runner protocol: length-prefixed JSON frames between the host and runner.js.
//!
//! fd 3 carries the one job (host → runner); fd 4 carries events (runner → host):
//! `ready`, then any number of `log`, then one `result`. The job carries a fresh random
//! `nonce` that the runner echoes in its result; user code writing frames to fd 4 blindly
//! cannot produce an accepted result (and could only ever decide its own result anyway). A frame is a 4-byte big-endian
//! length followed by that many bytes of UTF-8 JSON. The host never trusts a frame: the
//! length is checked against a cap before anything is read, and the JSON against a schema.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::host_call::{HostReply, Reply};
use crate::json_text::{JsonObject, JsonText};
use crate::outcome::{ErrorInfo, LogLevel};

/// The one job a sandbox receives.
#[derive(Debug, Serialize)]
pub struct Job<'a> {
    pub nonce: &'a str,
    pub code: &'a str,
    pub inputs: &'a JsonObject,
    pub profile: &'static str,
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<&'a [JsonText]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_timeout_ms: Option<u64>,
    pub max_result_bytes: u64,
    pub max_output_bytes: u64,
    /// The functions the caller serves; absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<JobHost<'a>>,
}

/// What the runner knows of the host functions: their names, and how large one call's
/// arguments may be (the host holds both too).
#[derive(Debug, Serialize)]
pub struct JobHost<'a> {
    pub functions: &'a [crate::host_call::HostFunction],
    pub max_payload_bytes: u64,
}

/// What the runner says.
#[derive(Debug, PartialEq)]
pub enum RunnerEvent {
    Ready,
    Log {
        level: LogLevel,
        message: String,
    },
    /// A host call: `args` is a JSON array.
    Call {
        nonce: String,
        id: u64,
        name: String,
        args: JsonText,
    },
    Result(RunnerResult),
}

#[derive(Debug, PartialEq)]
pub enum RunnerResult {
    Ok { nonce: String, result: JsonText },
    Error { nonce: String, error: ErrorInfo },
}

impl RunnerResult {
    pub fn nonce(&self) -> &str {
        match self {
            RunnerResult::Ok { nonce, .. } | RunnerResult::Error { nonce, .. } => nonce,
        }
    }
}

/// Every field a frame may have; its `type` (and a result's `status`) says which it must.
/// Read flat, so that a result is kept as text: serde reads an internally tagged enum
/// through a buffered tree of the whole frame.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields<'a> {
    #[serde(rename = "type")]
    kind: Kind,
    level: Option<LogLevel>,
    message: Option<String>,
    status: Option<ResultStatus>,
    nonce: Option<String>,
    #[serde(default, borrow)]
    result: Present<'a>,
    error: Option<ErrorInfo>,
    id: Option<u64>,
    name: Option<String>,
    #[serde(default, borrow)]
    args: Present<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Ready,
    Log,
    Call,
    Result,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ResultStatus {
    Ok,
    Error,
}

/// A field that may be absent, where `null` is a value (a result of `null`).
#[derive(Default)]
struct Present<'a>(Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Present<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&RawValue>::deserialize(d).map(|raw| Present(Some(raw)))
    }
}

impl RunnerEvent {
    /// One frame's body, checked against the protocol's schema: exactly the fields its type
    /// has, and a result nested at most [`crate::json_text::MAX_DEPTH`] levels.
    pub fn from_frame(body: &[u8]) -> Result<RunnerEvent, serde_json::Error> {
        use serde::de::Error;
        let f: Fields = serde_json::from_slice(body)?;
        let call_fields = f.id.is_some() || f.name.is_some() || f.args.0.is_some();
        if let Kind::Call = f.kind {
            return match (f.nonce, f.id, f.name, f.args.0) {
                (Some(nonce), Some(id), Some(name), Some(args))
                    if f.level.is_none()
                        && f.message.is_none()
                        && f.status.is_none()
                        && f.result.0.is_none()
                        && f.error.is_none()
                        && args.get().starts_with('[') =>
                {
                    Ok(RunnerEvent::Call {
                        nonce,
                        id,
                        name,
                        args: JsonText::from_raw(args).map_err(Error::custom)?,
                    })
                }
                _ => Err(Error::custom("a call frame with the wrong fields")),
            };
        }
        if call_fields {
            return Err(Error::custom("a frame with the wrong fields for its type"));
        }
        let event = match (f.kind, f.status, f.nonce, f.result.0, f.error) {
            (Kind::Ready, None, None, None, None) if f.level.is_none() && f.message.is_none() => {
                RunnerEvent::Ready
            }
            (Kind::Log, None, None, None, None) => match (f.level, f.message) {
                (Some(level), Some(message)) => RunnerEvent::Log { level, message },
                _ => return Err(Error::custom("a log frame needs a level and a message")),
            },
            (Kind::Result, Some(status), Some(nonce), result, error)
                if f.level.is_none() && f.message.is_none() =>
            {
                RunnerEvent::Result(match (status, result, error) {
                    (ResultStatus::Ok, Some(raw), None) => RunnerResult::Ok {
                        nonce,
                        result: JsonText::from_raw(raw).map_err(Error::custom)?,
                    },
                    (ResultStatus::Error, None, Some(error)) => {
                        RunnerResult::Error { nonce, error }
                    }
                    _ => return Err(Error::custom("a result frame with the wrong fields")),
                })
            }
            _ => return Err(Error::custom("a frame with the wrong fields for its type")),
        };
        Ok(event)
    }
}

/// A fresh random nonce (128 bits, hex), from getrandom(2): no file descriptor, so it cannot
/// fail for want of one (a service out of fds still answers its requests with errors).
pub fn new_nonce() -> String {
    let mut b = [0u8; 16];
    // getrandom(2) fails only on kernels older than 3.17, which nothing of nodecell runs on.
    getrandom::fill(&mut b).expect("getrandom(2)");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the cap of {cap} bytes")]
    TooLarge { len: u64, cap: u64 },
    #[error("the channel closed in the middle of a frame")]
    Truncated,
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("i/o on the runner channel: {0}")]
    Io(#[from] std::io::Error),
}

pub fn encode_frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The reply frame the runner reads on its job channel.
pub(crate) fn reply_frame(reply: &HostReply) -> Vec<u8> {
    let mut body = format!(r#"{{"type":"reply","id":{}"#, reply.id);
    match &reply.reply {
        Reply::Value(v) => {
            body.push_str(r#","result":"#);
            body.push_str(v.get());
        }
        Reply::Undefined => {}
        Reply::Error(message) => {
            body.push_str(r#","error":"#);
            body.push_str(&serde_json::to_string(message).expect("a string serializes"));
        }
    }
    body.push('}');
    encode_frame(body.as_bytes())
}

pub async fn write_job<W: AsyncWrite + Unpin>(w: &mut W, job: &Job<'_>) -> Result<(), FrameError> {
    let body = serde_json::to_vec(job)?;
    w.write_all(&encode_frame(&body)).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    cap: u64,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        got += n;
    }
    let len = u32::from_be_bytes(len) as u64;
    if len > cap {
        return Err(FrameError::TooLarge { len, cap });
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
        _ => FrameError::Io(e),
    })?;
    Ok(Some(body))
}

pub async fn read_event<R: AsyncRead + Unpin>(
    r: &mut R,
    cap: u64,
) -> Result<Option<RunnerEvent>, FrameError> {
    match read_frame(r, cap).await? {
        None => Ok(None),
        Some(body) => Ok(Some(RunnerEvent::from_frame(&body)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_128_random_bits_in_hex() {
        let (a, b) = (new_nonce(), new_nonce());
        for n in [&a, &b] {
            assert_eq!(n.len(), 32, "{n}");
            assert!(
                n.bytes()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
                "{n}"
            );
        }
        assert_ne!(a, b);
    }

    async fn parse(bytes: Vec<u8>, cap: u64) -> Result<Option<RunnerEvent>, FrameError> {
        read_event(&mut bytes.as_slice(), cap).await
    }

    #[tokio::test]
    async fn frames_round_trip() {
        let ev = parse(
            encode_frame(br#"{"type":"log","level":"warn","message":"hi"}"#),
            100,
        )
        .await
        .unwrap();
        assert_eq!(
            ev,
            Some(RunnerEvent::Log {
                level: LogLevel::Warn,
                message: "hi".into()
            })
        );
        let ev = parse(
            encode_frame(br#"{"type":"result","status":"ok","nonce":"n","result":[1]}"#),
            100,
        )
        .await
        .unwrap();
        assert_eq!(
            ev,
            Some(RunnerEvent::Result(RunnerResult::Ok {
                nonce: "n".into(),
                result: JsonText::parse("[1]").unwrap()
            }))
        );
        assert_eq!(parse(vec![], 100).await.unwrap(), None);
    }

    #[test]
    fn frames_have_exactly_the_fields_of_their_type() {
        let ok = |f: &str| RunnerEvent::from_frame(f.as_bytes());
        assert_eq!(ok(r#"{"type":"ready"}"#).unwrap(), RunnerEvent::Ready);
        // A result of null is a value, not an absent field.
        assert_eq!(
            ok(r#"{"type":"result","status":"ok","nonce":"n","result":null}"#).unwrap(),
            RunnerEvent::Result(RunnerResult::Ok {
                nonce: "n".into(),
                result: JsonText::parse("null").unwrap()
            })
        );
        assert_eq!(
            ok(r#"{"type":"call","nonce":"n","id":2,"name":"state.get","args":["k"]}"#).unwrap(),
            RunnerEvent::Call {
                nonce: "n".into(),
                id: 2,
                name: "state.get".into(),
                args: JsonText::parse(r#"["k"]"#).unwrap()
            }
        );
        for bad in [
            r#"{"type":"call","nonce":"n","id":1,"name":"f","args":{}}"#,
            r#"{"type":"call","nonce":"n","id":1,"name":"f"}"#,
            r#"{"type":"call","id":1,"name":"f","args":[]}"#,
            r#"{"type":"call","nonce":"n","id":-1,"name":"f","args":[]}"#,
            r#"{"type":"call","nonce":"n","id":1,"name":"f","args":[],"result":1}"#,
            r#"{"type":"result","status":"ok","nonce":"n","result":1,"id":1}"#,
            r#"{"type":"log","level":"log","message":"m","args":[]}"#,
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        for bad in [
            r#"{"type":"ready","nonce":"n"}"#.to_string(),
            r#"{"type":"log","level":"log"}"#.into(),
            r#"{"type":"log","level":"log","message":"m","nonce":"n"}"#.into(),
            r#"{"type":"result","status":"ok","nonce":"n"}"#.into(),
            r#"{"type":"result","status":"ok","result":1}"#.into(),
            r#"{"type":"result","status":"ok","nonce":"n","result":1,"message":"m"}"#.into(),
            r#"{"type":"result","status":"error","nonce":"n","result":1}"#.into(),
            r#"{"type":"result","status":"ok","nonce":"n","result":1,"result":2}"#.into(),
            r#"{"type":"result","status":"ok","nonce":"n","result":1,"error":{"name":"","message":""}}"#.into(),
            format!(r#"{{"type":"result","status":"ok","nonce":"n","result":{deep}}}"#),
            r#"{"type":"result","status":"ok","nonce":"n","result":[1e400]}"#.into(),
        ] {
            assert!(ok(&bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn hostile_frames_are_refused_before_reading() {
        let mut huge = (u32::MAX).to_be_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(matches!(
            parse(huge, 1 << 20).await,
            Err(FrameError::TooLarge { .. })
        ));
        let mut cut = encode_frame(br#"{"type":"ready"}"#);
        cut.truncate(8);
        assert!(matches!(parse(cut, 100).await, Err(FrameError::Truncated)));
        assert!(matches!(
            parse(encode_frame(b"{\"type\":\"nope\"}"), 100).await,
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            parse(
                encode_frame(
                    br#"{"type":"result","status":"ok","nonce":"n","result":1,"usage":{}}"#
                ),
                100
            )
            .await,
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn reply_frames_carry_a_value_nothing_or_an_error() {
        let frame = |reply| {
            let bytes = reply_frame(&HostReply { id: 7, reply });
            String::from_utf8(bytes[4..].to_vec()).unwrap()
        };
        assert_eq!(
            frame(Reply::Value(JsonText::parse(r#"{"a":[1]}"#).unwrap())),
            r#"{"type":"reply","id":7,"result":{"a":[1]}}"#
        );
        assert_eq!(frame(Reply::Undefined), r#"{"type":"reply","id":7}"#);
        assert_eq!(
            frame(Reply::Error("no \"such\" key".into())),
            r#"{"type":"reply","id":7,"error":"no \"such\" key"}"#
        );
    }
}
