//! Host calls: functions a caller serves and user code calls (AVS's `state.get`, `fetch`, ...).
//!
//! A sandbox has no network and no host state, so these are asked for over the sandbox's
//! event channel (a `call` frame carrying the run's nonce), passed to the caller as
//! [`crate::LiveEvent::HostCall`], and answered with a [`HostReply`] that the session writes
//! back on the job channel. User code waits for each reply, so one call is pending at a time;
//! ids are 1, 2, 3, ... within the run and the host accepts only the next one. Every figure
//! here is held by the host: the number of calls, the size of each call's arguments and of
//! each reply, and the time one reply may take.

use serde::{Deserialize, Serialize};

use crate::json_text::JsonText;

/// A request's host functions or their limits are wrong; `field` names what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct HostFunctionsError {
    pub field: &'static str,
    pub message: String,
}

/// Functions one request may declare.
pub const MAX_HOST_FUNCTIONS: usize = 64;
/// The longest name of one.
pub const MAX_NAME_BYTES: usize = 128;

/// Calls per run: the default and the most a request may ask for.
pub const DEFAULT_MAX_CALLS: u32 = 100;
pub const MAX_MAX_CALLS: u32 = 10_000;
/// Bytes of JSON of one call's arguments, and of one reply's result.
pub const DEFAULT_MAX_PAYLOAD_BYTES: u64 = 1 << 20;
pub const MAX_MAX_PAYLOAD_BYTES: u64 = 16 << 20;
/// How long one call waits for its reply (at most the run's own time limit).
pub const DEFAULT_REPLY_TIMEOUT_MS: u64 = 10_000;

/// A function the caller serves: a global (`fetch`) or a member of a global object
/// (`state.get`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HostFunction {
    pub name: String,
    /// The call returns a promise of the reply instead of the reply itself.
    #[serde(default)]
    pub returns_promise: bool,
}

/// A request's overrides of the host-call defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HostCallLimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_timeout_ms: Option<u64>,
}

/// The bounds a run's host calls are held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostCallLimits {
    pub max_calls: u32,
    pub max_payload_bytes: u64,
    pub reply_timeout_ms: u64,
}

/// The host functions of a checked request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFunctions {
    pub functions: Vec<HostFunction>,
    pub limits: HostCallLimits,
}

impl HostFunctions {
    pub fn declares(&self, name: &str) -> bool {
        self.functions.iter().any(|f| f.name == name)
    }
}

/// A call user code made, for the caller to answer.
#[derive(Clone, Debug, PartialEq)]
pub struct HostCall {
    pub id: u64,
    pub name: String,
    /// A JSON array.
    pub args: JsonText,
}

/// What a call returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A JSON value (an object exactly `{"$bigint": "<digits>"}` becomes a BigInt).
    Value(JsonText),
    /// `undefined`.
    Undefined,
    /// Thrown in user code as an Error with this message.
    Error(String),
}

/// The caller's answer to call `id`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostReply {
    pub id: u64,
    pub reply: Reply,
}

fn field_error(field: &'static str, message: impl Into<String>) -> HostFunctionsError {
    HostFunctionsError {
        field,
        message: message.into(),
    }
}

/// Whether `name` is one JavaScript identifier, or two joined by a dot (ASCII only).
fn valid_name(name: &str) -> bool {
    let ident = |s: &str| {
        let mut chars = s.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    let parts: Vec<&str> = name.split('.').collect();
    name.len() <= MAX_NAME_BYTES && parts.len() <= 2 && parts.iter().all(|p| ident(p))
}

/// Checks a request's host functions and limit overrides; `timeout_ms` is the run's own
/// time limit, which bounds the reply timeout. `None` when it declares none.
pub fn check(
    functions: &[HostFunction],
    overrides: &HostCallLimitOverrides,
    timeout_ms: u64,
) -> Result<Option<HostFunctions>, HostFunctionsError> {
    if functions.is_empty() {
        if *overrides != HostCallLimitOverrides::default() {
            return Err(field_error(
                "host_call_limits",
                "host_call_limits without host_functions",
            ));
        }
        return Ok(None);
    }
    if functions.len() > MAX_HOST_FUNCTIONS {
        return Err(field_error(
            "host_functions",
            format!(
                "{} host functions, more than {MAX_HOST_FUNCTIONS}",
                functions.len()
            ),
        ));
    }
    for (i, f) in functions.iter().enumerate() {
        if !valid_name(&f.name) {
            return Err(field_error(
                "host_functions",
                format!(
                    "host_functions[{i}].name {:?} is not an identifier or two joined by a dot",
                    f.name
                ),
            ));
        }
        for other in &functions[..i] {
            let object = |a: &str, b: &str| b.split_once('.').is_some_and(|(o, _)| o == a);
            if other.name == f.name || object(&other.name, &f.name) || object(&f.name, &other.name)
            {
                return Err(field_error(
                    "host_functions",
                    format!(
                        "host_functions[{i}].name {:?} clashes with {:?}",
                        f.name, other.name
                    ),
                ));
            }
        }
    }
    let max_calls = overrides.max_calls.unwrap_or(DEFAULT_MAX_CALLS);
    if !(1..=MAX_MAX_CALLS).contains(&max_calls) {
        return Err(field_error(
            "host_call_limits.max_calls",
            format!("max_calls {max_calls} is outside 1..={MAX_MAX_CALLS}"),
        ));
    }
    let max_payload_bytes = overrides
        .max_payload_bytes
        .unwrap_or(DEFAULT_MAX_PAYLOAD_BYTES);
    if !(1..=MAX_MAX_PAYLOAD_BYTES).contains(&max_payload_bytes) {
        return Err(field_error(
            "host_call_limits.max_payload_bytes",
            format!("max_payload_bytes {max_payload_bytes} is outside 1..={MAX_MAX_PAYLOAD_BYTES}"),
        ));
    }
    let reply_timeout_ms = overrides
        .reply_timeout_ms
        .unwrap_or(DEFAULT_REPLY_TIMEOUT_MS.min(timeout_ms));
    if !(1..=timeout_ms).contains(&reply_timeout_ms) {
        return Err(field_error(
            "host_call_limits.reply_timeout_ms",
            format!(
                "reply_timeout_ms {reply_timeout_ms} is outside 1..={timeout_ms} (the run's timeout_ms)"
            ),
        ));
    }
    Ok(Some(HostFunctions {
        functions: functions.to_vec(),
        limits: HostCallLimits {
            max_calls,
            max_payload_bytes,
            reply_timeout_ms,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> HostFunction {
        HostFunction {
            name: name.into(),
            returns_promise: false,
        }
    }

    #[test]
    fn names_and_limits_are_checked() {
        let none = HostCallLimitOverrides::default();
        assert_eq!(check(&[], &none, 1000).unwrap(), None);
        let ok = check(&[f("fetch"), f("state.get"), f("state.set")], &none, 5000)
            .unwrap()
            .unwrap();
        assert_eq!(
            ok.limits,
            HostCallLimits {
                max_calls: DEFAULT_MAX_CALLS,
                max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
                reply_timeout_ms: 5000
            }
        );
        assert!(ok.declares("state.get") && !ok.declares("state"));
        for bad in [
            vec![f("")],
            vec![f("a.b.c")],
            vec![f("1a")],
            vec![f("a-b")],
            vec![f("a."), f("b")],
            vec![f("fétch")],
            vec![f("x"), f("x")],
            vec![f("state"), f("state.get")],
            vec![f("state.get"), f("state")],
            vec![f(&"a".repeat(MAX_NAME_BYTES + 1))],
            (0..=MAX_HOST_FUNCTIONS)
                .map(|i| f(&format!("f{i}")))
                .collect(),
        ] {
            let e = check(&bad, &none, 1000).unwrap_err();
            assert_eq!(e.field, "host_functions", "{bad:?}: {e}");
        }
        for (o, field) in [
            (
                HostCallLimitOverrides {
                    max_calls: Some(0),
                    ..none
                },
                "host_call_limits.max_calls",
            ),
            (
                HostCallLimitOverrides {
                    max_payload_bytes: Some(MAX_MAX_PAYLOAD_BYTES + 1),
                    ..none
                },
                "host_call_limits.max_payload_bytes",
            ),
            (
                HostCallLimitOverrides {
                    reply_timeout_ms: Some(1001),
                    ..none
                },
                "host_call_limits.reply_timeout_ms",
            ),
        ] {
            let e = check(&[f("fetch")], &o, 1000).unwrap_err();
            assert!(e.field == field, "{e}");
        }
        let e = check(
            &[],
            &HostCallLimitOverrides {
                max_calls: Some(1),
                ..none
            },
            1000,
        )
        .unwrap_err();
        assert!(e.to_string().contains("without host_functions"), "{e}");
    }
}
