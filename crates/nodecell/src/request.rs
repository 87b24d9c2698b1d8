//! What a caller asks for: one piece of code, its inputs, limits and a backend.

use serde::{Deserialize, Serialize};

use crate::limits::LimitOverrides;

/// One run. Only `code` is required.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    /// JavaScript source, run as the body of an async function.
    pub code: String,
    /// A JSON object: the global `inputs`, each identifier key also a global.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub inputs: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub limits: LimitOverrides,
    /// A backend name; the engine's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
}
