//! Per-run limits: their defaults, their maxima, and how a request's overrides are checked.

use serde::{Deserialize, Serialize};

/// The limits one run is held to. Every field carries its unit in its name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall time from the moment the job reaches the sandbox until its outcome.
    pub timeout_ms: u64,
    /// Memory of everything in the sandbox (V8 heap, Buffers, WebAssembly, /tmp files).
    pub memory_mib: u64,
    /// Captured output: log messages + stdout + stderr, in bytes.
    pub max_output_bytes: u64,
    /// The serialized result, in bytes.
    pub max_result_bytes: u64,
    /// Size of `code`, in bytes.
    pub max_code_bytes: u64,
    /// Size of `inputs` serialized as JSON, in bytes.
    pub max_inputs_bytes: u64,
    /// Processes and threads together (Node itself uses about 11).
    pub max_processes: u64,
    /// Open file descriptors per process.
    pub max_open_files: u64,
    /// Size of the sandbox's private /tmp (counted against memory as well).
    pub tmp_size_mib: u64,
}

/// A request's partial overrides of [`Limits`]; absent fields take the defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_result_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_processes: Option<u64>,
}

/// The documented defaults.
pub const DEFAULT_LIMITS: Limits = Limits {
    timeout_ms: 5_000,
    memory_mib: 128,
    max_output_bytes: 1 << 20,
    max_result_bytes: 1 << 20,
    max_code_bytes: 1 << 20,
    max_inputs_bytes: 1 << 20,
    max_processes: 64,
    max_open_files: 256,
    tmp_size_mib: 16,
};

/// The documented maxima: a request (or a configuration) asking for more is refused.
pub const MAX_LIMITS: Limits = Limits {
    timeout_ms: 300_000,
    memory_mib: 4_096,
    max_output_bytes: 64 << 20,
    max_result_bytes: 64 << 20,
    max_code_bytes: 16 << 20,
    max_inputs_bytes: 64 << 20,
    max_processes: 1_024,
    max_open_files: 4_096,
    tmp_size_mib: 1_024,
};

/// The smallest values that still let Node start and answer.
pub const MIN_LIMITS: Limits = Limits {
    timeout_ms: 1,
    memory_mib: 64,
    max_output_bytes: 0,
    max_result_bytes: 16,
    max_code_bytes: 1,
    max_inputs_bytes: 2,
    max_processes: 16,
    max_open_files: 64,
    tmp_size_mib: 1,
};

/// A limit outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("limit {name} = {value} is above its maximum {max}")]
    AboveMaximum {
        name: &'static str,
        value: u64,
        max: u64,
    },
    #[error("limit {name} = {value} is below its minimum {min}")]
    BelowMinimum {
        name: &'static str,
        value: u64,
        min: u64,
    },
}

impl Default for Limits {
    fn default() -> Self {
        DEFAULT_LIMITS
    }
}

impl Limits {
    /// Every field with its name, in a fixed order.
    fn fields(&self) -> [(&'static str, u64); 9] {
        [
            ("timeout_ms", self.timeout_ms),
            ("memory_mib", self.memory_mib),
            ("max_output_bytes", self.max_output_bytes),
            ("max_result_bytes", self.max_result_bytes),
            ("max_code_bytes", self.max_code_bytes),
            ("max_inputs_bytes", self.max_inputs_bytes),
            ("max_processes", self.max_processes),
            ("max_open_files", self.max_open_files),
            ("tmp_size_mib", self.tmp_size_mib),
        ]
    }

    /// Checks each field against `min ..= max`.
    pub fn check_within(&self, min: &Limits, max: &Limits) -> Result<(), LimitError> {
        for (((name, value), (_, lo)), (_, hi)) in self
            .fields()
            .into_iter()
            .zip(min.fields())
            .zip(max.fields())
        {
            if value > hi {
                return Err(LimitError::AboveMaximum {
                    name,
                    value,
                    max: hi,
                });
            }
            if value < lo {
                return Err(LimitError::BelowMinimum {
                    name,
                    value,
                    min: lo,
                });
            }
        }
        Ok(())
    }

    /// These limits with a request's overrides applied, checked against `max` and the minima.
    pub fn with_overrides(&self, o: &LimitOverrides, max: &Limits) -> Result<Limits, LimitError> {
        let out = Limits {
            timeout_ms: o.timeout_ms.unwrap_or(self.timeout_ms),
            memory_mib: o.memory_mib.unwrap_or(self.memory_mib),
            max_output_bytes: o.max_output_bytes.unwrap_or(self.max_output_bytes),
            max_result_bytes: o.max_result_bytes.unwrap_or(self.max_result_bytes),
            max_processes: o.max_processes.unwrap_or(self.max_processes),
            ..self.clone()
        };
        out.check_within(&MIN_LIMITS, max)?;
        Ok(out)
    }

    pub fn memory_bytes(&self) -> u64 {
        self.memory_mib << 20
    }

    /// The size of a sandbox's private /tmp (or scratch tmpfs).
    pub fn tmp_size_bytes(&self) -> u64 {
        self.tmp_size_mib << 20
    }

    /// The inodes of a sandbox's private /tmp (or scratch tmpfs): 256 a MiB, at least 1024.
    pub fn tmp_inodes(&self) -> u64 {
        (self.tmp_size_mib * 256).max(1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_lie_within_bounds() {
        DEFAULT_LIMITS
            .check_within(&MIN_LIMITS, &MAX_LIMITS)
            .unwrap();
    }

    #[test]
    fn overrides_apply_and_are_bounded() {
        let o = LimitOverrides {
            timeout_ms: Some(100),
            memory_mib: Some(64),
            ..Default::default()
        };
        let l = DEFAULT_LIMITS.with_overrides(&o, &MAX_LIMITS).unwrap();
        assert_eq!(
            (l.timeout_ms, l.memory_mib, l.max_output_bytes),
            (100, 64, 1 << 20)
        );

        let too_big = LimitOverrides {
            memory_mib: Some(1 << 20),
            ..Default::default()
        };
        assert_eq!(
            DEFAULT_LIMITS.with_overrides(&too_big, &MAX_LIMITS),
            Err(LimitError::AboveMaximum {
                name: "memory_mib",
                value: 1 << 20,
                max: 4096
            })
        );
        let too_small = LimitOverrides {
            max_processes: Some(1),
            ..Default::default()
        };
        assert!(matches!(
            DEFAULT_LIMITS.with_overrides(&too_small, &MAX_LIMITS),
            Err(LimitError::BelowMinimum {
                name: "max_processes",
                ..
            })
        ));
    }

    #[test]
    fn unknown_override_fields_are_rejected() {
        let err = serde_json::from_str::<LimitOverrides>(r#"{"timeout":5}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
