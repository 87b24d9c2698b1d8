//! The settings of the backends' own sections (`[engine.backends.<name>]`), in the order
//! `--help` shows them.

use std::path::PathBuf;

use nodecell::EngineConfig;

use super::{boolean, located, number, Setting};

pub(super) fn settings() -> Vec<Setting> {
    vec![
        Setting {
            key: "engine.backends.nsjail.path",
            env: "NODECELL_NSJAIL",
            flag: "nsjail",
            unit: "path",
            help: "The nsjail binary (backend nsjail)",
            get: |c| {
                located(
                    &c.engine.backends.nsjail.path,
                    &EngineConfig::default().backends.nsjail.path,
                )
            },
            set: |c, v| {
                c.engine.backends.nsjail.path = PathBuf::from(v);
                Ok(())
            },
        },
        Setting {
            key: "engine.backends.qemu.guest_dir",
            env: "NODECELL_GUEST_DIR",
            flag: "guest-dir",
            unit: "path",
            help: "The microVM guest's directory, from scripts/guest.sh build (backends qemu and firecracker)",
            get: |c| {
                located(
                    &c.engine.backends.qemu.guest_dir,
                    &EngineConfig::default().backends.qemu.guest_dir,
                )
            },
            set: |c, v| {
                c.engine.backends.qemu.guest_dir = PathBuf::from(v);
                c.engine.backends.firecracker.guest_dir = PathBuf::from(v);
                Ok(())
            },
        },
        Setting {
            key: "engine.backends.firecracker.binary",
            env: "NODECELL_FIRECRACKER",
            flag: "firecracker",
            unit: "path",
            help: "Firecracker's binary, from scripts/firecracker.sh install (backend firecracker)",
            get: |c| {
                located(
                    &c.engine.backends.firecracker.binary,
                    &EngineConfig::default().backends.firecracker.binary,
                )
            },
            set: |c, v| {
                c.engine.backends.firecracker.binary = PathBuf::from(v);
                Ok(())
            },
        },
        Setting {
            key: "engine.backends.firecracker.jailer",
            env: "NODECELL_JAILER",
            flag: "jailer",
            unit: "path",
            help: "Firecracker's jailer, used where the service is root (backend firecracker)",
            get: |c| {
                located(
                    &c.engine.backends.firecracker.jailer,
                    &EngineConfig::default().backends.firecracker.jailer,
                )
            },
            set: |c, v| {
                c.engine.backends.firecracker.jailer = PathBuf::from(v);
                Ok(())
            },
        },
        Setting {
            key: "engine.backends.native.zygote",
            env: "NODECELL_NATIVE_ZYGOTE",
            flag: "native-zygote",
            unit: "true|false",
            help:
                "Backend native: fork sandboxes from a pre-booted zygote (false: boot Node in each)",
            get: |c| c.engine.backends.native.zygote.to_string(),
            set: |c, v| {
                c.engine.backends.native.zygote = boolean(v)?;
                Ok(())
            },
        },
        scalar!(
            "engine.backends.native.zygote_max_forks",
            "NODECELL_NATIVE_ZYGOTE_MAX_FORKS",
            "native-zygote-max-forks",
            "sandboxes",
            "Backend native: sandboxes one zygote forks before a fresh one takes over",
            engine.backends.native.zygote_max_forks
        ),
        scalar!(
            "engine.backends.native.zygote_max_age_ms",
            "NODECELL_NATIVE_ZYGOTE_MAX_AGE_MS",
            "native-zygote-max-age-ms",
            "ms",
            "Backend native: how long one zygote forks before a fresh one takes over",
            engine.backends.native.zygote_max_age_ms
        ),
        scalar!(
            "engine.backends.landlock.user_max_processes",
            "NODECELL_LANDLOCK_USER_MAX_PROCESSES",
            "landlock-user-max-processes",
            "processes",
            "Backend landlock: RLIMIT_NPROC, a backstop per user",
            engine.backends.landlock.user_max_processes
        ),
        scalar!(
            "engine.backends.landlock.first_uid",
            "NODECELL_LANDLOCK_FIRST_UID",
            "landlock-first-uid",
            "uid",
            "Backend landlock as root: the first host uid leased to sandboxes",
            engine.backends.landlock.first_uid
        ),
        scalar!(
            "engine.backends.landlock.uid_count",
            "NODECELL_LANDLOCK_UID_COUNT",
            "landlock-uid-count",
            "uids",
            "Backend landlock as root: how many uids from the first",
            engine.backends.landlock.uid_count
        ),
        Setting {
            key: "engine.backends.docker.socket",
            env: "NODECELL_DOCKER_SOCKET",
            flag: "docker-socket",
            unit: "path",
            help: "Backends docker and gvisor: the Docker Engine API socket (unset: DOCKER_HOST, \
                   else /var/run/docker.sock)",
            get: |c| match &c.engine.backends.docker.socket {
                Some(p) => p.display().to_string(),
                None => String::new(),
            },
            set: |c, v| {
                c.engine.backends.docker.socket = Some(PathBuf::from(v));
                Ok(())
            },
        },
        Setting {
            key: "engine.backends.docker.gvisor_runtime",
            env: "NODECELL_GVISOR_RUNTIME",
            flag: "gvisor-runtime",
            unit: "name",
            help: "Backend gvisor: the OCI runtime name the engine knows gVisor by",
            get: |c| c.engine.backends.docker.gvisor_runtime.clone(),
            set: |c, v| {
                c.engine.backends.docker.gvisor_runtime = v.trim().to_string();
                Ok(())
            },
        },
    ]
}
