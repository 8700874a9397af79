#!/usr/bin/env bash
# bench/plugins.sh: build weir's plugins, then run the plugin-overhead
# benchmark (host/wasm/benches/plugin_overhead.rs), which prints cold compile,
# cached load, instantiate and call figures and the plugin-vs-native cost of
# rendering 1,000 small manifests, each with its reference and target.
#
#   bench/plugins.sh [ARGS...]     ARGS go to the bench binary
#
# Environment: WEIR_CACHE (default /var/cache/weir) holds the built plugins
# ($WEIR_CACHE/plugins, or WEIR_TEST_PLUGINS_DIR) and the cargo target dir
# (CARGO_TARGET_DIR, default $WEIR_CACHE/target); WEIR_BENCH_QUICK=1 runs
# fewer iterations.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${WEIR_CACHE:-/var/cache/weir}
plugins=${WEIR_TEST_PLUGINS_DIR:-$cache/plugins}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}

cd "$root"
# The bench compares the component with the same source compiled natively:
# rebuild it so the two are the same code.
bash scripts/plugins.sh build --out "$plugins" >&2
WEIR_TEST_PLUGINS_DIR=$plugins cargo bench -p weir-wasm --bench plugin_overhead -- "$@"
