//! Warm-pool latency and memory against bare Node, measured in one run.
//!
//!     cargo run --release --example warm_pool [RUNS]
//!
//! Prints p50/p99 of `return 1` through a warm pool (library level, no transport), one bare
//! `env -i node -e 0` spawn, and the RSS of an idle warm sandbox's Node against an idle bare
//! Node, with their ratios.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodecell::{Engine, EngineConfig, ExecRequest, Pool, Status};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Host pids of the `node` processes below `pid`.
fn node_descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        for t in std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            for c in children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                stack.push(c);
                if std::fs::read_link(format!("/proc/{c}/exe"))
                    .map(|e| e.ends_with("node"))
                    .unwrap_or(false)
                {
                    out.push(c);
                }
            }
        }
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("NODECELL_LOG"))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let exe_dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let config = EngineConfig {
        launcher_path: exe_dir.join("../nodecell-launcher"),
        runner_dir: repo.join("runner"),
        ..EngineConfig::default()
    };
    let engine =
        Arc::new(Engine::new(config).expect("engine (build with cargo build --release first)"));

    // Reference, in the same run: one bare Node spawn.
    let mut bare = Vec::new();
    for _ in 0..runs.min(60) {
        let t = Instant::now();
        let ok = Command::new("/usr/bin/node")
            .args(["-e", "0"])
            .env_clear()
            .status()
            .unwrap()
            .success();
        assert!(ok);
        bare.push(t.elapsed().as_secs_f64() * 1e3);
    }

    let pool = Pool::new(engine.clone(), engine.default_backend(), 2);
    while pool.warm_count() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let req = ExecRequest {
        code: "return 1".into(),
        ..Default::default()
    };
    // Back to back at concurrency 1: each request meets the boot of the previous one's
    // replacement (single-use sandboxes cost one Node start per request, somewhere).
    let mut busy = Vec::new();
    for _ in 0..runs {
        while pool.warm_count() < 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let t = Instant::now();
        let o = pool.run(&req, None).await.unwrap();
        busy.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(o.status, Status::Ok);
    }
    // Idle pool: every request finds the pool full and nothing booting.
    let mut warm = Vec::new();
    let mut job = Vec::new();
    for _ in 0..runs {
        while pool.warm_count() < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t = Instant::now();
        let o = pool.run(&req, None).await.unwrap();
        warm.push(t.elapsed().as_secs_f64() * 1e3);
        job.push(o.usage.wall_ms);
        assert_eq!(o.status, Status::Ok);
    }

    // Memory: an idle warm sandbox's Node against an idle bare Node.
    let sandbox = engine
        .start(
            engine.default_backend(),
            &engine.config().default_limits,
            nodecell::ModuleLoading::Eager,
        )
        .await
        .unwrap();
    let sandboxed: u64 = node_descendants(sandbox.pid().unwrap())
        .into_iter()
        .map(rss_kib)
        .sum();
    let mut idle = Command::new("/usr/bin/node")
        .args(["-e", "setInterval(() => {}, 1000)"])
        .env_clear()
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bare_rss = rss_kib(idle.id());
    let _ = idle.kill();
    let _ = idle.wait();
    sandbox.discard().await;
    pool.shutdown().await;

    let bare_p50 = pct(&mut bare, 0.5);
    let (w50, w99) = (pct(&mut warm, 0.5), pct(&mut warm, 0.99));
    println!(
        "bare `env -i node -e 0` spawn       p50 {bare_p50:.1} ms  ({} runs)",
        bare.len()
    );
    let (b50, b99) = (pct(&mut busy, 0.5), pct(&mut busy, 0.99));
    println!("warm pool `return 1`, back to back  p50 {b50:.2} ms  p99 {b99:.2} ms  ({runs} runs)");
    println!("warm pool `return 1`, idle pool     p50 {w50:.2} ms  p99 {w99:.2} ms  ({runs} runs)");
    println!(
        "  of which the job itself (host-measured wall) p50 {:.2} ms",
        pct(&mut job, 0.5)
    );
    println!("ratio p50 idle-pool / bare spawn     {:.3}", w50 / bare_p50);
    println!("ratio p50 back-to-back / bare spawn  {:.3}", b50 / bare_p50);
    println!(
        "idle RSS: warm sandbox node {} KiB, bare node {} KiB, ratio {:.2}",
        sandboxed,
        bare_rss,
        sandboxed as f64 / bare_rss as f64
    );
}
