//! Log lines that untrusted code can cause (a sandbox that leaves processes, mounts or files
//! behind, or writes broken frames), rate-limited per call site so that a run repeated in a
//! loop cannot flood the log: at most [`BURST`] lines a [`WINDOW`], and the next line written
//! says how many were left out (`suppressed`). Use [`warn_limited!`](crate::warn_limited).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines of one call site written per window.
pub const BURST: u32 = 10;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// One call site's window.
pub struct LogLimit(Mutex<Window>);

struct Window {
    start: Option<Instant>,
    written: u32,
    suppressed: u64,
}

impl LogLimit {
    pub const fn new() -> LogLimit {
        LogLimit(Mutex::new(Window {
            start: None,
            written: 0,
            suppressed: 0,
        }))
    }

    /// Whether a line may be written now; if so, how many were left out since the last one.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if w.start.map_or(true, |s| now.duration_since(s) >= WINDOW) {
            w.start = Some(now);
            w.written = 0;
        }
        if w.written < BURST {
            w.written += 1;
            Some(std::mem::take(&mut w.suppressed))
        } else {
            w.suppressed += 1;
            None
        }
    }
}

impl Default for LogLimit {
    fn default() -> Self {
        LogLimit::new()
    }
}

/// `tracing::warn!`, rate-limited at its call site by a [`LogLimit`]; the line gains a
/// `suppressed` field (lines left out before it).
#[macro_export]
macro_rules! warn_limited {
    ($($arg:tt)+) => {{
        static LIMIT: $crate::log_limit::LogLimit = $crate::log_limit::LogLimit::new();
        if let Some(suppressed) = LIMIT.allow() {
            tracing::warn!(suppressed, $($arg)+);
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_window_then_the_count_of_what_was_left_out() {
        let limit = LogLimit::new();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(limit.allow_at(t0), Some(0));
        }
        for i in 0..25 {
            assert_eq!(limit.allow_at(t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(limit.allow_at(t0 + WINDOW), Some(25));
        assert_eq!(limit.allow_at(t0 + WINDOW), Some(0));
    }

    #[test]
    fn the_macro_holds_back_each_call_site_on_its_own() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use tracing_subscriber::layer::SubscriberExt;

        struct Count(Arc<AtomicUsize>);
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Count {
            fn on_event(
                &self,
                _: &tracing::Event<'_>,
                _: tracing_subscriber::layer::Context<'_, S>,
            ) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let written = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry().with(Count(written.clone()));
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..3 * BURST {
                crate::warn_limited!(i, "one site");
            }
            assert_eq!(written.load(Ordering::Relaxed), BURST as usize);
            crate::warn_limited!("another site");
            assert_eq!(written.load(Ordering::Relaxed), BURST as usize + 1);
        });
    }
}
