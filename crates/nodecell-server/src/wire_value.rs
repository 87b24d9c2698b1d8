//! The `google.protobuf.Value` of a response's `result`, written on the wire straight from the
//! result's JSON text: the server never builds a tree of the result (a prost `Value` costs
//! about 48 bytes a node, so a 1 MiB `[0,0,…]` result took 22 MiB as a tree).
//!
//! Encoding takes two passes over the text. The first measures: every map entry and every
//! list or struct gets one slot, in the order they open, holding the length of its body. The
//! second writes, taking the slots in the same order, so that each length prefix is known
//! before what it prefixes. Both passes follow serde_json's parser; the text is a `JsonText`,
//! so it is valid and at most 120 levels deep (below serde_json's recursion limit).
//!
//! Decoding (a client's side, and the tests) reads a prost `Value`.

use std::sync::OnceLock;

use nodecell::JsonText;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, DecodeContext, WireType};
use prost::{DecodeError, Message};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

// Field numbers of google.protobuf.Value's `kind`.
const NULL: u32 = 1;
const NUMBER: u32 = 2;
const STRING: u32 = 3;
const BOOL: u32 = 4;
const STRUCT: u32 = 5;
const LIST: u32 = 6;
// Struct.fields and ListValue.values are field 1; a map entry's key is 1, its value 2.
const ITEMS: u32 = 1;
const ENTRY_KEY: u32 = 1;
const ENTRY_VALUE: u32 = 2;

/// A `google.protobuf.Value`: JSON text to encode, or a value decoded from the wire.
#[derive(Debug, Clone)]
pub enum WireValue {
    Text(Encoded),
    Decoded(prost_types::Value),
}

/// JSON text with the lengths its encoding needs, measured once.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub(crate) text: JsonText,
    /// An object written as a bare `Struct` (its entries), not as a `Value` holding one.
    bare: bool,
    plan: OnceLock<Plan>,
}

#[derive(Debug, Clone)]
struct Plan {
    /// The encoded length of the whole value.
    len: usize,
    /// Body lengths of every map entry, list and struct, in the order they open.
    slots: Vec<usize>,
}

impl WireValue {
    pub fn from_text(text: JsonText) -> Self {
        WireValue::Text(Encoded::new(text, false))
    }

    /// The value as a prost `Value` (a tree; for clients and tests).
    pub fn to_value(&self) -> prost_types::Value {
        match self {
            WireValue::Text(e) => crate::proto_json::text_to_value(&e.text),
            WireValue::Decoded(v) => v.clone(),
        }
    }

    /// The value as JSON (for clients and tests).
    pub fn to_json(&self) -> Result<serde_json::Value, String> {
        crate::proto_json::value_to_json(&self.to_value())
    }
}

impl Default for WireValue {
    fn default() -> Self {
        WireValue::Decoded(prost_types::Value::default())
    }
}

impl PartialEq for WireValue {
    fn eq(&self, other: &Self) -> bool {
        self.to_value() == other.to_value()
    }
}

impl Encoded {
    /// `bare`: `text` is an object, written as a `Struct`.
    pub(crate) fn new(text: JsonText, bare: bool) -> Self {
        Encoded {
            text,
            bare,
            plan: OnceLock::new(),
        }
    }

    fn plan(&self) -> &Plan {
        self.plan.get_or_init(|| {
            let mut slots = Vec::new();
            let len = parse(&self.text, Measure { slots: &mut slots });
            let len = match (self.bare, slots.first()) {
                (true, Some(&body)) => body,
                _ => len,
            };
            Plan { len, slots }
        })
    }

    /// The encoded length, without a length delimiter.
    pub(crate) fn encoded_len(&self) -> usize {
        self.plan().len
    }

    pub(crate) fn encode_raw(&self, buf: &mut impl BufMut) {
        let plan = self.plan();
        let mut w = Writer {
            buf,
            slots: &plan.slots,
            next: 0,
            bare: self.bare,
        };
        parse(
            &self.text,
            Write {
                w: &mut w,
                field: None,
            },
        );
    }
}

/// Runs `seed` over the text, which is valid JSON by construction.
fn parse<'a, S: DeserializeSeed<'a>>(text: &'a JsonText, seed: S) -> S::Value {
    let mut de = serde_json::Deserializer::from_str(text.get());
    seed.deserialize(&mut de)
        .expect("a JsonText is valid JSON within serde_json's nesting limit")
}

impl Message for WireValue {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match self {
            WireValue::Text(e) => e.encode_raw(buf),
            WireValue::Decoded(v) => v.encode_raw(buf),
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if !matches!(self, WireValue::Decoded(_)) {
            *self = WireValue::default();
        }
        let WireValue::Decoded(v) = self else {
            unreachable!("set to a decoded value above")
        };
        v.merge_field(tag, wire_type, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        match self {
            WireValue::Text(e) => e.encoded_len(),
            WireValue::Decoded(v) => v.encoded_len(),
        }
    }

    fn clear(&mut self) {
        *self = WireValue::default();
    }
}

/// The length of a length-delimited field whose body is `body` bytes (its key is one byte:
/// every field number here is below 16).
fn field_len(body: usize) -> usize {
    1 + encoded_len_varint(body as u64) + body
}

/// A map entry's body: the key (left out when empty, as prost does) and the value.
fn entry_len(key: usize, value: usize) -> usize {
    (if key == 0 { 0 } else { field_len(key) }) + field_len(value)
}

/// First pass: the encoded length of a value, recording the body length of every entry and
/// container in `slots`.
struct Measure<'s> {
    slots: &'s mut Vec<usize>,
}

impl<'de> DeserializeSeed<'de> for Measure<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Measure<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E: de::Error>(self) -> Result<usize, E> {
        Ok(2)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<usize, E> {
        Ok(2)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<usize, E> {
        Ok(9)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<usize, E> {
        Ok(9)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<usize, E> {
        Ok(9)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<usize, E> {
        Ok(field_len(s.len()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let slot = self.slots.len();
        self.slots.push(0);
        let mut body = 0;
        while let Some(v) = seq.next_element_seed(Measure {
            slots: &mut *self.slots,
        })? {
            body += field_len(v);
        }
        self.slots[slot] = body;
        Ok(field_len(body))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let slot = self.slots.len();
        self.slots.push(0);
        let mut body = 0;
        loop {
            let entry = self.slots.len();
            self.slots.push(0);
            let Some(key) = map.next_key_seed(KeyLen)? else {
                self.slots.pop();
                break;
            };
            let value = map.next_value_seed(Measure {
                slots: &mut *self.slots,
            })?;
            self.slots[entry] = entry_len(key, value);
            body += field_len(self.slots[entry]);
        }
        self.slots[slot] = body;
        Ok(field_len(body))
    }
}

/// The byte length of a map key.
struct KeyLen;

impl<'de> DeserializeSeed<'de> for KeyLen {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyLen {
    type Value = usize;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<usize, E> {
        Ok(s.len())
    }
}

/// Second pass's state: the buffer and the slots, taken in order.
struct Writer<'a, B> {
    buf: &'a mut B,
    slots: &'a [usize],
    next: usize,
    /// The root object is written without the `Value` around its `Struct`.
    bare: bool,
}

impl<B: BufMut> Writer<'_, B> {
    fn take_slot(&mut self) -> usize {
        let len = self.slots[self.next];
        self.next += 1;
        len
    }

    /// Opens a length-delimited field.
    fn open(&mut self, field: u32, len: usize) {
        encode_key(field, WireType::LengthDelimited, self.buf);
        encode_varint(len as u64, self.buf);
    }

    /// Opens the value's own field in its parent (a list item or an entry's value), when it
    /// has one; `len` is the value's encoded length.
    fn wrap(&mut self, field: Option<u32>, len: usize) {
        if let Some(field) = field {
            self.open(field, len);
        }
    }

    fn number(&mut self, field: Option<u32>, n: f64) {
        self.wrap(field, 9);
        encode_key(NUMBER, WireType::SixtyFourBit, self.buf);
        self.buf.put_f64_le(n);
    }

    fn varint(&mut self, field: Option<u32>, kind: u32, v: u64) {
        self.wrap(field, 2);
        encode_key(kind, WireType::Varint, self.buf);
        encode_varint(v, self.buf);
    }
}

/// Second pass: writes a value, as field `field` of its parent when it has one.
struct Write<'w, 'a, B> {
    w: &'w mut Writer<'a, B>,
    field: Option<u32>,
}

impl<'de, B: BufMut> DeserializeSeed<'de> for Write<'_, '_, B> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, B: BufMut> Visitor<'de> for Write<'_, '_, B> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.w.varint(self.field, NULL, 0);
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        self.w.varint(self.field, BOOL, b as u64);
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        self.w.number(self.field, n as f64);
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        self.w.number(self.field, n as f64);
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<(), E> {
        self.w.number(self.field, n);
        Ok(())
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        self.w.wrap(self.field, field_len(s.len()));
        self.w.open(STRING, s.len());
        self.w.buf.put_slice(s.as_bytes());
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let body = self.w.take_slot();
        self.w.wrap(self.field, field_len(body));
        self.w.open(LIST, body);
        while let Some(()) = seq.next_element_seed(Write {
            w: &mut *self.w,
            field: Some(ITEMS),
        })? {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let body = self.w.take_slot();
        if std::mem::take(&mut self.w.bare) {
            // The root of a bare Struct: only its entries.
        } else {
            self.w.wrap(self.field, field_len(body));
            self.w.open(STRUCT, body);
        }
        while let Some(()) = map.next_key_seed(WriteKey { w: &mut *self.w })? {
            map.next_value_seed(Write {
                w: &mut *self.w,
                field: Some(ENTRY_VALUE),
            })?;
        }
        Ok(())
    }
}

/// Writes a map entry's opening and its key.
struct WriteKey<'w, 'a, B> {
    w: &'w mut Writer<'a, B>,
}

impl<'de, B: BufMut> DeserializeSeed<'de> for WriteKey<'_, '_, B> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, B: BufMut> Visitor<'de> for WriteKey<'_, '_, B> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        let entry = self.w.take_slot();
        self.w.open(ITEMS, entry);
        if !s.is_empty() {
            self.w.open(ENTRY_KEY, s.len());
            self.w.buf.put_slice(s.as_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(text: &str) -> Vec<u8> {
        let v = WireValue::from_text(JsonText::parse(text).unwrap());
        let bytes = v.encode_to_vec();
        assert_eq!(v.encoded_len(), bytes.len(), "{text}: encoded_len");
        bytes
    }

    #[test]
    fn text_encodes_as_the_value_prost_would_write() {
        // prost's decoder stops at 100 nested messages, two or three a JSON level (Value, then
        // ListValue, or Struct and a map entry): deeper values are compared byte for byte.
        let nested = format!("{}1{}", "[{\"k\":".repeat(12), "}]".repeat(12));
        let deep = format!("{}1{}", "[".repeat(119), "]".repeat(119));
        let long = format!("\"{}\"", "x".repeat(300));
        let cases = [
            "null",
            "true",
            "false",
            "0",
            "-1.5",
            "18446744073709551615",
            "1e300",
            r#""""#,
            r#""é\n\u0000\"""#,
            &long,
            "[]",
            "{}",
            r#"{"":1}"#,
            r#"{"b":[1,{"c":null}],"a":{"":"","x":[[],{}]}}"#,
            r#"[0,0,0,"s",true,null,{"k":[]}]"#,
            &nested,
        ];
        for text in cases {
            let bytes = encoded(text);
            let decoded = prost_types::Value::decode(bytes.as_slice()).unwrap();
            let expected = crate::proto_json::text_to_value(&JsonText::parse(text).unwrap());
            assert_eq!(decoded, expected, "{text}");
            // A sorted single-level object encodes byte for byte as prost encodes its tree.
            if !text.contains('{') {
                assert_eq!(bytes, expected.encode_to_vec(), "{text}: bytes");
            }
        }
        let expected = crate::proto_json::text_to_value(&JsonText::parse(&deep).unwrap());
        assert_eq!(encoded(&deep), expected.encode_to_vec());
    }

    #[test]
    fn a_response_carries_the_result_to_a_client() {
        use crate::grpc::pb;
        let resp = pb::ExecuteResponse {
            result: Some(WireValue::from_text(
                JsonText::parse(r#"{"a":[1,"two",null]}"#).unwrap(),
            )),
            ..Default::default()
        };
        let bytes = resp.encode_to_vec();
        assert_eq!(resp.encoded_len(), bytes.len());
        let back = pb::ExecuteResponse::decode(bytes.as_slice()).unwrap();
        assert!(matches!(back.result, Some(WireValue::Decoded(_))));
        assert_eq!(
            back.result.unwrap().to_json().unwrap(),
            serde_json::json!({"a": [1, "two", null]})
        );
    }
}
