//! Bytes from the sandbox: as one frame's body (`RunnerEvent::from_frame`), and as the whole
//! event stream the host reads (the channel's `read_events`: length prefixes, the cap, the
//! nonce).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nodecell::fuzzing::{read_events, Read};
use nodecell::protocol::RunnerEvent;

/// The largest frame the reader accepts here (small, so that fuzzed inputs reach both sides).
const CAP: u64 = 1 << 10;
const NONCE: &str = "0123456789abcdef0123456789abcdef";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = RunnerEvent::from_frame(data) {
        nodecell_fuzz::check_event(&ev);
    }

    let reads = runtime().block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let collect = async {
            let mut reads = Vec::new();
            while let Some(r) = rx.recv().await {
                reads.push(r);
            }
            reads
        };
        let ((), reads) = tokio::join!(read_events(data, CAP, NONCE.into(), tx), collect);
        reads
    });
    // Frames until one that ends the stream, each within the cap and within the bytes given.
    let (last, frames) = reads
        .split_last()
        .expect("the reader says how the stream ended");
    let mut consumed = 0;
    for r in frames {
        match r {
            Read::Log(_) => consumed += 4,
            Read::Call(call, len) => {
                assert!(*len as u64 <= CAP);
                assert!(call.args.get().starts_with('['));
                consumed += 4 + len;
            }
            Read::Ignored(len) => {
                assert!(*len as u64 <= CAP);
                consumed += 4 + len;
            }
            other => panic!("the stream went on after {other:?}"),
        }
    }
    match last {
        Read::Result(r, len) => {
            assert!(*len as u64 <= CAP);
            assert_eq!(r.nonce(), NONCE, "a result with another nonce was accepted");
            nodecell_fuzz::check_result(r);
            consumed += 4 + len;
        }
        Read::Closed | Read::Broken(_) => {}
        other => panic!("the stream ended after {other:?}"),
    }
    assert!(consumed <= data.len());
});
