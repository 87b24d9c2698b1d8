//! What a caller asks for: one piece of code, its inputs, limits and a backend.

use serde::{Deserialize, Serialize};

use crate::json_text::JsonObject;
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
}
