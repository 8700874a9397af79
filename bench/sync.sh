#!/usr/bin/env bash
# bench/sync.sh: the shape of Flux's published scalability benchmark against a
# local control plane — N copies of a small app (a Deployment scaled to 0, a
# ServiceAccount, a Service and an Ingress), each app its own sync of one git
# source — and, side by side in the same script, the reference: one
# `kubectl apply --server-side` of the same objects, pre-rendered into one
# file, applied once to create them and once more unchanged.
#
#   bench/sync.sh [N...]        default: 100 500 1000
#
# For each N it prints weir's wall time (fetch, render, apply; the plugin is
# compiled into the state directory's cache beforehand), weir's peak RSS, the
# API requests weir made (all, and those that could write) and kubectl's, and
# the ratios to kubectl, for the first apply and for a reconcile where nothing
# changed. Targets: weir's first apply faster than kubectl's, RSS under 100
# MiB, and the unchanged reconcile under a tenth of kubectl's unchanged
# re-apply with no writes. Rows: `create` (first apply), `again` (the next
# reconcile, while controllers have just touched the new objects), and
# `unchanged` (steady state); kubectl's figure on the same row is its
# create, its first re-apply and its second re-apply.
#
# Environment: WEIR_CACHE (default /var/cache/weir); CARGO_TARGET_DIR (default
# $WEIR_CACHE/target); WEIR_TEST_PLUGINS_DIR (default $WEIR_CACHE/plugins,
# built by scripts/plugins.sh); WEIR_BENCH_KUBE_DIR: the control plane's
# directory (default: a fresh one under $TMPDIR, started and stopped here; an
# already running one is used and left running); WEIR_BENCH_PROFILE: cargo
# profile of the weir binary (default release); WEIR_BENCH_CONCURRENCY: weir's
# host.concurrency (default 16); WEIR_BENCH_KEEP=1 keeps the work directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${WEIR_CACHE:-/var/cache/weir}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
plugins=${WEIR_TEST_PLUGINS_DIR:-$cache/plugins}
profile=${WEIR_BENCH_PROFILE:-release}
concurrency=${WEIR_BENCH_CONCURRENCY:-16}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 500 1000)

log() { echo "[bench/sync.sh] $*" >&2; }

[ -f "$plugins/plain.wasm" ] || { log "no $plugins/plain.wasm: run scripts/plugins.sh build first"; exit 2; }
cd "$root"
if [ "$profile" = dev ]; then
  cargo build -q -p weir
  weir=$CARGO_TARGET_DIR/debug/weir
else
  cargo build -q --profile "$profile" -p weir
  weir=$CARGO_TARGET_DIR/$profile/weir
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/weir-bench-sync.XXXXXX")
kdir=${WEIR_BENCH_KUBE_DIR:-$work/kube}
started=0
if ! bash scripts/kube.sh status "$kdir" >/dev/null 2>&1; then
  bash scripts/kube.sh start "$kdir" >&2
  started=1
fi
cleanup() {
  if [ "$started" = 1 ]; then bash scripts/kube.sh stop "$kdir" >&2 || true; fi
  if [ "${WEIR_BENCH_KEEP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
export KUBECONFIG=$kdir/kubeconfig

# app NAMESPACE I: the four objects of app I.
app() {
  local ns=$1 i=$2
  cat <<EOF
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app-$i
  namespace: $ns
---
apiVersion: v1
kind: Service
metadata:
  name: app-$i
  namespace: $ns
spec:
  selector: {app: app-$i}
  ports:
    - {name: http, port: 80, targetPort: 8080, protocol: TCP}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-$i
  namespace: $ns
spec:
  replicas: 0
  selector:
    matchLabels: {app: app-$i}
  template:
    metadata:
      labels: {app: app-$i}
    spec:
      serviceAccountName: app-$i
      containers:
        - name: app
          image: ghcr.io/stefanprodan/podinfo:6.5.0
          ports:
            - {containerPort: 8080, protocol: TCP}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-$i
  namespace: $ns
spec:
  rules:
    - host: app-$i.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: app-$i, port: {number: 80}}}
EOF
}

# seconds RSS-KiB COMMAND...: runs COMMAND under /usr/bin/time.
timed() {
  local out=$1
  shift
  /usr/bin/time -f '%e %M' -o "$out" "$@"
}

git_() { git -c user.name=bench -c user.email=bench@weir.invalid "$@"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }

requests_of_kubectl() { grep -cE '\] (GET|PATCH|POST|PUT|DELETE) https' "$1" || true; }

printf '%-6s %-26s %9s %9s %7s %9s %12s\n' N run weir_s kubectl_s ratio rss_MiB requests/writes
for n in "${sizes[@]}"; do
  d=$work/n$n
  mkdir -p "$d/repo"
  wns=bench-weir-$n-$$
  kns=bench-kubectl-$n-$$
  kubectl create namespace "$wns" >/dev/null
  kubectl create namespace "$kns" >/dev/null

  # The git source: one repository, one directory per app.
  git_ init -q -b main "$d/repo"
  for i in $(seq 1 "$n"); do
    mkdir -p "$d/repo/apps/app-$i"
    app "$wns" "$i" >"$d/repo/apps/app-$i/app.yaml"
    app "$kns" "$i" >>"$d/all.yaml"
    echo --- >>"$d/all.yaml"
  done
  git_ -C "$d/repo" add -A
  git_ -C "$d/repo" commit -q -m "$n apps"
  {
    printf 'version = 1\n[host]\nconcurrency = %s\n\n' "$concurrency"
    printf '[[git]]\nname = "apps"\nurl = "file://%s"\nref = { branch = "main" }\ninterval = "1h"\n\n' "$d/repo"
    for i in $(seq 1 "$n"); do
      printf '[[sync]]\nname = "app-%s"\nsource = "apps"\npath = "apps/app-%s"\ninterval = "1h"\nprune = true\n\n' "$i" "$i"
    done
  } >"$d/weir.toml"
  w=("$weir" --config "$d/weir.toml" --plugins-dir "$plugins")
  # Compile the plugin into the state's cache first: a one-time cost that
  # kubectl does not have and a running weir pays once.
  "${w[@]}" build --dir "$d/repo/apps/app-1" >/dev/null

    # create: the first apply. again: the first reconcile after it, once the
  # controllers have written to the new objects (a Deployment's revision
  # annotation, a ServiceAccount's token), so weir checks those in full once.
  # unchanged: the steady state, every object as weir last saw it.
  for run in create again unchanged; do
    if [ "$run" = again ]; then
      # Let the controllers finish with the new objects first, in both
      # namespaces, so that `unchanged` is the steady state.
      for ns in "$wns" "$kns"; do
        kubectl wait deployment --all -n "$ns" --for=condition=Available --timeout=120s >/dev/null 2>&1 ||
          log "N=$n: the controllers are not done with $ns after 120s; the next rows may include full checks"
      done
    fi
    WEIR_LOG=info timed "$d/weir-$run.time" "${w[@]}" --log-format json reconcile -o json >"$d/weir-$run.json" 2>"$d/weir-$run.log" || {
      log "weir reconcile failed ($run, N=$n); see below"
      tail -n 20 "$d/weir-$run.log" >&2
      jq -r '.[] | select(.ready == false) | "\(.name): \(.reason): \(.message)"' "$d/weir-$run.json" 2>/dev/null | head -5 >&2
      exit 1
    }
    timed "$d/kubectl-$run.time" kubectl apply --server-side -v=6 -f "$d/all.yaml" >"$d/kubectl-$run.out" 2>"$d/kubectl-$run.log"
    read -r ws wrss <"$d/weir-$run.time"
    read -r ks _ <"$d/kubectl-$run.time"
    read -r req wr < <(grep 'kubernetes api requests' "$d/weir-$run.log" | tail -n 1 |
      jq -r '"\(.fields.requests) \(.fields.writes)"')
    kreq=$(requests_of_kubectl "$d/kubectl-$run.log")
    printf '%-6s %-26s %9s %9s %7s %9s %12s\n' "$n" "$run" "$ws" "$ks" "$(ratio "$ws" "$ks")" \
      "$((wrss / 1024))" "$req/$wr (kubectl $kreq)"
    if [ "$run" != create ]; then
      changed=$(jq '[.[] | .changes[] | select(.action != "unchanged")] | length' "$d/weir-$run.json")
      [ "$changed" = 0 ] || log "N=$n: the unchanged reconcile reported $changed changes"
    fi
  done
  [ "${WEIR_BENCH_KEEP:-0}" = 1 ] || kubectl delete namespace "$wns" "$kns" --wait=false >/dev/null
done
