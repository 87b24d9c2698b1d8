//! JSON that passes through nodecell as text: a caller's inputs on their way into a sandbox,
//! a run's result on its way out. It is checked once (its syntax, how deep it nests and, for
//! inputs, that it is an object) and never built into a tree of values on the way: a tree
//! costs many times its text (`[0,0,…]` is 2 bytes of text but 32 bytes of
//! `serde_json::Value` per element), and these pass through the server for every request.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// The deepest nesting of arrays and objects accepted in inputs and results: the runner holds
/// results to it too, and it is below the 127 levels serde's parsers take (for a caller that
/// wants a tree, [`JsonText::to_value`]).
pub const MAX_DEPTH: usize = 120;

/// Why text is not acceptable JSON here.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JsonError {
    #[error("not valid JSON: {0}")]
    Syntax(String),
    #[error("nested {depth} levels deep, more than {MAX_DEPTH}")]
    TooDeep { depth: usize },
    #[error("must be a JSON object")]
    NotAnObject,
    #[error("the number {0} is beyond the range of a double")]
    NumberOutOfRange(String),
    #[error(
        "a string holds the lone surrogate escape {0}, which is no Unicode character \
         (escape both halves of a pair, or write the character itself)"
    )]
    LoneSurrogate(String),
}

/// Valid JSON, kept as its text without insignificant white space.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    /// Checks `text` (syntax, then depth) and keeps it without white space between tokens.
    pub fn parse(text: &str) -> Result<JsonText, JsonError> {
        let raw: &RawValue =
            serde_json::from_str(text).map_err(|e| JsonError::Syntax(e.to_string()))?;
        JsonText::from_raw(raw)
    }

    /// `raw` (already valid JSON), checked for depth and copied without its white space.
    pub fn from_raw(raw: &RawValue) -> Result<JsonText, JsonError> {
        let compact = compact(raw.get())?;
        let raw = RawValue::from_string(compact)
            .map_err(|e| JsonError::Syntax(format!("after removing white space: {e}")))?;
        Ok(JsonText(raw))
    }

    /// The value as a tree (for callers that need one; it costs what this type avoids).
    pub fn from_value(value: &serde_json::Value) -> JsonText {
        JsonText(serde_json::value::to_raw_value(value).expect("a Value always serializes"))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The size of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.get().len()
    }

    pub fn is_empty(&self) -> bool {
        self.get().is_empty()
    }

    /// The value as a tree (for callers that need one; it costs what this type avoids).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(self.get()).expect("checked JSON parses")
    }
}

impl std::fmt::Display for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        JsonText::from_raw(&raw).map_err(serde::de::Error::custom)
    }
}

impl From<serde_json::Value> for JsonText {
    fn from(value: serde_json::Value) -> Self {
        JsonText::from_value(&value)
    }
}

/// A JSON object (a run's inputs), kept as text.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct JsonObject(JsonText);

impl JsonObject {
    /// Checks `text` as [`JsonText::parse`] does, and that it is an object.
    pub fn parse(text: &str) -> Result<JsonObject, JsonError> {
        JsonObject::try_from(JsonText::parse(text)?)
    }

    pub fn text(&self) -> &JsonText {
        &self.0
    }

    /// The object as a map (for callers that need one; it costs what this type avoids).
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(self.0.get()).expect("a checked object parses as one")
    }
}

impl Default for JsonObject {
    fn default() -> Self {
        JsonObject(JsonText(
            RawValue::from_string("{}".into()).expect("{} is JSON"),
        ))
    }
}

impl TryFrom<JsonText> for JsonObject {
    type Error = JsonError;

    fn try_from(text: JsonText) -> Result<Self, JsonError> {
        if text.get().starts_with('{') {
            Ok(JsonObject(text))
        } else {
            Err(JsonError::NotAnObject)
        }
    }
}

impl From<serde_json::Map<String, serde_json::Value>> for JsonObject {
    fn from(map: serde_json::Map<String, serde_json::Value>) -> Self {
        JsonObject(JsonText::from_value(&serde_json::Value::Object(map)))
    }
}

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        JsonObject::try_from(JsonText::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Valid JSON `text` without white space between tokens, if it nests at most [`MAX_DEPTH`]
/// levels and every number is within the range of a double (what serde_json, protobuf and
/// JavaScript can all hold). One pass, without recursion (depth is a counter).
fn compact(text: &str) -> Result<String, JsonError> {
    let mut out = Vec::with_capacity(text.len());
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    // Where the number being read starts in `out`.
    let mut number: Option<usize> = None;
    for &b in text.as_bytes() {
        if let Some(start) = number {
            if !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                check_number(&out[start..])?;
                number = None;
            }
        }
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => continue,
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' if number.is_none() => number = Some(out.len()),
            _ => {}
        }
        out.push(b);
    }
    if let Some(start) = number {
        check_number(&out[start..])?;
    }
    if deepest > MAX_DEPTH {
        return Err(JsonError::TooDeep { depth: deepest });
    }
    check_surrogates(&out)?;
    // Only ASCII white space outside strings was removed from valid UTF-8.
    Ok(String::from_utf8(out).expect("removing ASCII bytes keeps UTF-8 valid"))
}

/// A valid JSON number's text, refused if it rounds to an infinite double.
fn check_number(text: &[u8]) -> Result<(), JsonError> {
    let text = std::str::from_utf8(text).expect("a JSON number is ASCII");
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(()),
        _ => Err(JsonError::NumberOutOfRange(text.chars().take(40).collect())),
    }
}

/// Refuses a `\\u` escape of half a surrogate pair without its other half: JavaScript reads
/// it, but serde_json, protobuf and UTF-8 cannot hold it. `text` is valid JSON, where a
/// backslash only occurs in a string and always starts an escape.
fn check_surrogates(text: &[u8]) -> Result<(), JsonError> {
    let unit = |at: usize| -> Option<u16> {
        let hex = text.get(at..at + 6)?.strip_prefix(b"\\u")?;
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let mut i = 0;
    while let Some(found) = text[i..].iter().position(|&b| b == b'\\') {
        let at = i + found;
        i = at + 2;
        let Some(first) = unit(at) else { continue };
        i = at + 6;
        match first {
            0xD800..=0xDBFF if matches!(unit(at + 6), Some(0xDC00..=0xDFFF)) => i = at + 12,
            0xD800..=0xDFFF => {
                let escape = String::from_utf8_lossy(&text[at..at + 6]).into_owned();
                return Err(JsonError::LoneSurrogate(escape));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn text_is_kept_without_white_space_outside_strings() {
        let t = JsonText::parse(" { \"a b\" : [ 1 , \"x \\\" ] y\" ] ,\n\t\"c\":{} } ").unwrap();
        assert_eq!(t.get(), r#"{"a b":[1,"x \" ] y"],"c":{}}"#);
        assert_eq!(
            t.to_value(),
            serde_json::json!({"a b": [1, "x \" ] y"], "c": {}})
        );
        assert_eq!(JsonText::parse(r#""\\""#).unwrap().get(), r#""\\""#);
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        assert!(JsonText::parse(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            JsonText::parse(&nested(MAX_DEPTH + 1)).unwrap_err(),
            JsonError::TooDeep {
                depth: MAX_DEPTH + 1
            }
        );
        // Far deeper than any recursive parser's stack: refused, not a crash.
        let deep = nested(1_000_000);
        assert!(matches!(
            JsonText::parse(&deep),
            Err(JsonError::TooDeep { .. })
        ));
        // Brackets inside strings are not nesting.
        let s = format!("\"{}\"", "[".repeat(1000));
        assert!(JsonText::parse(&s).is_ok());
    }

    #[test]
    fn numbers_no_double_holds_are_refused() {
        // serde_json and protobuf's double cannot hold them (JavaScript reads Infinity): a
        // result of 1e400 made the gRPC transport panic converting it (found by fuzz/).
        let long = format!("1{}", "0".repeat(400));
        for bad in [
            "1e400",
            "-1e400",
            "[1,{\"a\":1.5E7777777777777777777777773}]",
            &long,
        ] {
            assert!(
                matches!(JsonText::parse(bad), Err(JsonError::NumberOutOfRange(_))),
                "{bad}"
            );
        }
        for ok in [
            "1e308",
            "-1.7976931348623157e308",
            "1e-400",
            "\"1e400\"",
            "[0,-0,1.5E3]",
        ] {
            let t = JsonText::parse(ok).unwrap();
            assert_eq!(
                t.to_value(),
                serde_json::from_str::<serde_json::Value>(ok).unwrap()
            );
        }
    }

    #[test]
    fn lone_surrogate_escapes_are_refused_and_pairs_kept() {
        // JavaScript reads "\udddd"; serde_json and protobuf cannot (found by fuzz/).
        for (bad, escape) in [
            (r#"{"s":"\udddd"}"#, r"\udddd"),
            (r#"["a\uD83D"]"#, r"\uD83D"),
            (r#"["\uD83Dx"]"#, r"\uD83D"),
            (r#"["\uD83D\n"]"#, r"\uD83D"),
            (r#"["\uD83D\uD83D"]"#, r"\uD83D"),
            (r#"["\\\uDE00"]"#, r"\uDE00"),
        ] {
            assert_eq!(
                JsonText::parse(bad).unwrap_err(),
                JsonError::LoneSurrogate(escape.into()),
                "{bad}"
            );
        }
        for ok in [
            r#"["\uD83D\uDE00"]"#,
            r#"["\\udddd"]"#,
            r#"["\\\\udddd", "\u00e9\uffff"]"#,
            r#"["\"\uD83D\uDE00\\"]"#,
        ] {
            let t = JsonText::parse(ok).unwrap();
            assert_eq!(
                t.to_value(),
                serde_json::from_str::<serde_json::Value>(ok).unwrap(),
                "{ok}"
            );
        }
    }

    #[test]
    fn objects_are_told_from_other_values() {
        assert_eq!(
            JsonObject::parse(" {\"a\": 1} ").unwrap().text().get(),
            r#"{"a":1}"#
        );
        for not in ["[1]", "1", "\"{}\"", "null"] {
            assert_eq!(
                JsonObject::parse(not).unwrap_err(),
                JsonError::NotAnObject,
                "{not}"
            );
        }
        assert!(matches!(
            JsonObject::parse("{nope"),
            Err(JsonError::Syntax(_))
        ));
        assert_eq!(JsonObject::default().text().get(), "{}");
    }

    #[test]
    fn deserialized_inside_a_request_body() {
        #[derive(Deserialize)]
        struct Body {
            inputs: JsonObject,
        }
        let b: Body = serde_json::from_str(r#"{"inputs": { "k" : [1, 2] }}"#).unwrap();
        assert_eq!(b.inputs.text().get(), r#"{"k":[1,2]}"#);
        let deep = format!(r#"{{"inputs": {{"k": {}}}}}"#, nested(MAX_DEPTH));
        let e = serde_json::from_str::<Body>(&deep).err().unwrap();
        assert!(e.to_string().contains("nested"), "{e}");
        let e = serde_json::from_str::<Body>(r#"{"inputs": [1]}"#)
            .err()
            .unwrap();
        assert!(e.to_string().contains("object"), "{e}");
    }
}
