//! A gRPC `ExecuteRequest` message, decoded as the server decodes it (its `inputs` transcoded
//! from the wire into JSON text by wire_struct.rs, then `admission::request_from_proto`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nodecell_server::grpc::pb;
use nodecell_server::{admission, proto_json};
use prost::Message;

/// The same message with `inputs` as prost's own tree: the oracle for the transcoding.
#[derive(Clone, PartialEq, prost::Message)]
struct WithTree {
    #[prost(message, optional, tag = "2")]
    inputs: Option<prost_types::Struct>,
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(msg) = pb::ExecuteRequest::decode(bytes) else {
        return;
    };
    let code = msg.code.clone();
    let Ok(req) = admission::request_from_proto(msg) else {
        return;
    };
    assert_eq!(req.code, code);
    nodecell_fuzz::check_request(&req);
    // The inputs' JSON text is what prost's tree of the same bytes says, wherever prost can
    // decode them (it stops at 100 nested messages, about 33 JSON levels; ours at 120 levels).
    if let Ok(WithTree { inputs }) = WithTree::decode(bytes) {
        let tree = proto_json::value_to_json(&prost_types::Value {
            kind: Some(prost_types::value::Kind::StructValue(inputs.unwrap_or_default())),
        })
        .expect("admitted inputs convert to JSON");
        assert_eq!(nodecell_fuzz::check_json_text(req.inputs.text()), tree);
    }
});
