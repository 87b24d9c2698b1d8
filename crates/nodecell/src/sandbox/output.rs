//! A run's captured output, held to one byte budget shared by logs, stdout and stderr, and
//! passed on live to a streaming caller.

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
    live: Option<mpsc::UnboundedSender<LiveEvent>>,
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
    pub(crate) fn new(max: u64, live: Option<mpsc::UnboundedSender<LiveEvent>>) -> Self {
        Output {
            remaining: max,
            truncated: false,
            logs: Vec::new(),
            stdout_bytes: Vec::new(),
            stderr_bytes: Vec::new(),
            live,
        }
    }

    fn emit(&self, ev: LiveEvent) {
        if let Some(tx) = &self.live {
            let _ = tx.send(ev);
        }
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
