#!/usr/bin/env bash
# Real git servers on 127.0.0.1 for weir's end-to-end tests.
#
#   scripts/git-server.sh start DIR     start (or keep) DIR's servers; prints DIR/env
#   scripts/git-server.sh stop DIR      stop DIR's servers (exit 0 if none ran)
#   scripts/git-server.sh status DIR    exit 0 if all of DIR's servers are up
#   scripts/git-server.sh unreachable-url
#                                       print http://127.0.0.1:P/anon/x.git where
#                                       nothing listens on P
#
# Everything lives under DIR (absolute or relative; it is created; it must not
# contain whitespace or shell/config metacharacters). Repositories are served
# from DIR/repos: write bare repos there directly (`git init --bare
# DIR/repos/x.git`), they are visible at once through every server:
#
#   git daemon   git://127.0.0.1:$WEIR_GIT_DAEMON_PORT/x.git   (read-only)
#   smart HTTP   http://127.0.0.1:$WEIR_GIT_HTTP_PORT/<prefix>/x.git
#   smart HTTPS  https://127.0.0.1:$WEIR_GIT_HTTPS_PORT/<prefix>/x.git
#                (server cert for IP:127.0.0.1 and DNS:localhost, signed by
#                the test CA DIR/ca.crt)
#       prefix anon    no auth, read-only
#       prefix basic   HTTP basic auth, user weir, password DIR/http-password;
#                      fetch and push; else 401 + WWW-Authenticate: Basic
#       prefix bearer  header "Authorization: Bearer $(cat DIR/http-token)";
#                      fetch and push; else 401 + WWW-Authenticate: Bearer
#   mTLS HTTPS   https://127.0.0.1:$WEIR_GIT_MTLS_PORT/anon/x.git: as smart
#                HTTPS, but nginx requires a TLS client certificate signed by
#                the test CA (DIR/tls/client.{crt,key}); without one it
#                answers 400. DIR/tls/other-client.{crt,key} is a
#                self-signed client cert it refuses.
#   HTTP proxy   tinyproxy on http://127.0.0.1:$WEIR_GIT_PROXY_PORT, basic
#                auth user weir-proxy, password DIR/proxy-password; CONNECT
#                to any port and plain-http forwarding; every request line
#                is logged to $WEIR_GIT_PROXY_LOG (DIR/logs/tinyproxy.log).
#   static files http(s)://127.0.0.1:$WEIR_GIT_HTTP(S)_PORT/files/<prefix>/<path>
#                serve DIR/files/<path> (a Helm chart repository's index.yaml
#                and .tgz, an archive…); prefixes anon and basic as above
#                ($WEIR_FILES_DIR, $WEIR_FILES_HTTP_URL)
#   ssh          ssh://root@127.0.0.1:$WEIR_GIT_SSH_PORT/<absolute DIR>/repos/x.git
#                i.e. "$WEIR_GIT_SSH_URL/repos/x.git"; keys DIR/ssh/id_ed25519
#                (no passphrase) and DIR/ssh/id_ed25519_pass (passphrase in
#                DIR/ssh/passphrase); DIR/ssh/known_hosts holds the server's
#                host key, DIR/ssh/known_hosts_wrong another key for the same
#                host names.
#
# DIR/env (KEY=VALUE lines, no quoting needed, sourceable by sh) names all of
# it; see write_env below for the full list. Ports are picked free at start
# (the previous ones are kept when still free), secrets, keys and certs are
# made once per DIR and kept across restarts. Several DIRs can run at once.
#
# Layout: DIR/{repos,env,ca.crt,http-password,http-token,proxy-password,sshd_config,tinyproxy.conf}
#         DIR/ssh/  client keys, known_hosts*, authorized_keys, host key
#         DIR/tls/  CA key, server key and cert
#         DIR/nginx/ nginx.conf, htpasswd, temp dirs
#         DIR/run/  pid files, fcgiwrap socket     DIR/logs/ every server's log
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR disable=SC1091
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,9p' "$0" >&2; exit 2; }

# ---------------------------------------------------------------- helpers ---

# port_open P: true when something accepts TCP connections on 127.0.0.1:P.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# port_bindable P: true when P can be bound on 127.0.0.1 now.
port_bindable() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.close()
PY
}

# alive FILE: true when FILE holds the pid of a running process. Unlike
# lib.sh's pid_alive, a zombie does not count: servers outlive this script and
# are reparented to PID 1, which on some machines (containers) never reaps.
alive() {
  local pid state
  [ -f "$1" ] || return 1
  pid=$(cat "$1")
  case "$pid" in ''|*[!0-9]*) return 1 ;; esac
  state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# group_alive PGID: true while process group PGID has a member that is one of
# our servers (a leader that died, e.g. by kill -9, can leave its workers).
group_alive() {
  ps -eo pgid=,stat=,args= 2>/dev/null | awk -v g="$1" '$1 == g && $2 !~ /^Z/' |
    grep -Eq 'nginx|sshd|fcgiwrap|tinyproxy|git-daemon|git-http-backend|git-upload-pack|git-receive-pack'
}

# stop_group FILE: stop the process group led by the pid in FILE (each server
# is the leader of its own group), TERM then KILL after 10 s; helpers,
# workers and orphans of a dead leader go too. Removes FILE.
stop_group() {
  local f="$1" pid _
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  case "$pid" in ''|*[!0-9]*) rm -f "$f"; return 0 ;; esac
  if group_alive "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do group_alive "$pid" || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# launch PIDFILE LOG CMD...: run CMD in the background as the leader of a new
# session/process group, stdin from /dev/null, output to LOG; PIDFILE gets its
# pid (written by the process itself, so it is right even if setsid forks).
launch() {
  local pidfile="$1" logf="$2"; shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016  # $$, $0 and $@ are for the inner sh
  setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$logf" 2>&1 9>&- &
  wait_for test -s "$pidfile" || fail "could not start $1"
}

# env_get KEY: the value of KEY in $D/env, empty when absent.
env_get() {
  [ -f "$D/env" ] || return 0
  sed -n "s/^$1=//p" "$D/env" | tail -n1
}

# set_dir DIR [create]: sets D to DIR's absolute path, and all the paths.
# Without "create", a missing DIR is an error (exit 1) unless MISSING_OK is set,
# then it exits 0.
set_dir() {
  local d="$1"
  case "$d" in
    *[[:space:]\'\"\\\$\;\`\{\}\#\*\?]*) die "DIR must not contain whitespace or any of: ' \" \\ \$ ; \` { } # * ?: $d" ;;
  esac
  if [ "${2:-}" = create ]; then
    mkdir -p "$d"
  elif [ ! -d "$d" ]; then
    [ -n "${MISSING_OK:-}" ] && { log "no git servers were running for $d (no such directory)"; exit 0; }
    die "no git servers for $d (no such directory)"
  fi
  D=$(cd "$d" && pwd -P)
  REPOS="$D/repos" RUN="$D/run" LOGS="$D/logs" SSH="$D/ssh" TLS="$D/tls" NGX="$D/nginx"
  SOCK="$RUN/fcgiwrap.sock"
}

# The servers, by pid file. git daemon, fcgiwrap and sshd are started with
# setsid (own process group); nginx daemonizes itself and writes its pid file.
pidfiles() { printf '%s\n' "$RUN/git-daemon.pid" "$RUN/fcgiwrap.pid" "$RUN/nginx.pid" "$RUN/sshd.pid" "$RUN/tinyproxy.pid"; }

# --------------------------------------------------------------- commands ---

# fail MSG: stop whatever this start got running, then die.
fail() { stop_all; die "$@"; }

is_up() {
  local f p
  for f in $(pidfiles); do alive "$f" || return 1; done
  p=$(env_get WEIR_GIT_FCGI_PORT)
  if [ -n "$p" ]; then port_open "$p" || return 1; else [ -S "$SOCK" ] || return 1; fi
  for p in "$(env_get WEIR_GIT_DAEMON_PORT)" "$(env_get WEIR_GIT_HTTP_PORT)" \
           "$(env_get WEIR_GIT_HTTPS_PORT)" "$(env_get WEIR_GIT_SSH_PORT)" \
           "$(env_get WEIR_GIT_MTLS_PORT)" "$(env_get WEIR_GIT_PROXY_PORT)"; do
    if [ -z "$p" ] || ! port_open "$p"; then return 1; fi
  done
}

stop_all() {
  local f
  # nginx first (it talks to fcgiwrap), then the rest.
  for f in "$RUN/nginx.pid" "$RUN/git-daemon.pid" "$RUN/fcgiwrap.pid" "$RUN/sshd.pid" "$RUN/tinyproxy.pid"; do stop_group "$f"; done
  rm -f "$SOCK"
}

install_deps() {
  # tinyproxy-bin: the proxy alone, without the tinyproxy package's system
  # service.
  need_apt git nginx-light fcgiwrap openssh-server openssh-client openssl python3 util-linux tinyproxy-bin
  command -v git >/dev/null || die "git not found"
  [ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd not found"
  command -v nginx >/dev/null || die "nginx not found"
  command -v fcgiwrap >/dev/null || die "fcgiwrap not found"
  command -v tinyproxy >/dev/null || die "tinyproxy not found"
}

# Secrets, keys and certificates: made once per DIR, kept on restart.
make_secrets() {
  mkdir -p "$REPOS" "$RUN" "$LOGS" "$SSH" "$TLS" "$NGX/tmp" "$D/files"
  chmod 700 "$SSH" "$TLS"
  [ -s "$D/http-password" ] || openssl rand -hex 16 >"$D/http-password"
  [ -s "$D/http-token" ] || openssl rand -hex 24 >"$D/http-token"
  [ -s "$SSH/passphrase" ] || openssl rand -hex 12 >"$SSH/passphrase"
  [ -s "$D/proxy-password" ] || openssl rand -hex 16 >"$D/proxy-password"
  printf 'weir:%s\n' "$(openssl passwd -apr1 "$(cat "$D/http-password")")" >"$NGX/htpasswd"

  # SSH: server host key, an unrelated key for known_hosts_wrong, client keys.
  [ -s "$SSH/ssh_host_ed25519_key" ] ||
    ssh-keygen -q -t ed25519 -N '' -C weir-test-host -f "$SSH/ssh_host_ed25519_key"
  [ -s "$SSH/wrong_host_ed25519_key" ] ||
    ssh-keygen -q -t ed25519 -N '' -C weir-test-wrong-host -f "$SSH/wrong_host_ed25519_key"
  [ -s "$SSH/id_ed25519" ] ||
    ssh-keygen -q -t ed25519 -N '' -C weir-test-client -f "$SSH/id_ed25519"
  [ -s "$SSH/id_ed25519_pass" ] ||
    ssh-keygen -q -t ed25519 -N "$(cat "$SSH/passphrase")" -C weir-test-client-pass -f "$SSH/id_ed25519_pass"
  chmod 600 "$SSH"/ssh_host_ed25519_key "$SSH"/wrong_host_ed25519_key "$SSH"/id_ed25519 "$SSH"/id_ed25519_pass
  cat "$SSH/id_ed25519.pub" "$SSH/id_ed25519_pass.pub" >"$SSH/authorized_keys"

  # TLS: a test CA and a server cert for 127.0.0.1/localhost (X.509 v3 with
  # the extensions strict verifiers such as webpki/rustls insist on).
  if [ ! -s "$TLS/ca.key" ] || [ ! -s "$D/ca.crt" ]; then
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$TLS/ca.key" -out "$D/ca.crt" -days 3650 -sha256 \
      -subj "/O=weir test/CN=weir test CA $(openssl rand -hex 4)" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -addext "subjectKeyIdentifier=hash" 2>/dev/null
    rm -f "$TLS/server.crt" "$TLS/client.crt"
  fi
  if [ ! -s "$TLS/server.key" ] || [ ! -s "$TLS/server.crt" ]; then
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$TLS/server.key" -out "$TLS/server.csr" -subj "/O=weir test/CN=localhost" 2>/dev/null
    cat >"$TLS/server.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
    openssl x509 -req -in "$TLS/server.csr" -CA "$D/ca.crt" -CAkey "$TLS/ca.key" \
      -CAserial "$TLS/ca.srl" -CAcreateserial -out "$TLS/server.crt" -days 3650 -sha256 -extfile "$TLS/server.ext" 2>/dev/null
    rm -f "$TLS/server.csr"
  fi
  # mTLS: a client cert signed by the test CA, and a self-signed one the
  # server must refuse.
  if [ ! -s "$TLS/client.key" ] || [ ! -s "$TLS/client.crt" ]; then
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$TLS/client.key" -out "$TLS/client.csr" -subj "/O=weir test/CN=weir test client" 2>/dev/null
    cat >"$TLS/client.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
    openssl x509 -req -in "$TLS/client.csr" -CA "$D/ca.crt" -CAkey "$TLS/ca.key" \
      -CAserial "$TLS/ca.srl" -CAcreateserial -out "$TLS/client.crt" -days 3650 -sha256 -extfile "$TLS/client.ext" 2>/dev/null
    rm -f "$TLS/client.csr"
  fi
  if [ ! -s "$TLS/other-client.key" ] || [ ! -s "$TLS/other-client.crt" ]; then
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$TLS/other-client.key" -out "$TLS/other-client.crt" -days 3650 -sha256 \
      -subj "/O=weir test/CN=weir test other client" \
      -addext "basicConstraints=critical,CA:FALSE" \
      -addext "keyUsage=critical,digitalSignature" \
      -addext "extendedKeyUsage=clientAuth" 2>/dev/null
  fi
  chmod 600 "$TLS/ca.key" "$TLS/server.key" "$TLS/client.key" "$TLS/other-client.key"
}

# pick_port KEY USED...: the port KEY had in DIR/env when it is still free,
# else a new free one; never one of USED.
pick_port() {
  local key="$1" p; shift
  p=$(env_get "$key")
  if [ -n "$p" ] && ! printf '%s\n' "$@" | grep -qx "$p" && port_bindable "$p"; then
    echo "$p"; return
  fi
  while :; do
    p=$(free_port)
    printf '%s\n' "$@" | grep -qx "$p" || { echo "$p"; return; }
  done
}

write_configs() {
  local http_backend token
  http_backend="$(git --exec-path)/git-http-backend"
  [ -x "$http_backend" ] || die "git-http-backend not found at $http_backend"
  token=$(cat "$D/http-token")

  # fcgiwrap: a unix socket in DIR/run, unless DIR's path is too long for one
  # (sun_path is 108 bytes), then a TCP port.
  if [ ${#SOCK} -lt 100 ]; then
    FCGI_LISTEN="unix:$SOCK" FCGI_PASS="unix:$SOCK"
  else
    P_FCGI=$(pick_port WEIR_GIT_FCGI_PORT "$P_DAEMON" "$P_HTTP" "$P_HTTPS" "$P_SSH" "$P_MTLS" "$P_PROXY")
    FCGI_LISTEN="tcp:127.0.0.1:$P_FCGI" FCGI_PASS="127.0.0.1:$P_FCGI"
  fi
  FCGI_BACKEND="$http_backend"

  cat >"$NGX/git-fastcgi.conf" <<EOF
fastcgi_pass $FCGI_PASS;
fastcgi_param SCRIPT_FILENAME $http_backend;
fastcgi_param GATEWAY_INTERFACE CGI/1.1;
fastcgi_param SERVER_PROTOCOL \$server_protocol;
fastcgi_param SERVER_NAME \$server_name;
fastcgi_param SERVER_PORT \$server_port;
fastcgi_param REMOTE_ADDR \$remote_addr;
fastcgi_param REQUEST_METHOD \$request_method;
fastcgi_param REQUEST_URI \$request_uri;
fastcgi_param QUERY_STRING \$query_string;
fastcgi_param CONTENT_TYPE \$content_type;
fastcgi_param CONTENT_LENGTH \$content_length;
fastcgi_param PATH_INFO \$weir_path;
fastcgi_param GIT_PROJECT_ROOT $REPOS;
fastcgi_param GIT_HTTP_EXPORT_ALL 1;
fastcgi_param GIT_CONFIG_COUNT 1;
fastcgi_param GIT_CONFIG_KEY_0 safe.directory;
fastcgi_param GIT_CONFIG_VALUE_0 *;
fastcgi_param PATH /usr/local/bin:/usr/bin:/bin;
fastcgi_param HOME $D;
fastcgi_read_timeout 300s;
fastcgi_buffering off;
EOF

  cat >"$NGX/nginx.conf" <<EOF
# Generated by scripts/git-server.sh for $D
user root;
worker_processes 1;
pid $RUN/nginx.pid;
lock_file $RUN/nginx.lock;
error_log $LOGS/nginx-error.log info;
events { worker_connections 512; }
http {
  access_log $LOGS/nginx-access.log;
  client_body_temp_path $NGX/tmp/body;
  fastcgi_temp_path $NGX/tmp/fastcgi;
  proxy_temp_path $NGX/tmp/proxy;
  scgi_temp_path $NGX/tmp/scgi;
  uwsgi_temp_path $NGX/tmp/uwsgi;
  client_max_body_size 0;
  default_type text/plain;
  server_tokens off;

  map \$http_authorization \$weir_bearer_ok {
    default 0;
    "~^(?i:bearer) +$token\$" 1;
  }

  server {
    listen 127.0.0.1:$P_HTTP;
    listen 127.0.0.1:$P_HTTPS ssl;
    server_name 127.0.0.1 localhost;
    ssl_certificate $TLS/server.crt;
    ssl_certificate_key $TLS/server.key;

    location ~ ^/anon(?<weir_path>/.*)\$ {
      include $NGX/git-fastcgi.conf;
    }
    location ~ ^/basic(?<weir_path>/.*)\$ {
      auth_basic "weir";
      auth_basic_user_file $NGX/htpasswd;
      include $NGX/git-fastcgi.conf;
      fastcgi_param REMOTE_USER \$remote_user;
    }
    location ~ ^/bearer(?<weir_path>/.*)\$ {
      if (\$weir_bearer_ok = 0) {
        add_header WWW-Authenticate 'Bearer realm="weir"' always;
        return 401;
      }
      include $NGX/git-fastcgi.conf;
      fastcgi_param REMOTE_USER weir-bearer;
    }
    location /files/anon/ {
      alias $D/files/;
    }
    location /files/basic/ {
      auth_basic "weir";
      auth_basic_user_file $NGX/htpasswd;
      alias $D/files/;
    }
    location / { return 404; }
  }

  # mTLS: the same repositories, only for clients with a certificate
  # signed by the test CA.
  server {
    listen 127.0.0.1:$P_MTLS ssl;
    server_name 127.0.0.1 localhost;
    ssl_certificate $TLS/server.crt;
    ssl_certificate_key $TLS/server.key;
    ssl_client_certificate $D/ca.crt;
    ssl_verify_client on;

    location ~ ^/anon(?<weir_path>/.*)\$ {
      include $NGX/git-fastcgi.conf;
    }
    location / { return 404; }
  }
}
EOF

  cat >"$D/tinyproxy.conf" <<EOF
# Generated by scripts/git-server.sh for $D
User root
Group root
Port $P_PROXY
Listen 127.0.0.1
Timeout 120
LogFile "$LOGS/tinyproxy.log"
LogLevel Connect
MaxClients 64
Allow 127.0.0.1
BasicAuth weir-proxy $(cat "$D/proxy-password")
DisableViaHeader Yes
EOF

  cat >"$D/sshd_config" <<EOF
# Generated by scripts/git-server.sh for $D
Port $P_SSH
ListenAddress 127.0.0.1
HostKey $SSH/ssh_host_ed25519_key
PidFile $RUN/sshd.pid
AuthorizedKeysFile $SSH/authorized_keys
PubkeyAuthentication yes
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
PermitTunnel no
MaxStartups 64:30:128
MaxSessions 64
LoginGraceTime 30
LogLevel VERBOSE
AcceptEnv GIT_PROTOCOL
SetEnv GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0=*
EOF

  { printf '[127.0.0.1]:%s %s\n' "$P_SSH" "$(cut -d' ' -f1,2 "$SSH/ssh_host_ed25519_key.pub")"
    printf '[localhost]:%s %s\n' "$P_SSH" "$(cut -d' ' -f1,2 "$SSH/ssh_host_ed25519_key.pub")"
  } >"$SSH/known_hosts"
  { printf '[127.0.0.1]:%s %s\n' "$P_SSH" "$(cut -d' ' -f1,2 "$SSH/wrong_host_ed25519_key.pub")"
    printf '[localhost]:%s %s\n' "$P_SSH" "$(cut -d' ' -f1,2 "$SSH/wrong_host_ed25519_key.pub")"
  } >"$SSH/known_hosts_wrong"
}

write_env() {
  local tmp="$D/env.tmp.$$"
  cat >"$tmp" <<EOF
WEIR_GIT_DIR=$D
WEIR_GIT_ROOT=$REPOS
WEIR_GIT_DAEMON_PORT=$P_DAEMON
WEIR_GIT_DAEMON_URL=git://127.0.0.1:$P_DAEMON
WEIR_GIT_HTTP_PORT=$P_HTTP
WEIR_GIT_HTTP_URL=http://127.0.0.1:$P_HTTP
WEIR_GIT_HTTPS_PORT=$P_HTTPS
WEIR_GIT_HTTPS_URL=https://127.0.0.1:$P_HTTPS
WEIR_FILES_DIR=$D/files
WEIR_FILES_HTTP_URL=http://127.0.0.1:$P_HTTP/files
WEIR_GIT_HTTP_USER=weir
WEIR_GIT_HTTP_PASSWORD=$(cat "$D/http-password")
WEIR_GIT_HTTP_PASSWORD_FILE=$D/http-password
WEIR_GIT_HTTP_TOKEN=$(cat "$D/http-token")
WEIR_GIT_HTTP_TOKEN_FILE=$D/http-token
WEIR_GIT_CA=$D/ca.crt
WEIR_GIT_MTLS_PORT=$P_MTLS
WEIR_GIT_MTLS_URL=https://127.0.0.1:$P_MTLS
WEIR_GIT_CLIENT_CERT=$TLS/client.crt
WEIR_GIT_CLIENT_KEY=$TLS/client.key
WEIR_GIT_OTHER_CLIENT_CERT=$TLS/other-client.crt
WEIR_GIT_OTHER_CLIENT_KEY=$TLS/other-client.key
WEIR_GIT_PROXY_PORT=$P_PROXY
WEIR_GIT_PROXY_URL=http://127.0.0.1:$P_PROXY
WEIR_GIT_PROXY_USER=weir-proxy
WEIR_GIT_PROXY_PASSWORD_FILE=$D/proxy-password
WEIR_GIT_PROXY_LOG=$LOGS/tinyproxy.log
WEIR_GIT_SSH_PORT=$P_SSH
WEIR_GIT_SSH_USER=root
WEIR_GIT_SSH_URL=ssh://root@127.0.0.1:$P_SSH$D
WEIR_GIT_SSH_KEY=$SSH/id_ed25519
WEIR_GIT_SSH_KEY_PASS=$SSH/id_ed25519_pass
WEIR_GIT_SSH_PASSPHRASE=$(cat "$SSH/passphrase")
WEIR_GIT_SSH_PASSPHRASE_FILE=$SSH/passphrase
WEIR_GIT_SSH_KNOWN_HOSTS=$SSH/known_hosts
WEIR_GIT_SSH_KNOWN_HOSTS_WRONG=$SSH/known_hosts_wrong
EOF
  [ -n "${P_FCGI:-}" ] && echo "WEIR_GIT_FCGI_PORT=$P_FCGI" >>"$tmp"
  mv -f "$tmp" "$D/env"
}

start_servers() {
  local git_daemon sshd_log
  git_daemon="$(git --exec-path)/git-daemon"
  [ -x "$git_daemon" ] || die "git-daemon not found at $git_daemon"

  # 1. git daemon (upload-pack only: receive-pack is off by default, and
  #    repositories cannot turn it on).
  launch "$RUN/git-daemon.pid" "$LOGS/git-daemon.log" \
    env GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*' \
    "$git_daemon" --reuseaddr --listen=127.0.0.1 --port="$P_DAEMON" \
    --export-all --base-path="$REPOS" --informative-errors --verbose \
    --forbid-override=receive-pack --forbid-override=upload-archive \
    "$REPOS"

  # 2. fcgiwrap running git-http-backend (only), then nginx in front of it.
  rm -f "$SOCK"
  launch "$RUN/fcgiwrap.pid" "$LOGS/fcgiwrap.log" \
    fcgiwrap -f -c 4 -p "$FCGI_BACKEND" -s "$FCGI_LISTEN"
  if [ -n "${P_FCGI:-}" ]; then
    wait_for port_open "$P_FCGI" || fail "fcgiwrap did not start; see $LOGS/fcgiwrap.log"
  else
    wait_for test -S "$SOCK" || fail "fcgiwrap did not start; see $LOGS/fcgiwrap.log"
  fi
  nginx -t -q -p "$NGX" -e "$LOGS/nginx-error.log" -c "$NGX/nginx.conf" </dev/null >>"$LOGS/nginx-stdout.log" 2>&1 9>&- \
    || fail "nginx config test failed; see $LOGS/nginx-stdout.log"
  nginx -p "$NGX" -e "$LOGS/nginx-error.log" -c "$NGX/nginx.conf" </dev/null >>"$LOGS/nginx-stdout.log" 2>&1 9>&- \
    || fail "nginx did not start; see $LOGS/nginx-error.log"

  # 3. sshd (needs its privilege separation directory).
  mkdir -p /run/sshd && chmod 755 /run/sshd
  sshd_log="$LOGS/sshd.log"
  /usr/sbin/sshd -t -f "$D/sshd_config" >>"$sshd_log" 2>&1 || fail "sshd config test failed; see $sshd_log"
  launch "$RUN/sshd.pid" "$LOGS/sshd-stdout.log" /usr/sbin/sshd -D -f "$D/sshd_config" -E "$sshd_log"
  # 4. tinyproxy, in the foreground, leading its own process group.
  launch "$RUN/tinyproxy.pid" "$LOGS/tinyproxy-stdout.log" tinyproxy -d -c "$D/tinyproxy.conf"

  if grep -q '^root:!' /etc/shadow 2>/dev/null; then
    log "warning: root's password is locked ('!' in /etc/shadow); sshd with UsePAM no refuses locked accounts"
  fi

  local name port port_var
  for name in DAEMON HTTP HTTPS SSH MTLS PROXY; do
    port_var="P_$name"; port=${!port_var}
    wait_for port_open "$port" || { fail "server for $name (port $port) did not come up; see $LOGS/"; }
  done
  wait_for alive "$RUN/nginx.pid" || { fail "nginx wrote no pid file; see $LOGS/nginx-error.log"; }
}

cmd_start() {
  set_dir "$1" create
  exec 9>"$D/.lock"
  flock 9
  if is_up; then
    log "servers for $D already running"
    echo "$D/env"
    return 0
  fi
  stop_all   # clears stale pid files and anything half-running
  install_deps
  make_secrets
  P_DAEMON=$(pick_port WEIR_GIT_DAEMON_PORT)
  P_HTTP=$(pick_port WEIR_GIT_HTTP_PORT "$P_DAEMON")
  P_HTTPS=$(pick_port WEIR_GIT_HTTPS_PORT "$P_DAEMON" "$P_HTTP")
  P_SSH=$(pick_port WEIR_GIT_SSH_PORT "$P_DAEMON" "$P_HTTP" "$P_HTTPS")
  P_MTLS=$(pick_port WEIR_GIT_MTLS_PORT "$P_DAEMON" "$P_HTTP" "$P_HTTPS" "$P_SSH")
  P_PROXY=$(pick_port WEIR_GIT_PROXY_PORT "$P_DAEMON" "$P_HTTP" "$P_HTTPS" "$P_SSH" "$P_MTLS")
  P_FCGI=""
  write_configs
  start_servers
  write_env
  log "git servers for $D up: daemon :$P_DAEMON, http :$P_HTTP, https :$P_HTTPS, mtls :$P_MTLS, proxy :$P_PROXY, ssh :$P_SSH (see $D/env)"
  echo "$D/env"
}

cmd_stop() {
  MISSING_OK=1 set_dir "$1"
  exec 9>"$D/.lock"
  flock 9
  local f any=""
  for f in $(pidfiles); do alive "$f" && any=1; done
  stop_all
  if [ -n "$any" ]; then log "stopped git servers for $D"; else log "no git servers were running for $D"; fi
}

cmd_status() {
  set_dir "$1"
  local f up=0 down=0
  for f in $(pidfiles); do
    if alive "$f"; then up=$((up + 1)); else down=$((down + 1)); fi
  done
  if is_up; then
    log "all git servers for $D are up ($D/env)"
    return 0
  fi
  log "git servers for $D are not (all) up: $up of $((up + down)) processes running"
  return 1
}

case "${1:-}" in
  start)  [ $# -eq 2 ] || usage; cmd_start "$2" ;;
  stop)   [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
  status) [ $# -eq 2 ] || usage; cmd_status "$2" ;;
  unreachable-url) [ $# -eq 1 ] || usage; echo "http://127.0.0.1:$(free_port)/anon/x.git" ;;
  *) usage ;;
esac
