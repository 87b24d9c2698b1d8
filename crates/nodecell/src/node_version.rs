//! The Node.js release lines nodecell supports: the ones that still get security fixes and on
//! which the runner, its snapshot and code caches, the seccomp policy and every corpus were
//! verified. The same list is in the runner (`runner/lib/node-lines.js`) and in
//! `runner/package.json`'s `engines`; a unit test keeps the three equal.

/// Supported major versions (each an LTS line still maintained).
pub const SUPPORTED_NODE_MAJORS: [u32; 3] = [22, 24, 26];

/// The supported lines for a message: `22, 24 or 26`.
pub fn supported_lines() -> String {
    let names: Vec<String> = SUPPORTED_NODE_MAJORS.iter().map(u32::to_string).collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Checks `node --version` output (`v24.22.3`): `Ok(major)` for a supported line.
pub fn check(version: &str) -> Result<u32, String> {
    let major = version
        .trim()
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok())
        .ok_or_else(|| format!("cannot read a Node.js version from {version:?}"))?;
    if SUPPORTED_NODE_MAJORS.contains(&major) {
        Ok(major)
    } else {
        Err(format!(
            "Node.js {} is not supported: nodecell runs on Node.js {} (maintained LTS lines); \
             scripts/setup.sh installs a supported one, or set node_path / NODECELL_NODE",
            version.trim(),
            supported_lines()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_lines_pass_and_others_are_refused_with_the_list() {
        assert_eq!(check("v24.22.3\n"), Ok(24));
        assert_eq!(check("v22.1.0"), Ok(22));
        assert_eq!(check("v26.12.1"), Ok(26));
        for old in ["v20.20.2", "v18.0.0", "v23.1.0", "v25.9.0"] {
            let e = check(old).unwrap_err();
            assert!(e.contains("22, 24 or 26"), "{e}");
            assert!(e.contains(old), "{e}");
        }
        assert!(check("garbage").unwrap_err().contains("cannot read"));
    }

    /// The runner and package.json say the same as this module.
    #[test]
    fn the_runner_and_package_json_list_the_same_lines() {
        let runner = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runner");
        let lines = std::fs::read_to_string(runner.join("lib/node-lines.js")).unwrap();
        let want: Vec<String> = SUPPORTED_NODE_MAJORS.iter().map(u32::to_string).collect();
        assert!(
            lines.contains(&format!("SUPPORTED = [{}]", want.join(", "))),
            "runner/lib/node-lines.js must list {want:?}"
        );
        let pkg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(runner.join("package.json")).unwrap()).unwrap();
        let engines: Vec<String> = want.iter().map(|m| format!("^{m}")).collect();
        assert_eq!(pkg["engines"]["node"], engines.join(" || ").as_str());
    }
}
