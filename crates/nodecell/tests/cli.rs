//! The `nodecell` command line, driven as other tools will drive it.

mod common;

use std::process::{Command, Output};

fn nodecell(args: &[&str], stdin: &str) -> Output {
    nodecell_as(&[], args, stdin)
}

/// `nodecell ARGS`, run through `wrapper` (a command that execs its arguments) if not empty.
fn nodecell_as(wrapper: &[&str], args: &[&str], stdin: &str) -> Output {
    common::spawn_nodecell_fed(wrapper, args, stdin)
        .wait_with_output()
        .unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn run_prints_the_outcome_and_exits_by_status() {
    let ok = nodecell(
        &["run", "--inputs", r#"{"trigger":{"data":{"value":10}}}"#],
        "trigger.data.value * 2",
    );
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let v = json(&ok);
    assert_eq!(
        (
            v["status"].as_str(),
            v["result"].as_i64(),
            v["backend"].as_str()
        ),
        (Some("ok"), Some(20), Some("native"))
    );

    let err = nodecell(&["run", "-"], "throw new Error('boom')");
    assert_eq!(err.status.code(), Some(1));
    assert_eq!(json(&err)["error"]["message"], "boom");

    let timeout = nodecell(&["run", "--timeout-ms", "200"], "while(true){}");
    assert_eq!(timeout.status.code(), Some(1));
    assert_eq!(json(&timeout)["status"], "timeout");
}

#[test]
fn inputs_file_and_code_file_are_read() {
    let dir = std::env::temp_dir().join(format!("nodecell-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("code.js"), "return apContext.configVars.k").unwrap();
    std::fs::write(
        dir.join("inputs.json"),
        r#"{"apContext":{"configVars":{"k":"v"}}}"#,
    )
    .unwrap();
    let o = nodecell(
        &[
            "run",
            dir.join("code.js").to_str().unwrap(),
            "--inputs-file",
            dir.join("inputs.json").to_str().unwrap(),
        ],
        "",
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json(&o)["result"], "v");
}

#[test]
fn profile_and_mode_flags_reach_the_run() {
    let o = nodecell(
        &["run", "--profile", "avs", "--mode", "expression", "-"],
        "new Date(0).toString().endsWith('UTC') === true",
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(json(&o)["result"], true);
    let o = nodecell(
        &[
            "run",
            "--mode",
            "template",
            "--inputs",
            r#"{"a": {"b_c": 2}}"#,
            "-",
        ],
        "x={{ a.bC }}",
    );
    assert_eq!(json(&o)["result"], "x=2");
}

#[test]
fn bad_usage_and_bad_input_exit_2_with_a_message() {
    for (args, needle) in [
        (vec!["run", "--inputs", "[1,2]"], "JSON object"),
        (vec!["run", "--inputs", "{nope"], "not valid JSON"),
        (vec!["run", "/nonexistent/code.js"], "/nonexistent/code.js"),
        (vec!["run", "--backend", "bochs"], "unknown backend"),
        (vec!["run", "--memory-mib", "999999"], "memory_mib"),
        (vec!["run", "--timeout-ms", "0"], "timeout_ms"),
        (vec!["run", "--no-such-flag"], "no-such-flag"),
        (vec!["run", "--profile", "goja"], "unknown profile"),
        (vec!["run", "--mode", "statement"], "unknown mode"),
    ] {
        let o = nodecell(&args, "return 1");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(o.stdout.is_empty(), "{args:?} printed an outcome");
    }
}

/// `nodecell image build` with no Docker Engine where it looks: exit 3, and a message that
/// says where it looked and how to get one (tests/docker_image.rs builds it for real).
#[test]
fn image_build_without_an_engine_says_where_it_looked() {
    let o = common::spawn_nodecell_fed(
        &["env", "DOCKER_HOST=unix:///nonexistent/docker.sock"],
        &["image", "build"],
        "",
    )
    .wait_with_output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("unix:///nonexistent/docker.sock"),
        "{stderr}"
    );
    assert!(stderr.contains("scripts/dockerd.sh start"), "{stderr}");
    assert!(o.stdout.is_empty());
}

/// The default backend needs no root: as nobody, where the cgroup hierarchies are not
/// writable, `run` finds that out without trying (its engine skips the trial cgroup) and
/// holds memory with the V8 heap cap and the watchdog instead of failing on the cgroup.
#[test]
fn run_works_without_root() {
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let probe = Command::new("setpriv")
        .args(&nobody[1..])
        .args(["test", "-x"])
        .arg(env!("CARGO_BIN_EXE_nodecell-launcher"))
        .status();
    if !nix::unistd::geteuid().is_root() || !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: needs root, setpriv, and a checkout that nobody may read");
        return;
    }
    let o = nodecell_as(
        &nobody,
        &["run", "--memory-mib", "64"],
        "return process.getuid()",
    );
    let v = json(&o);
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(
        v["result"], 65534,
        "nobody inside, mapped from nobody outside: {v}"
    );
    let bomb = "const keep = []; for (;;) keep.push(Buffer.alloc(16 << 20, 1));";
    let o = nodecell_as(&nobody, &["run", "--memory-mib", "64"], bomb);
    let v = json(&o);
    let contained = v["status"] == "memory_limit"
        || (v["status"] == "error"
            && v["error"]["message"]
                .as_str()
                .is_some_and(common::is_allocation_failure));
    assert!(contained, "memory is held without a cgroup: {v}");
}

#[test]
fn check_reports_the_host() {
    // Every backend is available here (backend qemu once its guest is built) but firecracker
    // where this host's KVM boots no stock guest (CI's); the exit code says whether all are.
    common::guest_dir();
    let o = nodecell(&["check"], "");
    let text = String::from_utf8_lossy(&o.stdout);
    let unavailable: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("backend ")?.strip_suffix(": UNAVAILABLE"))
        .collect();
    let expected: &[&str] = if common::kvm_boots_guests() {
        &[]
    } else {
        &["firecracker"]
    };
    assert_eq!(unavailable, expected, "{text}");
    assert_eq!(
        o.status.code(),
        Some(i32::from(!expected.is_empty())),
        "{text}"
    );
    if !expected.is_empty() {
        assert!(
            text.contains("cannot boot Firecracker guests here"),
            "{text}"
        );
    }
    for needle in [
        "backend native: available",
        "namespaces",
        "landlock",
        "seccomp",
        "cgroup_memory",
        "no_new_privs",
        "zygote: backend native forks its sandboxes from a zygote",
    ] {
        assert!(text.contains(needle), "missing {needle}: {text}");
    }
    // Named backends: only they are shown, and only they decide the exit status.
    let o = nodecell(
        &["check", "--backend", "landlock", "--backend", "native"],
        "",
    );
    let text = String::from_utf8_lossy(&o.stdout);
    let shown: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("backend ")?.split(':').next())
        .collect();
    assert_eq!(shown, ["landlock", "native"], "{text}");
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("zygote: "), "{text}");
    assert!(!text.contains("docker engine: "), "{text}");
    let o = nodecell(&["check", "--backend", "firecracker"], "");
    assert_eq!(
        o.status.code(),
        Some(i32::from(!expected.is_empty())),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = nodecell(&["check", "--backend", "bogus"], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown backend \"bogus\" (known: native,")
    );
    let o = nodecell(&["check", "--json", "--backend", "nsjail"], "");
    let v = json(&o);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["backend"], "nsjail");
    let o = nodecell(&["check", "--json"], "");
    let v = json(&o);
    assert_eq!(v[0]["backend"], "native");
    assert!(v[0]["protections"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["enforced"] == p["supported"]));
}

#[test]
fn serve_refuses_bad_configuration_with_exit_64_before_binding() {
    let dir = std::env::temp_dir().join(format!("nodecell-cli-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.toml"), "pool_size = 2\nno_such_key = 1\n").unwrap();
    let bad = dir.join("bad.toml");
    for (args, needle) in [
        (vec!["serve", "--backend", "bochs"], "unknown backend"),
        (vec!["serve", "--profile", "goja"], "unknown profile"),
        (
            vec!["serve", "--http-listen", "not-an-address"],
            "--http-listen",
        ),
        (
            vec!["serve", "--config", "/nonexistent/nodecell.toml"],
            "/nonexistent/nodecell.toml",
        ),
        (
            vec!["serve", "--config", bad.to_str().unwrap()],
            "no_such_key",
        ),
        (vec!["serve", "--max-concurrent", "0"], "max_concurrent"),
    ] {
        let o = nodecell(&args, "");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A job that starts a process in a session of its own (which the landlock backend, without
/// a pid namespace, must still find), then spins.
const DETACH_THEN_SPIN: &str = "process.getBuiltinModule('child_process').spawn(process.execPath, \
    ['-e', '/* detached */ setInterval(() => {}, 1000)'], {detached: true, stdio: 'ignore'}).unref(); \
    while (true) {}";

/// [`a_stopped_run_leaves_nothing_behind`] for a backend whose sandbox is a container: its
/// processes are no children of the command. Stopped by SIGTERM or SIGINT, the command has the
/// engine remove the container before it exits; SIGKILLed, the container's first process
/// sees the attach stream end and ends the container, and the next start removes it.
fn a_stopped_container_run_leaves_nothing_behind(backend: &str, signal: nix::sys::signal::Signal) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let child = common::spawn_nodecell_fed(
        &[],
        &["run", "--backend", backend, "--timeout-ms", "60000", "-"],
        DETACH_THEN_SPIN,
    );
    let cli = child.id();
    let t0 = std::time::Instant::now();
    // Running, and the job spinning (a container boots within a second here).
    while !common::containers_of(cli)
        .iter()
        .any(|(_, state)| state == "running")
    {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "{backend}: no container ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    kill(Pid::from_raw(cli as i32), signal).unwrap();
    let out = child.wait_with_output().unwrap();
    if signal == Signal::SIGKILL {
        let t0 = std::time::Instant::now();
        while common::containers_of(cli)
            .iter()
            .any(|(_, state)| state == "running")
        {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(10),
                "{backend}: the container of a SIGKILLed command still runs"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // The next start sweeps what a dead nodecell left stopped.
        nodecell(&["run", "--backend", backend, "-"], "return 1");
    } else {
        assert_eq!(
            out.status.code(),
            Some(128 + signal as i32),
            "{backend} {signal}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let left = common::containers_of(cli);
    assert!(
        left.is_empty(),
        "{backend} {signal}: containers left: {left:?}"
    );
}

/// SIGTERM or SIGINT to `nodecell run` kills its sandbox and removes its cgroups before the
/// command exits, on every backend (with nsjail, Node kept running with no time limit, and
/// the cgroups stayed, when the command was stopped). After a SIGKILL, nothing of the
/// sandbox survives the command either, and the next start sweeps its cgroups.
#[test]
fn a_stopped_run_leaves_nothing_behind() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    for &backend in common::BACKENDS {
        for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGKILL] {
            if common::is_container_backend(backend) {
                a_stopped_container_run_leaves_nothing_behind(backend, signal);
                continue;
            }
            let child = common::spawn_nodecell_fed(
                &[],
                &["run", "--backend", backend, "--timeout-ms", "60000", "-"],
                DETACH_THEN_SPIN,
            );
            let cli = child.id() as i32;
            // Node runs as the sandbox user: wait until it runs the job's busy loop (300 ms of CPU;
            // its boot takes a tenth of that), below the command. Killed earlier, it would
            // die by itself when it writes its ready frame to the command's closed channel.
            let t0 = std::time::Instant::now();
            let tree = loop {
                let tree = nodecell::procfs::tree(cli);
                let detached = tree.iter().any(|&p| {
                    std::fs::read(format!("/proc/{p}/cmdline"))
                        .is_ok_and(|c| c.windows(8).any(|w| w == b"detached"))
                });
                let busy = detached
                    && tree.iter().any(|&p| {
                        common::runs_as_sandbox_user(p)
                            && nodecell::procfs::cpu_ns(p).is_some_and(|ns| ns >= 300_000_000)
                    });
                if busy {
                    break tree;
                }
                assert!(
                    t0.elapsed() < std::time::Duration::from_secs(20),
                    "{backend}: Node never ran"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            };
            // The command's cgroup instance (the directories it holds locked).
            let instance = common::instance_dirs_of(cli as u32);
            assert!(!instance.is_empty(), "{backend}: no cgroup instance held");
            kill(Pid::from_raw(cli), signal).unwrap();
            let out = child.wait_with_output().unwrap();
            let gone = |p: i32| {
                // A zombie is gone too (its parent, if not init, has not reaped it yet).
                std::fs::read_to_string(format!("/proc/{p}/stat")).map_or(true, |s| {
                    s.rsplit(") ").next().is_some_and(|r| r.starts_with('Z'))
                })
            };
            if signal == Signal::SIGKILL {
                // Nothing to handle: every program of the sandbox has a parent-death signal,
                // so everything dies with the command, a moment later.
                let t0 = std::time::Instant::now();
                while !tree.iter().filter(|&&p| p != cli).all(|&p| gone(p))
                    && t0.elapsed() < std::time::Duration::from_secs(5)
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            } else {
                assert_eq!(
                    out.status.code(),
                    Some(128 + signal as i32),
                    "{backend} {signal}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let alive: Vec<_> = tree.iter().filter(|&&p| p != cli && !gone(p)).collect();
            let about =
                |p: &i32| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let survivors: Vec<_> = alive.iter().map(|p| about(p)).collect();
            for &&p in &alive {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL); // leave nothing, even failing
            }
            assert!(
                survivors.is_empty(),
                "{backend} {signal}: still running: {survivors:?}"
            );
            if signal == Signal::SIGKILL {
                // The cgroups and scratch directories of a command that was SIGKILLed are
                // swept by the next start.
                nodecell(&["run", "--backend", backend, "-"], "return 1");
                let scratch = format!("nodecell-{cli}-scratch-");
                let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
                    .unwrap()
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&scratch))
                    .map(|e| e.path())
                    .collect();
                assert!(left.is_empty(), "{backend}: scratch left: {left:?}");
            }
            // Removed at the exit, or (SIGKILL) swept by the next start: the instance and
            // every group in it.
            let groups: Vec<_> = instance.iter().filter(|d| d.exists()).collect();
            assert!(
                groups.is_empty(),
                "{backend} {signal}: cgroups left: {groups:?}"
            );
        }
    }
}

/// At the default log level `serve` says what it bound, its backend, its pool and what the
/// backend enforces, as text without colour codes when stderr is no terminal, or as JSON.
/// Its stderr is closed once the line is read (a supervisor gone): the log lines of the
/// shutdown that follows are lost, and the server still drains and exits 0.
#[test]
fn serve_logs_its_start_as_text_or_json() {
    use std::io::BufRead;
    for format in ["text", "json"] {
        let mut child = common::spawn_nodecell(
            &[],
            &[
                "serve",
                "--http-listen",
                "127.0.0.1:0",
                "--grpc-listen",
                "localhost:0",
                "--pool-size",
                "1",
                "--log-format",
                format,
            ],
        );
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let line = stderr
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("serving HTTP and gRPC"))
            .expect("the start line");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0), "{format}");
        assert!(!line.contains('\u{1b}'), "colour codes: {line:?}");
        match format {
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                assert_eq!(v["level"], "INFO", "{v}");
                let f = &v["fields"];
                assert_eq!(f["backend"], "native", "{v}");
                assert_eq!(f["pool_size"], 1, "{v}");
                assert!(
                    f["http_addr"].as_str().unwrap().starts_with("127.0.0.1:"),
                    "{v}"
                );
                assert!(f["enforced"].as_str().unwrap().contains("seccomp"), "{v}");
            }
            _ => {
                for needle in [
                    "backend=\"native\"",
                    "pool_size=1",
                    "grpc_addr=127.0.0.1:",
                    "enforced=",
                ] {
                    assert!(line.contains(needle), "{needle}: {line}");
                }
            }
        }
    }
}
