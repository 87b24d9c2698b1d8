//! The settings table: names unique, defaults that read back, values parsed and bad ones
//! named, and the configuration guide listing every flag and variable.

use nodecell::enforcement::Protection;
use nodecell_server::settings::{apply, settings, Setting};
use nodecell_server::ServerConfig;

#[test]
fn every_setting_reads_back_what_it_shows_and_names_are_unique() {
    let defaults = ServerConfig::default();
    let all = settings();
    let mut seen = std::collections::HashSet::new();
    for s in &all {
        for name in [("key", s.key), ("variable", s.env), ("flag", s.flag)] {
            assert!(seen.insert(name), "{name:?} twice");
        }
        assert!(s.env.starts_with("NODECELL_"), "{}", s.env);
        let shown = (s.get)(&defaults);
        let mut c = ServerConfig::default();
        // What a setting shows of a value that can be written back must set the same value.
        if (s.set)(&mut c, &shown).is_ok() {
            assert_eq!((s.get)(&c), shown, "{}", s.key);
        }
    }
    assert!(all.len() >= 50, "{} settings", all.len());
}

#[test]
fn the_configuration_guide_lists_every_flag_and_variable() {
    let guide = include_str!("../../../docs/configuration.md");
    for s in settings() {
        let row = format!("| `--{}` | `{}` |", s.flag, s.env);
        assert!(guide.contains(&row), "docs/configuration.md lacks {row}");
    }
}

#[test]
fn values_are_parsed_and_bad_ones_named() {
    let mut c = ServerConfig::default();
    let given = [
        ("NODECELL_DEFAULT_TIMEOUT_MS", "1234"),
        ("NODECELL_MAX_MEMORY_MIB", "512"),
        ("NODECELL_REQUIRED_PROTECTIONS", "seccomp, landlock"),
        ("NODECELL_RUNNER_SNAPSHOT", "off"),
        ("NODECELL_GRPC_LISTEN", ":9000"),
        ("NODECELL_NODE_FLAGS", "--no-addons  --stack-size=500"),
    ];
    let env = |s: &Setting| {
        given
            .iter()
            .find(|(k, _)| *k == s.env)
            .map(|(_, v)| v.to_string())
    };
    apply(&mut c, env, |s| s.env.to_string()).unwrap();
    assert_eq!(c.engine.default_limits.timeout_ms, 1234);
    assert_eq!(c.engine.max_limits.memory_mib, 512);
    assert_eq!(
        c.engine.required_protections,
        Some(vec![Protection::Seccomp, Protection::Landlock])
    );
    assert!(!c.engine.runner_snapshot);
    assert_eq!(c.grpc_listen.to_string(), "0.0.0.0:9000");
    assert_eq!(c.engine.node_flags, ["--no-addons", "--stack-size=500"]);

    for (var, bad, says) in [
        ("NODECELL_POOL_SIZE", "many", "NODECELL_POOL_SIZE: \"many\""),
        ("NODECELL_RUNNER_SNAPSHOT", "maybe", "not true or false"),
        (
            "NODECELL_REQUIRED_PROTECTIONS",
            "seccomp,magic",
            "unknown protection \"magic\"",
        ),
        ("NODECELL_HTTP_LISTEN", "8080", "such as 127.0.0.1:8080"),
    ] {
        let env = |s: &Setting| (s.env == var).then(|| bad.to_string());
        let e = apply(&mut c, env, |s| s.env.to_string()).unwrap_err();
        assert!(e.contains(says), "{e}");
    }
}
