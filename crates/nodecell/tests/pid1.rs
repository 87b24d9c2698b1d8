//! nodecell as pid 1 of its PID namespace, as in every container: `run` and `serve` start
//! their sandboxes, the init reaps the namespace's orphans, passes SIGTERM on, and nothing is
//! left once it has exited.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A command that runs its arguments as pid 1 of a new PID namespace.
const AS_PID_1: [&str; 4] = ["unshare", "--pid", "--fork", "--mount-proc"];

/// One test at a time: each checks that nothing is left below this test process.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn run_works_as_pid_1() {
    let _serial = serial();
    for backend in ["native", "nsjail", "landlock"] {
        let o =
            common::spawn_nodecell_fed(&AS_PID_1, &["run", "--backend", backend], "return 6 * 7")
                .wait_with_output()
                .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{backend}: {e}: {}", String::from_utf8_lossy(&o.stderr)));
        assert_eq!(v["status"], "ok", "{backend}: {v}");
        assert_eq!(v["result"], 42, "{backend}: {v}");
        assert_eq!(o.status.code(), Some(0), "{backend}");
    }
    assert_eq!(common::leftover_processes(&[]), Vec::<i32>::new());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request; the status and the body (None when nothing answers).
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// `/proc/PID/stat`'s state and parent pid.
fn state_and_parent(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// The zombies whose parent is `parent`.
fn zombies_of(parent: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| state_and_parent(p) == Some(('Z', parent)))
        .collect()
}

/// A child killed (with its PID namespace: unshare's child is pid 1) if the test fails.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            for p in nodecell::procfs::tree(self.0.id() as i32) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Killed {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Killed {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

#[test]
fn serve_as_pid_1_runs_sandboxes_reaps_orphans_and_stops_on_sigterm() {
    let _serial = serial();
    let (http_port, grpc_port) = (free_port(), free_port());
    let (http_listen, grpc_listen) = (
        format!("127.0.0.1:{http_port}"),
        format!("127.0.0.1:{grpc_port}"),
    );
    let mut server = Killed(common::spawn_nodecell(
        &AS_PID_1,
        &[
            "serve",
            "--http-listen",
            &http_listen,
            "--grpc-listen",
            &grpc_listen,
            "--pool-size",
            "1",
        ],
    ));
    let t0 = Instant::now();
    while http(http_port, "GET", "/readyz", "").map(|(s, _)| s) != Some(200) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "never ready: {:?}",
            http(http_port, "GET", "/readyz", "")
        );
        assert!(server.try_wait().unwrap().is_none(), "the server exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    for backend in ["native", "nsjail", "landlock"] {
        let body = format!(r#"{{"code": "return 6 * 7", "backend": "{backend}"}}"#);
        let (status, body) = http(http_port, "POST", "/v1/execute", &body).unwrap();
        assert_eq!(status, 200, "{backend}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["result"], 42, "{backend}: {v}");
    }

    // The namespace's pid 1 (unshare's child): nodecell's init, with the work below it.
    let init = nodecell::procfs::tree(server.id() as i32)
        .into_iter()
        .find(|&p| state_and_parent(p).map(|(_, parent)| parent) == Some(server.id() as i32))
        .expect("unshare's child");
    // An orphan of the namespace: `sh` exits at once, its `sleep` is re-parented to pid 1,
    // which must reap it when it ends.
    let st = std::process::Command::new("nsenter")
        .args([
            "-t",
            &init.to_string(),
            "-p",
            "--",
            "sh",
            "-c",
            "sleep 0.2 & exit 0",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(zombies_of(init), Vec::<i32>::new(), "pid 1 left zombies");

    // SIGTERM to pid 1 reaches the server, which drains and exits 0; pid 1 exits with it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = server.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{:?}",
        server.stderr.take().map(|mut e| {
            let mut s = String::new();
            let _ = e.read_to_string(&mut s);
            s
        })
    );
    assert_eq!(common::leftover_processes(&[]), Vec::<i32>::new());
    assert!(
        http(http_port, "GET", "/healthz", "").is_none(),
        "still serving"
    );
}
