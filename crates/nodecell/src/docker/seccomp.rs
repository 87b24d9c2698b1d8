//! The container's seccomp profile in OCI JSON (what Docker's `seccomp=` security option and
//! Podman take), rendered from the same policy data as every other backend:
//! `policy/seccomp/node.json` (Node's allowlist and its ENOSYS answers) and
//! `policy/seccomp/container.json` (what the launcher's own processes in the container need).
//! Not Docker's default profile.
//!
//! The engine applies it to every process of the container. The launcher then installs
//! node.json itself, compiled exactly as for the native backend, before it execs Node: Node
//! runs under both. libseccomp (which the engine's runtime uses) compares arguments as 64-bit
//! values, where node.json's `dword` conditions compare the low 32 bits as the kernel reads
//! them; an `eq` or `masked_eq` on 64 bits is as strict or stricter, a `ne` is looser (a
//! value with high bits set passes it). The launcher's exact filter is what holds those.

use serde_json::{json, Value};

const NODE_POLICY: &str = include_str!("../../../../policy/seccomp/node.json");
const CONTAINER_POLICY: &str = include_str!("../../../../policy/seccomp/container.json");

fn action(v: &Value) -> Result<Value, String> {
    match v {
        Value::String(s) if s == "allow" => Ok(json!({"action": "SCMP_ACT_ALLOW"})),
        Value::String(s) if s == "kill_process" => Ok(json!({"action": "SCMP_ACT_KILL_PROCESS"})),
        Value::String(s) if s == "kill_thread" => Ok(json!({"action": "SCMP_ACT_KILL"})),
        Value::Object(o) => match o.get("errno").and_then(Value::as_u64) {
            Some(n) => Ok(json!({"action": "SCMP_ACT_ERRNO", "errnoRet": n})),
            None => Err(format!("unsupported action {v}")),
        },
        _ => Err(format!("unsupported action {v}")),
    }
}

/// One argument condition in OCI form.
fn condition(arg: &Value) -> Result<Value, String> {
    let index = arg["index"].as_u64().ok_or("argument without index")?;
    let val = arg["val"].as_u64().ok_or("argument without val")?;
    let (op, value, value_two) = match &arg["op"] {
        Value::String(op) => {
            let op = match op.as_str() {
                "eq" => "SCMP_CMP_EQ",
                "ne" => "SCMP_CMP_NE",
                "lt" => "SCMP_CMP_LT",
                "le" => "SCMP_CMP_LE",
                "gt" => "SCMP_CMP_GT",
                "ge" => "SCMP_CMP_GE",
                other => return Err(format!("operator {other}")),
            };
            (op, val, 0)
        }
        Value::Object(o) => {
            let mask = o
                .get("masked_eq")
                .and_then(Value::as_u64)
                .ok_or("operator other than masked_eq")?;
            ("SCMP_CMP_MASKED_EQ", mask, val)
        }
        other => return Err(format!("operator {other}")),
    };
    Ok(json!({"index": index, "value": value, "valueTwo": value_two, "op": op}))
}

/// The rules of one filter: unconditional syscalls of one action together, each entry with
/// conditions on its own (conditions of an entry are AND'ed, entries OR'ed, as in node.json).
fn rules(entries: &Value, action: &Value, out: &mut Vec<Value>) -> Result<(), String> {
    let entries = entries.as_array().ok_or("filter without rules")?;
    let mut plain = Vec::new();
    for e in entries {
        let name = e["syscall"].as_str().ok_or("rule without syscall")?;
        match e.get("args").and_then(Value::as_array) {
            None => {
                if !plain.contains(&name) {
                    plain.push(name);
                }
            }
            Some(args) => {
                let mut rule = action.clone();
                rule["names"] = json!([name]);
                rule["args"] = Value::Array(args.iter().map(condition).collect::<Result<_, _>>()?);
                out.push(rule);
            }
        }
    }
    if !plain.is_empty() {
        let mut rule = action.clone();
        rule["names"] = json!(plain);
        out.push(rule);
    }
    Ok(())
}

/// The OCI profile (JSON text).
pub fn profile() -> Result<String, String> {
    let node: Value = serde_json::from_str(NODE_POLICY).map_err(|e| e.to_string())?;
    let container: Value = serde_json::from_str(CONTAINER_POLICY).map_err(|e| e.to_string())?;
    let allow = &node["node_allow"];
    let enosys = &node["node_enosys"];
    let default = action(&allow["mismatch_action"])?;
    let mut syscalls = Vec::new();
    rules(
        &enosys["filter"],
        &action(&enosys["match_action"])?,
        &mut syscalls,
    )?;
    let allow_action = action(&allow["match_action"])?;
    rules(&allow["filter"], &allow_action, &mut syscalls)?;
    rules(&container["launcher_allow"], &allow_action, &mut syscalls)?;
    let mut profile = json!({
        "defaultAction": default["action"],
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": syscalls,
    });
    if let Some(errno) = default.get("errnoRet") {
        profile["defaultErrnoRet"] = errno.clone();
    }
    Ok(profile.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Value, action: &str) -> Vec<String> {
        p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == action && r.get("args").is_none())
            .flat_map(|r| r["names"].as_array().unwrap().clone())
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    }

    /// The profile is the policy: Node's allowlist and the launcher's extras allowed, the
    /// ENOSYS set answered with ENOSYS, everything else EPERM, and the conditions kept.
    #[test]
    fn the_profile_is_rendered_from_the_policy_data() {
        let p: Value = serde_json::from_str(&profile().unwrap()).unwrap();
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(p["defaultErrnoRet"], 1);
        let allowed = names(&p, "SCMP_ACT_ALLOW");
        for s in [
            "read",
            "write",
            "execve",
            "epoll_pwait",
            "poll",
            "close_range",
        ] {
            assert!(allowed.iter().any(|a| a == s), "{s} not allowed");
        }
        for s in ["socket", "ptrace", "mount", "unshare", "bpf", "keyctl"] {
            assert!(!allowed.iter().any(|a| a == s), "{s} allowed");
        }
        let enosys: Vec<_> = p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["errnoRet"] == 38)
            .flat_map(|r| r["names"].as_array().unwrap().clone())
            .collect();
        assert!(enosys.contains(&json!("clone3")));
        let clone = p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"] == json!(["clone"]))
            .expect("clone is conditional");
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["value"], 0x7E02_0000u64);
        assert_eq!(clone["args"][0]["valueTwo"], 0);
        assert!(!allowed.iter().any(|a| a == "clone"), "clone unconditional");
    }
}
