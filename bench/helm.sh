#!/usr/bin/env bash
# bench/helm.sh: the helm renderer against the Helm SDK oracle (Helm v4.2.3
# via helm-python-sdk, scripts/oracles/helm.sh), side by side on the same
# charts, generated here under a temp dir:
#   small     a `helm create`-style chart (Deployment, Service,
#             ServiceAccount, helpers)
#   umbrella  a parent chart with 40 subcharts (5 templates each, helpers,
#             globals, conditions)
#   tpl       `tpl` used heavily: 2,000 `tpl` calls (some nested) over
#             values, in a chart with 300 named templates (Helm's `tpl` was
#             quadratic in the number of templates until 3.14)
#
# The headline figure is weir as a running `weir run` renders a release:
# the helm component loaded once in the real wasm host, then each render a
# fresh instance and a call that reads the chart from the preopened
# artifact directory, with the options a release passes (releaseName,
# namespace, values, revision, isUpgrade; see host/core/src/helm.rs
# `render_options`) — host/wasm/examples/render_in_host.rs, median of
# 3×RUNS renders (they are cheap; more of them steady the median). Also printed: one `weir build --dir CHART --renderer helm`
# process per render (what a person at the CLI waits for: process start and
# loading the component from wasmtime's compile cache, 60-100 ms of fixed
# cost, included; the cold first run, compiling the component, separately),
# and the native library (the same renderer without wasm, release build,
# one process per render). Helm is measured as generously as possible:
# inside one Python process, the time of Chart.load + render only (no
# interpreter start, no library load, no install/kind sort), so the ratios
# understate weir's lead over `helm template`.
#
# Peak memory is the max RSS of a process (GNU time): Helm's includes the
# Python interpreter and the SDK library (their idle RSS is printed too);
# "host MiB" is the in-host process (wasmtime and the host with the
# component loaded from a warm compile cache, 3×RUNS+1 renders); "proc
# MiB" is one `weir build` process.
#
# Prints, per chart, the median over RUNS runs (default 5) of each, the
# ratios weir/helm (below 1 = weir faster or smaller), and checks that weir
# renders the same objects as Helm: the oracle's `helm template` text and
# the native renderer's, byte for byte, and the in-host object count
# against the oracle's. The machine is shared and noisy: run it more than
# once and read the medians.
#
# Environment: WEIR_CACHE (default /var/cache/weir); CARGO_TARGET_DIR for
# the host (default $WEIR_CACHE/target); WEIR_HELM_TARGET_DIR for the
# native renderer (default $WEIR_CACHE/target-helm); RUNS;
# WEIR_BENCH_KEEP=1 keeps the work directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${WEIR_CACHE:-/var/cache/weir}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
runs=${RUNS:-5}

# shellcheck disable=SC2317  # log and cleanup also run from the EXIT trap
log() { echo "[bench/helm.sh] $*" >&2; }

cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
[ -x /usr/bin/time ] || need_apt time
eval "$(bash scripts/oracles/helm.sh)"
work=$(mktemp -d "${TMPDIR:-/tmp}/weir-bench-helm.XXXXXX")
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() { if [ "${WEIR_BENCH_KEEP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

log "building the helm component, weir and render_in_host (release) and the native renderer"
bash scripts/plugins.sh build --out "$work/plugins" plugins/helm/ >&2
cargo build -q --release -p weir -p weir-wasm --example render_in_host
weir=$CARGO_TARGET_DIR/release/weir
in_host=$CARGO_TARGET_DIR/release/examples/render_in_host
helm_target=${WEIR_HELM_TARGET_DIR:-$cache/target-helm}
(cd plugins/helm && CARGO_TARGET_DIR="$helm_target" cargo build -q --release --example render)
native=$helm_target/release/examples/render
# The options a release passes for a first install with no values.
release_options=(releaseName=release-name namespace=default 'values={}' revision:=1 isUpgrade:=false)
printf 'version = 1\n[host]\nstateDir = "%s/state"\n' "$work" > "$work/weir.toml"

log "generating charts"
python3 - "$work/charts" <<'PY'
import os, sys, textwrap
root = sys.argv[1]

def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text).lstrip("\n"))

HELPERS = '''
{{- define "NAME.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "NAME.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}
{{- define "NAME.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "NAME.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- define "NAME.selectorLabels" -}}
app.kubernetes.io/name: {{ include "NAME.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
'''

DEPLOYMENT = '''
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "NAME.fullname" . }}
  labels:
    {{- include "NAME.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      {{- include "NAME.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      annotations:
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
      labels:
        {{- include "NAME.labels" . | nindent 8 }}
    spec:
      serviceAccountName: {{ include "NAME.fullname" . }}
      containers:
        - name: {{ .Chart.Name }}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          env:
            {{- range $k, $v := .Values.env }}
            - name: {{ $k | upper }}
              value: {{ $v | quote }}
            {{- end }}
            - name: GLOBAL_REGION
              value: {{ .Values.global.region | default "none" | quote }}
          ports:
            - name: http
              containerPort: {{ .Values.service.port }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
'''

SERVICE = '''
apiVersion: v1
kind: Service
metadata:
  name: {{ include "NAME.fullname" . }}
  labels:
    {{- include "NAME.labels" . | nindent 4 }}
spec:
  type: {{ .Values.service.type }}
  ports:
    - port: {{ .Values.service.port }}
      targetPort: http
      name: http
  selector:
    {{- include "NAME.selectorLabels" . | nindent 4 }}
'''

SA = '''
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "NAME.fullname" . }}
  labels:
    {{- include "NAME.labels" . | nindent 4 }}
'''

CONFIGMAP = '''
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "NAME.fullname" . }}
data:
  {{- range $k, $v := .Values.config }}
  {{ $k }}: {{ $v | toString | quote }}
  {{- end }}
  settings.json: {{ .Values.config | toJson | quote }}
'''

HPA = '''
{{- if .Values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "NAME.fullname" . }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "NAME.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
{{- end }}
'''

VALUES = '''
replicaCount: 2
image:
  repository: nginx
  pullPolicy: IfNotPresent
  tag: ""
service:
  type: ClusterIP
  port: 80
env:
  log_level: info
  mode: production
  workers: 4
config:
  a: 1
  b: two
  c: true
  nested: {x: 1, y: [1, 2, 3]}
resources:
  limits: {cpu: 100m, memory: 128Mi}
  requests: {cpu: 100m, memory: 128Mi}
autoscaling:
  enabled: true
  minReplicas: 1
  maxReplicas: 5
global: {}
'''

def chart(path, name, deps=()):
    meta = f"apiVersion: v2\nname: {name}\nversion: 0.1.0\nappVersion: \"1.0.0\"\n"
    if deps:
        meta += "dependencies:\n" + "".join(
            f"  - name: {d}\n    version: 0.1.0\n    condition: {d}.enabled\n" for d in deps)
    write(f"{path}/Chart.yaml", meta)
    write(f"{path}/values.yaml", VALUES)
    for fname, text in [("_helpers.tpl", HELPERS), ("deployment.yaml", DEPLOYMENT),
                        ("service.yaml", SERVICE), ("serviceaccount.yaml", SA),
                        ("configmap.yaml", CONFIGMAP), ("hpa.yaml", HPA)]:
        write(f"{path}/templates/{fname}", text.replace("NAME", name))

chart(f"{root}/small", "small")

subs = [f"svc{i:02d}" for i in range(1, 41)]
chart(f"{root}/umbrella", "umbrella", subs)
with open(f"{root}/umbrella/values.yaml", "w") as f:
    f.write(VALUES.replace("global: {}", "global:\n  region: eu-west-1"))
    for i, s in enumerate(subs):
        f.write(f"{s}:\n  enabled: true\n  replicaCount: {1 + i % 3}\n  env: {{index: \"{i}\"}}\n")
for s in subs:
    chart(f"{root}/umbrella/charts/{s}", s)

# tpl-heavy: 300 named templates, 2,000 tpl calls over values (a tenth of
# them nested: the string tpl renders calls tpl again).
t = f"{root}/tpl"
write(f"{t}/Chart.yaml", "apiVersion: v2\nname: tpl\nversion: 0.1.0\nappVersion: \"1.0.0\"\n")
os.makedirs(f"{t}/templates", exist_ok=True)
with open(f"{t}/templates/_defs.tpl", "w") as f:
    for i in range(300):
        f.write(f'{{{{- define "tpl.def{i}" -}}}}def{i}-{{{{ .Release.Name }}}}{{{{- end }}}}\n')
with open(f"{t}/values.yaml", "w") as f:
    f.write("prefix: app\nitems:\n")
    for i in range(2000):
        if i % 10 == 0:
            f.write(f"  - name: item{i}\n    text: '{{{{ tpl \"{{{{ .Values.prefix }}}}-{i}\" $ }}}}-{{{{ include \"tpl.def{i % 300}\" $ }}}}'\n")
        else:
            f.write(f"  - name: item{i}\n    text: '{{{{ .Values.prefix }}}}-{{{{ .Release.Name }}}}-{{{{ include \"tpl.def{i % 300}\" $ }}}}-{i}'\n")
write(f"{t}/templates/configmaps.yaml", '''
{{- range $i, $item := .Values.items }}
{{- if eq (mod $i 100) 0 }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: tpl-{{ $i }}
data:
{{- end }}
  {{ $item.name }}: {{ tpl $item.text $ | quote }}
{{- end }}
''')
PY

# The oracle's side: N renders of one chart in one process; prints the
# median seconds of Chart.load + render.
cat > "$work/helm_render.py" <<'PY'
import statistics, sys, time
import helm_python as helm
chart_path, runs = sys.argv[1], int(sys.argv[2])
if runs == 0:
    sys.exit(0)  # idle: interpreter and SDK loaded, nothing rendered
times = []
for _ in range(runs):
    t = time.perf_counter()
    chart = helm.Chart.load(chart_path)
    try:
        out = chart.render(values={}, name="release-name", namespace="default")
    finally:
        chart.close()
    times.append(time.perf_counter() - t)
    assert out, "nothing rendered"
print(f"{statistics.median(times):.4f}")
PY

# seconds peak_kib of one run of "$@" (wall clock in ns; peak RSS from GNU
# time, whose own start-up is inside the figure for both sides).
measure() {
  local start end
  start=$(date +%s%N)
  /usr/bin/time -o "$work/time.out" -f '%M' "$@" > /dev/null 2> "$work/err.out" || {
    cat "$work/err.out" >&2
    return 1
  }
  end=$(date +%s%N)
  echo "$(python3 -c "print(($end - $start) / 1e9)") $(tail -1 "$work/time.out")"
}

# median of RUNS runs of "$@": "seconds peak_kib" (peak: the largest).
median_of() {
  local out
  out=""
  for _ in $(seq 1 "$runs"); do out+="$(measure "$@")"$'\n'; done
  python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin.read().split("\n") if l.strip()]
print(f"{statistics.median(float(r[0]) for r in rows):.4f} {max(int(r[1]) for r in rows)}")' <<< "$out"
}

status=0
idle_kib=$(measure "$WEIR_HELM_ORACLE_PYTHON" "$work/helm_render.py" "$work/charts/small" 0 | cut -d' ' -f2)
printf '%-9s %8s %8s %7s %8s %7s %9s %8s %8s %7s %8s %7s\n' chart "helm ms" "host ms" ratio \
  "proc ms" ratio "native ms" "helm MiB" "host MiB" ratio "proc MiB" "cold ms"
for c in small umbrella tpl; do
  dir="$work/charts/$c"
  # Same output as Helm (the oracle's full `helm template` text).
  case_dir="$work/case-$c"
  mkdir -p "$case_dir" && ln -sfn "$dir" "$case_dir/chart"
  "$WEIR_HELM_ORACLE_PYTHON" plugins/helm/tests/oracle.py "$case_dir" \
    | python3 -c 'import json,sys; print(next(iter(json.load(sys.stdin).values())).get("text", "ERROR"), end="")' \
    > "$work/$c.helm.txt"
  "$native" "$dir" > "$work/$c.weir.txt"
  if ! cmp -s "$work/$c.helm.txt" "$work/$c.weir.txt"; then
    log "$c: weir's output differs from Helm's"
    status=1
  fi
  helm_objects=$(grep -c '^# Source: ' "$work/$c.helm.txt" || true)
  # In the host: the chart is the artifact directory, rendered at its root.
  export WEIR_RENDER_CACHE="$work/render-cache-$c"
  "$in_host" "$work/plugins" helm "$dir" "" 1 "${release_options[@]}" > /dev/null
  read -r hs host_objects < <("$in_host" "$work/plugins" helm "$dir" "" $((3 * runs)) "${release_options[@]}")
  hk=$(measure "$in_host" "$work/plugins" helm "$dir" "" $((3 * runs)) "${release_options[@]}" | cut -d' ' -f2)
  unset WEIR_RENDER_CACHE
  if [ "$host_objects" != "$helm_objects" ]; then
    log "$c: weir rendered $host_objects objects in the host, Helm $helm_objects"
    status=1
  fi
  rm -rf "$work/state/wasm-cache"
  cold=$(measure "$weir" -c "$work/weir.toml" build --dir "$dir" --renderer helm --plugins-dir "$work/plugins" -o json)
  read -r ps pk < <(median_of "$weir" -c "$work/weir.toml" build --dir "$dir" --renderer helm --plugins-dir "$work/plugins" -o json)
  read -r ns _ < <(median_of "$native" "$dir")
  es=$("$WEIR_HELM_ORACLE_PYTHON" "$work/helm_render.py" "$dir" "$runs")
  ek=$(measure "$WEIR_HELM_ORACLE_PYTHON" "$work/helm_render.py" "$dir" 1 | cut -d' ' -f2)
  python3 - "$c" "$es" "$hs" "$ps" "$ns" "$ek" "$hk" "$pk" "${cold%% *}" <<'PY'
import sys
c, es, hs, ps, ns, ek, hk, pk, cold = sys.argv[1], *map(float, sys.argv[2:])
hs /= 1000  # render_in_host prints milliseconds
print(f"{c:<9} {es*1000:8.1f} {hs*1000:8.1f} {hs/es:6.2f}x {ps*1000:8.1f} {ps/es:6.2f}x "
      f"{ns*1000:9.1f} {ek/1024:8.1f} {hk/1024:8.1f} {hk/ek:6.2f}x {pk/1024:8.1f} {cold*1000:7.0f}")
PY
done
# weir's fixed cost per process: a chart with one tiny template.
mkdir -p "$work/charts/empty/templates"
printf 'apiVersion: v2\nname: empty\nversion: 0.1.0\n' > "$work/charts/empty/Chart.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n' > "$work/charts/empty/templates/cm.yaml"
read -r es ek < <(median_of "$weir" -c "$work/weir.toml" build --dir "$work/charts/empty" --renderer helm --plugins-dir "$work/plugins" -o json)
read -r hs _ < <("$in_host" "$work/plugins" helm "$work/charts/empty" "" $((3 * runs)) "${release_options[@]}")
echo "fixed cost (a one-template chart): in the host $hs ms per render; a 'weir build' process $(python3 -c "print(f'{$es*1000:.1f} ms, {$ek/1024:.1f} MiB')")"
echo "helm MiB includes the Python interpreter and SDK: idle $(python3 -c "print(f'{$idle_kib/1024:.1f}')") MiB"
echo "ratio = weir / helm (below 1: weir faster / smaller). host = the component in the wasm host as a"
echo "running weir renders a release (loaded once; a fresh instance per render; median of $((3 * runs)));"
echo "proc = one 'weir build' process per render; native = the renderer as a native binary (no wasm,"
echo "no host), one process per render; helm = Chart.load + render only, inside one Python process"
exit "$status"
