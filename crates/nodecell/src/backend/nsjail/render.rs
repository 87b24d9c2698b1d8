//! nsjail's configuration of one sandbox, in its protobuf text format (never a long command
//! line), and the cgroup layout it nests its own group in.

use std::fmt::Write as _;
use std::path::Path;

use crate::cgroup::Layout;
use crate::config::EngineConfig;
use crate::launch::spec::{RootEntry, EVENT_FD, JOB_FD, SANDBOX_ID, STATUS_FD};
use crate::layout::NodeLayout;
use crate::limits::Limits;

/// The seccomp policy in Kafel (see `kafel.rs`, rendered by build.rs).
pub(crate) const KAFEL_POLICY: &str = include_str!(concat!(env!("OUT_DIR"), "/node.kafel"));

/// What the enforcement decision says nsjail applies.
pub(crate) struct NsjailChoices {
    pub seccomp: bool,
    /// nsjail puts Node into memory, pids and cpu cgroups below this group (created by
    /// nodecell, so that usage and OOM kills stay readable after nsjail has removed its own
    /// group): where the group is (this process's cgroup instance) and its name.
    pub cgroups: Option<(Layout, String)>,
    /// CPU bandwidth limit (ms of CPU per second) in nsjail's cpu cgroup, when enforced.
    pub cpu_ms_per_sec: Option<u64>,
    /// The Node command line (inside the sandbox).
    pub argv: Vec<String>,
    /// The service runs as root: nobody inside is nobody outside. Otherwise nobody inside
    /// is the service's own uid and gid.
    pub host_root: bool,
}

/// A protobuf text-format string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push('"');
    out
}

fn path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

/// The nsjail configuration of one sandbox.
pub(crate) fn render(
    layout: &NodeLayout,
    config: &EngineConfig,
    limits: &Limits,
    choices: &NsjailChoices,
) -> String {
    let mut c = String::new();
    let mut line = |s: String| {
        c.push_str(&s);
        c.push('\n');
    };
    line("name: \"nodecell\"".into());
    line("mode: ONCE".into());
    line("hostname: \"nodecell\"".into());
    line("cwd: \"/tmp\"".into());
    // The host enforces each job's wall time (and kills through nsjail); nsjail's own limit
    // is a backstop on the sandbox's whole life, should the host stop tending it.
    line(format!(
        "time_limit: {}",
        config.sandbox_life_limit().as_secs().max(1)
    ));
    line("log_level: ERROR".into());
    line(format!("log_fd: {STATUS_FD}"));
    line(format!("pass_fd: {JOB_FD}"));
    line(format!("pass_fd: {EVENT_FD}"));
    line("keep_env: false".into());
    for (k, v) in &config.sandbox_env {
        line(format!("envar: {}", quote(&format!("{k}={v}"))));
    }
    line("keep_caps: false".into());
    line("disable_no_new_privs: false".into());
    for ns in [
        "clone_newnet",
        "clone_newuser",
        "clone_newns",
        "clone_newpid",
        "clone_newipc",
        "clone_newuts",
        "clone_newcgroup",
    ] {
        line(format!("{ns}: true"));
    }
    let (outside_uid, outside_gid) = if choices.host_root {
        (SANDBOX_ID, SANDBOX_ID)
    } else {
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    };
    line(format!(
        "uidmap {{ inside_id: \"{SANDBOX_ID}\" outside_id: \"{outside_uid}\" count: 1 }}"
    ));
    line(format!(
        "gidmap {{ inside_id: \"{SANDBOX_ID}\" outside_id: \"{outside_gid}\" count: 1 }}"
    ));
    // rlimits. No address-space limit: V8 reserves far more than it uses (the memory
    // cgroup is the limit); CPU time is bounded by the host's wall-time limit.
    line("rlimit_as_type: INF".into());
    line("rlimit_cpu_type: INF".into());
    line("rlimit_core: 0".into());
    line(format!("rlimit_fsize: {}", limits.tmp_size_mib));
    line(format!("rlimit_nofile: {}", limits.max_open_files));
    line("rlimit_nproc_type: SOFT".into());
    line("rlimit_stack_type: SOFT".into());
    // The root: an empty read-only tmpfs holding exactly the native backend's entries.
    line("mount { dst: \"/\" fstype: \"tmpfs\" options: \"size=1m,nr_inodes=256,mode=755\" rw: false nosuid: true nodev: true }".into());
    for entry in &layout.entries {
        match entry {
            RootEntry::Symlink { path: p, target } => line(format!(
                "mount {{ src: {} dst: {} is_symlink: true }}",
                path(target),
                path(p)
            )),
            RootEntry::Bind {
                source,
                path: p,
                dir,
                exec,
            } => line(format!(
                "mount {{ src: {} dst: {} is_bind: true rw: false is_dir: {dir} nosuid: true nodev: true noexec: {} }}",
                path(source),
                path(p),
                !exec
            )),
        }
    }
    for dev in crate::node_command::DEVICES {
        if Path::new(dev).exists() {
            line(format!(
                "mount {{ src: {0} dst: {0} is_bind: true rw: true is_dir: false nosuid: true noexec: true }}",
                quote(dev)
            ));
        }
    }
    line(format!(
        "mount {{ dst: \"/tmp\" fstype: \"tmpfs\" options: \"size={},nr_inodes={},mode=1777\" rw: true nosuid: true nodev: true noexec: true }}",
        limits.tmp_size_bytes(),
        limits.tmp_inodes()
    ));
    match &choices.cgroups {
        Some((
            Layout::V1 {
                memory, pids, cpu, ..
            },
            group,
        )) => {
            let parent = quote(group);
            line(format!("cgroup_mem_max: {}", limits.memory_bytes()));
            line("cgroup_mem_swap_max: 0".into());
            line(format!("cgroup_mem_mount: {}", path(memory)));
            line(format!("cgroup_mem_parent: {parent}"));
            line(format!("cgroup_pids_max: {}", limits.max_processes));
            line(format!("cgroup_pids_mount: {}", path(pids)));
            line(format!("cgroup_pids_parent: {parent}"));
            if let (Some(cpu), Some(ms)) = (cpu, choices.cpu_ms_per_sec) {
                line(format!("cgroup_cpu_ms_per_sec: {ms}"));
                line(format!("cgroup_cpu_mount: {}", path(cpu)));
                line(format!("cgroup_cpu_parent: {parent}"));
            }
        }
        Some((Layout::V2 { parent }, group)) => {
            // nsjail makes its group in the mount it is given: here, our group for the run.
            line("use_cgroupv2: true".into());
            line(format!("cgroupv2_mount: {}", path(&parent.join(group))));
            line(format!("cgroup_mem_max: {}", limits.memory_bytes()));
            line("cgroup_mem_swap_max: 0".into());
            line(format!("cgroup_pids_max: {}", limits.max_processes));
            if let Some(ms) = choices.cpu_ms_per_sec {
                line(format!("cgroup_cpu_ms_per_sec: {ms}"));
            }
        }
        None => {}
    }
    if choices.seccomp {
        line(format!("seccomp_string: {}", quote(KAFEL_POLICY)));
    }
    let mut exec = format!("exec_bin {{ path: {}", quote(&choices.argv[0]));
    for a in &choices.argv[1..] {
        let _ = write!(exec, " arg: {}", quote(a));
    }
    exec.push_str(" }");
    line(exec);
    c
}

/// The name of nsjail's cgroup for the sandbox whose Node has host pid `pid`.
pub(crate) fn cgroup_name(pid: i32) -> String {
    format!("NSJAIL.{pid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_text_format_strings() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("é\n"), r#""\303\251\012""#);
    }

    #[test]
    fn kafel_policy_is_built_in() {
        assert!(KAFEL_POLICY.contains("POLICY node_allow"));
        assert!(KAFEL_POLICY.contains("DEFAULT ERRNO(1)"));
        assert!(
            !KAFEL_POLICY.contains("socket,"),
            "socket() must not be allowed"
        );
    }

    const INSTANCE: &str = "nodecell-0123456789abcdef0123456789abcdef";

    fn rendered(groups: Layout, cpu_ms_per_sec: Option<u64>) -> String {
        let runner = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runner");
        let layout = NodeLayout::discover(std::path::Path::new("/usr/bin/node"), &runner).unwrap();
        let choices = NsjailChoices {
            seccomp: true,
            cgroups: Some((groups, "run-0".into())),
            cpu_ms_per_sec,
            argv: vec!["/usr/bin/node".into(), "/runner/runner.js".into()],
            host_root: true,
        };
        render(
            &layout,
            &EngineConfig::default(),
            &Limits::default(),
            &choices,
        )
    }

    #[test]
    fn cgroup_limits_are_rendered_for_v1_and_v2_inside_the_instance() {
        let v1 = Layout::V1 {
            memory: format!("/sys/fs/cgroup/memory/{INSTANCE}").into(),
            pids: format!("/sys/fs/cgroup/pids/{INSTANCE}").into(),
            cpuacct: None,
            cpu: Some(format!("/sys/fs/cgroup/cpu/{INSTANCE}").into()),
        };
        let text = rendered(v1.clone(), Some(250));
        for want in [
            "cgroup_mem_max: 134217728",
            "cgroup_mem_swap_max: 0",
            &format!("cgroup_mem_mount: \"/sys/fs/cgroup/memory/{INSTANCE}\""),
            "cgroup_mem_parent: \"run-0\"",
            "cgroup_pids_max: 64",
            &format!("cgroup_pids_mount: \"/sys/fs/cgroup/pids/{INSTANCE}\""),
            "cgroup_pids_parent: \"run-0\"",
            "cgroup_cpu_ms_per_sec: 250",
            &format!("cgroup_cpu_mount: \"/sys/fs/cgroup/cpu/{INSTANCE}\""),
            "cgroup_cpu_parent: \"run-0\"",
            // The backstop on the sandbox's life: startup 10 s + warm 600 s + the longest
            // job 300 s + 60 s.
            "time_limit: 970",
        ] {
            assert!(
                text.lines().any(|l| l == want),
                "{want} missing from:\n{text}"
            );
        }
        assert!(!rendered(v1, None).contains("cgroup_cpu"));
        let v2 = rendered(
            Layout::V2 {
                parent: format!("/sys/fs/cgroup/{INSTANCE}").into(),
            },
            Some(250),
        );
        for want in [
            "use_cgroupv2: true",
            &format!("cgroupv2_mount: \"/sys/fs/cgroup/{INSTANCE}/run-0\""),
            "cgroup_mem_max: 134217728",
            "cgroup_cpu_ms_per_sec: 250",
        ] {
            assert!(v2.lines().any(|l| l == want), "{want} missing from:\n{v2}");
        }
    }
}
