//! A run's captured output, held to one byte budget shared by logs, stdout and stderr, and
//! passed on live to a streaming caller.

use tokio::sync::mpsc;

use crate::outcome::LogEntry;

use super::LiveEvent;

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

    /// Counts bytes against the budget without keeping them.
    pub(crate) fn charge(&mut self, len: usize) -> bool {
        self.take(len).1
    }

    pub(crate) fn log(&mut self, mut entry: LogEntry) -> bool {
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
    fn output_budget_is_shared_and_cut_on_char_boundaries() {
        let mut o = Output::new(9, None);
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
