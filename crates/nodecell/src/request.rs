//! What a caller asks for: one piece of code, its inputs, limits and a backend.

use serde::{Deserialize, Serialize};

use crate::host_call::{HostCallLimitOverrides, HostFunction, HostFunctions};
use crate::json_text::{JsonObject, JsonText};
use crate::limits::LimitOverrides;

/// One run. Only `code` is required.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    /// JavaScript source, run as the body of an async function.
    pub code: String,
    /// A JSON object: the global `inputs`, each identifier key also a global. Kept as
    /// text (checked, never built into a tree): at most `max_inputs_bytes` without white
    /// space, nested at most 120 levels.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub inputs: JsonObject,
    #[serde(default)]
    pub limits: LimitOverrides,
    /// A backend name; the engine's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Whose semantics the run follows; the engine's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// What `code` is; a program when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Functions the caller serves (host calls). Only gRPC `ExecuteSession` can answer a
    /// call while the run goes on: HTTP (and every other call) refuses a request that
    /// declares any with 400 `invalid_request`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_functions: Vec<HostFunction>,
    /// Bounds of the host calls (`ExecuteSession` only).
    #[serde(default, skip_serializing_if = "is_default")]
    pub host_call_limits: HostCallLimitOverrides,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Whose semantics a run follows where two differ (docs/avs.md lists every difference).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Profile {
    /// nodecell's own: Node's conversions, the current module versions.
    #[default]
    Node,
    /// EigenLayer-AVS's: its Date and string conversions, its macros as globals, the module
    /// versions it pins, its boolean rules for expressions.
    Avs,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Node => "node",
            Profile::Avs => "avs",
        }
    }

    /// The profile called `name` (`""` is none).
    pub fn parse(name: &str) -> Result<Option<Profile>, String> {
        match name {
            "" => Ok(None),
            "node" => Ok(Some(Profile::Node)),
            "avs" => Ok(Some(Profile::Avs)),
            other => Err(format!("unknown profile {other:?} (known: node, avs)")),
        }
    }
}

/// What a request's `code` is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Mode {
    /// A program: the body of an async function; its `return`, else its completion value.
    #[default]
    Code,
    /// One JavaScript expression; its value (under `avs`, AVS's branch rule: a strict boolean).
    Expression,
    /// Text with `{{ expression }}` parts, substituted (AVS's template rules); the result is
    /// the text.
    Template,
    /// A predicate over every element of `inputs.items` (bound as `value` with its `index`);
    /// the result is the elements for which it is truthy, in order (AVS's filter node).
    Filter,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Code => "code",
            Mode::Expression => "expression",
            Mode::Template => "template",
            Mode::Filter => "filter",
        }
    }

    /// The mode called `name` (`""` is none).
    pub fn parse(name: &str) -> Result<Option<Mode>, String> {
        match name {
            "" => Ok(None),
            "code" => Ok(Some(Mode::Code)),
            "expression" => Ok(Some(Mode::Expression)),
            "template" => Ok(Some(Mode::Template)),
            "filter" => Ok(Some(Mode::Filter)),
            other => Err(format!(
                "unknown mode {other:?} (known: code, expression, template, filter)"
            )),
        }
    }
}

/// The items of an `isolation: "batch"` job, run one after another in one sandbox.
#[derive(Clone, Copy, Debug)]
pub struct BatchItems<'a> {
    pub items: &'a [JsonText],
    /// Each item's own time limit, held by the runner.
    pub timeout_ms: u64,
}

/// One job's content: the code, its inputs and how the runner takes them.
#[derive(Clone, Copy, Debug)]
pub struct Work<'a> {
    pub code: &'a str,
    pub inputs: &'a JsonObject,
    pub profile: Profile,
    pub mode: Mode,
    /// Under `isolation: "batch"`, the items; the result is then one per item.
    pub items: Option<BatchItems<'a>>,
    /// The functions the caller serves.
    pub host: Option<&'a HostFunctions>,
}

impl<'a> Work<'a> {
    /// A program under the default profile.
    pub fn code(code: &'a str, inputs: &'a JsonObject) -> Work<'a> {
        Work {
            code,
            inputs,
            profile: Profile::Node,
            mode: Mode::Code,
            items: None,
            host: None,
        }
    }
}

impl TryFrom<String> for Profile {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        Profile::parse(&name)?.ok_or_else(|| "empty profile (known: node, avs)".into())
    }
}

impl TryFrom<String> for Mode {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        Mode::parse(&name)?
            .ok_or_else(|| "empty mode (known: code, expression, template, filter)".into())
    }
}
