//! The docker and gvisor backends' sandbox image, against a real Docker Engine (scripts/test.sh
//! starts one with scripts/dockerd.sh): built locally from what the other backends bind into
//! their sandboxes, never pulled; tagged by content; older nodecell images removed; and Node
//! runs in it as nobody with no network and a read-only root.

mod common;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use nodecell::docker::{image, DockerClient};
use tokio_stream::StreamExt;

async fn client() -> Option<DockerClient> {
    match DockerClient::connect(None).await {
        Ok(c) => Some(c),
        Err(e) if std::env::var_os("NODECELL_TEST_SKIP_UNAVAILABLE").is_some() => {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// Runs `argv` in a fresh container of `reference` (nobody, no network, read-only root) and
/// returns its exit code and output; the container is removed.
async fn run_in(client: &DockerClient, reference: &str, argv: &[&str]) -> (i64, String) {
    let docker = client.api();
    let name = format!("nodecell-test-{}", nodecell::protocol::new_nonce());
    let body = ContainerCreateBody {
        image: Some(reference.into()),
        cmd: Some(argv.iter().map(|s| s.to_string()).collect()),
        user: Some("65534:65534".into()),
        env: Some(vec![]),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            readonly_rootfs: Some(true),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(&name).build();
    let id = docker
        .create_container(Some(options), body)
        .await
        .unwrap()
        .id;
    docker.start_container(&id, None).await.unwrap();
    let wait = WaitContainerOptionsBuilder::default()
        .condition("not-running")
        .build();
    let code = match docker.wait_container(&id, Some(wait)).next().await {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        other => panic!("{other:?}"),
    };
    let logs = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .build();
    let mut out = String::new();
    let mut stream = docker.logs(&id, Some(logs));
    while let Some(chunk) = stream.next().await {
        out.push_str(&chunk.unwrap().to_string());
    }
    let remove = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    docker.remove_container(&id, Some(remove)).await.unwrap();
    (code, out)
}

#[tokio::test]
async fn the_sandbox_image_is_built_locally_by_content_and_runs_node() {
    let Some(client) = client().await else { return };
    let engine = common::engine();
    let layout = engine.layout();
    let launcher = &engine.config().launcher_path;

    // An older nodecell image (of another root filesystem) is there first.
    let dir = std::env::temp_dir().join(format!("nodecell-old-image-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::write(dir.join("bin/node"), "not node").unwrap();
    let old_layout = nodecell::NodeLayout {
        entries: vec![nodecell::launch::spec::RootEntry::Bind {
            source: dir.join("bin"),
            path: "/usr/bin".into(),
            dir: true,
            exec: true,
        }],
        ..layout.clone()
    };
    let old = image::ensure(&client, &old_layout, launcher).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(image::present(&client, &old.reference).await.unwrap());

    let made = image::ensure(&client, layout, launcher).await.unwrap();
    assert_eq!(
        made.reference,
        image::reference_of(layout, launcher).await.unwrap()
    );
    assert!(made.removed.contains(&old.reference), "{made:?}");
    assert!(!image::present(&client, &old.reference).await.unwrap());
    // The same files: the same image, not built again.
    let again = image::ensure(&client, layout, launcher).await.unwrap();
    assert_eq!(
        (again.reference.as_str(), again.built),
        (made.reference.as_str(), false)
    );

    let node = layout.sandbox_node.to_string_lossy().into_owned();
    let probe = "const fs = require('fs'); let rofs; try { fs.writeFileSync('/x', ''); } catch (e) { rofs = e.code } \
                 console.log(JSON.stringify({sum: 6 * 7, uid: process.getuid(), rofs, \
                 runner: fs.existsSync('/runner/package.json') || fs.readdirSync('/').join(',')}))";
    let (code, out) = run_in(&client, &made.reference, &[&node, "-e", probe]).await;
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["sum"], 42, "{v}");
    assert_eq!(v["uid"], 65534, "{v}");
    assert_eq!(v["rofs"], "EROFS", "{v}");
    assert_eq!(v["runner"], true, "{v}");
}
