# shellcheck shell=bash
# Shared helpers for weir's scripts. Source it; it defines functions only.
#
# WEIR_CACHE is where every script keeps what it builds or downloads, outside
# the work tree, so a second run on the same machine is fast. It defaults to
# /var/cache/weir (the scripts run as root on CI and dev machines of this kind);
# set it to any writable directory to keep caches elsewhere.

: "${WEIR_CACHE:=/var/cache/weir}"
export WEIR_CACHE

# log MSG...: a progress line on stderr, prefixed with the calling script's name.
log() { printf '[%s] %s\n' "$(basename "${0}")" "$*" >&2; }

# die MSG...: an error line on stderr and exit 1.
die() { printf '[%s] error: %s\n' "$(basename "${0}")" "$*" >&2; exit 1; }

# need_apt PKG...: install the Debian packages that are not installed yet.
# Runs `apt-get update` at most once per machine boot-ish (a stamp in
# WEIR_CACHE that is older than a day is refreshed), and never when everything
# is present already, so a warm run costs one dpkg query.
need_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  mkdir -p "$WEIR_CACHE"
  local stamp="$WEIR_CACHE/.apt-updated"
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440 2>/dev/null)" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
    touch "$stamp"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install failed for: ${missing[*]}"
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on now.
# Ports come from the kernel (bind to port 0), so parallel runs do not collide
# the way a fixed range would.
free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# wait_for CMD... : retry CMD for up to $WAIT_SECONDS (default 60) seconds.
wait_for() {
  local deadline=$(( $(date +%s) + ${WAIT_SECONDS:-60} ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

# pid_alive FILE: true when FILE holds the pid of a running process.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile FILE: stop the process in FILE (TERM, then KILL after 10 s).
stop_pidfile() {
  local f="$1" pid _
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
