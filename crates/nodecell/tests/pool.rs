//! The warm pool: single-use sandboxes started ahead of their jobs.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use nodecell::{ExecRequest, LimitOverrides, Pool, Status};

/// One test at a time: each checks that nothing of this process is left afterwards.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn req(code: &str) -> ExecRequest {
    ExecRequest {
        code: code.into(),
        ..Default::default()
    }
}

async fn wait_warm(pool: &Pool, n: usize) {
    let t = Instant::now();
    while pool.warm_count() < n {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "pool never got {n} warm sandboxes: {:?}",
            pool.last_error()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_job_gets_a_fresh_warm_sandbox_and_the_pool_refills() {
    let _serial = SERIAL.lock().await;
    let engine = Arc::new(common::engine());
    let pool = Pool::new(engine.clone(), engine.backend("native").unwrap(), 2);
    wait_warm(&pool, 2).await;
    // Every run leaves marks; none of them may be visible to the next.
    let code = "const fs = process.getBuiltinModule('fs'); const seen = fs.readdirSync('/tmp').length + (globalThis.mark ? 1 : 0); \
                fs.writeFileSync('/tmp/mark', 'x'); globalThis.mark = 1; \
                import _ from 'lodash'; return {seen, sum: _.sum([inputs.n, 1]), pid: process.pid}";
    for n in 0..5 {
        let mut r = req(code);
        r.inputs = serde_json::Map::from_iter([("n".to_string(), n.into())]).into();
        let o = pool.run(&r, None).await.unwrap();
        assert_eq!(o.status, Status::Ok, "{o:?}");
        let v = o.result.unwrap().to_value();
        assert_eq!(
            (v["seen"].as_u64(), v["sum"].as_i64()),
            (Some(0), Some(n + 1)),
            "{v}"
        );
    }
    wait_warm(&pool, 2).await;
    pool.shutdown().await;
    assert_eq!(pool.warm_count(), 0);
    common::assert_no_leftover_cgroups();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_s_limits_apply_to_a_sandbox_started_before_it() {
    let _serial = SERIAL.lock().await;
    let engine = Arc::new(common::engine());
    let pool = Pool::new(engine.clone(), engine.backend("native").unwrap(), 1);
    wait_warm(&pool, 1).await;
    let bomb = ExecRequest {
        limits: LimitOverrides {
            memory_mib: Some(64),
            ..Default::default()
        },
        ..req("const a = []; while (true) a.push(Buffer.alloc(8 << 20, 1))")
    };
    assert_eq!(
        pool.run(&bomb, None).await.unwrap().status,
        Status::MemoryLimit
    );
    wait_warm(&pool, 1).await;
    let slow = ExecRequest {
        limits: LimitOverrides {
            timeout_ms: Some(200),
            ..Default::default()
        },
        ..req("while (true) {}")
    };
    assert_eq!(pool.run(&slow, None).await.unwrap().status, Status::Timeout);
    pool.shutdown().await;
    common::assert_no_leftover_cgroups();
}

/// Without a memory cgroup (landlock) V8's heap cap is fixed when Node starts: a request for
/// more memory than the warm sandboxes were started with must get it all the same (it got
/// the default's 128 MiB heap and ended as memory_limit), and one for less is held to less.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_s_memory_limit_is_its_heap_cap_where_no_cgroup_holds_it() {
    let _serial = SERIAL.lock().await;
    let engine = Arc::new(common::engine());
    let Some(landlock) = common::backend_or_skip(&engine, "landlock") else {
        return;
    };
    let pool = Pool::new(engine.clone(), landlock, 1);
    // ~176 MiB of doubles on V8's heap: over the default 128 MiB, under 320 MiB.
    let heap =
        "const a = []; for (let i = 0; i < 88; i++) a.push(new Array(1 << 18).fill(i + 0.5)); \
                return a.length";
    let with_memory = |mib| ExecRequest {
        backend: Some("landlock".into()),
        limits: LimitOverrides {
            memory_mib: Some(mib),
            timeout_ms: Some(20_000),
            ..Default::default()
        },
        ..req(heap)
    };
    wait_warm(&pool, 1).await;
    let o = pool.run(&with_memory(320), None).await.unwrap();
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(
        o.result.as_ref().map(|r| r.to_value()),
        Some(serde_json::json!(88))
    );
    wait_warm(&pool, 1).await;
    let o = pool.run(&with_memory(96), None).await.unwrap();
    assert_eq!(o.status, Status::MemoryLimit, "{o:?}");
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_pool_still_answers_and_a_failing_start_is_reported() {
    let _serial = SERIAL.lock().await;
    // Target 0: every job starts its own sandbox.
    let engine = Arc::new(common::engine());
    let pool = Pool::new(engine.clone(), engine.backend("native").unwrap(), 0);
    let o = pool.run(&req("return 7"), None).await.unwrap();
    assert_eq!(
        o.result.as_ref().map(|r| r.to_value()),
        Some(serde_json::json!(7))
    );
    pool.shutdown().await;

    // A runner that cannot start: the pool says why instead of hanging.
    let dir = std::env::temp_dir().join(format!("nodecell-broken-runner-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("node_modules")).unwrap();
    std::fs::write(dir.join("runner.js"), "process.exit(3)").unwrap();
    std::fs::write(dir.join("allowlist.json"), "[]").unwrap();
    let engine = nodecell::Engine::new(nodecell::EngineConfig {
        runner_dir: dir.clone(),
        ..common::config()
    })
    .unwrap();
    let native = engine.backend("native").unwrap();
    let broken = Pool::new(Arc::new(engine), native, 1);
    let t = Instant::now();
    while broken.last_error().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no start error reported"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        broken.last_error().unwrap().contains("ready"),
        "{:?}",
        broken.last_error()
    );
    let err = broken.run(&req("return 1"), None).await.unwrap_err();
    assert_eq!(err.code(), "sandbox_unavailable");
    broken.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
    common::assert_no_leftover_cgroups();
}

/// Warm sandboxes start from the runner's startup snapshot, which is the same heap for every
/// sandbox: whatever draws randomness must still differ between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_sandboxes_start_from_the_snapshot_with_their_own_randomness() {
    let _serial = SERIAL.lock().await;
    let engine = Arc::new(common::engine());
    for &name in common::BACKENDS {
        let Some(backend) = common::backend_or_skip(&engine, name) else {
            continue;
        };
        let pool = Pool::new(engine.clone(), backend, 2);
        let code = "import { v4 } from 'uuid'; const c = process.getBuiltinModule('crypto'); \
                    return [process.execArgv.includes('--snapshot-blob'), Math.random(), \
                    c.randomUUID(), v4(), c.randomBytes(8).toString('hex')]";
        let mut seen = Vec::new();
        for _ in 0..3 {
            wait_warm(&pool, 1).await;
            let r = ExecRequest {
                backend: Some(name.into()),
                ..req(code)
            };
            let o = pool.run(&r, None).await.unwrap();
            assert_eq!(o.status, Status::Ok, "{backend:?}: {o:?}");
            let v = o.result.unwrap().to_value();
            // (A zygote's children are forks of a Node that booted from the runner's files.)
            let forked = name == "native" && common::zygote();
            assert_eq!(
                v[0], !forked,
                "{backend:?} did not start from the snapshot: {v}"
            );
            seen.push(v);
        }
        for i in 1..=4 {
            let values: std::collections::HashSet<String> =
                seen.iter().map(|v| v[i].to_string()).collect();
            assert_eq!(
                values.len(),
                seen.len(),
                "{backend:?}: value {i} repeats: {seen:?}"
            );
        }
        pool.shutdown().await;
    }
    common::assert_no_leftover_cgroups();
}

/// A warm sandbox that waited longer than `warm_max_age_ms` is replaced, not used: every
/// sandbox's life is bounded (nsjail's own time limit is set from the same figure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_sandbox_past_its_age_is_replaced_not_used() {
    let _serial = SERIAL.lock().await;
    let engine = Arc::new(
        nodecell::Engine::new(nodecell::EngineConfig {
            warm_max_age_ms: 300,
            ..common::config()
        })
        .unwrap(),
    );
    let pool = Pool::new(engine.clone(), engine.backend("native").unwrap(), 1);
    wait_warm(&pool, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Node's uptime tells which sandbox ran the job: the warm one had been up 1.5 s.
    let o = pool
        .run(&req("return process.uptime()"), None)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Ok, "{o:?}");
    let uptime = o.result.unwrap().to_value().as_f64().unwrap();
    assert!(
        uptime < 1.5,
        "the stale warm sandbox ran the job (up {uptime} s)"
    );
    // Young enough, a warm sandbox is used.
    wait_warm(&pool, 1).await;
    let engine = Arc::new(common::engine());
    let young = Pool::new(engine.clone(), engine.backend("native").unwrap(), 1);
    wait_warm(&young, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let o = young
        .run(&req("return process.uptime()"), None)
        .await
        .unwrap();
    let uptime = o.result.unwrap().to_value().as_f64().unwrap();
    assert!(
        uptime >= 1.5,
        "the warm sandbox was not used (up {uptime} s)"
    );
    pool.shutdown().await;
    young.shutdown().await;
    common::assert_no_leftover_cgroups();
}
