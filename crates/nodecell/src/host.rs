//! What this host offers every backend (namespaces, Landlock, seccomp, cgroups, root), found
//! out once, and how each facility is described in the enforcement reports.

use std::path::{Path, PathBuf};

use crate::cgroup::{CgroupDriver, CgroupProof};
use crate::enforcement::{Offer, Protection};

/// How much an [`crate::Engine`] finds out about the host before its first run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// Try what can only be known by trying (a clone into new namespaces, a cgroup made and
    /// removed), so that the enforcement report is exact before any run: `nodecell check`,
    /// the service.
    Probe,
    /// For an engine that serves a single run (`nodecell run`): no trial clone and no trial
    /// cgroup, because the run's own sandbox makes both moments later and the run fails if
    /// either fails (namespaces are structural, and a cgroup that cannot be made is an
    /// error, never a fallback to weaker limits). Cgroups count as usable when their
    /// directories are writable.
    OneRun,
}

/// What this host offers, found out once.
#[derive(Clone, Debug)]
pub struct HostSupport {
    pub namespaces: Result<(), String>,
    pub landlock_abi: Option<i32>,
    pub seccomp: bool,
    pub cgroups: Result<CgroupDriver, String>,
    /// The service runs as root.
    pub root: bool,
    /// What the Docker Engine of the docker and gvisor backends says about itself (None: not
    /// asked, for an engine that serves one run).
    pub docker: Option<Result<crate::docker::EngineFacts, String>>,
}

impl HostSupport {
    pub fn probe(
        cgroup_root: &Path,
        docker_socket: Option<&Path>,
        discovery: Discovery,
    ) -> HostSupport {
        let (namespaces, cgroup_proof) = match discovery {
            Discovery::Probe => (
                crate::sys::probe_namespaces().map_err(|e| {
                    format!(
                        "clone with new user, pid, mount, net, ipc, uts, cgroup namespaces: {e}"
                    )
                }),
                CgroupProof::CreateGroup,
            ),
            Discovery::OneRun => (Ok(()), CgroupProof::Writable),
        };
        let seccomp = std::fs::read_to_string("/proc/self/status")
            .map(|s| s.contains("\nSeccomp:"))
            .unwrap_or(false);
        let cgroups = CgroupDriver::detect(cgroup_root, cgroup_proof).map_err(|e| e.to_string());
        HostSupport {
            namespaces,
            landlock_abi: crate::sys::landlock_abi(),
            seccomp,
            cgroups,
            root: nix::unistd::geteuid().is_root(),
            docker: (discovery == Discovery::Probe)
                .then(|| crate::docker::EngineFacts::probe(docker_socket)),
        }
    }

    /// "cgroup v<N>: `what`", or why there are no cgroups.
    pub fn cgroup_detail(&self, what: &str) -> String {
        match &self.cgroups {
            Ok(d) => format!("cgroup v{}: {what}", d.version()),
            Err(e) => no_cgroups(e),
        }
    }

    /// The CPU limit: it needs the cpu controller, and a limit configured. `whose` prefixes
    /// the limit in the detail ("nsjail's limit, ").
    pub fn cpu_offer(&self, cpu_ms_per_sec: u64, whose: &str) -> Offer {
        let p = Protection::CgroupCpu;
        match &self.cgroups {
            Err(e) => Offer::applies(p, false, no_cgroups(e)),
            Ok(d) if !d.has_cpu_controller() => Offer::applies(
                p,
                false,
                format!("cgroup v{}: no cpu controller", d.version()),
            ),
            Ok(_) if cpu_ms_per_sec == 0 => {
                Offer::applies(p, false, "cpu_ms_per_sec = 0: no CPU limit configured")
            }
            Ok(d) => Offer::applies(
                p,
                true,
                format!(
                    "cgroup v{}: {whose}at most {cpu_ms_per_sec} ms of CPU per second",
                    d.version()
                ),
            ),
        }
    }
}

/// What Landlock enforces at `abi`.
pub fn landlock_detail(abi: Option<i32>) -> String {
    match abi {
        Some(abi) => format!(
            "ABI {abi}: filesystem{}{}",
            if abi >= 4 {
                ", TCP bind/connect denied"
            } else {
                ""
            },
            if abi >= 6 {
                ", signals and abstract unix sockets scoped"
            } else {
                ""
            }
        ),
        None => "not available in this kernel".into(),
    }
}

/// What the seccomp policy does.
pub const SECCOMP_DETAIL: &str =
    "allowlist from policy/seccomp/node.json (EPERM otherwise; socket() refused; clone3, io_uring_* → ENOSYS)";

/// `p` if it is an executable file; a bare name is looked up on the PATH.
pub fn find_executable(p: &Path) -> Option<PathBuf> {
    if p.components().count() > 1 {
        return is_executable(p).then(|| p.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(p))
        .find(|c| is_executable(c))
}

pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Why no cgroup limit holds: nodecell could not make its cgroups at all (the probe's error
/// names the first hierarchy it tried, which need not be this limit's controller).
fn no_cgroups(probe_error: &str) -> String {
    format!("no cgroup can be made here ({probe_error})")
}
