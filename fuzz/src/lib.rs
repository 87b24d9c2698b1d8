//! What the fuzz targets check of whatever decodes: the properties, not the decoding (each
//! target calls the code the service runs, in `fuzz_targets/`).

use nodecell::json_text::MAX_DEPTH;
use nodecell::limits::MAX_LIMITS;
use nodecell::protocol::{RunnerEvent, RunnerResult};
use nodecell::{ExecRequest, JsonText, Limits};
use nodecell_server::admission;
use serde_json::Value;

/// How deep `v` nests arrays and objects, counted without recursion.
pub fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(o) => Box::new(o.values()),
            _ => continue,
        };
        deepest = deepest.max(d + 1);
        stack.extend(children.map(|c| (c, d + 1)));
    }
    deepest
}

/// JSON text nodecell accepted and passes on: it reads back as a tree (what every consumer
/// of it does: serde_json, protobuf's `Value`), nests at most [`MAX_DEPTH`] levels, and is
/// compact (accepting it again changes nothing). Returns the tree.
pub fn check_json_text(t: &JsonText) -> Value {
    let v: Value = serde_json::from_str(t.get())
        .unwrap_or_else(|e| panic!("accepted JSON text does not read back ({e}): {t}"));
    assert!(
        depth(&v) <= MAX_DEPTH,
        "accepted JSON text nests too deep: {t}"
    );
    let again = JsonText::parse(t.get()).expect("accepted JSON text is accepted again");
    assert_eq!(again.get(), t.get(), "accepted JSON text is not compact");
    v
}

/// A request either transport admitted: its inputs are an object of checked JSON text, an
/// empty backend was made the default, it reads back the same from its JSON form (what
/// HTTP would decode), and the library can resolve its limits.
pub fn check_request(req: &ExecRequest) {
    assert_ne!(
        req.backend.as_deref(),
        Some(""),
        "an empty backend is the default"
    );
    let inputs = check_json_text(req.inputs.text());
    assert!(
        inputs.is_object(),
        "inputs are not an object: {}",
        req.inputs.text()
    );
    let json = serde_json::to_vec(req).expect("a request serializes");
    let again = admission::request_from_json(&json).expect("a request's JSON form is admitted");
    assert_eq!(
        &again, req,
        "a request reads back differently from its JSON form"
    );
    if let Ok(limits) = Limits::default().with_overrides(&req.limits, &MAX_LIMITS) {
        assert!(limits.memory_mib <= MAX_LIMITS.memory_mib);
        let _ = limits.memory_bytes();
    }
}

/// An event the frame decoder produced: a result's text is checked JSON that converts to the
/// gRPC response's `Value`, and the event reads back the same from a frame that encodes it.
pub fn check_event(ev: &RunnerEvent) {
    let frame = match ev {
        RunnerEvent::Ready => r#"{"type":"ready"}"#.to_string(),
        RunnerEvent::Log { level, message } => {
            serde_json::json!({"type": "log", "level": level, "message": message}).to_string()
        }
        RunnerEvent::Call {
            nonce,
            id,
            name,
            args,
        } => {
            check_json_text(args);
            assert!(args.get().starts_with('['), "a call's arguments are an array");
            format!(
                r#"{{"type":"call","nonce":{},"id":{id},"name":{},"args":{}}}"#,
                serde_json::to_string(nonce).unwrap(),
                serde_json::to_string(name).unwrap(),
                args.get()
            )
        }
        RunnerEvent::Result(r) => return check_result(r),
    };
    let again = RunnerEvent::from_frame(frame.as_bytes()).expect("an event's frame decodes");
    assert_eq!(
        &again, ev,
        "an event reads back differently from its frame: {frame}"
    );
}

/// [`check_event`] of a result.
pub fn check_result(r: &RunnerResult) {
    let frame = match r {
        RunnerResult::Ok { nonce, result } => {
            check_json_text(result);
            // The gRPC response writes the text as a Value without a tree: the same bytes
            // as prost's tree where the order of keys cannot differ, the same value always.
            let tree = nodecell_server::proto_json::text_to_value(result);
            let wire = nodecell_server::wire_value::WireValue::from_text(result.clone());
            let bytes = prost::Message::encode_to_vec(&wire);
            assert_eq!(prost::Message::encoded_len(&wire), bytes.len());
            if let Ok(back) = <prost_types::Value as prost::Message>::decode(bytes.as_slice()) {
                assert_eq!(back, tree, "the Value written from {result} differs");
            }
            format!(
                r#"{{"type":"result","status":"ok","nonce":{},"result":{result}}}"#,
                Value::String(nonce.clone())
            )
        }
        RunnerResult::Error { nonce, error } => serde_json::json!({
            "type": "result", "status": "error", "nonce": nonce, "error": error
        })
        .to_string(),
    };
    match RunnerEvent::from_frame(frame.as_bytes()).expect("a result's frame decodes") {
        RunnerEvent::Result(again) => {
            assert_eq!(
                &again, r,
                "a result reads back differently from its frame: {frame}"
            )
        }
        other => panic!("a result's frame decodes as {other:?}: {frame}"),
    }
}
