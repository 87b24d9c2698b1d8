//! For the fault tests: `nodecell serve` as a process of its own (so it can be SIGKILLed, or
//! started inside a mount namespace of the test's), a minimal HTTP/1.1 client, and a mount
//! namespace held open by a `sleep` that commands enter with nsenter.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::common;

pub use common::nodecell_bin;

/// A directory of this test process that is removed on drop, under `parent`, mode 0711 (runs
/// as nobody pass through it).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(parent: &Path, name: &str) -> TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = parent.join(format!("nodecell-fault-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a service configuration for this build into `dir` (free loopback ports, a pool of
/// one) with `top` and `engine` appended to its top level and `[engine]` section; returns its
/// path and HTTP port. Sandboxes start from the repo's runner without a startup snapshot (a
/// test's own node binary would build one there), or from `runner` with snapshots.
pub fn write_config(
    dir: &Path,
    name: &str,
    top: &str,
    engine: &str,
    runner: Option<&Path>,
) -> (PathBuf, u16) {
    let port = free_port();
    let c = common::config();
    let text = format!(
        "http_listen = \"127.0.0.1:{port}\"\ngrpc_listen = \"127.0.0.1:{}\"\npool_size = 1\n{top}\n\
         [engine]\nlauncher_path = {:?}\nrunner_dir = {:?}\nrunner_snapshot = {}\n{engine}\n\
         [engine.backends.nsjail]\npath = {:?}\n",
        free_port(),
        c.launcher_path,
        runner.unwrap_or(&c.runner_dir),
        runner.is_some(),
        c.backends.nsjail.path,
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    (path, port)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `nodecell serve`; SIGKILLed on drop if still running.
pub struct Serve {
    pub child: Child,
    pub port: u16,
}

impl Serve {
    /// Starts `wrapper… nodecell serve --config config` with `env`, and waits until it
    /// answers /healthz.
    pub fn start(wrapper: &[&str], config: &Path, port: u16, env: &[(&str, &Path)]) -> Serve {
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(nodecell_bin());
                c
            }
            None => Command::new(nodecell_bin()),
        };
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .env_remove("NODE_EXTRA_CA_CERTS")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // NODECELL_TEST_SERVER_LOG=info: the servers' logs on the test's stderr.
        match std::env::var("NODECELL_TEST_SERVER_LOG") {
            Ok(filter) => cmd.env("NODECELL_LOG", filter).stderr(Stdio::inherit()),
            Err(_) => cmd.stderr(Stdio::null()),
        };
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut s = Serve {
            child: cmd.spawn().unwrap(),
            port,
        };
        let t0 = Instant::now();
        while s.try_get("/healthz").map(|r| r.0) != Some(200) {
            assert!(s.child.try_wait().unwrap().is_none(), "the server exited");
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the server never answered"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    /// The server's pid (the wrapper, nsenter, execs it).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits until /readyz says 200.
    pub fn wait_ready(&self) {
        let t0 = Instant::now();
        while self.try_get("/readyz").map(|r| r.0) != Some(200) {
            assert!(t0.elapsed() < Duration::from_secs(60), "never ready");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn try_get(&self, path: &str) -> Option<(u16, serde_json::Value)> {
        request(self.port, "GET", path, "").ok()
    }

    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        request(self.port, "GET", path, "").unwrap()
    }

    /// POST /v1/execute; panics if no answer comes within 60 s (a hang).
    pub fn execute(&self, body: &serde_json::Value) -> (u16, serde_json::Value) {
        request(self.port, "POST", "/v1/execute", &body.to_string()).unwrap()
    }

    /// Executes `body` until it answers 200 with status ok (up to 30 s); every answer before
    /// must be a clear error (503 with a message).
    pub fn execute_until_ok(&self, body: &serde_json::Value) -> serde_json::Value {
        let t0 = Instant::now();
        loop {
            let (s, v) = self.execute(body);
            if s == 200 && v["status"] == "ok" {
                return v;
            }
            assert!(
                s == 503
                    && v["error"]["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty()),
                "{s} {v}"
            );
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "never ok again: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then waits (at most 30 s) for a clean exit.
    pub fn stop(mut self) {
        kill(Pid::from_raw(self.pid()), Signal::SIGTERM).unwrap();
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "server exit: {status}");
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, JSON body or Null).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, serde_json::Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // Bodies of the service come whole or chunked: take the JSON between the outer braces.
    let json = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.find('{')
            .zip(body.rfind('}'))
            .map_or("", |(a, b)| &body[a..=b])
    } else {
        body
    };
    Ok((
        status,
        serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
    ))
}

/// A private mount namespace (propagation private), held by a `sleep` until dropped.
pub struct MountNs(Child);

impl MountNs {
    pub fn new() -> MountNs {
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sleep", "600"])
            .spawn()
            .unwrap();
        let ns = MountNs(child);
        // Until unshare has exec'd sleep, the pid is in the test's namespace.
        let mine = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        let t0 = Instant::now();
        while std::fs::read_link(format!("/proc/{}/ns/mnt", ns.0.id())).ok() == Some(mine.clone())
            || std::fs::read_to_string(format!("/proc/{}/comm", ns.0.id())).unwrap_or_default()
                != "sleep\n"
        {
            assert!(t0.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(5));
        }
        ns
    }

    /// `nsenter -t <holder> -m`: prefix of a command that runs inside.
    pub fn enter(&self) -> Vec<String> {
        vec![
            "nsenter".into(),
            "-t".into(),
            self.0.id().to_string(),
            "-m".into(),
            "--".into(),
        ]
    }

    /// Runs `sh -c script` inside; panics unless it succeeds.
    pub fn sh(&self, script: &str) -> Output {
        let out = Command::new("nsenter")
            .args([
                "-t",
                &self.0.id().to_string(),
                "-m",
                "--",
                "sh",
                "-c",
                script,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Every mount point at or below /sys/fs/cgroup, as the namespace sees them.
    pub fn cgroup_mounts(&self) -> Vec<String> {
        let out = self.sh("cat /proc/self/mountinfo");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|m| m.starts_with("/sys/fs/cgroup"))
            .map(String::from)
            .collect()
    }

    /// Remounts every cgroup mount read-only (`true`) or writable again.
    pub fn cgroups_read_only(&self, ro: bool) {
        let flag = if ro { "ro" } else { "rw" };
        for m in self.cgroup_mounts() {
            self.sh(&format!("mount -o remount,bind,{flag} {m}"));
        }
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `nodecell ARGS` (through `wrapper`, if not empty) with this build's launcher and runner,
/// `stdin` as its input.
pub fn nodecell(wrapper: &[String], args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(nodecell_bin());
            c
        }
        None => Command::new(nodecell_bin()),
    };
    let c = common::config();
    cmd.args(args)
        .env_remove("NODE_EXTRA_CA_CERTS")
        .env("NODECELL_LAUNCHER", &c.launcher_path)
        .env("NODECELL_RUNNER_DIR", &c.runner_dir)
        .env("NODECELL_NSJAIL", &c.backends.nsjail.path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

/// The cgroup directories (in every hierarchy) that `pid` is in, below nodecell's groups.
pub fn nodecell_cgroups_of(pid: i32) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
            if !path.contains("nodecell-") {
                return None;
            }
            let hierarchy = match controllers {
                "" => String::new(),
                c => c.split(',').find(|c| !c.starts_with("name="))?.to_string(),
            };
            Some(
                Path::new("/sys/fs/cgroup")
                    .join(hierarchy)
                    .join(path.trim_start_matches('/')),
            )
        })
        .collect()
}
