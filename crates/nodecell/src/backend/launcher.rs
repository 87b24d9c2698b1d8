//! What the backends built on `nodecell-launcher` (native, landlock) share: the launcher's
//! command line, its plan, and starting it ahead of its spec.

use crate::config::EngineConfig;
use crate::error::StartError;
use crate::launch::spec::{LaunchSpec, WITHOUT_NAMESPACES, WITH_NAMESPACES};
use crate::sandbox::plan::{AccountingPlan, Confirmation, Program, ProgramInput, SandboxPlan};
use crate::sandbox::process::Launched;
use crate::sandbox::Prelaunch;
use crate::scratch::ScratchDir;

/// The launcher's argument: with or without namespaces.
fn args(namespaces: bool) -> Vec<String> {
    vec![if namespaces {
        WITH_NAMESPACES
    } else {
        WITHOUT_NAMESPACES
    }
    .to_string()]
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
