//! Renders the seccomp policy (seccompiler JSON, policy/seccomp/node.json) in Kafel, the
//! policy language of nsjail, so that both backends enforce one policy written once.
//!
//! Used by build.rs (the policy is rendered at build time, like the BPF of the native
//! backend). The mapping:
//! - `node_enosys` (match: ERRNO(38)) comes first, then `node_allow` (match: ALLOW); the
//!   default action is the allowlist's mismatch action, ERRNO(1). Kafel takes the first rule
//!   that matches, which is the order the native backend's two stacked filters give.
//! - Entries of one syscall become one rule whose conditions are OR'ed; the conditions of
//!   one entry are AND'ed.
//! - `dword` arguments compare the low 32 bits only (`(aN & 0xffffffff)`), as seccompiler
//!   does; `qword` compares all 64.
//! - Kafel names syscalls as the kernel does where that differs from libc's names.

use serde_json::Value;

/// libc names whose x86_64 kernel (Kafel) name differs.
const KERNEL_NAMES: &[(&str, &str)] = &[
    ("fstat", "newfstat"),
    ("stat", "newstat"),
    ("lstat", "newlstat"),
    ("uname", "newuname"),
    ("umount2", "umount"),
    ("sendfile", "sendfile64"),
];

fn kernel_name(name: &str) -> &str {
    KERNEL_NAMES
        .iter()
        .find(|(libc, _)| *libc == name)
        .map_or(name, |(_, kernel)| kernel)
}

fn action(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) if s == "allow" => Ok("ALLOW".into()),
        Value::String(s) if s == "kill_process" => Ok("KILL_PROCESS".into()),
        Value::String(s) if s == "kill_thread" => Ok("KILL".into()),
        Value::Object(o) => match o.get("errno").and_then(Value::as_u64) {
            Some(n) => Ok(format!("ERRNO({n})")),
            None => Err(format!("unsupported action {v}")),
        },
        _ => Err(format!("unsupported action {v}")),
    }
}

/// One argument condition, e.g. `(a0 & 0xffffffff) == 0x1`.
fn condition(arg: &Value) -> Result<(u64, String), String> {
    let index = arg["index"].as_u64().ok_or("argument without index")?;
    let val = arg["val"].as_u64().ok_or("argument without val")?;
    let dword = match arg["type"].as_str() {
        Some("dword") => true,
        Some("qword") => false,
        other => return Err(format!("argument type {other:?}")),
    };
    let name = format!("a{index}");
    let (lhs, op) = match &arg["op"] {
        Value::String(op) => {
            let op = match op.as_str() {
                "eq" => "==",
                "ne" => "!=",
                "lt" => "<",
                "le" => "<=",
                "gt" => ">",
                "ge" => ">=",
                other => return Err(format!("operator {other}")),
            };
            let lhs = if dword {
                format!("({name} & 0xffffffff)")
            } else {
                name
            };
            (lhs, op)
        }
        Value::Object(o) => {
            let mask = o
                .get("masked_eq")
                .and_then(Value::as_u64)
                .ok_or("operator other than masked_eq")?;
            let mask = if dword { mask & 0xffff_ffff } else { mask };
            (format!("({name} & {mask:#x})"), "==")
        }
        other => return Err(format!("operator {other}")),
    };
    Ok((index, format!("{lhs} {op} {val:#x}")))
}

/// The rules of one filter, grouped by syscall in the order of first appearance.
fn rules(filter: &Value) -> Result<Vec<String>, String> {
    let entries = filter["filter"].as_array().ok_or("filter without rules")?;
    let mut order: Vec<&str> = Vec::new();
    for e in entries {
        let name = e["syscall"].as_str().ok_or("rule without syscall")?;
        if !order.contains(&name) {
            order.push(name);
        }
    }
    let mut out = Vec::new();
    for name in order {
        let mut alternatives = Vec::new();
        let mut unconditional = false;
        let mut max_index = 0;
        for e in entries.iter().filter(|e| e["syscall"] == name) {
            match e.get("args").and_then(Value::as_array) {
                None => unconditional = true,
                Some(args) => {
                    let mut all = Vec::new();
                    for a in args {
                        let (i, c) = condition(a)?;
                        max_index = max_index.max(i);
                        all.push(c);
                    }
                    alternatives.push(format!("({})", all.join(" && ")));
                }
            }
        }
        let kernel = kernel_name(name);
        if unconditional {
            out.push(kernel.to_string());
        } else {
            let params: Vec<String> = (0..=max_index).map(|i| format!("a{i}")).collect();
            out.push(format!(
                "{kernel}({}) {{ {} }}",
                params.join(", "),
                alternatives.join(" || ")
            ));
        }
    }
    Ok(out)
}

/// The Kafel text of the whole policy.
pub fn render(policy_json: &[u8]) -> Result<String, String> {
    let policy: Value = serde_json::from_slice(policy_json).map_err(|e| e.to_string())?;
    let allow = &policy["node_allow"];
    let enosys = &policy["node_enosys"];
    if action(&allow["match_action"])? != "ALLOW" {
        return Err("node_allow must allow what it matches".into());
    }
    let mut text =
        String::from("/* Generated from policy/seccomp/node.json by nodecell's build.rs. */\n");
    for (name, filter) in [("node_enosys", enosys), ("node_allow", allow)] {
        text.push_str(&format!(
            "POLICY {name} {{\n  {} {{\n    {}\n  }}\n}}\n",
            action(&filter["match_action"])?,
            rules(filter)?.join(",\n    ")
        ));
    }
    text.push_str(&format!(
        "USE node_enosys, USE node_allow DEFAULT {}\n",
        action(&allow["mismatch_action"])?
    ));
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_conditions_names_and_order() {
        let json = br#"{
          "node_allow": {"mismatch_action": {"errno": 1}, "match_action": "allow", "filter": [
            {"syscall": "read"},
            {"syscall": "fstat"},
            {"syscall": "prctl", "args": [{"index": 0, "type": "dword", "op": "eq", "val": 15}]},
            {"syscall": "prctl", "args": [{"index": 0, "type": "dword", "op": "eq", "val": 38}]},
            {"syscall": "clone", "args": [{"index": 0, "type": "dword", "op": {"masked_eq": 2114060288}, "val": 0}]},
            {"syscall": "ioctl", "args": [{"index": 1, "type": "dword", "op": "ne", "val": 21522},
                                           {"index": 1, "type": "qword", "op": "ne", "val": 21532}]}
          ]},
          "node_enosys": {"mismatch_action": "allow", "match_action": {"errno": 38}, "filter": [
            {"syscall": "clone3"}
          ]}
        }"#;
        let text = render(json).unwrap();
        let enosys = text.find("POLICY node_enosys").unwrap();
        let allow = text.find("POLICY node_allow").unwrap();
        assert!(enosys < allow, "{text}");
        assert!(text.contains("ERRNO(38) {\n    clone3\n"), "{text}");
        assert!(text.contains("newfstat"), "{text}");
        assert!(text
            .contains("prctl(a0) { ((a0 & 0xffffffff) == 0xf) || ((a0 & 0xffffffff) == 0x26) }"));
        assert!(text.contains("clone(a0) { ((a0 & 0x7e020000) == 0x0) }"));
        assert!(text.contains("ioctl(a0, a1) { ((a1 & 0xffffffff) != 0x5412 && a1 != 0x541c) }"));
        assert!(text.ends_with("USE node_enosys, USE node_allow DEFAULT ERRNO(1)\n"));
    }

    #[test]
    fn refuses_what_it_cannot_express() {
        let json = br#"{"node_allow": {"mismatch_action": "allow", "match_action": "log", "filter": []},
                        "node_enosys": {"mismatch_action": "allow", "match_action": {"errno": 38}, "filter": []}}"#;
        assert!(render(json).is_err());
    }
}
