//! One code, many inputs (AVS's loop node): a batch request, its per-item requests, and
//! the outcomes in item order.

use serde::{Deserialize, Serialize};

use crate::error::RequestError;
use crate::json_text::{JsonObject, JsonText};
use crate::limits::LimitOverrides;
use crate::outcome::{ErrorInfo, LogEntry, Outcome, Status, Usage};
use crate::request::{ExecRequest, Mode, Profile};

/// The most items one batch may hold (AVS's loop node caps its iterations at 100).
pub const MAX_BATCH_ITEMS: usize = 100;
/// The most items of one batch that may run at once.
pub const MAX_BATCH_PARALLELISM: u32 = 16;

/// How the items of a batch are kept apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Isolation {
    /// Each item in a sandbox of its own, exactly as a single run.
    #[default]
    Item,
    /// Every item in one sandbox, one after another, each in a fresh V8 context
    /// (docs/avs.md says what the items share).
    Batch,
}

impl Isolation {
    pub fn parse(name: &str) -> Result<Option<Isolation>, String> {
        match name {
            "" => Ok(None),
            "item" => Ok(Some(Isolation::Item)),
            "batch" => Ok(Some(Isolation::Batch)),
            other => Err(format!("unknown isolation {other:?} (known: item, batch)")),
        }
    }
}

impl TryFrom<String> for Isolation {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        Isolation::parse(&name)?.ok_or_else(|| "empty isolation (known: item, batch)".into())
    }
}

/// One code (or expression) run once per item, each item bound as `value` with its `index`
/// (and, under the `avs` profile, AVS's loop names `iterVal` and `iterKey` as well).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub code: String,
    /// Inputs every item sees (an item's names replace inputs of the same name).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub inputs: JsonObject,
    /// The items, any JSON values; at most [`MAX_BATCH_ITEMS`].
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub items: Vec<JsonText>,
    /// Limits of each item (`timeout_ms` is the per-item timeout).
    #[serde(default)]
    pub limits: LimitOverrides,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// How many items run at once (1, the default, runs them in order one by one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
}

/// The outcomes of a batch, in item order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchOutcome {
    pub outcomes: Vec<Outcome>,
    /// The whole batch: wall time from the first item's start to the last one's end; CPU
    /// and the largest memory peak over every sandbox.
    pub usage: Usage,
    /// Under `isolation: "batch"`, what the items wrote to stdout and stderr directly
    /// (their sandbox's, shared; console output is each item's own `logs`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// The id of the request (as on each outcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl BatchRequest {
    pub fn isolation(&self) -> Isolation {
        self.isolation.unwrap_or_default()
    }

    pub fn parallelism(&self) -> usize {
        self.parallelism.unwrap_or(1) as usize
    }

    /// What no engine would accept whatever its limits: too many items, a parallelism out
    /// of bounds.
    pub fn check_shape(&self) -> Result<(), RequestError> {
        if self.items.len() > MAX_BATCH_ITEMS {
            return Err(RequestError::Batch {
                field: "items",
                message: format!(
                    "{} items, more than the limit of {MAX_BATCH_ITEMS}",
                    self.items.len()
                ),
            });
        }
        if self.isolation() == Isolation::Batch
            && matches!(self.mode, Some(Mode::Template | Mode::Filter))
        {
            return Err(RequestError::Batch {
                field: "mode",
                message: "isolation \"batch\" runs programs and expressions (modes code and expression); template and filter items need isolation \"item\"".into(),
            });
        }
        match self.parallelism {
            Some(p) if p == 0 || p > MAX_BATCH_PARALLELISM => Err(RequestError::Batch {
                field: "parallelism",
                message: format!("parallelism {p} is not between 1 and {MAX_BATCH_PARALLELISM}"),
            }),
            _ => Ok(()),
        }
    }

    /// The request of item `index`: the batch's inputs with the item's names added.
    pub fn item_request(&self, index: usize, profile: Profile) -> ExecRequest {
        ExecRequest {
            code: self.code.clone(),
            inputs: with_item(&self.inputs, &self.items[index], index, profile),
            limits: self.limits.clone(),
            backend: self.backend.clone(),
            profile: self.profile,
            mode: self.mode,
            ..Default::default()
        }
    }

    /// The request a whole `isolation: "batch"` run is checked as: its code and the
    /// shared inputs (items travel beside them).
    pub fn shared_request(&self) -> ExecRequest {
        ExecRequest {
            code: self.code.clone(),
            inputs: self.inputs.clone(),
            limits: self.limits.clone(),
            backend: self.backend.clone(),
            profile: self.profile,
            mode: self.mode,
            ..Default::default()
        }
    }
}

/// `inputs` with `value` and `index` (and under `avs` `iterVal` and `iterKey`) set to the
/// item: the names go last in the text, so a reader of the JSON (the runner's
/// `JSON.parse`) takes them over inputs of the same name.
pub fn with_item(
    inputs: &JsonObject,
    item: &JsonText,
    index: usize,
    profile: Profile,
) -> JsonObject {
    let text = inputs.text().get();
    let body = text
        .trim_end()
        .strip_suffix('}')
        .expect("an object's text ends with }")
        .trim_end();
    let mut out = String::with_capacity(text.len() + 2 * item.get().len() + 64);
    out.push_str(body);
    if !body.ends_with('{') {
        out.push(',');
    }
    let value = item.get();
    out.push_str(&format!("\"value\":{value},\"index\":{index}"));
    if profile == Profile::Avs {
        out.push_str(&format!(",\"iterVal\":{value},\"iterKey\":{index}"));
    }
    out.push('}');
    JsonObject::parse(&out).expect("an object with items spliced in is an object")
}

/// One item's result as the runner sends it under `isolation: "batch"` (an element of its
/// result array). Runner data: checked by serde, anything else makes the item `crashed`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemResult {
    status: Status,
    #[serde(default)]
    result: Option<JsonText>,
    #[serde(default)]
    error: Option<ErrorInfo>,
    #[serde(default)]
    logs: Vec<LogEntry>,
    #[serde(default)]
    wall_ms: f64,
}

/// The outcome of a whole `isolation: "batch"` run as the outcomes of its `n` items. When
/// the sandbox itself ended otherwise than with every item's result (a timeout the runner
/// could not hold, memory, a crash), every item gets that ending: nothing of one sandbox is
/// an item's own.
pub fn split_outcome(whole: Outcome, n: usize) -> BatchOutcome {
    let items: Option<Vec<ItemResult>> = match (&whole.status, &whole.result) {
        (Status::Ok, Some(r)) => serde_json::from_str(r.get())
            .ok()
            .filter(|v: &Vec<ItemResult>| v.len() == n),
        _ => None,
    };
    let outcomes = match items {
        Some(items) => items
            .into_iter()
            .map(|i| Outcome {
                status: i.status,
                result: if i.status == Status::Ok {
                    i.result
                        .or_else(|| Some(JsonText::from_value(&serde_json::Value::Null)))
                } else {
                    None
                },
                error: if i.status == Status::Ok {
                    None
                } else {
                    Some(
                        i.error
                            .unwrap_or_else(|| ErrorInfo::new("Error", "the item failed")),
                    )
                },
                logs: i.logs,
                stdout: String::new(),
                stderr: String::new(),
                truncated: false,
                usage: Usage {
                    wall_ms: i.wall_ms,
                    ..Default::default()
                },
                backend: whole.backend.clone(),
                request_id: None,
            })
            .collect(),
        None => {
            let error = whole.error.clone().unwrap_or_else(|| {
                ErrorInfo::new(
                    "CrashedError",
                    "the batch's sandbox sent no result for every item",
                )
            });
            let status = if whole.status == Status::Ok {
                Status::Crashed
            } else {
                whole.status
            };
            (0..n)
                .map(|_| Outcome {
                    status,
                    result: None,
                    error: Some(error.clone()),
                    logs: Vec::new(),
                    stdout: String::new(),
                    stderr: String::new(),
                    truncated: whole.truncated,
                    usage: Usage::default(),
                    backend: whole.backend.clone(),
                    request_id: None,
                })
                .collect()
        }
    };
    BatchOutcome {
        outcomes,
        usage: whole.usage,
        stdout: whole.stdout,
        stderr: whole.stderr,
        request_id: None,
    }
}

/// The usage of a batch from its items' outcomes: CPU summed, the largest peak.
pub fn total_usage(outcomes: &[Outcome], wall_ms: f64) -> Usage {
    Usage {
        wall_ms,
        cpu_ms: outcomes.iter().map(|o| o.usage.cpu_ms).sum(),
        memory_peak_bytes: outcomes
            .iter()
            .map(|o| o.usage.memory_peak_bytes)
            .max()
            .unwrap_or(0),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_spliced_after_the_inputs_and_win_over_them() {
        let inputs = JsonObject::parse(r#"{"a":1,"value":"shared"}"#).unwrap();
        let item = JsonText::parse(r#"{"x":[1,2]}"#).unwrap();
        let got = with_item(&inputs, &item, 3, Profile::Node).to_map();
        assert_eq!(got["a"], 1);
        assert_eq!(got["value"], serde_json::json!({"x": [1, 2]}));
        assert_eq!(got["index"], 3);
        assert!(!got.contains_key("iterVal"));
        let empty = with_item(&JsonObject::default(), &item, 0, Profile::Avs).to_map();
        assert_eq!(empty["iterVal"], serde_json::json!({"x": [1, 2]}));
        assert_eq!(empty["iterKey"], 0);
    }

    #[test]
    fn shape_is_checked() {
        let mut b = BatchRequest {
            code: "value".into(),
            items: vec![JsonText::parse("1").unwrap(); MAX_BATCH_ITEMS + 1],
            ..Default::default()
        };
        assert!(matches!(
            b.check_shape(),
            Err(RequestError::Batch { field: "items", .. })
        ));
        b.items.truncate(2);
        b.parallelism = Some(0);
        assert!(b.check_shape().is_err());
        b.parallelism = Some(MAX_BATCH_PARALLELISM);
        assert!(b.check_shape().is_ok());
    }
}
