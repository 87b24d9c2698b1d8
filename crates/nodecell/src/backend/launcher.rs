//! What the backends built on `nodecell-launcher` (native, landlock) share: the launcher's
//! command line, its plan, and starting it ahead of its spec.

use crate::config::EngineConfig;
use crate::error::StartError;
use crate::launch::spec::{
    LaunchSpec, Rlimit, RlimitResource, WITHOUT_NAMESPACES, WITH_NAMESPACES,
};
use crate::limits::Limits;
use crate::sandbox::plan::{AccountingPlan, Confirmation, Program, ProgramInput, SandboxPlan};
use crate::sandbox::process::Launched;
use crate::sandbox::Prelaunch;
use crate::scratch::ScratchDir;

/// The launcher's arguments: with or without namespaces, and the host's pid (the launcher's
/// parent, which it checks is still there once it has its parent-death signal).
pub(crate) fn args(namespaces: bool) -> Vec<String> {
    vec![
        if namespaces {
            WITH_NAMESPACES
        } else {
            WITHOUT_NAMESPACES
        }
        .to_string(),
        std::process::id().to_string(),
    ]
}

/// A sandbox built by the launcher from `spec`, with Node exec'd `node_depth` generations
/// below it.
pub(crate) fn plan(
    config: &EngineConfig,
    spec: &LaunchSpec,
    node_depth: usize,
    accounting: AccountingPlan,
    scratch: Option<ScratchDir>,
) -> Result<SandboxPlan, StartError> {
    Ok(SandboxPlan {
        program: Program::Spawn {
            path: config.launcher_path.clone(),
            args: args(spec.namespaces),
            input: ProgramInput::Spec(
                serde_json::to_vec(spec).map_err(|e| StartError::Spawn(e.into()))?,
            ),
            own_run_dir: false,
        },
        confirmation: Confirmation::LauncherReport { node_depth },
        accounting,
        scratch,
        from_zygote: false,
        fixed_memory_mib: None,
    })
}

/// The launcher, started before its spec is known (its namespaces are made meanwhile).
pub(crate) fn prelaunch(
    config: &EngineConfig,
    namespaces: bool,
) -> Result<Option<Prelaunch>, StartError> {
    Launched::spawn(&config.launcher_path, &args(namespaces), None, false)
        .map(|l| Some(Prelaunch(l)))
}

/// The rlimits the launcher sets on Node: open files, processes (`nproc`: per user
/// namespace, or per user without one), no core dumps, file size (the /tmp size), and
/// `data` (RLIMIT_DATA) where no memory cgroup holds the limit.
pub(crate) fn rlimits(limits: &Limits, nproc: u64, data: Option<u64>) -> Vec<Rlimit> {
    let mut out = vec![
        Rlimit {
            resource: RlimitResource::Nofile,
            value: limits.max_open_files,
        },
        Rlimit {
            resource: RlimitResource::Nproc,
            value: nproc,
        },
        Rlimit {
            resource: RlimitResource::Core,
            value: 0,
        },
        Rlimit {
            resource: RlimitResource::Fsize,
            value: limits.tmp_size_mib << 20,
        },
    ];
    if let Some(value) = data {
        out.push(Rlimit {
            resource: RlimitResource::Data,
            value,
        });
    }
    out
}
