//! What this host can enforce, what a backend requires, and the report `nodecell check` prints.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One protection a sandbox can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protection {
    /// New user, pid, mount, network, IPC, UTS and cgroup namespaces.
    Namespaces,
    /// A minimal read-only root with a private, size-capped, noexec /tmp.
    RootFilesystem,
    Landlock,
    Seccomp,
    /// A memory cgroup (memory limit without swap, OOM detection, peak usage).
    CgroupMemory,
    /// A pids cgroup (processes + threads).
    CgroupPids,
    /// A cpu cgroup: a CPU bandwidth limit (`cpu_ms_per_sec`).
    CgroupCpu,
}

impl Protection {
    pub const ALL: [Protection; 7] = [
        Protection::Namespaces,
        Protection::RootFilesystem,
        Protection::Landlock,
        Protection::Seccomp,
        Protection::CgroupMemory,
        Protection::CgroupPids,
        Protection::CgroupCpu,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Protection::Namespaces => "namespaces",
            Protection::RootFilesystem => "root_filesystem",
            Protection::Landlock => "landlock",
            Protection::Seccomp => "seccomp",
            Protection::CgroupMemory => "cgroup_memory",
            Protection::CgroupPids => "cgroup_pids",
            Protection::CgroupCpu => "cgroup_cpu",
        }
    }
}

/// What every run of a backend gets, whatever the host offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    NoNewPrivs,
    CapabilitiesDropped,
    /// Node runs as nobody in its user namespace.
    UidGidNobody,
    /// Node runs as a host uid and gid of its own, used by no other live sandbox (no user
    /// namespace, the service root: the landlock backend).
    UidPerRun,
    CleanEnvironment,
    Rlimits,
    /// V8's heap is capped at the memory limit.
    V8HeapCap,
    /// RLIMIT_DATA: what the job may add to what the ready sandbox uses.
    RlimitData,
    /// The host samples memory and processes every 10 ms and kills a run above its limits.
    HostWatchdog,
    /// Everything the run started is killed with it, however detached.
    ProcessTreeKilled,
}

impl Guarantee {
    /// What every run gets where Node has a user namespace of its own: nobody, without
    /// capabilities or a way to gain privileges, in a clean environment, with rlimits.
    pub const CONFINED: [Guarantee; 5] = [
        Guarantee::NoNewPrivs,
        Guarantee::CapabilitiesDropped,
        Guarantee::UidGidNobody,
        Guarantee::CleanEnvironment,
        Guarantee::Rlimits,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Guarantee::NoNewPrivs => "no_new_privs",
            Guarantee::CapabilitiesDropped => "capabilities_dropped",
            Guarantee::UidGidNobody => "uid_gid_nobody",
            Guarantee::UidPerRun => "uid_per_run",
            Guarantee::CleanEnvironment => "clean_environment",
            Guarantee::Rlimits => "rlimits",
            Guarantee::V8HeapCap => "v8_heap_cap",
            Guarantee::RlimitData => "rlimit_data",
            Guarantee::HostWatchdog => "host_watchdog",
            Guarantee::ProcessTreeKilled => "process_tree_killed",
        }
    }
}

/// What a backend can do about one protection on this host, before the configuration says
/// which protections are required.
#[derive(Clone, Debug)]
pub struct Offer {
    pub protection: Protection,
    /// The backend can apply it at all.
    pub offered: bool,
    /// The backend cannot run without it, whatever the configuration says.
    pub structural: bool,
    /// This host lets the backend apply it.
    pub supported: bool,
    pub detail: String,
}

impl Offer {
    /// A protection the backend applies where the host supports it.
    pub fn applies(protection: Protection, supported: bool, detail: impl Into<String>) -> Offer {
        Offer {
            protection,
            offered: true,
            structural: false,
            supported,
            detail: detail.into(),
        }
    }

    /// A protection the backend cannot run without.
    pub fn structural(protection: Protection, supported: bool, detail: impl Into<String>) -> Offer {
        Offer {
            structural: true,
            ..Offer::applies(protection, supported, detail)
        }
    }

    /// A protection the backend does not apply at all (the detail says what stands instead).
    pub fn absent(protection: Protection, detail: impl Into<String>) -> Offer {
        Offer {
            offered: false,
            supported: false,
            ..Offer::applies(protection, false, detail)
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProtectionState {
    pub protection: Protection,
    /// The backend can apply it at all.
    pub offered: bool,
    /// This host can provide it.
    pub supported: bool,
    /// Runs fail rather than go without it.
    pub required: bool,
    /// Runs of this backend get it.
    pub enforced: bool,
    pub detail: String,
}

/// What one backend enforces on this host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnforcementReport {
    pub backend: String,
    /// Runs can happen: every required protection is supported.
    pub available: bool,
    pub protections: Vec<ProtectionState>,
    /// Applied to every run of the backend, whatever the host.
    pub always: Vec<Guarantee>,
    /// Why the backend is unavailable, if it is.
    pub problems: Vec<String>,
}

impl EnforcementReport {
    /// Decides, protection by protection, what runs of `backend` get: each supported offer
    /// is enforced; one is required when it is structural, or listed in `required` (`None`:
    /// every supported one); a required one the host does not support makes the backend
    /// unavailable.
    pub fn decide(
        backend: &str,
        offers: Vec<Offer>,
        always: Vec<Guarantee>,
        required: Option<&[Protection]>,
    ) -> EnforcementReport {
        let mut problems = Vec::new();
        let protections = offers
            .into_iter()
            .map(|o| {
                let supported = o.offered && o.supported;
                let required = o.structural
                    || match required {
                        Some(list) => list.contains(&o.protection),
                        None => supported,
                    };
                if required && !supported {
                    problems.push(format!(
                        "{} is required but unavailable: {}",
                        o.protection.as_str(),
                        o.detail
                    ));
                }
                ProtectionState {
                    protection: o.protection,
                    offered: o.offered,
                    supported,
                    required,
                    enforced: supported,
                    detail: o.detail,
                }
            })
            .collect();
        EnforcementReport {
            backend: backend.into(),
            available: problems.is_empty(),
            protections,
            always,
            problems,
        }
    }

    /// Whether `p` is required of every run (the run fails rather than go without it).
    pub fn requires(&self, p: Protection) -> bool {
        self.protections
            .iter()
            .any(|s| s.protection == p && s.required)
    }

    pub fn enforces(&self, p: Protection) -> bool {
        self.protections
            .iter()
            .any(|s| s.protection == p && s.enforced)
    }
}

impl fmt::Display for EnforcementReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "backend {}: {}",
            self.backend,
            if self.available {
                "available"
            } else {
                "UNAVAILABLE"
            }
        )?;
        for s in &self.protections {
            let state = match (s.enforced, s.supported, s.required) {
                _ if !s.offered && s.required => "NOT OFFERED (required)",
                _ if !s.offered => "not offered",
                (true, _, true) => "enforced (required)",
                (true, _, false) => "enforced",
                (false, false, true) => "MISSING (required)",
                (false, false, false) => "not supported here",
                (false, true, _) => "off",
            };
            writeln!(
                f,
                "  {:<22} {:<20} {}",
                s.protection.as_str(),
                state,
                s.detail
            )?;
        }
        for a in &self.always {
            writeln!(f, "  {:<22} enforced (always)", a.as_str())?;
        }
        for p in &self.problems {
            writeln!(f, "  problem: {p}")?;
        }
        Ok(())
    }
}
