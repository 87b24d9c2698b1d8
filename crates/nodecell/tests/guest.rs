//! The microVM guest (issue 18), booted under QEMU with TCG: scripts/guest.sh's kernel and
//! initramfs, nodecell-launcher as its init (`launch/guest.rs`) running the launcher and the
//! runner as pid 1 of a container does, the host on the virtio-serial port: a GuestStart, the
//! job, then the sandbox's streams back in pid 1's frames (`launch/in_container.rs`). Each test
//! boots one guest for one job and checks from the host what came back, and that the VMM
//! exits by itself and leaves nothing.

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nodecell::launch::guest::GuestStart;
use nodecell::launch::in_container::{MuxStream, MUX_HEADER};
use nodecell::launch::spec::{LandlockSpec, LaunchSpec};
use serde_json::{json, Value};

/// How long one guest may take from boot to power-off under TCG (~5 s here).
const GUEST_LIFE: Duration = Duration::from_secs(120);

/// One booted guest: QEMU, its console log and the host's end of the port, in a directory
/// of its own that goes with it.
struct Vm {
    qemu: Child,
    dir: PathBuf,
    port: UnixStream,
}

impl Vm {
    fn boot(guest: &Path) -> Vm {
        let dir = std::env::temp_dir().join(format!(
            "nodecell-guest-test-{}-{}",
            std::process::id(),
            nodecell::protocol::new_nonce()
        ));
        std::fs::create_dir(&dir).unwrap();
        let sock = dir.join("port");
        let listener = UnixListener::bind(&sock).unwrap();
        // setpriv: QEMU dies with this test, however it ends.
        let mut qemu = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--", "qemu-system-x86_64"])
            // `pc`, not `microvm`: with no HPET or ACPI PM timer to calibrate the TSC against,
            // a guest on a busy host hung at "tsc: Marking TSC unstable" (1 boot in ~10).
            .args(["-M", "pc", "-accel", "tcg", "-cpu", "max", "-m", "1024"])
            .args(["-smp", "1", "-nodefaults", "-no-user-config", "-no-reboot"])
            .args(["-display", "none", "-nic", "none"])
            .arg("-serial")
            .arg(format!("file:{}", dir.join("console.log").display()))
            .arg("-kernel")
            .arg(guest.join("kernel"))
            .arg("-initrd")
            .arg(guest.join("initrd"))
            .args(["-append", "console=ttyS0 quiet panic=-1 -- --guest"])
            .args(["-device", "virtio-serial-pci", "-chardev"])
            .arg(format!("socket,id=port,path={}", sock.display()))
            .args(["-device", "virtserialport,chardev=port,name=nodecell"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64");
        listener.set_nonblocking(true).unwrap();
        let t0 = Instant::now();
        let port = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if t0.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => {
                    let _ = qemu.kill();
                    let _ = qemu.wait();
                    let _ = std::fs::remove_dir_all(&dir);
                    panic!("qemu never connected to the port: {e}");
                }
            }
        };
        port.set_nonblocking(false).unwrap();
        port.set_read_timeout(Some(GUEST_LIFE)).unwrap();
        Vm { qemu, dir, port }
    }

    fn console(&self) -> String {
        std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default()
    }

    /// Sends the start and the job, reads every frame until the exit code, closes the port
    /// and waits for QEMU to exit by itself.
    fn run(mut self, code: &str) -> Collected {
        let node = "/usr/local/bin/node";
        let spec = LaunchSpec {
            namespaces: false,
            rootfs: None,
            rlimits: Vec::new(),
            landlock: Some(LandlockSpec {
                // (/sys/class/net only so that the tests can list the network devices.)
                read: [
                    "/usr/local/bin",
                    "/lib",
                    "/lib64",
                    "/opt/nodecell",
                    "/sys/class/net",
                ]
                .map(PathBuf::from)
                .to_vec(),
                read_write: vec!["/tmp".into()],
                execute: vec![node.into(), "/lib64/ld-linux-x86-64.so.2".into()],
                devices: vec!["/dev/null".into()],
                required: false,
            }),
            seccomp: true,
            env: Vec::new(),
            argv: [node, "--no-addons", "/opt/nodecell/runner/runner.js"]
                .map(String::from)
                .to_vec(),
            cwd: "/tmp".into(),
            hostname: "nodecell".into(),
            run_as: Some(65534),
            in_container: true,
            zygote: false,
        };
        let start = serde_json::to_vec(&GuestStart {
            tmp_size_bytes: 16 << 20,
            memory_limit_bytes: 128 << 20,
            spec: serde_json::to_string(&spec).unwrap(),
        })
        .unwrap();
        let job = serde_json::to_vec(&json!({
            "nonce": "n1", "code": code, "inputs": {},
            "max_result_bytes": 1 << 20, "max_output_bytes": 1 << 20,
        }))
        .unwrap();
        // Both length-prefixed, as the runner's frames are.
        for message in [start, job] {
            self.port
                .write_all(&nodecell::protocol::encode_frame(&message))
                .unwrap();
        }

        let mut got = Collected::default();
        let mut pending = Vec::new();
        let mut buf = vec![0u8; 65536];
        while got.exit.is_none() {
            let n = match self.port.read(&mut buf) {
                Ok(n) => n,
                Err(e) => panic!("reading the port: {e}\nconsole:\n{}", self.console()),
            };
            assert!(
                n > 0,
                "the port closed before the exit code\nconsole:\n{}",
                self.console()
            );
            pending.extend_from_slice(&buf[..n]);
            while pending.len() >= MUX_HEADER {
                let len = u32::from_be_bytes(pending[1..5].try_into().unwrap()) as usize;
                if pending.len() < MUX_HEADER + len {
                    break;
                }
                let payload: Vec<u8> = pending[MUX_HEADER..MUX_HEADER + len].to_vec();
                let stream = MuxStream::from_tag(pending[0])
                    .unwrap_or_else(|| panic!("unknown frame tag {}", pending[0]));
                pending.drain(..MUX_HEADER + len);
                assert!(
                    got.exit.is_none(),
                    "a frame after the exit code: {stream:?}"
                );
                if payload.is_empty() && stream != MuxStream::Exit {
                    got.ended.push(stream);
                    continue;
                }
                match stream {
                    MuxStream::Status => got.report.extend(payload),
                    MuxStream::Events => got.events.extend(payload),
                    MuxStream::Stdout => got.stdout.extend(payload),
                    MuxStream::Stderr => got.stderr.extend(payload),
                    MuxStream::Exit => {
                        got.exit = Some(i32::from_be_bytes(payload[..].try_into().unwrap()))
                    }
                    MuxStream::Oom => {
                        assert!(got.oom.is_none(), "a second OOM frame");
                        let kills = u64::from_be_bytes(payload[..].try_into().unwrap());
                        got.oom = Some((kills, got.ended.clone()));
                    }
                }
            }
        }
        assert!(pending.is_empty(), "bytes after the exit code");
        // The host's end closes: the guest kills what is left and stops.
        self.port.shutdown(std::net::Shutdown::Both).unwrap();
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = self.qemu.try_wait().unwrap() {
                break s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "qemu still runs after the host closed its port\nconsole:\n{}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.success(),
            "qemu: {status}\nconsole:\n{}",
            self.console()
        );
        got
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Everything a guest sent.
#[derive(Default)]
struct Collected {
    report: Vec<u8>,
    events: Vec<u8>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// The streams whose end was sent, in order.
    ended: Vec<MuxStream>,
    exit: Option<i32>,
    /// The OOM frame: the kills it counted, and the streams that had ended before it.
    oom: Option<(u64, Vec<MuxStream>)>,
}

impl Collected {
    /// The runner's frames on its event channel (4-byte length, JSON).
    fn runner_frames(&self) -> Vec<Value> {
        let mut frames = Vec::new();
        let mut rest = &self.events[..];
        while rest.len() >= 4 {
            let n = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            frames.push(serde_json::from_slice(&rest[4..4 + n]).unwrap());
            rest = &rest[4 + n..];
        }
        assert!(rest.is_empty(), "a partial runner frame");
        frames
    }

    fn result(&self) -> Value {
        self.runner_frames()
            .into_iter()
            .find(|f| f["type"] == "result")
            .unwrap_or_else(|| {
                panic!(
                    "no result: stderr {}",
                    String::from_utf8_lossy(&self.stderr)
                )
            })
    }
}

#[test]
fn a_job_runs_in_the_guest_and_only_the_agent_frames_the_wire() {
    let Some(guest) = common::guest_dir() else {
        return;
    };
    // The code writes a whole exit frame (code 99) to stdout: it must arrive as stdout.
    let mut forged = vec![MuxStream::Exit as u8, 0, 0, 0, 4];
    forged.extend(99i32.to_be_bytes());
    let forged_js: String = forged.iter().map(|b| format!("\\u{b:04x}")).collect();
    let code = format!(
        "const fs = process.getBuiltinModule('fs'); \
         let root; try {{ fs.writeFileSync('/opt/x', '1'); root = 'written' }} catch (e) {{ root = e.code }} \
         fs.writeFileSync('/tmp/y', 'z'); \
         process.stdout.write('{forged_js}', 'latin1'); console.log('hi'); \
         return {{ net: fs.readdirSync('/sys/class/net'), uid: process.getuid(), root, \
                   tmp: fs.readFileSync('/tmp/y', 'utf8'), node: process.version }}"
    );
    let got = Vm::boot(&guest).run(&code);
    let result = got.result();
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["nonce"], "n1");
    let r = &result["result"];
    // No network device (only loopback), the runner as nobody, a read-only root for it, a
    // writable /tmp of its own.
    assert_eq!(r["net"], json!(["lo"]), "{r}");
    assert_eq!(r["uid"], 65534);
    assert_eq!(r["root"], "EACCES");
    assert_eq!(r["tmp"], "z");
    assert!(r["node"].as_str().unwrap().starts_with("v"), "{r}");
    let frames = got.runner_frames();
    assert_eq!(frames[0]["type"], "ready", "{frames:?}");
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "log" && f["message"] == "hi"),
        "{frames:?}"
    );
    assert_eq!(
        got.stdout, forged,
        "the forged frame arrives as stdout bytes"
    );
    assert_eq!(got.exit, Some(0));
    assert!(got.oom.is_none());
    for stream in [MuxStream::Stdout, MuxStream::Stderr, MuxStream::Events] {
        assert!(got.ended.contains(&stream), "{stream:?} never ended");
    }
    // What the launcher applied before Node (its own report).
    let report: Value = serde_json::from_slice(got.report.trim_ascii_end()).unwrap();
    let enforced = &report["enforced"];
    assert_ne!(enforced["landlock"], "off", "{report}");
    assert_eq!(enforced["seccomp"], true, "{report}");
    assert_eq!(enforced["no_new_privs"], true);
    assert_eq!(enforced["capabilities_dropped"], true);
    assert_eq!(enforced["uid"], 65534);
}

#[test]
fn the_runner_cannot_reach_the_port_or_the_agent_and_its_death_is_reported() {
    let Some(guest) = common::guest_dir() else {
        return;
    };
    // The port's device is root's (0600, pid 1's alone) and outside Landlock's paths; kill(-1)
    // reaches no other process.
    let code = "const fs = process.getBuiltinModule('fs'); \
                let open; try { fs.openSync('/dev/vport0p1', 'r+'); open = 'opened' } catch (e) { open = e.code } \
                let killed; try { process.kill(-1, 'SIGKILL'); killed = 'sent' } catch (e) { killed = e.code } \
                console.log(JSON.stringify({ open, killed })); \
                process.kill(process.pid, 'SIGKILL')";
    let got = Vm::boot(&guest).run(code);
    let frames = got.runner_frames();
    let log = frames
        .iter()
        .find(|f| f["type"] == "log")
        .unwrap_or_else(|| panic!("{frames:?}"));
    let seen: Value = serde_json::from_str(log["message"].as_str().unwrap()).unwrap();
    assert_eq!(seen["open"], "EACCES", "{seen}");
    assert_ne!(seen["killed"], "sent", "{seen}");
    assert!(frames.iter().all(|f| f["type"] != "result"), "{frames:?}");
    // The runner died by SIGKILL; pid 1 lived to say so.
    assert_eq!(got.exit, Some(128 + 9));
}

/// The sandbox's memory cgroup in the guest: the GuestStart's limit (128 MiB) above what the
/// ready sandbox uses holds a job that the guest's RAM (1 GiB) would not, its OOM killer takes
/// the launcher and Node, and pid 1 says so in an OOM frame before the end of the event
/// stream (where the host sees the run end).
#[test]
fn a_job_over_its_memory_limit_is_killed_in_the_guest_and_pid_1_says_so_first() {
    let Some(guest) = common::guest_dir() else {
        return;
    };
    let code = "const b = []; for (let i = 0; i < 400; i++) b.push(Buffer.alloc(1 << 20, 1)); \
                return b.length";
    let got = Vm::boot(&guest).run(code);
    let frames = got.runner_frames();
    assert!(frames.iter().all(|f| f["type"] != "result"), "{frames:?}");
    let (kills, ended_before) = got.oom.clone().expect("an OOM frame");
    assert!(kills >= 1, "{kills}");
    assert!(
        !ended_before.contains(&MuxStream::Events),
        "the OOM frame came after the event stream's end: {ended_before:?}"
    );
    assert!(got.ended.contains(&MuxStream::Events));
    assert_eq!(got.exit, Some(128 + 9));
}
