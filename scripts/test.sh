#!/usr/bin/env bash
# Sets everything up and runs every check: formatting, lints, the runner's own tests, the
# seccomp policy check, the Rust unit, integration and corpus tests, the other Node lines, the
# cgroup v2 VM, the Go client's checks and tests, the deployment files' checks, and fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# shellcheck source=scripts/node-env.sh
. scripts/node-env.sh
# A Docker Engine for the docker image tests: one already running is used as it is; otherwise
# nodecell's own is started (as root; installed from Debian's docker.io if missing) and stopped
# when the tests end.
if [ "$(id -u)" = 0 ] || [ -n "${DOCKER_HOST:-}" ]; then
  DOCKER_HOST=$(scripts/dockerd.sh start)
  export DOCKER_HOST
  trap 'scripts/dockerd.sh stop' EXIT
fi

cargo fmt --all --check
python3 tools/check_modules.py
# The Go client: buf lint, generated code up to date, buf breaking (once tagged), gofmt, vet.
scripts/go-client.sh check
cargo clippy --release --locked --all-targets -- -D warnings
(cd runner && npm test && npm run test:lazy && npm run test:snapshot)
if [ "$(id -u)" = 0 ] && command -v strace >/dev/null && command -v gcc >/dev/null; then
  policy/seccomp/verify.sh
fi
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --release --locked --no-fail-fast
else
  cargo test --release --locked --no-fail-fast
fi
# Backend native's boot path (`[backends.native] zygote = false`; the run above used its
# default, the zygote path, docs/architecture.md "Zygotes"): the contract and hostile corpora,
# the pool and the service's tests again, every native sandbox booting its own Node (~2 min).
NODECELL_NATIVE_ZYGOTE=false cargo test --release --locked --no-fail-fast --test corpus \
  --test pool --test access --test avs --test batch --test grpc --test http \
  --test http_details --test limits --test memory --test session --test tls -- \
  --skip docker --skip gvisor --skip nsjail --skip landlock --skip qemu
# The other Node lines (scripts/node-lines.sh): Node 22 and 26 pass the runner's tests, the
# contract corpus and (as root) the seccomp policy's checks; Node 20 is refused (~6 min).
scripts/node-lines.sh test
# cgroup v2 (this host mounts v1): Debian's kernel booted under QEMU with a v2-only hierarchy
# over this checkout (scripts/cgroup2-vm.sh), running scripts/cgroup2-suite.sh: check, the
# contract and hostile corpora, delegation to an unprivileged service (~5 min; root only:
# qemu-system-x86 and the kernel come from Debian's packages).
if [ "$(id -u)" = 0 ] && [ "${NODECELL_TEST_CGROUP2_VM:-1}" != 0 ]; then
  scripts/cgroup2-vm.sh setup
  scripts/cgroup2-vm.sh run -- scripts/cgroup2-suite.sh
fi
# The Go client's unit tests, and its AVS-shaped integration tests against a real
# `nodecell serve` on every available backend (clients/go/examples/avs).
scripts/go-client.sh test
# deploy/ (docs/deployment.md): the alert rules and their unit tests (promtool, from Debian's
# prometheus package), the dashboard's and rules' metrics against a live scrape, the systemd
# unit; then the Helm chart linted, rendered and every object validated against the Kubernetes
# API schemas (helm from the Go module proxy, kubernetes-validate from PyPI).
if [ "$(id -u)" = 0 ] || command -v promtool >/dev/null; then
  scripts/check-deploy-monitoring.sh
fi
scripts/check-chart.sh
# The docker backend against Podman's Docker-compatible API (Debian's podman, nodecell's own
# service on its own socket and storage, stopped after): both corpora.
if [ "$(id -u)" = 0 ] && [ "${NODECELL_TEST_PODMAN:-1}" != 0 ]; then
  podman_host=$(scripts/podman.sh start)
  trap 'scripts/podman.sh stop; scripts/dockerd.sh stop' EXIT
  DOCKER_HOST=$podman_host cargo test --release --locked -p nodecell --test corpus -- \
    contract_corpus::docker hostile_corpus::docker
  scripts/podman.sh stop
  trap 'scripts/dockerd.sh stop' EXIT
fi
# Three replicas behind HAProxy (Debian's package) for HTTP and gRPC under a mixed load,
# restarted one after another (no request may fail) and one SIGKILLed (in-flight requests fail
# cleanly, nothing of its sandboxes survives, its replacement sweeps what it left): ~30 s.
if [ "$(id -u)" = 0 ]; then
  scripts/lb-test.sh
fi
# The container image of nodecell itself, built from this host (nothing pulled) and run with
# exactly the least privilege deploy/image/README.md documents: smoke corpus and hostile subset
# on native, landlock and nsjail inside it (~30 s); removed after.
if [ "$(id -u)" = 0 ]; then
  scripts/image.sh build
  scripts/image.sh test || { scripts/image.sh clean; exit 1; }
  scripts/image.sh clean
fi
# A short soak through the service on every backend this host has (bench/soak.py; about
# 20-30 s each): no RSS growth, no leaked processes, fds, mounts, scratch directories or cgroups.
# Not backend qemu: 300 runs would boot 300 VMs (~25 min under TCG); its leak checks are
# tests/qemu.rs's and the corpora's, after every run.
if [ "$(id -u)" = 0 ]; then
  for backend in $(target/release/nodecell check | sed -n 's/^backend \([a-z0-9_-]*\): available$/\1/p'); do
    [ "$backend" != qemu ] || continue
    python3 bench/soak.py --backend "$backend" --runs 300
  done
fi
# Fuzzing of request decoding and the runner's frames, each target for a bounded time
# (docs/fuzzing.md; FUZZ_SECONDS=0 skips it).
if [ "${FUZZ_SECONDS:-60}" != 0 ]; then
  scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
fi
