//! What both transports do with a call before it reaches [`crate::AppState::execute`], in one
//! place: the bearer token, the size cap of a request, and turning the request (JSON over HTTP,
//! protobuf over gRPC) into the library's [`ExecRequest`] under the same rules.

use nodecell::{BatchRequest, ExecRequest, LimitOverrides, Limits};

use crate::error::{ApiError, ErrorCode};
use crate::grpc::pb;

/// The scheme of an `Authorization` header (HTTP) or `authorization` metadata (gRPC).
const BEARER: &[u8] = b"Bearer";

/// Room for everything of a request but its code and inputs (JSON or protobuf framing, the
/// limits, the backend name).
const ENVELOPE_BYTES: u64 = 64 << 10;

/// When `tokens` are configured, `authorization` (the header's or the metadata's value) must
/// be `Bearer <token>` for one of them. Compared in constant time, against every token.
pub fn authorize(tokens: &[String], authorization: Option<&[u8]>) -> Result<(), ApiError> {
    if tokens.is_empty() || token_index(tokens, authorization).is_some() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "a valid bearer token is required",
        ))
    }
}

/// Which of `tokens` `authorization` carries as `Bearer <token>`, if one. Compared in constant
/// time, against every token.
pub fn token_index(tokens: &[String], authorization: Option<&[u8]>) -> Option<usize> {
    let given = authorization.and_then(bearer_credentials)?;
    tokens.iter().enumerate().fold(None, |found, (i, token)| {
        let eq = constant_time_eq(token.as_bytes(), given);
        found.or(eq.then_some(i))
    })
}

/// The credentials of `Bearer <token>`: the scheme's name is case-insensitive (RFC 9110,
/// 11.1), and one or more spaces follow it.
fn bearer_credentials(authorization: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = authorization.split_at_checked(BEARER.len())?;
    if !scheme.eq_ignore_ascii_case(BEARER) || rest.first() != Some(&b' ') {
        return None;
    }
    let token = rest.trim_ascii_start();
    (!token.is_empty()).then_some(token)
}

/// Equal, in a time that depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The largest request either transport reads, checked before anything is parsed: twice
/// the code and inputs a request may carry (`limits` are the service's default limits: a
/// request cannot raise `max_code_bytes` or `max_inputs_bytes`), for JSON's escapes and
/// white space, plus the envelope. (It was the maximum limits', 80 MiB by default, and a
/// body that size parsed into a tree of values costs the server several times that.)
pub fn max_request_bytes(limits: &Limits) -> usize {
    usize::try_from(2 * (limits.max_code_bytes + limits.max_inputs_bytes) + ENVELOPE_BYTES)
        .unwrap_or(usize::MAX)
}

/// The largest batch body read: a request's, with room for items as large as the inputs
/// again (each item's run is held to `max_inputs_bytes` with the shared inputs).
pub fn max_batch_request_bytes(limits: &Limits) -> usize {
    max_request_bytes(limits)
        .saturating_add(usize::try_from(2 * limits.max_inputs_bytes).unwrap_or(usize::MAX))
}

/// A request body over [`max_request_bytes`].
pub fn request_too_large(cap: usize) -> ApiError {
    ApiError::new(
        ErrorCode::RequestTooLarge,
        format!("the request body is larger than {cap} bytes"),
    )
    .with_metadata("max", cap)
}

/// A run request whose body did not arrive in full within `timeout_ms` of its header.
pub fn body_timed_out(timeout_ms: u64) -> ApiError {
    ApiError::new(
        ErrorCode::RequestTimeout,
        format!("the request body did not arrive within body_timeout_ms ({timeout_ms} ms)"),
    )
    .with_metadata("body_timeout_ms", timeout_ms)
}

/// An HTTP request body (JSON) as a request.
pub fn request_from_json(body: &[u8]) -> Result<ExecRequest, ApiError> {
    let req: ExecRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))?;
    Ok(admit(req))
}

/// An HTTP batch body (JSON) as a batch.
pub fn batch_from_json(body: &[u8]) -> Result<BatchRequest, ApiError> {
    let mut batch: BatchRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))?;
    if batch.backend.as_deref() == Some("") {
        batch.backend = None;
    }
    Ok(batch)
}

/// Host functions need a caller that answers their calls while the run goes on: only gRPC
/// `ExecuteSession` is one. Any other call declaring them is refused.
pub fn without_host_functions(req: &ExecRequest) -> Result<(), ApiError> {
    if req.host_functions.is_empty() && req.host_call_limits == Default::default() {
        return Ok(());
    }
    let why = "host functions need a caller that answers their calls during the run: gRPC \
               ExecuteSession (HTTP, Execute, ExecuteStream and batches cannot)";
    Err(ApiError::invalid(why).with_field("host_functions", why))
}

/// A gRPC batch as a batch; `inputs` and every item must be representable as JSON.
pub fn batch_from_proto(req: pb::ExecuteBatchRequest) -> Result<BatchRequest, ApiError> {
    let base = request_from_proto(req.request.unwrap_or_default())?;
    without_host_functions(&base)?;
    let items = req
        .items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.to_json()
                .map(|j| nodecell::JsonText::from_value(&j))
                .map_err(|e| {
                    let why = format!("items[{i}]: {e}");
                    ApiError::invalid(why.clone()).with_field("items", why)
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let isolation = nodecell::Isolation::parse(&req.isolation)
        .map_err(|e| ApiError::invalid(e.clone()).with_field("isolation", e))?;
    Ok(BatchRequest {
        code: base.code,
        inputs: base.inputs,
        items,
        limits: base.limits,
        backend: base.backend,
        profile: base.profile,
        mode: base.mode,
        parallelism: req.parallelism,
        isolation,
    })
}

/// A gRPC request as a request; `inputs` must be representable as JSON.
pub fn request_from_proto(req: pb::ExecuteRequest) -> Result<ExecRequest, ApiError> {
    let inputs = match req.inputs {
        Some(s) => s.into_object().map_err(|e| {
            ApiError::invalid(format!("inputs: {e}")).with_field("inputs", e.clone())
        })?,
        None => nodecell::JsonObject::default(),
    };
    let pb::Limits {
        timeout_ms,
        memory_mib,
        max_output_bytes,
        max_result_bytes,
        max_processes,
    } = req.limits.unwrap_or_default();
    let profile = nodecell::Profile::parse(&req.profile)
        .map_err(|e| ApiError::invalid(e.clone()).with_field("profile", e))?;
    let mode = nodecell::Mode::parse(&req.mode)
        .map_err(|e| ApiError::invalid(e.clone()).with_field("mode", e))?;
    Ok(admit(ExecRequest {
        code: req.code,
        inputs,
        limits: LimitOverrides {
            timeout_ms,
            memory_mib,
            max_output_bytes,
            max_result_bytes,
            max_processes,
        },
        backend: Some(req.backend),
        profile,
        mode,
        host_functions: req
            .host_functions
            .into_iter()
            .map(|f| nodecell::HostFunction {
                name: f.name,
                returns_promise: f.returns_promise,
            })
            .collect(),
        host_call_limits: {
            let l = req.host_call_limits.unwrap_or_default();
            nodecell::host_call::HostCallLimitOverrides {
                max_calls: l.max_calls,
                max_payload_bytes: l.max_payload_bytes,
                reply_timeout_ms: l.reply_timeout_ms,
            }
        },
    }))
}

/// The rules both transports share once a request is decoded. An empty backend is the
/// service's default, as an absent one is: proto3 cannot tell an empty string from an unset
/// one, so HTTP reads `"backend": ""` the same way.
fn admit(mut req: ExecRequest) -> ExecRequest {
    if req.backend.as_deref() == Some("") {
        req.backend = None;
    }
    req
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use prost::Message;

    use super::*;

    #[test]
    fn tokens_are_checked_only_when_configured() {
        let tokens = [
            "first-token-0123456789".to_string(),
            "second-token-0123456789".to_string(),
        ];
        assert!(authorize(&[], None).is_ok());
        assert!(authorize(&tokens, Some(b"Bearer second-token-0123456789")).is_ok());
        assert!(authorize(&tokens, Some(b"Bearer first-token-0123456789")).is_ok());
        // The scheme is case-insensitive; more than one space may follow it.
        assert!(authorize(&tokens, Some(b"bearer first-token-0123456789")).is_ok());
        assert!(authorize(&tokens, Some(b"BEARER  first-token-0123456789")).is_ok());
        for bad in [
            None,
            Some("second-token-0123456789"),
            Some("Bearer second-token-012345678"),
            Some("Bearer second-token-01234567890"),
            Some("Basic second-token-0123456789"),
            Some("Bearer "),
            Some("Bearer  "),
            Some("Bearersecond-token-0123456789"),
        ] {
            let e = authorize(&tokens, bad.map(str::as_bytes)).unwrap_err();
            assert_eq!(e.code, ErrorCode::Unauthenticated, "{bad:?}");
        }
    }

    #[test]
    fn an_empty_backend_is_the_default_on_both_transports() {
        let http = request_from_json(br#"{"code": "1", "backend": ""}"#).unwrap();
        assert_eq!(http.backend, None);
        let grpc = request_from_proto(pb::ExecuteRequest {
            code: "1".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(grpc.backend, None);
        assert_eq!(http, grpc);
        let named = request_from_json(br#"{"code": "1", "backend": "nsjail"}"#).unwrap();
        assert_eq!(named.backend.as_deref(), Some("nsjail"));
        let named = request_from_proto(pb::ExecuteRequest {
            code: "1".into(),
            backend: "nsjail".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(named.backend.as_deref(), Some("nsjail"));
    }

    #[test]
    fn every_grpc_limit_reaches_the_library() {
        let req = request_from_proto(pb::ExecuteRequest {
            code: "1".into(),
            limits: Some(pb::Limits {
                timeout_ms: Some(1),
                memory_mib: Some(2),
                max_output_bytes: Some(3),
                max_result_bytes: Some(4),
                max_processes: Some(5),
            }),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            req.limits,
            LimitOverrides {
                timeout_ms: Some(1),
                memory_mib: Some(2),
                max_output_bytes: Some(3),
                max_result_bytes: Some(4),
                max_processes: Some(5),
            }
        );
    }

    /// The property names of an OpenAPI component schema (what HTTP accepts).
    fn http_fields(doc: &serde_json::Value, schema: &str) -> BTreeSet<String> {
        doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no schema {schema} in the OpenAPI document"))
            .keys()
            .cloned()
            .collect()
    }

    /// The field names of a message of nodecell.proto, from the compiled descriptor set.
    fn grpc_fields(fds: &prost_types::FileDescriptorSet, message: &str) -> BTreeSet<String> {
        fds.file
            .iter()
            .filter(|f| f.package() == "nodecell.v1")
            .flat_map(|f| &f.message_type)
            .find(|m| m.name() == message)
            .unwrap_or_else(|| panic!("no message nodecell.v1.{message}"))
            .field
            .iter()
            .map(|f| f.name().to_string())
            .collect()
    }

    /// Fails when one transport gains a request field or a limit the other lacks.
    #[test]
    fn http_and_grpc_accept_the_same_request_fields_and_limits() {
        let doc = serde_json::to_value(crate::openapi::document()).unwrap();
        let fds = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
        for (http, grpc) in [
            ("ExecRequest", "ExecuteRequest"),
            ("LimitOverrides", "Limits"),
            ("HostFunction", "HostFunction"),
            ("HostCallLimitOverrides", "HostCallLimits"),
        ] {
            assert_eq!(
                http_fields(&doc, http),
                grpc_fields(&fds, grpc),
                "HTTP's {http} and gRPC's nodecell.v1.{grpc} differ"
            );
        }
        // And what HTTP actually reads: a fully populated request, as JSON.
        let full = ExecRequest {
            code: "1".into(),
            inputs: nodecell::JsonObject::default(),
            limits: LimitOverrides {
                timeout_ms: Some(1),
                memory_mib: Some(1),
                max_output_bytes: Some(1),
                max_result_bytes: Some(1),
                max_processes: Some(1),
            },
            backend: Some("native".into()),
            profile: Some(nodecell::Profile::Avs),
            mode: Some(nodecell::Mode::Expression),
            host_functions: vec![nodecell::HostFunction {
                name: "f".into(),
                returns_promise: true,
            }],
            host_call_limits: nodecell::host_call::HostCallLimitOverrides {
                max_calls: Some(1),
                max_payload_bytes: Some(1),
                reply_timeout_ms: Some(1),
            },
        };
        let json = serde_json::to_value(&full).unwrap();
        let keys = |v: &serde_json::Value| -> BTreeSet<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(keys(&json), grpc_fields(&fds, "ExecuteRequest"));
        assert_eq!(keys(&json["limits"]), grpc_fields(&fds, "Limits"));
        assert_eq!(
            keys(&json["host_call_limits"]),
            grpc_fields(&fds, "HostCallLimits")
        );
    }
}
