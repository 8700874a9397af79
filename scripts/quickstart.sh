#!/usr/bin/env bash
# weir's quick start on a fresh machine: builds weir and its plugins, starts a
# local Kubernetes control plane and a git server, pushes
# examples/quickstart/repo to it, reconciles once and shows the result.
#
#   scripts/quickstart.sh          set up (idempotent) and reconcile once
#   scripts/quickstart.sh run      ... then keep running (`weir run`; Ctrl-C)
#   scripts/quickstart.sh stop     stop the quick start's servers
#
# State lives under $WEIR_CACHE/quickstart (default /var/cache/weir).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
qs="$WEIR_CACHE/quickstart"

if [ "${1:-}" = stop ]; then
  bash "$here/kube.sh" stop "$qs/kube"
  bash "$here/git-server.sh" stop "$qs/git"
  exit 0
fi

need_apt git openssh-client openssl ca-certificates python3 curl
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$WEIR_CACHE/target}"
log "building weir"
(cd "$root" && cargo build -p weir)
weir="$CARGO_TARGET_DIR/debug/weir"
log "building plugins"
bash "$here/plugins.sh" build --out "$WEIR_CACHE/plugins" >&2

log "starting the control plane and the git server"
bash "$here/kube.sh" start "$qs/kube" >&2
bash "$here/git-server.sh" start "$qs/git" >/dev/null
# The env files are written by the server scripts at run time.
set -a
# shellcheck disable=SC1091
. "$qs/git/env"
# shellcheck disable=SC1091
. "$qs/kube/env"
set +a

# The repository: examples/quickstart/repo, committed once. Later runs keep
# whatever was pushed since, so a user's experiments survive.
bare="$WEIR_GIT_ROOT/quickstart.git"
if [ ! -d "$bare" ]; then
  log "creating $bare from examples/quickstart/repo"
  work=$(mktemp -d)
  cp -r "$root/examples/quickstart/repo/." "$work/"
  git -C "$work" init -q -b main
  git -C "$work" add -A
  git -C "$work" -c user.name=weir -c user.email=quickstart@weir.invalid commit -q -m "quickstart"
  git init -q --bare -b main "$bare"
  git -C "$work" push -q "$bare" main
  rm -rf "$work"
fi

sed -e "s|@GIT_URL@|$WEIR_GIT_HTTP_URL|" \
    -e "s|@GIT_USER@|$WEIR_GIT_HTTP_USER|" \
    -e "s|@GIT_PASSWORD_FILE@|$WEIR_GIT_HTTP_PASSWORD_FILE|" \
    -e "s|@KUBECONFIG@|$KUBECONFIG|" \
    -e "s|@PLUGINS_DIR@|$WEIR_CACHE/plugins|" \
    "$root/examples/quickstart/weir.toml" > "$qs/weir.toml"

cd "$qs"
log "weir reconcile"
"$weir" --config weir.toml reconcile
echo
"$weir" --config weir.toml get objects
echo
kubectl --kubeconfig "$KUBECONFIG" get all,configmaps,widgets -n quickstart 2>/dev/null || true
cat <<MSG

The quick start's state is in $qs. Try:
  cd $qs && $weir --config weir.toml get sources
  git clone $bare /tmp/qs && edit, commit, push; then: $weir --config weir.toml reconcile
  scripts/quickstart.sh run     # keep reconciling (interval 30s, source every 10s)
  scripts/quickstart.sh stop    # stop the servers
MSG
if [ "${1:-}" = run ]; then
  exec "$weir" --config weir.toml run
fi
