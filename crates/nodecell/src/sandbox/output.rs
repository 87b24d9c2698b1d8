//! A run's captured output, held to one byte budget shared by logs, stdout and stderr, and
//! passed on live to a streaming caller through a bounded channel: a caller that does not
//! keep up holds the run back (its wall-time limit still runs), it never makes the host
//! buffer more.

use std::collections::VecDeque;

use tokio::sync::mpsc;

use crate::outcome::LogEntry;

use super::LiveEvent;

/// What one log entry, or one frame the host ignores, costs the budget beyond its bytes:
/// about its size as JSON in the outcome (`{"level":"log","message":""}`), so that an empty
/// entry or frame is never free and the budget bounds how many there can be (and the work
/// and memory of the host for them).
pub(crate) const ENTRY_COST: u64 = 32;

/// Captured output, held to one byte budget shared by logs, stdout and stderr.
pub(crate) struct Output {
    remaining: u64,
    pub truncated: bool,
    pub logs: Vec<LogEntry>,
    pub stdout_bytes: Vec<u8>,
    pub stderr_bytes: Vec<u8>,
    live: Option<mpsc::Sender<LiveEvent>>,
    /// Events the live channel had no room for, in order. While there are any, the session
    /// reads nothing more from the sandbox, so there are at most a few (what is buffered in
    /// the sandbox's pipes when it ends).
    pending: VecDeque<LiveEvent>,
}

/// The longest prefix of `s` of at most `n` bytes that ends on a character boundary.
fn cut_str(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Output {
    pub(crate) fn new(max: u64, live: Option<mpsc::Sender<LiveEvent>>) -> Self {
        Output {
            remaining: max,
            truncated: false,
            logs: Vec::new(),
            stdout_bytes: Vec::new(),
            stderr_bytes: Vec::new(),
            live,
            pending: VecDeque::new(),
        }
    }

    fn emit(&mut self, ev: LiveEvent) {
        let Some(tx) = &self.live else { return };
        if !self.pending.is_empty() {
            self.pending.push_back(ev);
            return;
        }
        match tx.try_send(ev) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(ev)) => self.pending.push_back(ev),
            // Nobody listens any more: the outcome still carries everything.
            Err(mpsc::error::TrySendError::Closed(_)) => self.live = None,
        }
    }

    /// Passes a host call on to the caller, after every event before it.
    pub(crate) fn host_call(&mut self, call: crate::host_call::HostCall) {
        self.emit(LiveEvent::HostCall(call));
    }

    /// The live channel, for waiting until it has room.
    pub(crate) fn live_sender(&self) -> Option<mpsc::Sender<LiveEvent>> {
        self.live.clone()
    }

    /// Events are waiting for room in the live channel: read nothing more until they are
    /// sent.
    pub(crate) fn blocked(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Sends the oldest waiting event with room reserved in the live channel; `None` (the
    /// channel closed) stops live output.
    pub(crate) fn send_pending(&mut self, permit: Option<mpsc::Permit<'_, LiveEvent>>) {
        match (permit, self.pending.pop_front()) {
            (Some(permit), Some(ev)) => permit.send(ev),
            (None, _) => {
                self.live = None;
                self.pending.clear();
            }
            (Some(_), None) => {}
        }
    }

    /// Sends what is still waiting, for at most `within`; what a caller does not take by
    /// then is only in the outcome.
    pub(crate) async fn flush_live(&mut self, within: std::time::Duration) {
        let Some(tx) = self.live.take() else { return };
        let pending = std::mem::take(&mut self.pending);
        let _ = tokio::time::timeout(within, async {
            for ev in pending {
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
        })
        .await;
    }

    /// Takes up to the remaining budget; false once the budget is exceeded.
    fn take(&mut self, len: usize) -> (usize, bool) {
        if (len as u64) <= self.remaining {
            self.remaining -= len as u64;
            (len, true)
        } else {
            let n = self.remaining as usize;
            self.remaining = 0;
            self.truncated = true;
            (n, false)
        }
    }

    /// Counts an ignored frame of `len` bytes against the budget, without keeping it.
    pub(crate) fn charge(&mut self, len: usize) -> bool {
        self.take(len.saturating_add(ENTRY_COST as usize)).1
    }

    /// Keeps a log entry (its message cut to what is left of the budget); an entry that
    /// finds less than [`ENTRY_COST`] left is not kept at all.
    pub(crate) fn log(&mut self, mut entry: LogEntry) -> bool {
        if !self.take(ENTRY_COST as usize).1 {
            return false;
        }
        let (n, ok) = self.take(entry.message.len());
        if !ok {
            entry.message = cut_str(&entry.message, n).to_string();
        }
        self.emit(LiveEvent::Log(entry.clone()));
        self.logs.push(entry);
        ok
    }

    pub(crate) fn stdout(&mut self, bytes: &[u8]) -> bool {
        let (n, ok) = self.take(bytes.len());
        self.emit(LiveEvent::Stdout(
            String::from_utf8_lossy(&bytes[..n]).into_owned(),
        ));
        self.stdout_bytes.extend_from_slice(&bytes[..n]);
        ok
    }

    pub(crate) fn stderr(&mut self, bytes: &[u8]) -> bool {
        let (n, ok) = self.take(bytes.len());
        self.emit(LiveEvent::Stderr(
            String::from_utf8_lossy(&bytes[..n]).into_owned(),
        ));
        self.stderr_bytes.extend_from_slice(&bytes[..n]);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::LogLevel;

    #[test]
    fn empty_entries_and_frames_are_never_free() {
        let empty = || LogEntry {
            level: LogLevel::Log,
            message: String::new(),
        };
        let mut o = Output::new(10 * ENTRY_COST, None);
        for _ in 0..10 {
            assert!(o.log(empty()));
        }
        assert!(!o.log(empty()), "the 11th empty entry is over the budget");
        assert_eq!(o.logs.len(), 10);
        assert!(o.truncated);

        let mut o = Output::new(3 * ENTRY_COST, None);
        assert!(o.charge(0) && o.charge(0) && o.charge(0));
        assert!(!o.charge(0), "the 4th zero-length frame is over the budget");
    }

    /// A live channel without room holds events back, in order, until the caller takes them;
    /// nothing is dropped and nothing more is buffered than what was read.
    #[tokio::test]
    async fn a_full_live_channel_holds_events_back_in_order() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut o = Output::new(1 << 20, Some(tx));
        assert!(o.stdout(b"a"));
        assert!(!o.blocked(), "the first event fits in the channel");
        assert!(o.stdout(b"b") && o.stderr(b"c"));
        assert!(o.blocked());
        assert_eq!(rx.recv().await, Some(LiveEvent::Stdout("a".into())));
        let sender = o.live_sender().unwrap();
        o.send_pending(sender.reserve().await.ok());
        drop(sender);
        assert!(o.blocked(), "one of two waiting events was sent");
        assert_eq!(rx.recv().await, Some(LiveEvent::Stdout("b".into())));
        o.flush_live(std::time::Duration::from_secs(5)).await;
        assert_eq!(rx.recv().await, Some(LiveEvent::Stderr("c".into())));
        assert_eq!(rx.recv().await, None, "flushing hands the channel back");
        assert_eq!(o.stdout_bytes, b"ab");

        // A caller that went away stops live output; the outcome keeps everything.
        let (tx, rx) = mpsc::channel(1);
        let mut o = Output::new(1 << 20, Some(tx));
        drop(rx);
        assert!(o.stdout(b"a") && o.stdout(b"b"));
        assert!(!o.blocked());
        assert_eq!(o.stdout_bytes, b"ab");
    }

    #[test]
    fn output_budget_is_shared_and_cut_on_char_boundaries() {
        let mut o = Output::new(9 + ENTRY_COST, None);
        assert!(o.stdout(b"abcd"));
        assert!(!o.log(LogEntry {
            level: LogLevel::Log,
            message: "ééé".into()
        }));
        // 5 bytes were left: the cut falls inside the third "é" and backs off to 4 bytes.
        assert_eq!(o.logs[0].message, "éé");
        assert!(o.truncated);
        assert!(!o.stderr(b"x"));
        assert!(o.stderr_bytes.is_empty());
    }
}
