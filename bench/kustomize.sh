#!/usr/bin/env bash
# bench/kustomize.sh: the kustomize renderer's library (native, release build)
# against `kubectl kustomize`, side by side on the same generated inputs:
#   trivial   a base and one overlay (prefix, labels, one patch)
#   apps50    50 apps, each base + overlay with a generator, one root
#   res4000   4,000 resources: 1,000 Deployments each with a generated
#             ConfigMap and Secret referenced by name, a Service, prefix,
#             namespace and labels
# Prints, per input, the mean wall time of each over RUNS runs (default 5;
# res4000 runs LARGE_RUNS times, default 1: kubectl takes minutes on it),
# the ratio kubectl/weir, and checks that both outputs are identical.
# Three weir figures: the library natively (`kbuild`); weir as a sync runs
# it — the kustomize component in the real wasm host, loaded once as in a
# running weir, a fresh instance and call per render
# (host/wasm/examples/render_in_host.rs, median of RUNS); and one `weir
# build --dir … --renderer kustomize` process per render (what a person
# running the CLI waits for: process start and loading the component from
# wasmtime's compile cache included). Object counts are checked against
# kubectl's. Ratios are kubectl/weir (above 1 = weir faster; the target is
# 5x). Last, the growth check: the res4000 shape at 1,000, 2,000 and 4,000
# resources in the host, with the time ratio per doubling (2.00x = linear).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
crate="$here/../plugins/kustomize"
runs=${RUNS:-5}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${WEIR_CACHE:-/var/cache/weir}/dev-kustomize-target}
(cd "$crate" && cargo build --quiet --release --example kbuild)
kbuild="$CARGO_TARGET_DIR/release/examples/kbuild"
# weir itself, with the component built from this tree.
root=$(cd "$here/.." && pwd)
host_target=${WEIR_HOST_TARGET_DIR:-${WEIR_CACHE:-/var/cache/weir}/target}
bash "$root/scripts/plugins.sh" build --out "${WEIR_CACHE:-/var/cache/weir}/bench-kustomize-plugins" "$crate/" >&2
(cd "$root" && CARGO_TARGET_DIR="$host_target" cargo build --quiet --release -p weir -p weir-wasm --example render_in_host)
weir="$host_target/release/weir"
in_host="$host_target/release/examples/render_in_host"
work=$(mktemp -d /tmp/weir-bench-kustomize.XXXXXX)
trap 'rm -rf "$work"' EXIT

deployment() { # name
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $1
  labels: {app: $1}
spec:
  replicas: 2
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers:
      - name: main
        image: nginx:1.25
        envFrom:
        - configMapRef: {name: $1-config}
        - secretRef: {name: $1-secret}
        ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: $1}
spec:
  selector: {app: $1}
  ports: [{port: 80, targetPort: 80}]
YAML
}

# trivial
mkdir -p "$work/trivial/base" "$work/trivial/overlay"
deployment web > "$work/trivial/base/app.yaml"
printf 'resources: [app.yaml]\nconfigMapGenerator:\n- name: web-config\n  literals: [A=1]\nsecretGenerator:\n- name: web-secret\n  literals: [P=x]\n' > "$work/trivial/base/kustomization.yaml"
printf 'resources: [../base]\nnamePrefix: prod-\ncommonLabels: {env: prod}\npatches:\n- target: {kind: Deployment}\n  patch: |-\n    - op: replace\n      path: /spec/replicas\n      value: 3\n' > "$work/trivial/overlay/kustomization.yaml"

# apps50
root50="$work/apps50"
mkdir -p "$root50/cluster"
echo "resources:" > "$root50/cluster/kustomization.yaml"
for i in $(seq 1 50); do
  a="app$i"
  mkdir -p "$root50/$a/base" "$root50/$a/prod"
  deployment "$a" > "$root50/$a/base/app.yaml"
  printf 'resources: [app.yaml]\nconfigMapGenerator:\n- name: %s-config\n  literals: [A=%s]\nsecretGenerator:\n- name: %s-secret\n  literals: [P=%s]\n' "$a" "$i" "$a" "$i" > "$root50/$a/base/kustomization.yaml"
  printf 'resources: [../base]\nnamespace: %s\nlabels:\n- pairs: {env: prod}\nimages:\n- name: nginx\n  newTag: "1.27"\n' "$a" > "$root50/$a/prod/kustomization.yaml"
  echo "- ../$a/prod" >> "$root50/cluster/kustomization.yaml"
done

# res4000 (and, for the growth check, the same shape at 1/4 and 1/2 the size)
resources() { # dir apps
  mkdir -p "$1"
  {
    echo "resources: [apps.yaml]"
    echo "namePrefix: big-"
    echo "namespace: big"
    echo "commonLabels: {suite: bench}"
    echo "configMapGenerator:"
    for i in $(seq 1 "$2"); do printf -- '- name: app%s-config\n  literals: [A=%s, B=two]\n' "$i" "$i"; done
    echo "secretGenerator:"
    for i in $(seq 1 "$2"); do printf -- '- name: app%s-secret\n  literals: [P=%s]\n' "$i" "$i"; done
  } > "$1/kustomization.yaml"
  for i in $(seq 1 "$2"); do deployment "app$i"; echo "---"; done > "$1/apps.yaml"
}
resources "$work/res4000" 1000
resources "$work/res1000" 250
resources "$work/res2000" 500

mean_ms() { # runs command...
  local n=$1 start end
  shift
  start=$(date +%s%N)
  for _ in $(seq 1 "$n"); do "$@" > /dev/null 2>&1; done
  end=$(date +%s%N)
  echo $(( (end - start) / n / 1000000 ))
}

printf 'version = 1\n[host]\nstateDir = "%s/state"\n' "$work" > "$work/weir.toml"
weir_build() { # top path
  "$weir" --config "$work/weir.toml" --plugins-dir "${WEIR_CACHE:-/var/cache/weir}/bench-kustomize-plugins" \
    build --dir "$work/$1" --path "$2" --renderer kustomize -o json
}
count() { python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
kcount() { kubectl kustomize "$1" | grep -c '^kind: ' || true; }

status=0
printf '%-10s %11s %10s %7s %12s %7s %13s %7s\n' input "kubectl ms" "native ms" ratio "in host ms" ratio "weir build ms" ratio
for input in trivial:overlay apps50:cluster res4000:.; do
  top=${input%%:*} path=${input#*:}
  dir="$work/$top/$path"
  if ! diff <(kubectl kustomize "$dir" 2>/dev/null) <("$kbuild" "$work/$top" "$path") > /dev/null; then
    echo "$top: outputs differ" >&2
    status=1
  fi
  # The host's output: the same objects (its YAML is weir's, not kubectl's).
  weir_build "$top" "$path" > /dev/null 2>&1 || true   # compiles the component once
  hc=$(weir_build "$top" "$path" | count)
  kc=$(kcount "$dir")
  if [ "$hc" != "$kc" ]; then
    echo "$top: weir build gave $hc objects, kubectl $kc" >&2
    status=1
  fi
  n=$runs
  [ "$top" = res4000 ] && n=${LARGE_RUNS:-1}
  k=$(mean_ms "$n" kubectl kustomize "$dir")
  w=$(mean_ms "$n" "$kbuild" "$work/$top" "$path")
  h=$(mean_ms "$n" weir_build "$top" "$path")
  read -r s sc < <("$in_host" "${WEIR_CACHE:-/var/cache/weir}/bench-kustomize-plugins" kustomize "$work/$top" "$path" "$runs")
  if [ "$sc" != "$kc" ]; then
    echo "$top: the host rendered $sc objects, kubectl $kc" >&2
    status=1
  fi
  x() { awk -v k="$1" -v w="$2" 'BEGIN { if (w == 0) w = 0.1; printf "%.1fx", k / w }'; }
  printf '%-10s %11s %10s %7s %12s %7s %13s %7s\n' "$top" "$k" "$w" "$(x "$k" "$w")" "$s" "$(x "$k" "$s")" "$h" "$(x "$k" "$h")"
done

# Growth: the same input shape at 1,000, 2,000 and 4,000 resources, in the
# host as a sync renders it. Linear growth doubles the time per doubling.
plugins_dir="${WEIR_CACHE:-/var/cache/weir}/bench-kustomize-plugins"
read -r t1 _ < <("$in_host" "$plugins_dir" kustomize "$work/res1000" . "$runs")
read -r t2 _ < <("$in_host" "$plugins_dir" kustomize "$work/res2000" . "$runs")
read -r t4 _ < <("$in_host" "$plugins_dir" kustomize "$work/res4000" . "$runs")
awk -v a="$t1" -v b="$t2" -v c="$t4" 'BEGIN {
  printf "growth in the host: 1,000 res %s ms, 2,000 %s ms (%.2fx), 4,000 %s ms (%.2fx of 2,000); linear = 2.00x per doubling\n", a, b, b / a, c, c / b
}'
exit "$status"
