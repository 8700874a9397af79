#!/usr/bin/env bash
# bench/git.sh: weir's git sources against git itself, side by side, on a
# local git server this script starts (scripts/git-server.sh, smart HTTP).
#
#   bench/git.sh [N]        N sources (default 100)
#
# Four cases, each timed (wall clock) with peak memory (max RSS), for weir
# (host/git/benches/sources.rs: N GitSources fetched in turn in one
# process) and for the reference run in the same way:
#   1. N sources on one repository, first fetch   vs  one `git clone --depth 1`
#      (target: N sources on one repository cost one fetch, not N)
#   2. the same, no-change re-check                vs  N x `git ls-remote`
#      (target: a re-check costs about one ls-remote per source)
#   3. N sources on N repositories, first fetch    vs  N x `git clone --depth 1`
#   4. the same, no-change re-check                vs  N x `git ls-remote`
# It prints each figure and the ratio weir / reference (below 1: weir is
# cheaper), plus the packs weir received and the ref listings it made.
#
# Environment: WEIR_CACHE (default /var/cache/weir); CARGO_TARGET_DIR
# (default $WEIR_CACHE/target); WEIR_BENCH_DIR (default a temporary
# directory, removed at the end) holds the servers, repositories and state.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${WEIR_CACHE:-/var/cache/weir}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
n=${1:-100}

work=${WEIR_BENCH_DIR:-$(mktemp -d /tmp/weir-bench-git.XXXXXX)}
servers="$work/servers"
cleanup() {
  bash "$root/scripts/git-server.sh" stop "$servers" >/dev/null 2>&1 || true
  if [ -z "${WEIR_BENCH_DIR:-}" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

cd "$root"
echo "building the bench driver (release)..." >&2
cargo bench -p weir-git --bench sources --no-run >&2 2>&1
driver=$(cargo bench -p weir-git --bench sources --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "sources" and m.get("executable"):
        print(m["executable"])')
[ -x "$driver" ] || { echo "bench driver not built" >&2; exit 1; }

bash scripts/git-server.sh start "$servers" >&2
# shellcheck disable=SC1091
. "$servers/env"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@weir.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@weir.invalid

# One repository shaped like a small GitOps repo: 300 manifests of ~2 KiB in
# 30 directories, with some history; the others are copies of it.
seed="$work/seed"
git init -q -b main "$seed"
for c in 1 2 3; do
  python3 - "$seed" "$c" <<'PY'
import os, sys
seed, c = sys.argv[1], sys.argv[2]
for d in range(1, 31):
    os.makedirs(f"{seed}/apps/app{d}", exist_ok=True)
    for f in range(1, 11):
        with open(f"{seed}/apps/app{d}/m{f}.yaml", "w") as out:
            out.write(f"# commit {c} app {d} file {f}\n" + f"key: value-{d}-{f}\n" * 100)
PY
  git -C "$seed" add -A && git -C "$seed" commit -q -m "commit $c"
done
for i in $(seq 0 "$n"); do
  git clone -q --bare "$seed" "$WEIR_GIT_ROOT/r$i.git"
done
url() { echo "$WEIR_GIT_HTTP_URL/anon/r$1.git"; }

# Runs "$@" and prints "seconds peak_kib" (peak: max RSS of the command and
# its children, from GNU time).
measure() {
  /usr/bin/time -o "$work/time.out" -f '%e %M' "$@" >/dev/null 2>&1
  tail -1 "$work/time.out"
}
# Runs a shell loop (reference side) and prints "seconds peak_kib", the
# peak being the largest single git process.
measure_loop() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
cmds = [c.split("\x1f") for c in sys.argv[1:]]
t = time.monotonic()
for c in cmds:
    subprocess.run(c, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
dt = time.monotonic() - t
print(f"{dt:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}
weir_run() { # state urls... -> "seconds peak fetches connections"
  local line
  line=$("$driver" "$@")
  python3 -c 'import sys; d=dict(kv.split("=") for kv in sys.argv[1].split()); print(d["seconds"], d["peak_kib"], d["fetches"], d["connections"])' "$line"
}
report() { # name weir_s weir_kib ref_s ref_kib fetches connections reference
  python3 - "$@" <<'PY'
import sys
name, ws, wk, rs, rk, fetches, conns, ref = sys.argv[1:]
ws, wk, rs, rk = float(ws), float(wk), float(rs), float(rk)
print(f"{name}")
print(f"  weir:      {ws:8.3f}s  peak {wk/1024:7.1f} MiB   ({fetches} pack fetches, {conns} ref listings)")
print(f"  reference: {rs:8.3f}s  peak {rk/1024:7.1f} MiB   ({ref})")
print(f"  ratio weir/reference: time {ws/rs if rs else float('inf'):.2f}, peak memory {wk/rk if rk else float('inf'):.2f}")
PY
}

same=(); different=(); lsr_same=(); clones=(); lsr_diff=()
for i in $(seq 1 "$n"); do
  same+=("$(url 0)")
  different+=("$(url "$i")")
  lsr_same+=("git$(printf '\x1f')ls-remote$(printf '\x1f')$(url 0)$(printf '\x1f')refs/heads/main")
  clones+=("git$(printf '\x1f')clone$(printf '\x1f')-q$(printf '\x1f')--depth$(printf '\x1f')1$(printf '\x1f')$(url "$i")$(printf '\x1f')$work/clones/c$i")
  lsr_diff+=("git$(printf '\x1f')ls-remote$(printf '\x1f')$(url "$i")$(printf '\x1f')refs/heads/main")
done
mkdir -p "$work/clones"

echo "== $n sources, local smart-HTTP server (nginx + git http-backend), $(nproc) cores =="
read -r ws wk wf wc < <(weir_run "$work/state-same" "${same[@]}")
read -r rs rk < <(measure git clone -q --depth 1 "$(url 0)" "$work/clones/one")
report "1. $n sources on one repository, first fetch" "$ws" "$wk" "$rs" "$rk" "$wf" "$wc" "one git clone --depth 1"

read -r ws wk wf wc < <(weir_run "$work/state-same" "${same[@]}")
read -r rs rk < <(measure_loop "${lsr_same[@]}")
report "2. $n sources on one repository, no-change re-check" "$ws" "$wk" "$rs" "$rk" "$wf" "$wc" "$n x git ls-remote"

read -r ws wk wf wc < <(weir_run "$work/state-diff" "${different[@]}")
read -r rs rk < <(measure_loop "${clones[@]}")
report "3. $n sources on $n repositories, first fetch" "$ws" "$wk" "$rs" "$rk" "$wf" "$wc" "$n x git clone --depth 1"

read -r ws wk wf wc < <(weir_run "$work/state-diff" "${different[@]}")
read -r rs rk < <(measure_loop "${lsr_diff[@]}")
report "4. $n sources on $n repositories, no-change re-check" "$ws" "$wk" "$rs" "$rk" "$wf" "$wc" "$n x git ls-remote"
