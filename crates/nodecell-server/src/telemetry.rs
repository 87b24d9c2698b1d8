//! The service's metrics in one table: each one's name, kind and help text. Every series a
//! dashboard or an alert reads exists from the start, at zero (each status and backend of
//! the runs, each reason a request is refused), so that a fresh server is not "no data";
//! `/metrics` refreshes the gauges and the process's own metrics (CPU, memory, fds, threads)
//! before it renders.

use crate::error::ErrorCode;
use crate::state::AppState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric of the service.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

pub const RUNS: &str = "nodecell_runs_total";
pub const SANDBOXES_KILLED: &str = "nodecell_sandboxes_killed_total";
pub const REJECTED: &str = "nodecell_rejected_total";
pub const CONNECTIONS_REFUSED: &str = "nodecell_connections_refused_total";
pub const RUN_SECONDS: &str = "nodecell_run_seconds";
pub const REQUEST_SECONDS: &str = "nodecell_request_seconds";
pub const QUEUE_WAIT_SECONDS: &str = "nodecell_queue_wait_seconds";
pub const QUEUE_DEPTH: &str = "nodecell_queue_depth";
pub const RUNS_IN_FLIGHT: &str = "nodecell_runs_in_flight";
pub const RUN_SLOTS: &str = "nodecell_run_slots";
pub const WARM_SANDBOXES: &str = "nodecell_warm_sandboxes";

pub const METRICS: &[Metric] = &[
    Metric { name: RUNS, kind: Kind::Counter, help: "Runs that ended, by outcome status and backend." },
    Metric { name: SANDBOXES_KILLED, kind: Kind::Counter, help: "Sandboxes killed at a limit (timeout, memory_limit, output_limit)." },
    Metric { name: REJECTED, kind: Kind::Counter, help: "Run requests refused before running, by error code (overloaded, client_share_exceeded, draining, ...)." },
    Metric { name: CONNECTIONS_REFUSED, kind: Kind::Counter, help: "Connections closed at accept: over max_connections or max_connections_per_peer." },
    Metric { name: RUN_SECONDS, kind: Kind::Histogram, help: "Wall time of a run in its sandbox, by backend and status, in seconds." },
    Metric { name: REQUEST_SECONDS, kind: Kind::Histogram, help: "Time from admission to outcome (queue wait included), by backend and status, in seconds." },
    Metric { name: QUEUE_WAIT_SECONDS, kind: Kind::Histogram, help: "Time a run request waited for a run slot, in seconds." },
    Metric { name: QUEUE_DEPTH, kind: Kind::Gauge, help: "Run requests waiting for a run slot." },
    Metric { name: RUNS_IN_FLIGHT, kind: Kind::Gauge, help: "Runs in progress (busy run slots); an autoscaler's signal with nodecell_run_slots." },
    Metric { name: RUN_SLOTS, kind: Kind::Gauge, help: "Run slots of this instance (max_concurrent)." },
    Metric { name: WARM_SANDBOXES, kind: Kind::Gauge, help: "Warm sandboxes ready for a run, by backend." },
];

/// The statuses a run ends with.
const STATUSES: [nodecell::Status; 6] = [
    nodecell::Status::Ok,
    nodecell::Status::Error,
    nodecell::Status::Timeout,
    nodecell::Status::MemoryLimit,
    nodecell::Status::OutputLimit,
    nodecell::Status::Crashed,
];

/// The outcome statuses a sandbox is killed at.
const KILLED_AT: [&str; 3] = ["timeout", "memory_limit", "output_limit"];

/// Describes every metric and creates every series at zero (adding zero: a second server in
/// one process keeps what the first counted).
pub fn register(state: &AppState) {
    for m in METRICS {
        match m.kind {
            Kind::Counter => metrics::describe_counter!(m.name, m.help),
            Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
            Kind::Histogram => metrics::describe_histogram!(m.name, m.help),
        }
    }
    let backends: Vec<&'static str> = state.pools().map(|p| p.backend().as_str()).collect();
    for backend in &backends {
        for status in STATUSES {
            let labels = [("status", status.as_str()), ("backend", *backend)];
            metrics::counter!(RUNS, &labels).increment(0);
            let _ = metrics::histogram!(RUN_SECONDS, &labels);
            let _ = metrics::histogram!(REQUEST_SECONDS, &labels);
        }
        metrics::gauge!(WARM_SANDBOXES, "backend" => *backend).increment(0.0);
    }
    for reason in KILLED_AT {
        metrics::counter!(SANDBOXES_KILLED, "reason" => reason).increment(0);
    }
    for code in ErrorCode::ALL {
        metrics::counter!(REJECTED, "reason" => code.as_str()).increment(0);
    }
    metrics::counter!(CONNECTIONS_REFUSED).increment(0);
    let _ = metrics::histogram!(QUEUE_WAIT_SECONDS);
    metrics::gauge!(QUEUE_DEPTH).increment(0.0);
    metrics::gauge!(RUNS_IN_FLIGHT).set(0.0);
    metrics::gauge!(RUN_SLOTS).set(state.config.max_concurrent as f64);
    metrics_process::Collector::default().describe();
}

/// The gauges read at a scrape, and the process's metrics.
pub fn refresh(state: &AppState) {
    for pool in state.pools() {
        metrics::gauge!(WARM_SANDBOXES, "backend" => pool.backend().as_str())
            .set(pool.warm_count() as f64);
    }
    metrics::gauge!(RUNS_IN_FLIGHT).set(state.in_flight() as f64);
    metrics::gauge!(RUN_SLOTS).set(state.config.max_concurrent as f64);
    metrics_process::Collector::default().collect();
}
