//! The `google.protobuf.Struct` of a request's `inputs`, read from the wire straight into JSON
//! text: the server never builds a tree of the inputs (a prost `Value` costs about 48 bytes a
//! node, so the largest `[0,0,…]` the message cap let through took 17 MiB as a tree).
//!
//! Each entry of the Struct is transcoded as it is decoded. What the wire allows but JSON
//! cannot say (NaN, the infinities, nesting past [`nodecell::json_text::MAX_DEPTH`]) is kept
//! as the inputs' error, for the request to be refused with it, not as a decoding failure. A
//! value the usual encoders never write (a `Value` with two kinds, an entry with two values,
//! which protobuf merges) is decoded by prost and converted, so the result is the same.
//!
//! Encoding (a client's side, and the tests) writes an object's text as a Struct.

use nodecell::json_text::MAX_DEPTH;
use nodecell::JsonObject;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{check_wire_type, decode_key, decode_varint, skip_field};
use prost::encoding::{DecodeContext, WireType};
use prost::{DecodeError, Message};

use crate::wire_value::Encoded;

/// A `google.protobuf.Struct`: an object's text to encode, inputs decoded into text, or a
/// prost tree a client built.
#[derive(Debug, Clone)]
pub enum WireStruct {
    Text(Encoded),
    Decoded(Transcoded),
    Tree(prost_types::Struct),
}

impl From<prost_types::Struct> for WireStruct {
    fn from(s: prost_types::Struct) -> Self {
        WireStruct::Tree(s)
    }
}

/// A Struct decoded so far: its entries as JSON text, or why they are not JSON.
#[derive(Debug, Clone)]
pub struct Transcoded {
    /// `{` and the entries so far, comma separated; the closing brace comes last.
    text: String,
    error: Option<String>,
}

impl Default for Transcoded {
    fn default() -> Self {
        Transcoded {
            text: "{".into(),
            error: None,
        }
    }
}

impl WireStruct {
    pub fn from_object(o: &JsonObject) -> Self {
        WireStruct::Text(Encoded::new(o.text().clone(), true))
    }

    /// The Struct as a JSON object, or why it is not one.
    pub fn into_object(self) -> Result<JsonObject, String> {
        match self {
            WireStruct::Text(e) => JsonObject::try_from(e.text).map_err(|e| e.to_string()),
            WireStruct::Decoded(Transcoded { error: Some(e), .. }) => Err(e),
            WireStruct::Decoded(Transcoded { mut text, .. }) => {
                text.push('}');
                JsonObject::parse(&text).map_err(|e| e.to_string())
            }
            WireStruct::Tree(s) => {
                let text = crate::proto_json::struct_to_text(&s)?;
                JsonObject::parse(&text).map_err(|e| e.to_string())
            }
        }
    }
}

impl Default for WireStruct {
    fn default() -> Self {
        WireStruct::Decoded(Transcoded::default())
    }
}

impl PartialEq for WireStruct {
    fn eq(&self, other: &Self) -> bool {
        self.clone().into_object() == other.clone().into_object()
    }
}

impl Message for WireStruct {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match self {
            WireStruct::Text(e) => e.encode_raw(buf),
            WireStruct::Tree(s) => s.encode_raw(buf),
            WireStruct::Decoded(_) => {
                let object = self.clone().into_object().unwrap_or_default();
                Encoded::new(object.text().clone(), true).encode_raw(buf)
            }
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if !matches!(self, WireStruct::Decoded(_)) {
            *self = WireStruct::default();
        }
        let WireStruct::Decoded(t) = self else {
            unreachable!("set to a decoded struct above")
        };
        if tag != FIELDS {
            return skip_field(wire_type, tag, buf, ctx);
        }
        check_wire_type(WireType::LengthDelimited, wire_type)?;
        let len = decode_varint(buf)? as usize;
        if len > buf.remaining() {
            return Err(underflow());
        }
        let entry = buf.copy_to_bytes(len);
        if t.error.is_some() {
            return Ok(());
        }
        let mark = t.text.len();
        if mark > 1 {
            t.text.push(',');
        }
        match write_entry(&entry, 1, &mut t.text) {
            Ok(()) => Ok(()),
            Err(Bad::Json(e)) => {
                t.text.truncate(mark);
                t.error = Some(e);
                Ok(())
            }
            Err(Bad::Wire(e)) => Err(e),
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            WireStruct::Text(e) => e.encoded_len(),
            WireStruct::Tree(s) => s.encoded_len(),
            WireStruct::Decoded(_) => {
                let object = self.clone().into_object().unwrap_or_default();
                Encoded::new(object.text().clone(), true).encoded_len()
            }
        }
    }

    fn clear(&mut self) {
        *self = WireStruct::default();
    }
}

// Field numbers: Struct.fields, ListValue.values (both 1); a map entry's key and value;
// Value's kinds.
const FIELDS: u32 = 1;
const ITEMS: u32 = 1;
const ENTRY_KEY: u32 = 1;
const ENTRY_VALUE: u32 = 2;
const NULL: u32 = 1;
const NUMBER: u32 = 2;
const STRING: u32 = 3;
const BOOL: u32 = 4;
const STRUCT: u32 = 5;
const LIST: u32 = 6;

/// Why a part of the Struct could not be transcoded.
enum Bad {
    /// Not valid protobuf: the message is refused as prost would refuse it.
    Wire(DecodeError),
    /// Valid protobuf that is not JSON: the inputs are refused with this.
    Json(String),
}

impl From<DecodeError> for Bad {
    fn from(e: DecodeError) -> Self {
        Bad::Wire(e)
    }
}

/// One field of a message: its number and what it holds.
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
}

impl Field<'_> {
    fn wire_type(&self) -> WireType {
        match self {
            Field::Varint(_) => WireType::Varint,
            Field::Fixed64(_) => WireType::SixtyFourBit,
            Field::Bytes(_) => WireType::LengthDelimited,
        }
    }
}

// prost makes its decoding errors only itself: these are its own, for the same faults.

/// A length past the end of the buffer.
fn underflow() -> DecodeError {
    let mut claim: &[u8] = &[1];
    prost::encoding::bytes::merge(
        WireType::LengthDelimited,
        &mut Vec::new(),
        &mut claim,
        DecodeContext::default(),
    )
    .expect_err("one byte claimed, none there")
}

/// A string that is not UTF-8.
fn not_utf8() -> Bad {
    let mut bytes: &[u8] = &[1, 0xff];
    let e = prost::encoding::string::merge(
        WireType::LengthDelimited,
        &mut String::new(),
        &mut bytes,
        DecodeContext::default(),
    )
    .expect_err("0xff is not UTF-8");
    Bad::Wire(e)
}

/// A field of the wrong wire type.
fn wrong_type(expected: WireType, field: &Field) -> Bad {
    Bad::Wire(check_wire_type(expected, field.wire_type()).expect_err("the wire types differ"))
}

/// The next field of `buf`, or `None` at its end; fields of other wire types are skipped.
fn next_field<'a>(buf: &mut &'a [u8]) -> Result<Option<(u32, Field<'a>)>, DecodeError> {
    while buf.has_remaining() {
        let (tag, wire_type) = decode_key(buf)?;
        let field = match wire_type {
            WireType::Varint => Field::Varint(decode_varint(buf)?),
            WireType::SixtyFourBit => {
                if buf.remaining() < 8 {
                    return Err(underflow());
                }
                Field::Fixed64(buf.get_u64_le())
            }
            WireType::LengthDelimited => {
                let len = decode_varint(buf)? as usize;
                if len > buf.remaining() {
                    return Err(underflow());
                }
                let (bytes, rest) = buf.split_at(len);
                *buf = rest;
                Field::Bytes(bytes)
            }
            _ => {
                skip_field(wire_type, tag, buf, DecodeContext::default())?;
                continue;
            }
        };
        return Ok(Some((tag, field)));
    }
    Ok(None)
}

fn utf8(bytes: &[u8]) -> Result<&str, Bad> {
    std::str::from_utf8(bytes).map_err(|_| not_utf8())
}

fn push_string(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).expect("a string serializes"));
}

/// A map entry of a Struct at `depth` as `"key":value`.
fn write_entry(bytes: &[u8], depth: usize, out: &mut String) -> Result<(), Bad> {
    let (mut key, mut value, mut values) = ("", None, 0);
    let mut buf = bytes;
    while let Some((tag, field)) = next_field(&mut buf)? {
        match (tag, field) {
            (ENTRY_KEY, Field::Bytes(b)) => key = utf8(b)?,
            (ENTRY_VALUE, Field::Bytes(b)) => {
                value = Some(b);
                values += 1;
            }
            (ENTRY_KEY | ENTRY_VALUE, f) => return Err(wrong_type(WireType::LengthDelimited, &f)),
            _ => {}
        }
    }
    if values > 1 {
        // Repeated message fields merge: let prost do it.
        let entry = Entry::decode(bytes)?;
        push_string(&entry.key, out);
        out.push(':');
        return push_prost(&entry.value.unwrap_or_default(), out);
    }
    push_string(key, out);
    out.push(':');
    match value {
        None => {
            out.push_str("null");
            Ok(())
        }
        Some(v) => write_value(v, depth, out),
    }
}

/// A `Value` whose container (if it is one) is at `depth + 1`.
fn write_value(bytes: &[u8], depth: usize, out: &mut String) -> Result<(), Bad> {
    let (mut kind, mut kinds) = (None, 0);
    let mut buf = bytes;
    while let Some((tag, field)) = next_field(&mut buf)? {
        if (NULL..=LIST).contains(&tag) {
            kind = Some((tag, field));
            kinds += 1;
        }
    }
    if kinds > 1 {
        // A oneof set twice: the last wins, and messages merge; let prost do it.
        return push_prost(&prost_types::Value::decode(bytes)?, out);
    }
    match kind {
        None | Some((NULL, Field::Varint(_))) => out.push_str("null"),
        Some((BOOL, Field::Varint(b))) => out.push_str(if b != 0 { "true" } else { "false" }),
        Some((NUMBER, Field::Fixed64(bits))) => {
            let n = prost_types::Value {
                kind: Some(prost_types::value::Kind::NumberValue(f64::from_bits(bits))),
            };
            out.push_str(&crate::proto_json::value_to_text(&n).map_err(Bad::Json)?);
        }
        Some((STRING, Field::Bytes(b))) => push_string(utf8(b)?, out),
        Some((STRUCT, Field::Bytes(b))) => write_items(b, depth, ('{', '}'), write_entry, out)?,
        Some((LIST, Field::Bytes(b))) => write_items(b, depth, ('[', ']'), write_value, out)?,
        Some((tag, f)) => {
            let expected = match tag {
                NULL | BOOL => WireType::Varint,
                NUMBER => WireType::SixtyFourBit,
                _ => WireType::LengthDelimited,
            };
            return Err(wrong_type(expected, &f));
        }
    }
    Ok(())
}

/// A Struct's entries or a ListValue's values (field 1 of either), each written by `item`,
/// as a JSON container at `depth + 1`.
fn write_items(
    bytes: &[u8],
    depth: usize,
    (open, close): (char, char),
    item: fn(&[u8], usize, &mut String) -> Result<(), Bad>,
    out: &mut String,
) -> Result<(), Bad> {
    let depth = deeper(depth)?;
    out.push(open);
    let mut buf = bytes;
    let mut first = true;
    while let Some((tag, field)) = next_field(&mut buf)? {
        match (tag, field) {
            (ITEMS, Field::Bytes(b)) => {
                if !std::mem::take(&mut first) {
                    out.push(',');
                }
                item(b, depth, out)?;
            }
            (ITEMS, f) => return Err(wrong_type(WireType::LengthDelimited, &f)),
            _ => {}
        }
    }
    out.push(close);
    Ok(())
}

/// The depth of a container opened at `depth + 1`, refused past [`MAX_DEPTH`] (which also
/// bounds this module's recursion).
fn deeper(depth: usize) -> Result<usize, Bad> {
    if depth >= MAX_DEPTH {
        return Err(Bad::Json(format!(
            "nested more than {MAX_DEPTH} levels deep"
        )));
    }
    Ok(depth + 1)
}

/// A value prost decoded, as JSON text (its depth is checked with the whole object's).
fn push_prost(v: &prost_types::Value, out: &mut String) -> Result<(), Bad> {
    out.push_str(&crate::proto_json::value_to_text(v).map_err(Bad::Json)?);
    Ok(())
}

/// A Struct's map entry, for prost to merge repeated values.
#[derive(Clone, PartialEq, prost::Message)]
struct Entry {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(message, optional, tag = "2")]
    value: Option<prost_types::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::value::Kind;

    fn decoded(bytes: &[u8]) -> Result<JsonObject, String> {
        WireStruct::decode(bytes)
            .map_err(|e| format!("decode: {e}"))?
            .into_object()
    }

    /// A Struct as prost writes it, from JSON text.
    fn prost_bytes(text: &str) -> Vec<u8> {
        let v = crate::proto_json::text_to_value(&nodecell::JsonText::parse(text).unwrap());
        let Some(Kind::StructValue(s)) = v.kind else {
            panic!("{text} is not an object")
        };
        s.encode_to_vec()
    }

    #[test]
    fn structs_decode_into_the_json_they_encode() {
        let cases = [
            "{}",
            r#"{"":null}"#,
            r#"{"a":1,"b":[true,null,"s\"é",2.5,-3,[]],"c":{"d":{}},"e":1e300}"#,
            r#"{"big":1e20,"exact":9007199254740992,"neg":-0.5}"#,
        ];
        for text in cases {
            let object = JsonObject::parse(text).unwrap();
            // Ours, both ways.
            let ours = WireStruct::from_object(&object);
            let bytes = ours.encode_to_vec();
            assert_eq!(ours.encoded_len(), bytes.len(), "{text}");
            let back = decoded(&bytes).unwrap();
            assert_eq!(back.to_map(), object.to_map(), "{text}");
            // prost's bytes decode the same; ours decode as prost's Struct.
            assert_eq!(
                decoded(&prost_bytes(text)).unwrap().to_map(),
                object.to_map()
            );
            let theirs = prost_types::Struct::decode(bytes.as_slice()).unwrap();
            assert_eq!(theirs.encode_to_vec(), prost_bytes(text), "{text}");
        }
    }

    #[test]
    fn what_json_cannot_say_is_an_error_of_the_inputs() {
        let nan = prost_types::Struct {
            fields: [(
                "x".to_string(),
                prost_types::Value {
                    kind: Some(Kind::NumberValue(f64::NAN)),
                },
            )]
            .into(),
        };
        assert!(decoded(&nan.encode_to_vec()).unwrap_err().contains("NaN"));

        // Lists far deeper than 120 levels (and than any recursion could follow): refused.
        let mut bytes = prost_types::Value {
            kind: Some(Kind::NullValue(0)),
        }
        .encode_to_vec();
        for _ in 0..2_000 {
            let mut list = Vec::new();
            prost::encoding::bytes::encode(ITEMS, &bytes, &mut list);
            bytes.clear();
            prost::encoding::bytes::encode(LIST, &list, &mut bytes);
        }
        let mut entry = Vec::new();
        prost::encoding::string::encode(ENTRY_KEY, &"x".to_string(), &mut entry);
        prost::encoding::bytes::encode(ENTRY_VALUE, &bytes, &mut entry);
        let mut message = Vec::new();
        prost::encoding::bytes::encode(FIELDS, &entry, &mut message);
        let err = decoded(&message).unwrap_err();
        assert!(err.contains("more than 120"), "{err}");
    }

    #[test]
    fn broken_wire_is_a_decoding_error_and_odd_wire_decodes_as_prost_does() {
        let bytes = prost_bytes(r#"{"a":"text","b":[1,2]}"#);
        for cut in 1..bytes.len() {
            // Cut between entries, the message is a shorter Struct; within one, broken.
            let ours = decoded(&bytes[..cut]);
            let theirs = prost_types::Struct::decode(&bytes[..cut]);
            assert_eq!(ours.is_ok(), theirs.is_ok(), "cut at {cut}: {ours:?}");
        }
        // A string that is not UTF-8.
        let mut bad = bytes.clone();
        let at = bad.windows(4).position(|w| w == b"text").unwrap();
        bad[at] = 0xff;
        assert!(decoded(&bad).unwrap_err().starts_with("decode:"));

        // Unknown fields are skipped; a Value with two kinds is the last one, as in prost.
        let mut entry = Vec::new();
        prost::encoding::string::encode(ENTRY_KEY, &"k".to_string(), &mut entry);
        let mut value = Vec::new();
        prost::encoding::bool::encode(BOOL, &true, &mut value);
        prost::encoding::double::encode(NUMBER, &7.0, &mut value);
        prost::encoding::uint64::encode(15, &9, &mut value);
        prost::encoding::bytes::encode(ENTRY_VALUE, &value, &mut entry);
        prost::encoding::uint32::encode(9, &1, &mut entry);
        let mut message = Vec::new();
        prost::encoding::bytes::encode(FIELDS, &entry, &mut message);
        prost::encoding::uint32::encode(3, &1, &mut message);
        assert_eq!(decoded(&message).unwrap().text().get(), r#"{"k":7}"#);
    }
}
