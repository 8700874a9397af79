#!/usr/bin/env bash
# kube.sh: a real Kubernetes control plane (etcd, kube-apiserver and
# kube-controller-manager v1.20.2) on 127.0.0.1, for weir's end-to-end tests.
#
#   kube.sh build        build kube-apiserver and kube-controller-manager from
#                        Debian bookworm's `kubernetes` source package and cache
#                        them in $WEIR_CACHE/kube/v1.20.2/bin (about 11 minutes
#                        cold on 2 cores; instant once cached)
#   kube.sh start DIR    build if needed, then start a control plane whose whole
#                        state (certs, etcd data, logs, pid files) lives in DIR;
#                        a no-op when DIR's control plane is already running
#   kube.sh stop DIR     stop DIR's control plane; keeps DIR (logs, data, certs)
#   kube.sh status DIR   exit 0 and print one line when DIR's control plane is
#                        running and ready, else exit 1
#
# What `start DIR` leaves in DIR for tests:
#   DIR/env          KEY=VALUE lines, no quoting (`set -a; . DIR/env; set +a`):
#                      KUBECONFIG=DIR/kubeconfig
#                      WEIR_KUBE_SERVER=https://127.0.0.1:PORT
#                      WEIR_KUBE_CA=DIR/pki/ca.crt
#                      WEIR_KUBE_TOKEN_USER=weir-test-user
#                      WEIR_KUBE_TOKEN_USER_TOKEN=<bearer token>
#                    written last by a successful start (a start removes it
#                    first; stop leaves it, status does not trust it alone)
#   DIR/kubeconfig   cluster-admin (client cert in group system:masters),
#                    certificates embedded
#   DIR/token-user   the bearer token of `weir-test-user`, an authenticated user
#                    that RBAC grants nothing
#   DIR/pki/         ca.crt, admin.crt/.key, the other certificates and keys,
#                    and sa.key/sa.pub (service accounts); made once per DIR
#   DIR/{etcd,apiserver,controller-manager}.log   appended to on every start
#   DIR/{etcd,apiserver,controller-manager}.pid, DIR/etcd-data/, DIR/tokens.csv,
#   DIR/controller-manager.kubeconfig, DIR/.lock   internal
# A restart keeps etcd data and certificates and picks new ports.
#
# Several DIRs can run at once: every port comes from free_port, nothing is
# shared but the cached binaries. See shared/toolchain/kubernetes.md for why the
# build is done the way it is.

set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

KUBE_VERSION=v1.20.2
# The Debian source package that carries upstream v1.20.2 (with vendor/); a
# later security upload replaces it, so `build` falls back to the current one.
KUBE_DEB_VERSION=1.20.5+really1.20.2-1.1+deb12u1
KUBE_SUITE=bookworm
KUBE_CACHE="$WEIR_CACHE/kube"
KUBE_BIN="$KUBE_CACHE/$KUBE_VERSION/bin"
SERVICE_CIDR=10.96.0.0/16
SERVICE_FIRST_IP=10.96.0.1
TOKEN_USER=weir-test-user

usage() {
  awk 'NR > 1 && /^# What/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
  exit 2
}

# ---------------------------------------------------------------------------
# build

binaries_cached() {
  [ -x "$KUBE_BIN/kube-apiserver" ] && [ -x "$KUBE_BIN/kube-controller-manager" ]
}

# debian_sources: "URI SUITE SIGNED-BY" for every `deb` entry of the machine's
# apt sources (one-line .list and deb822 .sources files); SIGNED-BY is "-"
# when the entry names no key file.
debian_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '
      /^[[:space:]]*deb[[:space:]]/ {
        signed = "-"; i = 2
        if ($2 ~ /^\[/) {
          for (; i <= NF; i++) {
            if ($i ~ /signed-by=/) { s = $i; sub(/.*signed-by=/, "", s); sub(/\]$/, "", s); signed = s }
            if ($i ~ /\]$/) { i++; break }
          }
        }
        print $i, $(i + 1), signed
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush(   n, m, i, j, u, s) {
        if (types ~ /(^|[[:space:]])deb([[:space:]]|$)/ && enabled != "no") {
          n = split(uris, u, /[[:space:]]+/); m = split(suites, s, /[[:space:]]+/)
          for (i = 1; i <= n; i++) for (j = 1; j <= m; j++)
            if (u[i] != "" && s[j] != "") print u[i], s[j], (signed == "" ? "-" : signed)
        }
        types = uris = suites = signed = enabled = ""
      }
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]/ { next }
      {
        key = tolower($1); val = $0; sub(/^[^:]*:[[:space:]]*/, "", val)
        if (key == "types:") types = val
        else if (key == "uris:") uris = val
        else if (key == "suites:") suites = val
        else if (key == "enabled:") enabled = tolower(val)
        else if (key == "signed-by:" && val ~ /^\//) signed = val
      }
      END { flush() }' "$f"
  done
}

# write_private_sources FILE: deb-src lines for bookworm and bookworm-security
# on the same mirror hosts the machine's own apt sources use.
write_private_sources() {
  local out="$1" entries main sec
  entries=$(debian_sources)
  main=$(awk -v s="$KUBE_SUITE" '$2 == s { print; exit }' <<<"$entries")
  sec=$(awk -v s="$KUBE_SUITE-security" '$2 == s { print; exit }' <<<"$entries")
  [ -n "$main" ] || die "no '$KUBE_SUITE' entry in /etc/apt/sources.list or /etc/apt/sources.list.d/*.{list,sources}: cannot tell which Debian mirror to fetch the kubernetes source package from"
  : >"$out"
  local line uri signed opt
  for line in "$main" "$sec"; do
    [ -n "$line" ] || continue
    read -r uri _ signed <<<"$line"
    opt=""
    [ "$signed" != "-" ] && opt="[signed-by=$signed] "
    if [ "$line" = "$main" ]; then
      echo "deb-src ${opt}$uri $KUBE_SUITE main" >>"$out"
    else
      echo "deb-src ${opt}$uri $KUBE_SUITE-security main" >>"$out"
    fi
  done
  [ -n "$sec" ] || log "note: no $KUBE_SUITE-security entry in the machine's apt sources; using $KUBE_SUITE only"
}

# fetch_source DIR: download and unpack the kubernetes source package into DIR
# (which must not exist yet), through a private apt configuration under
# $KUBE_CACHE/apt so the machine's apt setup is left alone.
fetch_source() {
  local dest="$1" apt="$KUBE_CACHE/apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources.list.d" "$apt/download"
  write_private_sources "$apt/sources.list"
  local opts=(
    -o "Dir::Etc::SourceList=$apt/sources.list"
    -o "Dir::Etc::SourceParts=$apt/sources.list.d"
    -o "Dir::State::Lists=$apt/lists"
    -o "Dir::Cache=$apt/cache"
    -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache="
    -o "APT::Sandbox::User=root"
  )
  log "apt sources for the source package: $(tr '\n' ';' <"$apt/sources.list")"
  log "apt-get update (private lists in $apt/lists)"
  apt-get "${opts[@]}" -qq update >&2 || die "apt-get update with the private sources list $apt/sources.list failed"
  log "downloading source package kubernetes=$KUBE_DEB_VERSION"
  (
    cd "$apt/download"
    rm -f ./*.dsc
    if ! apt-get "${opts[@]}" -qq source --download-only "kubernetes=$KUBE_DEB_VERSION" >&2; then
      log "kubernetes=$KUBE_DEB_VERSION is not available (replaced by a newer upload?); trying the current version"
      apt-get "${opts[@]}" -qq source --download-only kubernetes >&2
    fi
  ) || die "could not download the Debian source package 'kubernetes' from the deb-src lines in $apt/sources.list"
  local dsc
  dsc=$(find "$apt/download" -maxdepth 1 -name 'kubernetes_*.dsc' | sort -V | tail -n 1)
  [ -n "$dsc" ] || die "no kubernetes_*.dsc in $apt/download after apt-get source"
  case "$dsc" in
    *"really${KUBE_VERSION#v}"*) ;;
    *) log "warning: $(basename "$dsc") may not be upstream $KUBE_VERSION" ;;
  esac
  log "unpacking $(basename "$dsc")"
  dpkg-source --no-check -x "$dsc" "$dest" >&2 || die "dpkg-source -x $dsc failed"
}

# generate_openapi TREE: fix 1, pkg/generated/openapi/zz_generated.openapi.go
# is not in the tarball; generate it with the vendored openapi-gen over every
# package tagged +k8s:openapi-gen=.
generate_openapi() {
  local tree="$1" out="$1/pkg/generated/openapi/zz_generated.openapi.go"
  [ -s "$out" ] && return 0
  log "fix 1/3: generating pkg/generated/openapi/zz_generated.openapi.go"
  local work="$KUBE_CACHE/openapi.tmp"
  rm -rf "$work"
  mkdir -p "$work/out"
  (cd "$GOPATH/src/k8s.io/kubernetes" && go build -o "$work/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen) \
    || die "building vendor/k8s.io/kube-openapi/cmd/openapi-gen failed"
  local dirs
  dirs=$(
    cd "$tree" &&
      grep -rlE --include='*.go' --exclude='*_test.go' '^[[:space:]]*//[[:space:]]*\+k8s:openapi-gen=' \
        pkg cmd plugin staging/src/k8s.io vendor/k8s.io 2>/dev/null |
      grep -v -e '/code-generator/' -e '/sample-apiserver/' -e '/testdata/' -e '^vendor/k8s.io/[^/]*/vendor/' |
        xargs -n1 dirname | sed -e 's|^staging/src/|vendor/|' -e 's|^|k8s.io/kubernetes/|' |
        LC_ALL=C sort -u | paste -sd, -
  )
  [ -n "$dirs" ] || die "found no package tagged +k8s:openapi-gen= in $tree"
  log "  $(tr ',' '\n' <<<"$dirs" | wc -l) tagged packages"
  (cd "$GOPATH/src/k8s.io/kubernetes" && "$work/openapi-gen" \
    --input-dirs "$dirs" \
    --output-base "$work/out" \
    --output-package k8s.io/kubernetes/pkg/generated/openapi \
    --output-file-base zz_generated.openapi \
    --go-header-file vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
    --report-filename "$work/violations.report") >&2 \
    || die "openapi-gen failed"
  local gen="$work/out/k8s.io/kubernetes/pkg/generated/openapi/zz_generated.openapi.go"
  [ -s "$gen" ] || die "openapi-gen wrote no $gen"
  mkdir -p "$(dirname "$out")"
  mv "$gen" "$out.tmp" && mv "$out.tmp" "$out"
  rm -rf "$work"
}

# fix_reflect2 TREE: fix 2, the vendored github.com/modern-go/reflect2 v1.0.1
# crashes under Go >= 1.18 (fatal error: fault in mapiternext on the first
# custom resource create); use Debian's 1.0.2.
fix_reflect2() {
  local tree="$1" src=/usr/share/gocode/src/github.com/modern-go/reflect2
  local dst="$tree/vendor/github.com/modern-go/reflect2"
  [ -f "$src/reflect2.go" ] || die "$src is missing (package golang-github-modern-go-reflect2-dev)"
  [ -d "$dst" ] || die "$dst is missing: unexpected source tree"
  if [ -f "$dst/.weir-reflect2-1.0.2" ]; then return 0; fi
  log "fix 2/3: replacing vendored reflect2 with Debian's 1.0.2"
  rm -f "$dst"/*.go "$dst"/*.s
  cp "$src"/*.go "$dst"/
  cp "$src"/*.s "$dst"/ 2>/dev/null || true
  rm -f "$dst"/*_test.go
  touch "$dst/.weir-reflect2-1.0.2"
}

# cache_lock / cache_unlock: one build (and one apt-get install) at a time per
# WEIR_CACHE: two `start`s of a test run may both find nothing built, and two
# apt-get installs at once fail on dpkg's lock.
cache_lock() {
  mkdir -p "$KUBE_CACHE"
  exec 8>"$KUBE_CACHE/.build.lock"
  if ! flock -n 8; then
    log "another kube.sh holds $KUBE_CACHE/.build.lock (building?); waiting for it"
    flock 8
  fi
}
cache_unlock() { exec 8>&-; }

cmd_build() {
  if binaries_cached; then
    log "kube-apiserver and kube-controller-manager $KUBE_VERSION already built in $KUBE_BIN"
    return 0
  fi
  cache_lock
  if binaries_cached; then
    log "kube-apiserver and kube-controller-manager $KUBE_VERSION already built in $KUBE_BIN"
    cache_unlock
    return 0
  fi
  need_apt golang-go etcd-server etcd-client golang-github-modern-go-reflect2-dev dpkg-dev openssl curl
  local started
  started=$(date +%s)
  log "building kube-apiserver and kube-controller-manager $KUBE_VERSION into $KUBE_BIN (about 11 minutes cold on 2 cores; an interrupted build resumes)"

  export GO111MODULE=off CGO_ENABLED=0 GOFLAGS='' GOPROXY=off
  export GOPATH="$KUBE_CACHE/gopath" GOCACHE="$KUBE_CACHE/gocache"
  command -v go >/dev/null || die "go is not on PATH after installing golang-go"

  # The unpacked tree, at a fixed path so the Go build cache stays valid.
  local tree="$KUBE_CACHE/src/kubernetes"
  if [ ! -f "$tree/.weir-unpacked" ]; then
    rm -rf "$tree" "$tree.tmp"
    mkdir -p "$KUBE_CACHE/src"
    fetch_source "$tree.tmp"
    [ -d "$tree.tmp/vendor" ] || die "the unpacked source package has no vendor/ directory"
    touch "$tree.tmp/.weir-unpacked"
    mv "$tree.tmp" "$tree"
  else
    log "source tree already unpacked in $tree"
  fi
  mkdir -p "$GOPATH/src/k8s.io"
  ln -sfn "$tree" "$GOPATH/src/k8s.io/kubernetes"

  generate_openapi "$tree"
  fix_reflect2 "$tree"

  # fix 3: version ldflags, or clients see v0.0.0. In GOPATH mode the
  # packages live under k8s.io/kubernetes/vendor/; -X of a package that is
  # not linked is ignored, so both spellings are given.
  local ldflags="-s -w" pkg key
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    for key in gitVersion=$KUBE_VERSION gitMajor=1 gitMinor=20 gitTreeState=clean; do
      ldflags+=" -X k8s.io/kubernetes/vendor/$pkg.$key -X $pkg.$key"
    done
  done
  log "fix 3/3: version ldflags set to $KUBE_VERSION"

  local tmp="$KUBE_CACHE/$KUBE_VERSION/bin.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "go build ./cmd/kube-apiserver ./cmd/kube-controller-manager (Go build cache: $GOCACHE)"
  # A progress line every minute, so a long cold build does not look hung.
  ( while sleep 60; do kill -0 $$ 2>/dev/null || exit 0; log "  still building ($(( $(date +%s) - started )) s)"; done ) &
  local ticker=$!
  local rc=0
  (cd "$GOPATH/src/k8s.io/kubernetes" &&
    go build -trimpath -ldflags "$ldflags" -o "$tmp/" ./cmd/kube-apiserver ./cmd/kube-controller-manager) >&2 || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  [ "$rc" -eq 0 ] || die "go build of kube-apiserver/kube-controller-manager failed (exit $rc); the output above says why"
  if [ ! -x "$tmp/kube-apiserver" ] || [ ! -x "$tmp/kube-controller-manager" ]; then
    die "go build produced no binaries in $tmp"
  fi
  mkdir -p "$KUBE_BIN"
  # The apiserver last: binaries_cached needs both, so a kill in between
  # leaves the cache looking empty, never half full.
  mv -f "$tmp/kube-controller-manager" "$KUBE_BIN/kube-controller-manager"
  mv -f "$tmp/kube-apiserver" "$KUBE_BIN/kube-apiserver"
  rm -rf "$tmp"
  cache_unlock
  log "built in $(( $(date +%s) - started )) s: $("$KUBE_BIN/kube-apiserver" --version)"
}

# ---------------------------------------------------------------------------
# start / stop / status

# The components, in start order.
COMPONENTS=(etcd apiserver controller-manager)
D=""   # the control plane's directory, absolute

# set_dir DIR: set D to DIR made absolute (created if missing). Paths go into
# KEY=VALUE lines and command lines unquoted, so odd characters are refused.
set_dir() {
  [ -n "${1:-}" ] || usage
  case "$1" in
    *[!A-Za-z0-9._/+@:,=-]*) die "DIR '$1' has characters other than letters, digits and ._/+@:,=-; pick a plainer path" ;;
  esac
  mkdir -p "$1" || die "cannot create $1"
  D=$(cd "$1" && pwd -P)
}

# ours NAME: true when DIR/NAME.pid holds a live process started for DIR (its
# command line names a path in DIR), so a pid reused after a reboot is never
# taken for ours.
ours() {
  local f="$D/$1.pid" pid
  pid_alive "$f" || return 1
  pid=$(cat "$f")
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$D/"
}

env_value() { sed -n "s/^$1=//p" "$D/env" 2>/dev/null; }

readyz() {
  curl -fsS --max-time 5 --cacert "$D/pki/ca.crt" --cert "$D/pki/admin.crt" --key "$D/pki/admin.key" \
    "$1/readyz" 2>/dev/null | grep -qx ok
}

# healthy: all components running and the apiserver ready; sets SERVER.
healthy() {
  all_running || return 1
  SERVER=$(env_value WEIR_KUBE_SERVER)
  [ -n "$SERVER" ] && readyz "$SERVER"
}

# stop_component NAME: stop NAME if it runs for DIR; drop a stale pid file.
stop_component() {
  if ours "$1"; then
    stop_pidfile "$D/$1.pid"
  else
    rm -f "$D/$1.pid"
  fi
}

# stop_all: the controller manager and the apiserver together, then etcd
# (each takes 1.5-3 s to shut down cleanly; one by one took 6-7 s, and etcd
# going first floods the apiserver's log with reconnect errors).
stop_all() {
  local cm api
  stop_component controller-manager &
  cm=$!
  stop_component apiserver &
  api=$!
  # Not a bare `wait`: components launched by this shell are its children too.
  wait "$cm" "$api" || true
  stop_component etcd
}

all_running() {
  local c
  for c in "${COMPONENTS[@]}"; do ours "$c" || return 1; done
}

any_running() {
  local c
  for c in "${COMPONENTS[@]}"; do ours "$c" && return 0; done
  return 1
}

# lock_dir: one start/stop at a time per DIR. Components are started with
# fd 9 closed so they do not hold the lock.
lock_dir() {
  exec 9>"$D/.lock"
  flock 9
}

# fail NAME MSG: report, show the tail of NAME's log, stop DIR, exit 1.
fail() {
  local name="$1"; shift
  printf '[%s] error: %s: %s\n' "$(basename "$0")" "$name" "$*" >&2
  if [ -f "$D/$name.log" ]; then
    printf '[%s] last lines of %s:\n' "$(basename "$0")" "$D/$name.log" >&2
    # Only this start's part of the log (launch writes a ==== line first).
    awk '/^==== .* kube.sh: starting / { n = 0 } { buf[n++] = $0 } END { for (i = (n > 40 ? n - 40 : 0); i < n; i++) print buf[i] }' \
      "$D/$name.log" >&2
  fi
  stop_all
  exit 1
}

# make_pki: the CA and every key and certificate, made once per DIR and kept
# across restarts (they do not depend on ports).
make_pki() {
  local p="$D/pki" t="$D/pki.tmp"
  [ -f "$p/.complete" ] && return 0
  log "making certificates in $p"
  rm -rf "$p" "$t"
  mkdir -p "$t"
  cat >"$t/openssl.cnf" <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,IP:$SERVICE_FIRST_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
  (
    set -e
    cd "$t"
    key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" 2>/dev/null; }
    # cert NAME SUBJECT EXTENSIONS
    cert() {
      key "$1"
      openssl req -new -config openssl.cnf -key "$1.key" -subj "$2" -out "$1.csr"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
        -extfile openssl.cnf -extensions "$3" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr"
    }
    key ca
    openssl req -x509 -new -config openssl.cnf -extensions ca -key ca.key -subj "/CN=weir-kube-ca" \
      -days 3650 -sha256 -out ca.crt
    cert apiserver "/CN=kube-apiserver" server
    cert admin "/O=system:masters/CN=weir-admin" client
    cert controller-manager "/CN=system:kube-controller-manager" client
    key sa
    openssl pkey -in sa.key -pubout -out sa.pub
    chmod 600 ./*.key
    touch .complete
  ) || die "making certificates with openssl in $t failed"
  mv "$t" "$p"
}

# make_tokens: the --token-auth-file with one user RBAC grants nothing.
make_tokens() {
  [ -s "$D/token-user" ] && [ -s "$D/tokens.csv" ] && return 0
  local token
  token=$(openssl rand -hex 24)
  (umask 077 && printf '%s,%s,%s\n' "$token" "$TOKEN_USER" "$TOKEN_USER" >"$D/tokens.csv" &&
    printf '%s\n' "$token" >"$D/token-user")
}

# write_kubeconfig FILE SERVER CERT-NAME: a kubeconfig with embedded data.
write_kubeconfig() {
  local file="$1" server="$2" who="$3" p="$D/pki"
  (
    umask 077
    cat >"$file.tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: weir
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 <"$p/ca.crt")
users:
- name: $who
  user:
    client-certificate-data: $(base64 -w0 <"$p/$who.crt")
    client-key-data: $(base64 -w0 <"$p/$who.key")
contexts:
- name: weir
  context:
    cluster: weir
    user: $who
current-context: weir
KC
  )
  mv "$file.tmp" "$file"
}

# launch NAME CMD...: start CMD detached (own session, stdin closed, the lock
# fd closed), appending to DIR/NAME.log; the process writes its own pid to
# DIR/NAME.pid before exec'ing CMD, so the pid is right however setsid forks.
launch() {
  local name="$1" tries=0; shift
  local pidf="$D/$name.pid" logf="$D/$name.log"
  rm -f "$pidf"
  printf '==== %s kube.sh: starting %s\n' "$(date -u +%FT%TZ)" "$name" >>"$logf"
  # shellcheck disable=SC2016 # $$ and $@ are for the inner sh
  setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidf" "$@" >>"$logf" 2>&1 </dev/null 9>&- 8>&- &
  until [ -s "$pidf" ]; do
    tries=$((tries + 1))
    [ "$tries" -le 50 ] || fail "$name" "did not start"
    sleep 0.1
  done
}

# wait_up NAME SECONDS WHAT CMD...: wait until CMD succeeds, failing early
# when NAME's process exits.
wait_up() {
  local name="$1" secs="$2" what="$3"; shift 3
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    ours "$name" || fail "$name" "exited while waiting for $what"
    [ "$(date +%s)" -ge "$deadline" ] && fail "$name" "no $what after ${secs} s"
    sleep 0.2
  done
}

etcd_healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$1/health" | grep -q '"health":"true"'; }

default_sa_exists() {
  curl -fsS --max-time 5 --cacert "$D/pki/ca.crt" --cert "$D/pki/admin.crt" --key "$D/pki/admin.key" \
    "$1/api/v1/namespaces/default/serviceaccounts/default" >/dev/null
}

cmd_start() {
  set_dir "${1:-}"
  lock_dir
  # All three up but /readyz slow to answer (a busy machine) is given a few
  # seconds before the plane is taken for broken and restarted.
  if healthy || { all_running && WAIT_SECONDS=15 wait_for healthy; }; then
    log "control plane in $D already running and ready at $SERVER"
    return 0
  fi
  if any_running || compgen -G "$D/*.pid" >/dev/null; then
    log "cleaning up a stale or partial control plane in $D"
    stop_all
  fi
  rm -f "$D/env"

  binaries_cached || cmd_build
  cache_lock
  need_apt etcd-server openssl curl
  command -v python3 >/dev/null || need_apt python3
  cache_unlock
  local started
  started=$(date +%s)
  # From here on, anything that goes wrong stops what was started.
  START_OK=0
  trap '[ "$START_OK" = 1 ] || stop_all' EXIT
  trap 'exit 130' INT TERM

  make_pki
  make_tokens
  # Each port is picked just before the process that binds it starts, to keep
  # the window in which another process can take it small.
  local p="$D/pki" etcd_port peer_port api_port
  etcd_port=$(free_port)
  peer_port=$(free_port)
  while [ "$peer_port" = "$etcd_port" ]; do peer_port=$(free_port); done

  # etcd aborts when an ETCD_* variable duplicates a flag: start it without them.
  local unset_etcd=() v
  for v in $(compgen -e); do
    case "$v" in ETCD_*) unset_etcd+=(-u "$v") ;; esac
  done
  log "starting etcd on 127.0.0.1:$etcd_port"
  mkdir -p "$D/etcd-data"
  chmod 700 "$D/etcd-data"
  launch etcd env "${unset_etcd[@]}" etcd \
    --name=weir \
    --data-dir="$D/etcd-data" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" \
    --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-cluster="weir=http://127.0.0.1:$peer_port" \
    --logger=zap \
    --log-outputs=stderr
  wait_up etcd 30 "healthy etcd" etcd_healthy "$etcd_port"

  api_port=$(free_port)
  local server="https://127.0.0.1:$api_port"
  log "starting kube-apiserver on $server"
  launch apiserver "$KUBE_BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="$api_port" \
    --insecure-port=0 \
    --tls-cert-file="$p/apiserver.crt" \
    --tls-private-key-file="$p/apiserver.key" \
    --client-ca-file="$p/ca.crt" \
    --authorization-mode=RBAC \
    --token-auth-file="$D/tokens.csv" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$p/sa.pub" \
    --service-account-signing-key-file="$p/sa.key" \
    --endpoint-reconciler-type=none \
    --allow-privileged=true \
    --profiling=false
  wait_up apiserver 120 "/readyz ok" readyz "$server"

  write_kubeconfig "$D/kubeconfig" "$server" admin
  write_kubeconfig "$D/controller-manager.kubeconfig" "$server" controller-manager

  log "starting kube-controller-manager"
  launch controller-manager "$KUBE_BIN/kube-controller-manager" \
    --kubeconfig="$D/controller-manager.kubeconfig" \
    --use-service-account-credentials \
    --service-account-private-key-file="$p/sa.key" \
    --root-ca-file="$p/ca.crt" \
    --cluster-signing-cert-file="$p/ca.crt" \
    --cluster-signing-key-file="$p/ca.key" \
    --leader-elect=false \
    --port=0 \
    --secure-port=0 \
    --profiling=false
  wait_up controller-manager 90 "ServiceAccount default/default" default_sa_exists "$server"

  (
    umask 077
    cat >"$D/env.tmp" <<ENV
KUBECONFIG=$D/kubeconfig
WEIR_KUBE_SERVER=$server
WEIR_KUBE_CA=$p/ca.crt
WEIR_KUBE_TOKEN_USER=$TOKEN_USER
WEIR_KUBE_TOKEN_USER_TOKEN=$(cat "$D/token-user")
ENV
  )
  mv "$D/env.tmp" "$D/env"
  START_OK=1
  trap - EXIT INT TERM
  log "control plane in $D ready at $server in $(( $(date +%s) - started )) s (set -a; . $D/env)"
}

cmd_stop() {
  [ -n "${1:-}" ] || usage
  if [ ! -d "$1" ]; then
    log "nothing running in $1 (no such directory)"
    return 0
  fi
  set_dir "$1"
  lock_dir
  if any_running; then
    stop_all
    log "stopped the control plane in $D (logs kept)"
  else
    stop_all
    log "nothing running in $D"
  fi
}

cmd_status() {
  [ -n "${1:-}" ] || usage
  [ -d "$1" ] || { echo "no control plane in $1" >&2; return 1; }
  set_dir "$1"
  if healthy; then
    echo "control plane in $D running and ready at $SERVER"
    return 0
  fi
  local c missing=()
  for c in "${COMPONENTS[@]}"; do ours "$c" || missing+=("$c"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "control plane in $D not running (${missing[*]} down)" >&2
  else
    echo "control plane in $D running but not ready" >&2
  fi
  return 1
}

case "${1:-}" in
  build) [ $# -eq 1 ] || usage; cmd_build ;;
  start) [ $# -eq 2 ] || usage; cmd_start "$2" ;;
  stop) [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
  status) [ $# -eq 2 ] || usage; cmd_status "$2" ;;
  *) usage ;;
esac
