//! The data-driven corpora: tests/contract (what user code may rely on) and tests/hostile
//! (attacks), one file per case, the expectation in a header of `// key: value` lines.
//! Hostile cases run with host fixtures (canary file, marker path, listeners, a sentinel
//! process, an env secret) that are checked from the host after every run; where the header
//! asks for it, the same file also runs unsandboxed inside a throwaway pid namespace (the
//! positive control) to prove the attack really does what it claims.

#[macro_use]
mod common;
#[path = "corpus/fixtures.rs"]
mod fixtures;

use fixtures::Fixtures;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nodecell::{BackendId, ExecRequest, LimitOverrides, Outcome};
use serde_json::{json, Value};

const KNOWN_KEYS: &[&str] = &[
    "about",
    "upstream",
    "profile",
    "mode",
    "inputs",
    "limits",
    "expect-status",
    "expect-result",
    "expect-result-has",
    "expect-result-type",
    "expect-result-matches",
    "expect-error-has",
    "expect-error-message-includes",
    "expect-logs",
    "expect-stdout",
    "expect-stderr",
    "expect-truncated",
    "control-result-has",
    "control",
    "expect-status-control",
];

fn known_key(key: &str) -> bool {
    if KNOWN_KEYS.contains(&key) {
        return true;
    }
    // A backend's name may prefix an `expect-*` key (overriding it for that backend) or
    // `exception` (why).
    common::BACKENDS.iter().chain(common::VM_BACKENDS).any(|b| {
        key.strip_prefix(b)
            .and_then(|k| k.strip_prefix('-'))
            .is_some_and(|rest| {
                rest == "exception" || (rest.starts_with("expect-") && KNOWN_KEYS.contains(&rest))
            })
    })
}

/// The corpus tests run one at a time: after each run they check that no cgroup of this
/// process is left, which only means something while no other run of it is in flight.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Case {
    name: String,
    header: BTreeMap<String, String>,
    code: String,
}

fn parse_case(path: &Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let re = regex::Regex::new(r"^// ([a-z][a-z-]*): (.*)$").unwrap();
    let mut header = BTreeMap::new();
    let mut consumed = 0;
    for line in text.split_inclusive('\n') {
        let Some(c) = re.captures(line.trim_end_matches('\n')) else {
            break;
        };
        let key = c[1].to_string();
        if !known_key(&key) {
            return Err(format!("unknown header key {key:?}"));
        }
        if header.insert(key.clone(), c[2].to_string()).is_some() {
            return Err(format!("duplicate header key {key:?}"));
        }
        consumed += line.len();
    }
    if !header.contains_key("about") || !header.contains_key("expect-status") {
        return Err("header needs about and expect-status".into());
    }
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    Ok(Case {
        name,
        header,
        code: text[consumed..].to_string(),
    })
}

fn cases(dir: &str) -> Vec<Case> {
    let dir = common::repo().join(dir);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "js"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no cases in {}", dir.display());
    paths
        .into_iter()
        .map(|p| parse_case(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

fn json_header(case: &Case, key: &str) -> Option<Value> {
    case.header.get(key).map(|v| {
        serde_json::from_str(v)
            .unwrap_or_else(|e| panic!("{}: header {key} is not JSON: {e}", case.name))
    })
}

/// `want` is contained in `got`: objects by the given keys, recursively; anything else equal.
fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| contains(gv, wv))),
        _ => got == want,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Header `key` as it applies to `backend`: `<backend>-<key>` where a backend cannot contain
/// the case as the others do (its header then says why, in `<backend>-exception`), `key`
/// otherwise.
fn header<'a>(case: &'a Case, backend: BackendId, key: &str) -> Option<&'a str> {
    let specific = format!("{}-{key}", backend.as_str());
    if let Some(v) = case.header.get(&specific) {
        assert!(
            case.header
                .contains_key(&format!("{}-exception", backend.as_str())),
            "{}: {specific} without {}-exception saying why",
            case.name,
            backend.as_str()
        );
        return Some(v);
    }
    case.header.get(key).map(String::as_str)
}

fn json_header_for(case: &Case, backend: BackendId, key: &str) -> Option<Value> {
    header(case, backend, key).map(|v| {
        serde_json::from_str(v)
            .unwrap_or_else(|e| panic!("{}: header {key} is not JSON: {e}", case.name))
    })
}

/// Every way `outcome` (as JSON) differs from what the case expects on `backend`.
fn check_expectations(case: &Case, outcome: &Value, backend: BackendId) -> Vec<String> {
    let json_header = |case: &Case, key: &str| json_header_for(case, backend, key);
    let mut fails = Vec::new();
    let status = outcome["status"].as_str().unwrap_or("?");
    let expected = header(case, backend, "expect-status").unwrap_or("?");
    let allowed: Vec<&str> = expected.split('|').map(str::trim).collect();
    if !allowed.contains(&status) {
        fails.push(format!("status {status}, expected {expected}"));
    }
    let result = &outcome["result"];
    let error = &outcome["error"];
    if let Some(w) = json_header(case, "expect-result") {
        if result != &w {
            fails.push(format!("result {result}, expected {w}"));
        }
    }
    if let Some(w) = json_header(case, "expect-result-has") {
        if !contains(result, &w) {
            fails.push(format!("result {result} does not contain {w}"));
        }
    }
    if let Some(t) = header(case, backend, "expect-result-type") {
        if type_name(result) != t {
            fails.push(format!("result {result} is not of type {t}"));
        }
    }
    if let Some(re) = header(case, backend, "expect-result-matches") {
        let re = regex::Regex::new(&format!("^(?:{re})$")).unwrap();
        if !result.as_str().is_some_and(|s| re.is_match(s)) {
            fails.push(format!("result {result} does not match {re}"));
        }
    }
    if let Some(w) = json_header(case, "expect-error-has") {
        if !contains(error, &w) {
            fails.push(format!("error {error} does not contain {w}"));
        }
    }
    if let Some(s) = header(case, backend, "expect-error-message-includes") {
        if !error["message"].as_str().is_some_and(|m| m.contains(s)) {
            fails.push(format!(
                "error message {} does not include {s:?}",
                error["message"]
            ));
        }
    }
    if status != "ok" && !(error["name"].is_string() && error["message"].is_string()) {
        fails.push(format!(
            "status {status} without a well-formed error: {error}"
        ));
    }
    for (key, field) in [
        ("expect-logs", "logs"),
        ("expect-stdout", "stdout"),
        ("expect-stderr", "stderr"),
        ("expect-truncated", "truncated"),
    ] {
        if let Some(w) = json_header(case, key) {
            if outcome[field] != w {
                fails.push(format!("{field} {}, expected {w}", outcome[field]));
            }
        }
    }
    fails
}

fn request(
    case: &Case,
    inputs: serde_json::Map<String, Value>,
    backend: Option<BackendId>,
) -> ExecRequest {
    let limits: LimitOverrides = json_header(case, "limits")
        .map(|v| serde_json::from_value(v).unwrap_or_else(|e| panic!("{}: limits: {e}", case.name)))
        .unwrap_or_default();
    let word = |key: &str| case.header.get(key).map(|v| format!("\"{v}\""));
    ExecRequest {
        code: case.code.clone(),
        inputs: inputs.into(),
        limits,
        backend: backend.map(|b| b.as_str().to_string()),
        profile: word("profile").map(|v| serde_json::from_str(&v).expect("profile: node or avs")),
        mode: word("mode").map(|v| serde_json::from_str(&v).expect("mode: a known mode")),
        ..Default::default()
    }
}

/// The contract corpus and the AVS compatibility corpus (tests/avs) on one backend.
async fn contract_corpus(backend: &str) {
    let _serial = SERIAL.lock().await;
    let engine = std::sync::Arc::new(common::engine_for(backend));
    let vm = common::VM_BACKENDS.contains(&backend);
    let Some(backend) = common::backend_or_skip(&engine, backend) else {
        return;
    };
    let mut all = cases("tests/contract");
    all.extend(cases("tests/avs")); // named avs-*.js
    if vm {
        all = vm_subset(all, CONTRACT_VM_STRIDE);
    }
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = Vec::new();
    for case in all {
        let (engine, sem) = (engine.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            let inputs = json_header(&case, "inputs")
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            let outcome = engine
                .run(&request(&case, inputs, Some(backend)))
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let outcome = serde_json::to_value(&outcome).unwrap();
            (
                case.name.clone(),
                check_expectations(&case, &outcome, backend),
                outcome,
            )
        }));
    }
    let mut failures = Vec::new();
    let total = tasks.len();
    for t in tasks {
        let (name, fails, outcome) = t.await.unwrap();
        if !fails.is_empty() {
            failures.push(format!(
                "{name}: {}\n    outcome: {outcome}",
                fails.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} contract cases failed on {}:\n{}",
        failures.len(),
        backend.as_str(),
        failures.join("\n")
    );
    let left = common::leftovers(&[]);
    assert!(left.is_empty(), "left behind: {left:?}");
    if common::is_container_backend(backend.as_str()) {
        nodecell::docker::container::settle(std::time::Duration::from_secs(20)).await;
        let left = common::containers_of(std::process::id());
        assert!(left.is_empty(), "containers left behind: {left:?}");
    }
}

per_backend!(contract_corpus);

/// A microVM backend boots a VM per case (~5 s under TCG, the only accelerator on CI's
/// hosts), so there it runs every `stride`-th case in name order (spread over every kind of
/// case), or all of them with NODECELL_VM_CORPUS=full.
fn vm_subset(cases: Vec<Case>, stride: usize) -> Vec<Case> {
    if std::env::var("NODECELL_VM_CORPUS").is_ok_and(|v| v == "full") {
        return cases;
    }
    cases.into_iter().step_by(stride).collect()
}

const CONTRACT_VM_STRIDE: usize = 5;
const HOSTILE_VM_STRIDE: usize = 4;

/// The corpora on the microVM backends (see [`vm_subset`]).
mod vm_corpora {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn qemu_contract() {
        super::contract_corpus("qemu").await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn qemu_hostile() {
        super::hostile_corpus("qemu").await
    }
}

/// The hostile corpus on one backend, with the host-side checks after every case.
async fn hostile_corpus(backend: &str) {
    let _serial = SERIAL.lock().await;
    let engine = common::engine_for(backend);
    let vm = common::VM_BACKENDS.contains(&backend);
    let Some(backend) = common::backend_or_skip(&engine, backend) else {
        return;
    };
    let mut fx = Fixtures::new();
    let mut failures = Vec::new();
    let mut cases = cases("tests/hostile");
    if vm {
        cases = vm_subset(cases, HOSTILE_VM_STRIDE);
    }
    for case in &cases {
        let outcome: Outcome = engine
            .run(&request(case, fx.inputs(), Some(backend)))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let text = serde_json::to_string(&outcome).unwrap();
        let mut fails = check_expectations(case, &serde_json::to_value(&outcome).unwrap(), backend);
        fails.extend(fx.breaches(&text));
        if common::is_container_backend(backend.as_str()) {
            // A container killed rather than ended is removed in the background.
            nodecell::docker::container::settle(std::time::Duration::from_secs(20)).await;
            let left = common::containers_of(std::process::id());
            if !left.is_empty() {
                fails.push(format!("the run left containers: {left:?}"));
            }
        }
        if !fails.is_empty() {
            failures.push(format!(
                "{}: {}\n    outcome: {}",
                case.name,
                fails.join("; "),
                &text[..text.len().min(2000)]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed on {}:\n{}",
        failures.len(),
        cases.len(),
        backend.as_str(),
        failures.join("\n")
    );
}

per_backend!(hostile_corpus);

/// Runs the runner with plain Node, as root, in a throwaway pid namespace: no sandbox, the
/// host's files, network and environment (with the env secret) in reach. The fd layout is the
/// sandbox's: job on fd 3 (from the child's stdin), frames on fd 4 (to its stdout), fd 0
/// /dev/null, fds 1 and 2 a pipe.
fn run_unsandboxed(
    code: &str,
    inputs: &serde_json::Map<String, Value>,
    limits: &nodecell::Limits,
    secret: &str,
) -> Value {
    let (n, r) = (common::node(), common::repo().join("runner/runner.js"));
    let (n, r) = (n.display(), r.display());
    let script = format!("exec {n} {r} 3<&0 4>&1 1>&2 0</dev/null");
    let mut child = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "/bin/sh",
            "-c",
            &script,
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("NODECELL_TEST_SECRET", secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let drain = std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let nonce = "control";
    let job = json!({"nonce": nonce, "code": code, "inputs": inputs, "max_result_bytes": limits.max_result_bytes, "max_output_bytes": limits.max_output_bytes});
    let body = serde_json::to_vec(&job).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(&nodecell::protocol::encode_frame(&body))
        .unwrap();
    drop(stdin);
    let mut frames = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut frames)
        .unwrap();
    let _ = child.wait();
    let _ = drain.join();
    let mut rest = frames.as_slice();
    while rest.len() >= 4 {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let Some(body) = rest.get(4..4 + len) else {
            break;
        };
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if v["type"] == "result" && v["nonce"] == nonce {
            return v;
        }
        rest = &rest[4 + len..];
    }
    json!({"status": "crashed"})
}

#[test]
fn hostile_positive_controls() {
    let _serial = SERIAL.blocking_lock();
    let fx = Fixtures::new();
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases("tests/hostile") {
        let Some(want) = json_header(&case, "control-result-has") else {
            continue;
        };
        ran += 1;
        let req = request(&case, fx.inputs(), None);
        let limits = nodecell::Limits::default()
            .with_overrides(&req.limits, &nodecell::limits::MAX_LIMITS)
            .unwrap();
        let got = run_unsandboxed(&case.code, &req.inputs.to_map(), &limits, &fx.env_secret);
        let want_status = case
            .header
            .get("expect-status-control")
            .map(String::as_str)
            .unwrap_or("ok");
        if got["status"] != want_status || !contains(&got["result"], &want) {
            failures.push(format!(
                "{}: unsandboxed gave {got}, expected status {want_status} and {want}",
                case.name
            ));
        }
        let _ = std::fs::remove_file(&fx.marker_path);
    }
    assert!(ran >= 10, "only {ran} cases have a positive control");
    assert!(
        failures.is_empty(),
        "{} positive controls did not show the attack working:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
