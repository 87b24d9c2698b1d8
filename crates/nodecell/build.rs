//! Compiles the seccomp policy (policy/seccomp/node.json, data with a reason per syscall)
//! into BPF at build time, so a malformed policy fails the build, not a run; and renders the
//! same policy in Kafel, the language nsjail takes, for the nsjail backend.

use std::{env, fs, path::PathBuf};

#[path = "src/kafel.rs"]
mod kafel;

const FILTERS: [&str; 2] = ["node_allow", "node_enosys"];

fn main() {
    // NODECELL_SECCOMP_POLICY builds with another policy file (for trying out a policy).
    println!("cargo:rerun-if-env-changed=NODECELL_SECCOMP_POLICY");
    let policy = match env::var_os("NODECELL_SECCOMP_POLICY") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap())
            .join("../../policy/seccomp/node.json"),
    };
    println!("cargo:rerun-if-changed={}", policy.display());
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").unwrap().as_str() {
        "x86_64" => seccompiler::TargetArch::x86_64,
        "aarch64" => seccompiler::TargetArch::aarch64,
        other => panic!("no seccomp policy for target architecture {other}"),
    };
    let json = fs::read(&policy).unwrap_or_else(|e| panic!("reading {}: {e}", policy.display()));
    let kafel = kafel::render(&json).unwrap_or_else(|e| panic!("{}: {e}", policy.display()));
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(out.join("node.kafel"), kafel).unwrap();
    let mut programs = seccompiler::compile_from_json(json.as_slice(), arch)
        .unwrap_or_else(|e| panic!("compiling {}: {e}", policy.display()));
    for name in FILTERS {
        let prog = programs
            .remove(name)
            .unwrap_or_else(|| panic!("{} has no filter named {name}", policy.display()));
        let mut bytes = Vec::with_capacity(prog.len() * 8);
        for ins in prog {
            bytes.extend_from_slice(&ins.code.to_ne_bytes());
            bytes.push(ins.jt);
            bytes.push(ins.jf);
            bytes.extend_from_slice(&ins.k.to_ne_bytes());
        }
        fs::write(out.join(format!("{name}.bpf")), bytes).unwrap();
    }
    assert!(
        programs.is_empty(),
        "unexpected filters in the policy: {:?}",
        programs.keys()
    );
}
