#!/usr/bin/env bash
# Self-test of scripts/git-server.sh: starts fresh temporary instances (under
# a mktemp directory, removed at the end) and checks every server with the git
# CLI: git daemon; smart HTTP /anon, /basic, /bearer over http and https (test
# CA); the mTLS port with, without and with a foreign client cert; the proxy
# (CONNECT, forwarding, its log, 407); ssh with the plain and the passphrase key and a wrong known_hosts; a
# push; two instances at once; idempotent start; restart after a crash; stop.
# Exits non-zero on any failure; the last line is `N passed, N failed`.
#
#   scripts/git-server-selftest.sh
#
# shellcheck disable=SC2317  # the check helpers are called through "$@"
set -uo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR disable=SC1091
. "$(dirname "$0")/lib.sh"

GS="$(cd "$(dirname "$0")" && pwd)/git-server.sh"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/weir-git-selftest.XXXXXX") || die "mktemp failed"
A="$TMP/a" B="$TMP/b"
OUT="$TMP/out"
pass=0 fail=0

cleanup() {
  "$GS" stop "$A" >/dev/null 2>&1
  "$GS" stop "$B" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The test runs git as a fresh user would: no global/system config, no
# credential helper, no prompt, and none of the CA/proxy variables of the
# calling environment (GIT_SSL_CAINFO would override http.sslCAInfo).
export HOME="$TMP/home"
mkdir -p "$HOME"
export GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
export GIT_AUTHOR_NAME=weir-selftest GIT_AUTHOR_EMAIL=selftest@weir.invalid
export GIT_COMMITTER_NAME=weir-selftest GIT_COMMITTER_EMAIL=selftest@weir.invalid
unset GIT_SSL_CAINFO GIT_SSL_CAPATH GIT_SSL_NO_VERIFY GIT_SSL_CERT GIT_SSL_KEY \
      GIT_ASKPASS SSH_ASKPASS SSH_ASKPASS_REQUIRE SSH_AUTH_SOCK GIT_SSH GIT_SSH_COMMAND \
      GIT_PROXY_COMMAND GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT GIT_DIR GIT_WORK_TREE \
      http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# ------------------------------------------------------------- reporting ---
ok()  { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() {
  fail=$((fail + 1)); printf 'FAIL %s\n' "$1"
  [ -s "$OUT" ] && tail -n 15 "$OUT" | sed 's/^/     | /'
  return 0
}
# check NAME CMD...: CMD succeeds.
check() {
  local n="$1"; shift
  if "$@" >"$OUT" 2>&1; then ok "$n"; else bad "$n"; fi
}
# check_fails NAME REGEX CMD...: CMD fails, and its output matches REGEX (ERE).
check_fails() {
  local n="$1" re="$2"; shift 2
  if "$@" >"$OUT" 2>&1; then bad "$n (expected a failure, it succeeded)"
  elif grep -Eq "$re" "$OUT"; then ok "$n"
  else bad "$n (failed, but output does not match /$re/)"; fi
}
finish() {
  cleanup >/dev/null 2>&1
  trap - EXIT
  printf '%s passed, %s failed\n' "$pass" "$fail"
  [ "$fail" -eq 0 ]
  exit
}

# --------------------------------------------------------------- helpers ---
# g ARGS...: git, bounded in time, nothing to prompt with.
g() { timeout 120 git -c credential.helper= -c protocol.version=2 "$@" </dev/null; }

# with_env VAR=VALUE... CMD...: CMD (a function too) with VARs exported.
with_env() {
  local -a vars=()
  while [ $# -gt 0 ] && [[ $1 == [A-Za-z_]*=* ]]; do vars+=("$1"); shift; done
  ( export "${vars[@]}"; "$@" )
}

# has_main CMD...: CMD (an ls-remote) prints $SHA for refs/heads/main.
has_main() {
  local o; o=$("$@" 2>&1) || { printf '%s\n' "$o"; return 1; }
  printf '%s\n' "$o"
  printf '%s\n' "$o" | grep -q "^$SHA	refs/heads/main\$"
}

# clone_ok CMD...: CMD DEST (a clone) works and DEST's HEAD is $SHA.
nclone=0
clone_ok() {
  nclone=$((nclone + 1))
  local dest="$TMP/clones/$nclone"
  "$@" "$dest" || return 1
  [ "$(git -C "$dest" rev-parse HEAD)" = "$SHA" ] || { echo "HEAD of clone is not $SHA"; return 1; }
}

# http_401 SCHEME CURLARGS...: the request gets 401 with WWW-Authenticate: SCHEME.
http_401() {
  local scheme="$1" h; shift
  h=$(curl -sS -o /dev/null -D - --max-time 30 "$@" 2>&1)
  printf '%s\n' "$h"
  printf '%s\n' "$h" | grep -Eq '^HTTP/[0-9.]+ 401' &&
    printf '%s\n' "$h" | grep -iq "^WWW-Authenticate: $scheme"
}

# http_code CODE CURLARGS...: the request gets HTTP status CODE.
http_code() {
  local want="$1" got; shift
  got=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 30 "$@" 2>&1)
  echo "HTTP status $got"
  [ "$got" = "$want" ]
}

# make_repo DIR NAME: a bare repo DIR/repos/NAME with one commit on main;
# sets SHA to that commit.
make_repo() {
  local bare="$1/repos/$2" work="$TMP/work-$2"
  git init -q --bare -b main "$bare" &&
  git init -q -b main "$work" &&
  echo "hello from $2" >"$work/README" &&
  git -C "$work" add README &&
  git -C "$work" commit -q -m "first commit of $2" &&
  git -C "$work" push -q "$bare" main &&
  SHA=$(git -C "$bare" rev-parse refs/heads/main)
}

# env_of DIR KEY: KEY's value in DIR/env.
env_of() { sed -n "s/^$2=//p" "$1/env" | tail -n1; }

server_pids() { cat "$1"/run/*.pid 2>/dev/null | sort | tr '\n' ' '; }

# ------------------------------------------------------------------ tests ---
need_apt curl openssh-client >/dev/null

log "temporary instances under $TMP"
check "start A" "$GS" start "$A"
if [ ! -s "$A/env" ]; then bad "A has no env file; giving up"; finish; fi
check "status A is up" "$GS" status "$A"

# shellcheck disable=SC1091
. "$A/env"
for v in WEIR_GIT_ROOT WEIR_GIT_DAEMON_URL WEIR_GIT_HTTP_URL WEIR_GIT_HTTPS_URL WEIR_GIT_HTTP_USER \
         WEIR_GIT_HTTP_PASSWORD WEIR_GIT_HTTP_TOKEN WEIR_GIT_CA WEIR_GIT_SSH_URL WEIR_GIT_SSH_KEY \
         WEIR_GIT_SSH_KEY_PASS WEIR_GIT_SSH_PASSPHRASE WEIR_GIT_SSH_KNOWN_HOSTS WEIR_GIT_SSH_KNOWN_HOSTS_WRONG \
         WEIR_GIT_MTLS_URL WEIR_GIT_CLIENT_CERT WEIR_GIT_CLIENT_KEY WEIR_GIT_OTHER_CLIENT_CERT \
         WEIR_GIT_OTHER_CLIENT_KEY WEIR_GIT_PROXY_URL WEIR_GIT_PROXY_PORT WEIR_GIT_PROXY_USER \
         WEIR_GIT_PROXY_PASSWORD_FILE WEIR_GIT_PROXY_LOG; do
  [ -n "${!v:-}" ] || { : >"$OUT"; bad "env defines $v"; }
done
check "env files exist" test -d "$WEIR_GIT_ROOT" -a -s "$WEIR_GIT_CA" -a -s "$WEIR_GIT_SSH_KEY" \
  -a -s "$WEIR_GIT_SSH_KEY_PASS" -a -s "$WEIR_GIT_SSH_KNOWN_HOSTS" -a -s "$WEIR_GIT_SSH_KNOWN_HOSTS_WRONG"
check "password file matches env" test "$(cat "$A/http-password")" = "$WEIR_GIT_HTTP_PASSWORD"
check "token file matches env" test "$(cat "$A/http-token")" = "$WEIR_GIT_HTTP_TOKEN"

check "create test.git" make_repo "$A" test.git

# askpass helpers: the HTTP password, the ssh key passphrase
printf '#!/bin/sh\ncat %s\n' "$A/ssh/passphrase" >"$TMP/askpass-ssh"
# shellcheck disable=SC2016  # $1 is for the askpass script
printf '#!/bin/sh\ncase "$1" in Username*) echo weir ;; *) cat %s ;; esac\n' "$A/http-password" >"$TMP/askpass-http"
chmod +x "$TMP/askpass-ssh" "$TMP/askpass-http"

HP=$WEIR_GIT_HTTP_PORT SP=$WEIR_GIT_HTTPS_PORT
PW=$WEIR_GIT_HTTP_PASSWORD TOK=$WEIR_GIT_HTTP_TOKEN
BASIC_OK="http://weir:$PW@127.0.0.1:$HP/basic/test.git"
BASIC_BAD="http://weir:wrong-$PW@127.0.0.1:$HP/basic/test.git"

# git daemon
check "daemon ls-remote" has_main g ls-remote "$WEIR_GIT_DAEMON_URL/test.git"
check "daemon clone" clone_ok g clone -q "$WEIR_GIT_DAEMON_URL/test.git"
check "daemon clone (protocol v0)" clone_ok g -c protocol.version=0 clone -q "$WEIR_GIT_DAEMON_URL/test.git"
check_fails "daemon refuses a missing repo" 'no such repository|not exported|does not appear|access denied|not found' \
  g ls-remote "$WEIR_GIT_DAEMON_URL/nope.git"

# http /anon
check "http anon ls-remote" has_main g ls-remote "$WEIR_GIT_HTTP_URL/anon/test.git"
check "http anon clone" clone_ok g clone -q "$WEIR_GIT_HTTP_URL/anon/test.git"
check "http anon clone (protocol v0)" clone_ok g -c protocol.version=0 clone -q "$WEIR_GIT_HTTP_URL/anon/test.git"
check "http unknown prefix is 404" http_code 404 "$WEIR_GIT_HTTP_URL/other/test.git/info/refs?service=git-upload-pack"

# http /basic
check "http basic ls-remote (right password)" has_main g ls-remote "$BASIC_OK"
check "http basic clone (right password)" clone_ok g clone -q "$BASIC_OK"
check "http basic ls-remote (askpass)" has_main env GIT_ASKPASS="$TMP/askpass-http" \
  git -c credential.helper= ls-remote "http://weir@127.0.0.1:$HP/basic/test.git"
check_fails "http basic wrong password fails" 'Authentication failed|401' g ls-remote "$BASIC_BAD"
check_fails "http basic no credentials fails" 'could not read Username|Authentication failed|401' \
  g ls-remote "$WEIR_GIT_HTTP_URL/basic/test.git"
check "http basic wrong password is 401 + WWW-Authenticate: Basic" http_401 Basic \
  "$BASIC_BAD/info/refs?service=git-upload-pack"
check "http basic no credentials is 401 + WWW-Authenticate: Basic" http_401 Basic \
  "$WEIR_GIT_HTTP_URL/basic/test.git/info/refs?service=git-upload-pack"

# http /bearer
check "http bearer ls-remote (right token)" has_main \
  g -c http.extraHeader="Authorization: Bearer $TOK" ls-remote "$WEIR_GIT_HTTP_URL/bearer/test.git"
check "http bearer clone (right token)" clone_ok \
  g -c http.extraHeader="Authorization: Bearer $TOK" clone -q "$WEIR_GIT_HTTP_URL/bearer/test.git"
check_fails "http bearer wrong token fails" 'could not read Username|Authentication failed|401' \
  g -c http.extraHeader="Authorization: Bearer wrong-$TOK" ls-remote "$WEIR_GIT_HTTP_URL/bearer/test.git"
check_fails "http bearer no token fails" 'could not read Username|Authentication failed|401' \
  g ls-remote "$WEIR_GIT_HTTP_URL/bearer/test.git"
check "http bearer wrong token is 401" http_401 Bearer -H "Authorization: Bearer wrong-$TOK" \
  "$WEIR_GIT_HTTP_URL/bearer/test.git/info/refs?service=git-upload-pack"
check "http bearer basic credentials are 401" http_401 Bearer -u "weir:$PW" \
  "$WEIR_GIT_HTTP_URL/bearer/test.git/info/refs?service=git-upload-pack"

# https
check "https basic ls-remote (CA)" has_main \
  g -c http.sslCAInfo="$WEIR_GIT_CA" ls-remote "https://weir:$PW@127.0.0.1:$SP/basic/test.git"
check "https basic clone (CA)" clone_ok \
  g -c http.sslCAInfo="$WEIR_GIT_CA" clone -q "https://weir:$PW@127.0.0.1:$SP/basic/test.git"
check "https anon clone via localhost (CA)" clone_ok \
  g -c http.sslCAInfo="$WEIR_GIT_CA" clone -q "https://localhost:$SP/anon/test.git"
check "https bearer ls-remote (CA)" has_main g -c http.sslCAInfo="$WEIR_GIT_CA" \
  -c http.extraHeader="Authorization: Bearer $TOK" ls-remote "$WEIR_GIT_HTTPS_URL/bearer/test.git"
check_fails "https without the CA fails (certificate)" 'certificate|SSL' \
  g ls-remote "https://weir:$PW@127.0.0.1:$SP/basic/test.git"
check_fails "https basic wrong password fails (CA)" 'Authentication failed|401' \
  g -c http.sslCAInfo="$WEIR_GIT_CA" ls-remote "https://weir:wrong@127.0.0.1:$SP/basic/test.git"
check "https curl --cacert verifies" http_code 200 --cacert "$WEIR_GIT_CA" \
  "$WEIR_GIT_HTTPS_URL/anon/test.git/info/refs?service=git-upload-pack"

# mTLS: nginx finishes the handshake without a (valid) client cert, then
# answers 400
MTLS_REPO="$WEIR_GIT_MTLS_URL/anon/test.git"
check "mtls ls-remote (client cert)" has_main g -c http.sslCAInfo="$WEIR_GIT_CA" \
  -c http.sslCert="$WEIR_GIT_CLIENT_CERT" -c http.sslKey="$WEIR_GIT_CLIENT_KEY" ls-remote "$MTLS_REPO"
check_fails "mtls without a client cert is 400" '400' g -c http.sslCAInfo="$WEIR_GIT_CA" ls-remote "$MTLS_REPO"
check_fails "mtls with a foreign client cert is 400" '400' g -c http.sslCAInfo="$WEIR_GIT_CA" \
  -c http.sslCert="$WEIR_GIT_OTHER_CLIENT_CERT" -c http.sslKey="$WEIR_GIT_OTHER_CLIENT_KEY" ls-remote "$MTLS_REPO"

# proxy (NO_PROXY above would let curl bypass it for 127.0.0.1)
PROXY_AUTH="http://$WEIR_GIT_PROXY_USER:$(cat "$WEIR_GIT_PROXY_PASSWORD_FILE")@127.0.0.1:$WEIR_GIT_PROXY_PORT"
check "proxy tunnels https (CONNECT)" has_main env -u NO_PROXY -u no_proxy \
  git -c credential.helper= -c http.proxy="$PROXY_AUTH" -c http.sslCAInfo="$WEIR_GIT_CA" \
  ls-remote "$WEIR_GIT_HTTPS_URL/anon/test.git"
check "proxy log shows the CONNECT" grep -q "CONNECT 127.0.0.1:$SP " "$WEIR_GIT_PROXY_LOG"
check "proxy forwards http" has_main env -u NO_PROXY -u no_proxy \
  git -c credential.helper= -c http.proxy="$PROXY_AUTH" ls-remote "$WEIR_GIT_HTTP_URL/anon/test.git"
check "proxy log shows the forwarded request" grep -qF "GET $WEIR_GIT_HTTP_URL/anon/test.git/info/refs" "$WEIR_GIT_PROXY_LOG"
check "proxy without credentials is 407" http_code 407 --noproxy '' -x "$WEIR_GIT_PROXY_URL" \
  "$WEIR_GIT_HTTP_URL/anon/test.git/info/refs?service=git-upload-pack"
# shellcheck disable=SC2016  # $1 and $2 are for the inner bash
check "proxy log holds no password" bash -c '! grep -qF -- "$1" "$2"' _ \
  "$(cat "$WEIR_GIT_PROXY_PASSWORD_FILE")" "$WEIR_GIT_PROXY_LOG"

# ssh
SSH_BASE=(ssh -o UserKnownHostsFile="$WEIR_GIT_SSH_KNOWN_HOSTS" -o StrictHostKeyChecking=yes
  -o IdentitiesOnly=yes -o BatchMode=yes -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=20)
SSH_OK="${SSH_BASE[*]} -i $WEIR_GIT_SSH_KEY"
SSH_WRONG_HOST="ssh -o UserKnownHostsFile=$WEIR_GIT_SSH_KNOWN_HOSTS_WRONG -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes -o GlobalKnownHostsFile=/dev/null -i $WEIR_GIT_SSH_KEY"
SSH_PASS="ssh -o UserKnownHostsFile=$WEIR_GIT_SSH_KNOWN_HOSTS -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o GlobalKnownHostsFile=/dev/null -i $WEIR_GIT_SSH_KEY_PASS"
SSH_REPO="$WEIR_GIT_SSH_URL/repos/test.git"

check "ssh ls-remote (key)" has_main with_env GIT_SSH_COMMAND="$SSH_OK" g ls-remote "$SSH_REPO"
check "ssh clone (key)" clone_ok with_env GIT_SSH_COMMAND="$SSH_OK" g clone -q "$SSH_REPO"
check "ssh clone (key, protocol v0)" clone_ok with_env GIT_SSH_COMMAND="$SSH_OK" g -c protocol.version=0 clone -q "$SSH_REPO"
check "ssh scp-style URL" has_main with_env GIT_SSH_COMMAND="$SSH_OK -p $WEIR_GIT_SSH_PORT" \
  g ls-remote "root@127.0.0.1:$WEIR_GIT_ROOT/test.git"
check_fails "ssh with known_hosts_wrong fails" 'Host key verification failed|HOST IDENTIFICATION HAS CHANGED' \
  with_env GIT_SSH_COMMAND="$SSH_WRONG_HOST" g ls-remote "$SSH_REPO"
check "ssh ls-remote (passphrase key via SSH_ASKPASS)" has_main \
  with_env GIT_SSH_COMMAND="$SSH_PASS" SSH_ASKPASS="$TMP/askpass-ssh" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
  g ls-remote "$SSH_REPO"
check_fails "ssh passphrase key without the passphrase fails" 'Permission denied' \
  with_env GIT_SSH_COMMAND="$SSH_PASS -o BatchMode=yes" g ls-remote "$SSH_REPO"
check "passphrase opens id_ed25519_pass" \
  ssh-keygen -y -P "$WEIR_GIT_SSH_PASSPHRASE" -f "$WEIR_GIT_SSH_KEY_PASS"
check_fails "passphrase key is encrypted" 'incorrect passphrase|load failed|invalid format' \
  ssh-keygen -y -P '' -f "$WEIR_GIT_SSH_KEY_PASS"

# pushes
push_basic() {
  local w="$TMP/push-work"
  rm -rf "$w"
  g clone -q "$BASIC_OK" "$w" &&
  head -c 2000000 /dev/urandom >"$w/blob.bin" &&
  git -C "$w" add blob.bin && git -C "$w" commit -q -m "pushed over http basic" &&
  # a small postBuffer makes git send the pack chunked, like big pushes do
  g -C "$w" -c http.postBuffer=65536 push -q origin main &&
  [ "$(git -C "$A/repos/test.git" rev-parse refs/heads/main)" = "$(git -C "$w" rev-parse HEAD)" ]
}
check "http basic push (chunked) lands in DIR/repos" push_basic
SHA=$(git -C "$A/repos/test.git" rev-parse refs/heads/main)
push_to() {  # push_to URL [git opts]: push a new commit from a fresh clone
  local url="$1" w="$TMP/push-to"; shift
  rm -rf "$w"
  git clone -q "$A/repos/test.git" "$w" && git -C "$w" commit -q --allow-empty -m more &&
    g "$@" -C "$w" push "$url" HEAD:refs/heads/other
}
check "https bearer push" push_to "$WEIR_GIT_HTTPS_URL/bearer/test.git" \
  -c http.sslCAInfo="$WEIR_GIT_CA" -c http.extraHeader="Authorization: Bearer $TOK"
check "bearer push landed" test "$(git -C "$A/repos/test.git" rev-parse refs/heads/other)" = "$(git -C "$TMP/push-to" rev-parse HEAD)"
check_fails "http anon push refused" '403|not enabled|denied' push_to "$WEIR_GIT_HTTP_URL/anon/test.git"
check_fails "git daemon push refused" 'service not enabled|denied|unable|fatal' push_to "$WEIR_GIT_DAEMON_URL/test.git"
check "main unchanged by refused pushes" test "$(git -C "$A/repos/test.git" rev-parse refs/heads/main)" = "$SHA"

# a second instance at the same time
check "start B while A runs" "$GS" start "$B"
check "status B is up" "$GS" status "$B"
check "A and B use different ports" test "$(env_of "$A" WEIR_GIT_HTTP_PORT) $(env_of "$A" WEIR_GIT_SSH_PORT)" \
  != "$(env_of "$B" WEIR_GIT_HTTP_PORT) $(env_of "$B" WEIR_GIT_SSH_PORT)"
SHA_A=$SHA
check "create b.git in B" make_repo "$B" b.git
check "B http anon ls-remote" has_main g ls-remote "$(env_of "$B" WEIR_GIT_HTTP_URL)/anon/b.git"
check "B ssh ls-remote (B's key)" has_main with_env GIT_SSH_COMMAND="ssh -o UserKnownHostsFile=$(env_of "$B" WEIR_GIT_SSH_KNOWN_HOSTS) -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes -i $(env_of "$B" WEIR_GIT_SSH_KEY)" \
  g ls-remote "$(env_of "$B" WEIR_GIT_SSH_URL)/repos/b.git"
check_fails "A does not serve B's repo" 'not found|404|does not appear|fatal' g ls-remote "$WEIR_GIT_HTTP_URL/anon/b.git"
SHA=$SHA_A
check "A still serves after B started" has_main g ls-remote "$WEIR_GIT_HTTP_URL/anon/test.git"

# idempotent start
pids_before=$(server_pids "$A") env_before=$(cat "$A/env")
check "start A again (already running)" "$GS" start "$A"
cp "$OUT" "$TMP/again.out"
check "start A again says so" grep -q 'already running' "$TMP/again.out"
check "start A again keeps servers and env" test "$(server_pids "$A")|$(cat "$A/env")" = "$pids_before|$env_before"

# restart after a crash: kill -9 nginx's master (its worker is left behind)
kill -9 "$(cat "$A/run/nginx.pid")" 2>/dev/null
sleep 0.3
check_fails "status A after nginx crash is down" 'not \(all\) up' "$GS" status "$A"
check "start A after crash restarts" "$GS" start "$A"
check "status A after restart is up" "$GS" status "$A"
check "A serves again after restart" has_main g ls-remote "$WEIR_GIT_HTTP_URL/anon/test.git"
check "A keeps its ports across restart" test "$(env_of "$A" WEIR_GIT_HTTP_PORT)" = "$HP"

# stop
pgids=$(cat "$A"/run/*.pid "$B"/run/*.pid 2>/dev/null)
check "stop A" "$GS" stop "$A"
check "stop B" "$GS" stop "$B"
check_fails "status A after stop is down" 'not \(all\) up' "$GS" status "$A"
check_fails "status B after stop is down" 'not \(all\) up' "$GS" status "$B"
no_procs() {  # no live process of the servers' groups, none naming $TMP
  local pg o=""
  for pg in $pgids; do
    o+=$(ps -eo pgid=,stat=,args= | awk -v g="$pg" '$1 == g && $2 !~ /^Z/')
  done
  o+=$(ps -eo stat=,args= | awk '$1 !~ /^Z/' | grep -F "$TMP" | grep -v -e ' grep ' -e selftest)
  [ -z "$o" ] || { printf 'left over:\n%s\n' "$o"; return 1; }
}
check "no server processes of A or B remain" no_procs
check_fails "A's http port is closed" 'Connection refused|Failed to connect|Couldn|000' \
  http_code 200 "$WEIR_GIT_HTTP_URL/anon/test.git/info/refs"
check "stop A again (nothing running) exits 0" "$GS" stop "$A"
check "start A after stop" "$GS" start "$A"
check "A serves after start from stopped" has_main g ls-remote "$(env_of "$A" WEIR_GIT_HTTP_URL)/anon/test.git"
check "stop A" "$GS" stop "$A"

# unreachable-url
URL=$("$GS" unreachable-url 2>/dev/null)
check "unreachable-url prints an http URL" grep -Eq '^http://127\.0\.0\.1:[0-9]+/anon/x\.git$' <<<"$URL"
check_fails "unreachable-url cannot be reached" 'Failed to connect|Connection refused|unable to access' \
  g ls-remote "$URL"

finish
