//! The Landlock ruleset: filesystem access beneath a few paths, no TCP, and (ABI ≥ 6)
//! signals and abstract unix sockets scoped to the sandbox.

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use super::spec::{LandlockSpec, LandlockStatus};

/// The outcome of applying the ruleset.
pub struct Applied {
    pub status: LandlockStatus,
    pub abi: i32,
}

/// A rule for `path`; on a file other than a directory, only the rights that apply to files.
fn rule(
    path: &std::path::Path,
    access: BitFlags<AccessFs>,
    abi: ABI,
) -> Result<PathBeneath<PathFd>, String> {
    let fd = PathFd::new(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let access = if path.is_dir() {
        access
    } else {
        access & AccessFs::from_file(abi)
    };
    Ok(PathBeneath::new(fd, access))
}

pub fn apply(spec: &LandlockSpec) -> Result<Applied, String> {
    let abi_num = crate::sys::landlock_abi().unwrap_or(0);
    let abi = ABI::from(abi_num);
    let level = if spec.required {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    };
    let all_fs = AccessFs::from_all(abi);
    let read = AccessFs::from_read(abi) & !AccessFs::Execute;
    let file_rw = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate;
    // Writable places may get regular files, directories, symlinks and FIFOs; never device
    // nodes or sockets, never anything executable.
    let read_write = read
        | AccessFs::WriteFile
        | AccessFs::RemoveDir
        | AccessFs::RemoveFile
        | AccessFs::MakeDir
        | AccessFs::MakeReg
        | AccessFs::MakeSym
        | AccessFs::MakeFifo
        | AccessFs::Refer
        | AccessFs::Truncate;

    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(all_fs)
        .map_err(|e| e.to_string())?;
    if abi >= ABI::V4 {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(abi))
            .map_err(|e| e.to_string())?;
    }
    if abi >= ABI::V6 {
        ruleset = ruleset
            .scope(Scope::from_all(abi))
            .map_err(|e| e.to_string())?;
    }
    let mut created = ruleset.create().map_err(|e| e.to_string())?;
    for p in &spec.read {
        created = created
            .add_rule(rule(p, read, abi)?)
            .map_err(|e| e.to_string())?;
    }
    for p in &spec.read_write {
        created = created
            .add_rule(rule(p, read_write & all_fs, abi)?)
            .map_err(|e| e.to_string())?;
    }
    for p in &spec.execute {
        created = created
            .add_rule(rule(p, AccessFs::Execute | AccessFs::ReadFile, abi)?)
            .map_err(|e| e.to_string())?;
    }
    for p in &spec.devices {
        created = created
            .add_rule(rule(p, file_rw & all_fs, abi)?)
            .map_err(|e| e.to_string())?;
    }
    let status = created.restrict_self().map_err(|e| e.to_string())?;
    let status = match status.ruleset {
        RulesetStatus::FullyEnforced => LandlockStatus::FullyEnforced,
        RulesetStatus::PartiallyEnforced => LandlockStatus::PartiallyEnforced,
        RulesetStatus::NotEnforced => LandlockStatus::NotEnforced,
    };
    if spec.required && status != LandlockStatus::FullyEnforced {
        return Err(format!(
            "Landlock is required but only {} (kernel ABI {abi_num})",
            status.as_str()
        ));
    }
    Ok(Applied {
        status,
        abi: abi_num,
    })
}
