//! A gRPC `ExecuteRequest` message, decoded as the server decodes it (prost, then
//! `admission::request_from_proto`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nodecell_server::grpc::pb;
use nodecell_server::{admission, proto_json};
use prost::Message;

fuzz_target!(|bytes: &[u8]| {
    let Ok(msg) = pb::ExecuteRequest::decode(bytes) else {
        return;
    };
    let (code, inputs) = (msg.code.clone(), msg.inputs.clone());
    let Ok(req) = admission::request_from_proto(msg) else {
        return;
    };
    assert_eq!(req.code, code);
    nodecell_fuzz::check_request(&req);
    // The inputs' JSON text is the Struct's JSON form.
    if let Some(s) = inputs {
        let tree = proto_json::value_to_json(&prost_types::Value {
            kind: Some(prost_types::value::Kind::StructValue(s)),
        })
        .expect("admitted inputs convert to JSON");
        assert_eq!(nodecell_fuzz::check_json_text(req.inputs.text()), tree);
    }
});
