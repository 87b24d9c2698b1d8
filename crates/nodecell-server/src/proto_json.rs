//! JSON and prost's trees of `google.protobuf.Value`, converted directly (without a
//! `serde_json::Value` tree in between): for clients, tests, and the rare values
//! wire_struct.rs leaves to prost. The server itself carries inputs and results between JSON
//! text and the wire without trees (wire_struct.rs, wire_value.rs).
//!
//! Numbers are doubles in protobuf; integral ones within ±2^53 become JSON integers. NaN and
//! the infinities have no JSON form and are refused.

use std::fmt;

use nodecell::{JsonObject, JsonText};

use crate::wire_struct::WireStruct;
use prost_types::value::Kind;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};

/// JSON text as a protobuf `Value`; every number becomes a double.
pub fn text_to_value(text: &JsonText) -> prost_types::Value {
    let ProtoValue(v) = serde_json::from_str(text.get()).expect("checked JSON converts");
    v
}

/// A protobuf `Value` as JSON (for clients and tests).
pub fn value_to_json(v: &prost_types::Value) -> Result<serde_json::Value, String> {
    serde_json::to_value(AsJson::Value(v)).map_err(|e| e.to_string())
}

/// A protobuf `Value` as JSON text.
pub(crate) fn value_to_text(v: &prost_types::Value) -> Result<String, String> {
    serde_json::to_string(&AsJson::Value(v)).map_err(|e| e.to_string())
}

/// A protobuf `Struct` as JSON text.
pub(crate) fn struct_to_text(s: &prost_types::Struct) -> Result<String, String> {
    serde_json::to_string(&AsJson::Struct(s)).map_err(|e| e.to_string())
}

/// A JSON object as a protobuf `Struct` (for clients and tests).
pub fn json_to_struct(o: serde_json::Map<String, serde_json::Value>) -> WireStruct {
    WireStruct::from_object(&JsonObject::from(o))
}

/// Serializes protobuf values as JSON.
enum AsJson<'a> {
    Value(&'a prost_types::Value),
    Struct(&'a prost_types::Struct),
}

impl Serialize for AsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = match self {
            AsJson::Struct(st) => {
                let mut map = s.serialize_map(Some(st.fields.len()))?;
                for (k, v) in &st.fields {
                    map.serialize_entry(k, &AsJson::Value(v))?;
                }
                return map.end();
            }
            AsJson::Value(v) => &v.kind,
        };
        match kind {
            None | Some(Kind::NullValue(_)) => s.serialize_unit(),
            Some(Kind::BoolValue(b)) => s.serialize_bool(*b),
            Some(Kind::StringValue(v)) => s.serialize_str(v),
            Some(Kind::NumberValue(n)) => {
                const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
                if !n.is_finite() {
                    Err(ser::Error::custom(format!("{n} is not a JSON number")))
                } else if n.fract() == 0.0 && n.abs() <= EXACT {
                    s.serialize_i64(*n as i64)
                } else {
                    s.serialize_f64(*n)
                }
            }
            Some(Kind::StructValue(st)) => AsJson::Struct(st).serialize(s),
            Some(Kind::ListValue(l)) => {
                let mut seq = s.serialize_seq(Some(l.values.len()))?;
                for v in &l.values {
                    seq.serialize_element(&AsJson::Value(v))?;
                }
                seq.end()
            }
        }
    }
}

/// Deserializes JSON straight into a protobuf `Value`.
struct ProtoValue(prost_types::Value);

impl ProtoValue {
    fn of(kind: Kind) -> Self {
        ProtoValue(prost_types::Value { kind: Some(kind) })
    }
}

impl<'de> Deserialize<'de> for ProtoValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ProtoVisitor)
    }
}

struct ProtoVisitor;

impl<'de> Visitor<'de> for ProtoVisitor {
    type Value = ProtoValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<ProtoValue, E> {
        Ok(ProtoValue::of(Kind::NullValue(
            prost_types::NullValue::NullValue.into(),
        )))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<ProtoValue, E> {
        Ok(ProtoValue::of(Kind::BoolValue(b)))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<ProtoValue, E> {
        Ok(ProtoValue::of(Kind::NumberValue(n as f64)))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<ProtoValue, E> {
        Ok(ProtoValue::of(Kind::NumberValue(n as f64)))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<ProtoValue, E> {
        Ok(ProtoValue::of(Kind::NumberValue(n)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<ProtoValue, E> {
        Ok(ProtoValue::of(Kind::StringValue(s.to_string())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<ProtoValue, E> {
        Ok(ProtoValue::of(Kind::StringValue(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ProtoValue, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(ProtoValue(v)) = seq.next_element()? {
            values.push(v);
        }
        Ok(ProtoValue::of(Kind::ListValue(prost_types::ListValue {
            values,
        })))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProtoValue, A::Error> {
        let mut fields = std::collections::BTreeMap::new();
        while let Some((k, ProtoValue(v))) = map.next_entry::<String, ProtoValue>()? {
            fields.insert(k, v);
        }
        Ok(ProtoValue::of(Kind::StructValue(prost_types::Struct {
            fields,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_through_protobuf_values() {
        let j = serde_json::json!({"a": 1, "b": [true, null, "s\"", 2.5, -3], "c": {"d": {}}, "e": 1e300});
        let v = text_to_value(&JsonText::from_value(&j));
        assert_eq!(value_to_json(&v).unwrap(), j);
        let nan = prost_types::Value {
            kind: Some(Kind::NumberValue(f64::NAN)),
        };
        assert!(value_to_json(&nan).is_err());
        assert!(value_to_text(&nan).unwrap_err().contains("NaN"));
    }

    /// The runner writes a result's numbers as the shortest text that reads back as the same
    /// double (JSON.stringify); the gRPC response carries that double, not one a last digit
    /// away (found by fuzz/: serde_json's fast float parsing is not always exact).
    #[test]
    fn numbers_convert_to_the_double_their_text_names() {
        for n in [
            1.1252196749907609e270_f64,
            0.1,
            5e-324,
            1.7976931348623157e308,
        ] {
            let text = JsonText::parse(&serde_json::to_string(&n).unwrap()).unwrap();
            assert_eq!(
                text_to_value(&text).kind,
                Some(Kind::NumberValue(n)),
                "{text}"
            );
        }
    }
}
