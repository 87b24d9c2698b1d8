//! Scratch harness for policy/seccomp/verify.sh (built under $TMPDIR, never part of the workspace).
//!
//!   seccomp-exec lint POLICY.json
//!       structural checks of the policy (comments, actions, denied-by-design calls, the
//!       seccompiler "unconditional rule silently becomes conditional" pitfall) and a compile.
//!   seccomp-exec exec POLICY.json PROGRAM [ARGS...]
//!       does what the nodecell launcher does right before execve(node): compile both filters
//!       with seccompiler 0.5.0, PR_SET_NO_NEW_PRIVS, apply node_allow, apply node_enosys (last),
//!       then execv(PROGRAM, ARGS) with the inherited environment and fds.
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::process::exit;

const DENIED_BY_DESIGN: &[&str] = &[
    "socket", "unshare", "setns", "ptrace", "mount", "umount2", "pivot_root", "move_mount",
    "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr", "bpf", "keyctl",
    "add_key", "request_key", "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "process_vm_readv", "process_vm_writev",
    "open_by_handle_at", "name_to_handle_at", "clock_settime", "settimeofday", "adjtimex",
    "clock_adjtime", "swapon", "swapoff", "reboot", "acct", "quotactl", "quotactl_fd", "chroot",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
    "setgroups", "capset", "personality", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "clone3", "pidfd_getfd", "memfd_secret", "lookup_dcookie", "vhangup",
    "iopl", "ioperm", "syslog", "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl",
    "fanotify_init", "kcmp", "process_madvise", "mbind", "migrate_pages", "move_pages",
    "set_mempolicy",
];
const ENOSYS_EXPECTED: &[&str] = &["clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"];
const MUST_BE_CONDITIONAL: &[&str] = &["clone", "socketpair", "ioctl", "prctl", "kill", "prlimit64", "seccomp", "setsockopt"];

fn die(msg: String) -> ! {
    eprintln!("seccomp-exec: {msg}");
    exit(2)
}

fn read_policy(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| die(format!("read {path}: {e}")))
}

fn compile(text: &str) -> (seccompiler::BpfProgram, seccompiler::BpfProgram) {
    let mut filters = seccompiler::compile_from_json(text.as_bytes(), seccompiler::TargetArch::x86_64)
        .unwrap_or_else(|e| die(format!("compile: {e}")));
    let allow = filters.remove("node_allow").unwrap_or_else(|| die("node_allow missing".into()));
    let enosys = filters.remove("node_enosys").unwrap_or_else(|| die("node_enosys missing".into()));
    if !filters.is_empty() {
        die(format!("unexpected extra filters: {:?}", filters.keys().collect::<Vec<_>>()));
    }
    (allow, enosys)
}

fn lint(path: &str) -> i32 {
    let text = read_policy(path);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| die(format!("json: {e}")));
    let mut errors: Vec<String> = Vec::new();
    let obj = v.as_object().unwrap_or_else(|| die("top level is not an object".into()));
    let keys: BTreeSet<&str> = obj.keys().map(|k| k.as_str()).collect();
    if keys != BTreeSet::from(["node_allow", "node_enosys"]) {
        errors.push(format!("filters must be exactly node_allow and node_enosys, got {keys:?}"));
    }
    let expect_actions = [
        ("node_allow", serde_json::json!({"errno": 1}), serde_json::json!("allow")),
        ("node_enosys", serde_json::json!("allow"), serde_json::json!({"errno": 38})),
    ];
    let mut names: BTreeMap<&str, BTreeMap<String, (usize, usize)>> = BTreeMap::new();
    for (fname, mismatch, matched) in expect_actions.iter() {
        let Some(f) = obj.get(*fname) else { continue };
        if f.get("mismatch_action") != Some(mismatch) {
            errors.push(format!("{fname}: mismatch_action must be {mismatch}"));
        }
        if f.get("match_action") != Some(matched) {
            errors.push(format!("{fname}: match_action must be {matched}"));
        }
        let rules = f.get("filter").and_then(|r| r.as_array()).cloned().unwrap_or_default();
        let per = names.entry(fname).or_default();
        for (i, rule) in rules.iter().enumerate() {
            let sc = rule.get("syscall").and_then(|s| s.as_str()).unwrap_or("?").to_string();
            let comment = rule.get("comment").and_then(|c| c.as_str()).unwrap_or("");
            if comment.trim().len() < 10 {
                errors.push(format!("{fname}[{i}] {sc}: missing or too short comment"));
            }
            let e = per.entry(sc.clone()).or_insert((0, 0));
            match rule.get("args").and_then(|a| a.as_array()) {
                Some(args) => {
                    e.1 += 1;
                    for (j, cond) in args.iter().enumerate() {
                        let c = cond.get("comment").and_then(|c| c.as_str()).unwrap_or("");
                        if c.trim().is_empty() {
                            errors.push(format!("{fname}[{i}] {sc} arg condition {j}: missing comment"));
                        }
                    }
                }
                None => e.0 += 1,
            }
        }
    }
    for (fname, per) in &names {
        for (sc, (uncond, cond)) in per {
            if *uncond > 1 {
                errors.push(format!("{fname}: {sc} listed unconditionally {uncond} times"));
            }
            if *uncond > 0 && *cond > 0 {
                // seccompiler 0.5 keeps only the argument rules when a syscall also has an
                // unconditional rule: the unconditional allow is silently dropped.
                errors.push(format!("{fname}: {sc} has both an unconditional and a conditional rule"));
            }
        }
    }
    let allow = names.get("node_allow").cloned().unwrap_or_default();
    let enosys = names.get("node_enosys").cloned().unwrap_or_default();
    for d in DENIED_BY_DESIGN {
        if allow.contains_key(*d) {
            errors.push(format!("node_allow must not allow {d} (denied by design)"));
        }
    }
    for c in MUST_BE_CONDITIONAL {
        if let Some((uncond, _)) = allow.get(*c) {
            if *uncond > 0 {
                errors.push(format!("node_allow: {c} must only be allowed with argument conditions"));
            }
        }
    }
    let enosys_names: BTreeSet<&str> = enosys.keys().map(|s| s.as_str()).collect();
    if enosys_names != ENOSYS_EXPECTED.iter().copied().collect() {
        errors.push(format!("node_enosys must be exactly {ENOSYS_EXPECTED:?}, got {enosys_names:?}"));
    }
    if enosys.values().any(|(_, cond)| *cond > 0) {
        errors.push("node_enosys rules must be unconditional".into());
    }
    let (a, e) = compile(&text);
    if a.len() > 4096 || e.len() > 4096 {
        errors.push("a BPF program exceeds 4096 instructions".into());
    }
    println!(
        "lint: node_allow {} syscalls ({} rules, {} BPF insns); node_enosys {} syscalls ({} BPF insns)",
        allow.len(),
        allow.values().map(|(u, c)| u + c).sum::<usize>(),
        a.len(),
        enosys.len(),
        e.len()
    );
    println!("lint: allowed: {}", allow.keys().cloned().collect::<Vec<_>>().join(" "));
    for err in &errors {
        println!("lint: ERROR {err}");
    }
    if errors.is_empty() { 0 } else { 1 }
}

fn exec(path: &str, prog_args: &[String]) -> ! {
    let (allow, enosys) = compile(&read_policy(path));
    let prog = CString::new(prog_args[0].as_str()).unwrap();
    let argv: Vec<CString> = prog_args.iter().map(|a| CString::new(a.as_str()).unwrap()).collect();
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    // SAFETY: plain prctl call with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        die(format!("PR_SET_NO_NEW_PRIVS: {}", std::io::Error::last_os_error()));
    }
    seccompiler::apply_filter(&allow).unwrap_or_else(|e| die(format!("apply node_allow: {e}")));
    seccompiler::apply_filter(&enosys).unwrap_or_else(|e| die(format!("apply node_enosys: {e}")));
    // SAFETY: prog and argv_ptrs are valid NUL-terminated strings / a NULL-terminated array
    // that outlive the call; execv only returns on error.
    unsafe { libc::execv(prog.as_ptr(), argv_ptrs.as_ptr()) };
    eprintln!("seccomp-exec: execv {}: {}", prog_args[0], std::io::Error::last_os_error());
    exit(127)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("lint") if args.len() == 3 => exit(lint(&args[2])),
        Some("exec") if args.len() >= 4 => exec(&args[2], &args[3..]),
        _ => die("usage: seccomp-exec lint POLICY.json | seccomp-exec exec POLICY.json PROGRAM [ARGS...]".into()),
    }
}
