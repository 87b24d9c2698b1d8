//! An HTTP request body, decoded as the server decodes it (`admission::request_from_json`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nodecell_server::admission;

fuzz_target!(|body: &[u8]| {
    let Ok(req) = admission::request_from_json(body) else {
        return;
    };
    nodecell_fuzz::check_request(&req);
    // The inputs mean what the caller sent, white space aside.
    let sent: serde_json::Value = serde_json::from_slice(body).expect("an admitted body is JSON");
    let sent = sent
        .get("inputs")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    assert_eq!(nodecell_fuzz::check_json_text(req.inputs.text()), sent);
});
