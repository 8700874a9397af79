#!/usr/bin/env bash
# plugins.sh: build weir's plugins (Rust crates under plugins/*/) as
# wasm32-wasip2 WebAssembly components.
#
#   scripts/plugins.sh toolchain
#       Make a wasm32-wasip2 Rust toolchain and wasm-tools available
#       (idempotent) and print the route used.
#   scripts/plugins.sh build [--out DIR] [CRATE_DIR...]
#       Build each crate (default: every plugins/*/ of this repo with a
#       Cargo.toml) in the release profile and copy its component to
#       DIR/<crate directory name>.wasm (default DIR: $WEIR_CACHE/plugins).
#       Prints one line per plugin: name, size in bytes, path.
#   scripts/plugins.sh env
#       Ensure the toolchain, then print shell-sourceable WEIR_WASM_* lines
#       describing the route.
#
# Routes (WEIR_WASM_ROUTE=rustup|debian forces one; unset or "auto" picks):
#   rustup  the default rustup toolchain has the wasm32-wasip2 target
#           installed: plain `cargo build --target wasm32-wasip2`.
#   debian  Debian bookworm-security's "web" Rust (rustc-web, cargo-web,
#           rust-web-src, rust-web-llvm, libstd-rust-web-dev, all one version)
#           + lld-NN + wasi-libc; std is built from source with -Zbuild-std.
#           See /work/shared/toolchain/wasm.md.
#
# Caches (all under WEIR_CACHE, default /var/cache/weir):
#   plugins-target/<route>/  shared CARGO_TARGET_DIR for every plugin crate,
#                            so std is built once per machine and route
#   tools/bin/wasm-tools     wasm-tools (cargo install --root tools)
#   plugins/                 default output directory
# CARGO_HOME is left at its default so crates.io downloads are shared.
#
# Other knobs: WEIR_WASM_TOOLS_VERSION (wasm-tools version to install,
# default below).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
WASM_TARGET=wasm32-wasip2
# The "web" Rust packages; all must be installed at one version (the std
# source in rust-web-src must match the compiler exactly).
RUST_WEB_PKGS=(rustc-web cargo-web rust-web-src rust-web-llvm libstd-rust-web-dev)
DEBIAN_TARGET_RUSTFLAGS='-C link-self-contained=no -L native=/usr/lib/wasm32-wasi'
# 1.263.0 needs rustc >= 1.88 and builds with rustup's stable 1.95.
WASM_TOOLS_VERSION=${WEIR_WASM_TOOLS_VERSION:-1.263.0}
WASM_TOOLS="$WEIR_CACHE/tools/bin/wasm-tools"

# Filled in by ensure_toolchain.
ROUTE=""          # rustup | debian
RUSTUP_TC=""      # rustup route: the default toolchain's name
RUSTC_VERSION=""  # `rustc -V` of the route's compiler
TARGET_DIR=""     # shared CARGO_TARGET_DIR of the route

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

# ---------------------------------------------------------------- rustup route

# rustup_default_tc: print the name of rustup's default toolchain.
rustup_default_tc() {
  command -v rustup >/dev/null 2>&1 || return 1
  local tc
  tc=$(rustup default 2>/dev/null | awk 'NR==1{print $1}')
  [ -n "$tc" ] || return 1
  printf '%s\n' "$tc"
}

# rustup_has_wasm TC: true when toolchain TC has the wasm32-wasip2 std.
rustup_has_wasm() {
  rustup target list --installed --toolchain "$1" 2>/dev/null | grep -qx "$WASM_TARGET"
}

# --------------------------------------------------------------- debian route

# installed_version PKG: print PKG's installed version (nothing if absent).
installed_version() {
  dpkg-query -W -f='${Status}\t${Version}\n' "$1" 2>/dev/null \
    | awk -F'\t' '$1=="install ok installed"{print $2}'
}

# apt_versions PKG: print every version of binary package PKG apt knows.
apt_versions() {
  apt-cache madison "$1" 2>/dev/null \
    | awk -F'|' '$3 ~ /Packages/ {gsub(/ /, "", $2); print $2}' | sort -u
}

# apt_refresh: `apt-get update` once per run (and restamp need_apt's stamp).
APT_REFRESHED=0
apt_refresh() {
  [ "$APT_REFRESHED" = 1 ] && return 0
  log "refreshing apt package lists"
  mkdir -p "$WEIR_CACHE"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
  touch "$WEIR_CACHE/.apt-updated"
  APT_REFRESHED=1
}

# common_web_version: print the newest version at which apt offers every
# package of RUST_WEB_PKGS (nothing when there is none).
common_web_version() {
  local v p best="" ok
  for v in $(apt_versions "${RUST_WEB_PKGS[0]}"); do
    ok=1
    for p in "${RUST_WEB_PKGS[@]:1}"; do
      apt_versions "$p" | grep -qxF "$v" || { ok=0; break; }
    done
    [ "$ok" = 1 ] || continue
    if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
  done
  printf '%s' "$best"
}

# describe_web_versions: "pkg: v1, v2 (installed: v); ..." for error messages.
describe_web_versions() {
  local p vs inst out=""
  for p in "${RUST_WEB_PKGS[@]}"; do
    vs=$(apt_versions "$p" | paste -sd, - | sed 's/,/, /g')
    inst=$(installed_version "$p")
    out+="$p: ${vs:-(none available)}${inst:+ (installed: $inst)}; "
  done
  printf '%s' "${out%; }"
}

# pick_web_version: print the one version all rust-web packages use: the
# installed one when all five are installed at the same version (no apt
# query, so warm runs are fast), otherwise the newest version apt offers for
# all five. When there is none, prints the reason (naming the versions found)
# instead and returns 1.
pick_web_version() {
  local p v first="" same=1
  for p in "${RUST_WEB_PKGS[@]}"; do
    v=$(installed_version "$p")
    if [ -z "$v" ]; then same=0; break; fi
    if [ -z "$first" ]; then first=$v; elif [ "$v" != "$first" ]; then same=0; break; fi
  done
  if [ "$same" = 1 ]; then printf '%s' "$first"; return 0; fi

  v=$(common_web_version)
  if [ -z "$v" ]; then
    apt_refresh
    v=$(common_web_version)
  fi
  if [ -z "$v" ]; then
    local newest="" other
    for v in $(apt_versions rustc-web); do
      if [ -z "$newest" ] || dpkg --compare-versions "$v" gt "$newest"; then newest=$v; fi
    done
    if [ -z "$newest" ]; then
      printf 'apt cannot install rustc-web: no candidate (it comes from bookworm-security: is that in the apt sources?)'
      return 1
    fi
    for p in "${RUST_WEB_PKGS[@]:1}"; do
      apt_versions "$p" | grep -qxF "$newest" && continue
      other=$(apt_versions "$p" | sort -rV | head -n1)
      printf 'rustc-web and %s versions differ: %s vs %s; ' "$p" "$newest" "${other:-(none available)}"
      break
    done
    printf 'no single version of %s is available from apt (the std source must match the compiler); found: %s' \
      "${RUST_WEB_PKGS[*]}" "$(describe_web_versions)"
    return 1
  fi
  printf '%s' "$v"
}

# ensure_debian: install and check the Debian route. On failure sets
# DEBIAN_WHY to what is missing and returns 1 (progress goes to stderr).
DEBIAN_WHY=""
debian_fail() { DEBIAN_WHY=$*; return 1; }
ensure_debian() {
  local ver todo=() p llvm_major host sysroot lld
  command -v apt-get >/dev/null 2>&1 || { debian_fail "apt-get not found"; return 1; }
  ver=$(pick_web_version) || { debian_fail "${ver:-could not query apt for rustc-web}"; return 1; }

  for p in "${RUST_WEB_PKGS[@]}"; do
    [ "$(installed_version "$p")" = "$ver" ] || todo+=("$p=$ver")
  done
  llvm_major=$(apt-cache show "rust-web-llvm=$ver" 2>/dev/null \
    | sed -n 's/^Depends:.*\bllvm-\([0-9][0-9]*\)\b.*/\1/p' | head -n1)
  [ -n "$llvm_major" ] \
    || { debian_fail "cannot tell which llvm-NN rust-web-llvm $ver depends on (apt-cache show rust-web-llvm=$ver)"; return 1; }
  # need_apt dies on failure; a subshell turns that into a reason.
  if ! (need_apt "${todo[@]}" wasi-libc "lld-$llvm_major"); then
    debian_fail "apt-get could not install: ${todo[*]} wasi-libc lld-$llvm_major"; return 1
  fi

  # Check what the build relies on, naming what is missing.
  for p in "${RUST_WEB_PKGS[@]:1}"; do
    [ "$(installed_version "$p")" = "$(installed_version rustc-web)" ] \
      || { debian_fail "rustc-web and $p versions differ: $(installed_version rustc-web) vs $(installed_version "$p")"; return 1; }
  done
  { [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ]; } \
    || { debian_fail "/usr/bin/rustc or /usr/bin/cargo missing after installing rustc-web and cargo-web $ver"; return 1; }
  RUSTC_VERSION=$(/usr/bin/rustc -V) || { debian_fail "/usr/bin/rustc -V failed"; return 1; }
  case "$RUSTC_VERSION" in
    "rustc ${ver%%+*}"*) ;;
    *) debian_fail "/usr/bin/rustc is '$RUSTC_VERSION', expected ${ver%%+*} (rustc-web $ver)"; return 1 ;;
  esac
  sysroot=$(/usr/bin/rustc --print sysroot)
  host=$(/usr/bin/rustc -vV | sed -n 's/^host: //p')
  [ -f "$sysroot/lib/rustlib/src/rust/library/std/Cargo.toml" ] \
    || { debian_fail "std source missing at $sysroot/lib/rustlib/src/rust/library (rust-web-src $ver)"; return 1; }
  [ -x "$sysroot/lib/rustlib/$host/bin/wasm-component-ld" ] \
    || { debian_fail "linker missing: $sysroot/lib/rustlib/$host/bin/wasm-component-ld (rust-web-llvm $ver)"; return 1; }
  lld=$(readlink -e /usr/bin/rust-lld || true)
  [ -n "$lld" ] \
    || { debian_fail "/usr/bin/rust-lld -> $(readlink /usr/bin/rust-lld || echo '?') does not resolve (lld-$llvm_major)"; return 1; }
  [ -f /usr/lib/wasm32-wasi/libc.a ] \
    || { debian_fail "/usr/lib/wasm32-wasi/libc.a missing (wasi-libc)"; return 1; }
}

# ------------------------------------------------------------------ wasm-tools

# host_cargo: print the command (one word per line) that runs rustup's stable
# cargo, for `cargo install`; falls back to any cargo there is.
host_cargo() {
  if command -v rustup >/dev/null 2>&1 && rustup toolchain list 2>/dev/null | grep -q '^stable'; then
    printf '%s\n' rustup run stable cargo
  elif command -v cargo >/dev/null 2>&1; then
    printf '%s\n' cargo
  elif [ -x /usr/bin/cargo ]; then
    printf '%s\n' /usr/bin/cargo
  else
    return 1
  fi
}

ensure_wasm_tools() {
  [ -x "$WASM_TOOLS" ] && return 0
  local cargo_cmd
  mapfile -t cargo_cmd < <(host_cargo) || true
  [ ${#cargo_cmd[@]} -gt 0 ] || die "wasm-tools is not in $WASM_TOOLS and there is no cargo to install it with"
  log "installing wasm-tools $WASM_TOOLS_VERSION into $WEIR_CACHE/tools (${cargo_cmd[*]} install)"
  env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_TARGET -u CARGO_TARGET_DIR \
      -u RUSTC -u RUSTDOC -u RUSTC_BOOTSTRAP \
    "${cargo_cmd[@]}" install wasm-tools --version "=$WASM_TOOLS_VERSION" --locked \
      --no-default-features --features component,strip,validate,print \
      --root "$WEIR_CACHE/tools" >&2 \
    || die "cargo install wasm-tools $WASM_TOOLS_VERSION failed"
  [ -x "$WASM_TOOLS" ] || die "cargo install wasm-tools did not produce $WASM_TOOLS"
}

# ------------------------------------------------------------------- toolchain

# ensure_toolchain: pick the route, make it available, set ROUTE,
# RUSTC_VERSION, TARGET_DIR (and RUSTUP_TC for the rustup route).
ensure_toolchain() {
  local want=${WEIR_WASM_ROUTE:-auto} tc=""
  case "$want" in auto|rustup|debian) ;; *) die "WEIR_WASM_ROUTE must be rustup, debian or auto, not '$want'" ;; esac

  mkdir -p "$WEIR_CACHE"
  # One toolchain setup at a time (apt and cargo install do not like company).
  exec 9>"$WEIR_CACHE/.plugins-toolchain.lock"
  flock 9

  if [ "$want" != debian ]; then
    if tc=$(rustup_default_tc) && rustup_has_wasm "$tc"; then
      ROUTE=rustup RUSTUP_TC=$tc
      RUSTC_VERSION=$(rustup run "$tc" rustc -V)
    elif [ "$want" = rustup ]; then
      if [ -z "$tc" ]; then
        die "WEIR_WASM_ROUTE=rustup but rustup (or its default toolchain) is not available"
      fi
      die "WEIR_WASM_ROUTE=rustup but $WASM_TARGET is not installed for rustup's default toolchain $tc (rustup target add $WASM_TARGET)"
    fi
  fi
  if [ -z "$ROUTE" ]; then
    if ! ensure_debian; then
      if [ "$want" = debian ]; then die "WEIR_WASM_ROUTE=debian: $DEBIAN_WHY"; fi
      die "$WASM_TARGET not installed in rustup (default toolchain: ${tc:-none}) and the Debian route (apt rustc-web) is not available: $DEBIAN_WHY"
    fi
    ROUTE=debian
    RUSTC_VERSION=$(/usr/bin/rustc -V)
  fi
  ensure_wasm_tools
  TARGET_DIR="$WEIR_CACHE/plugins-target/$ROUTE"

  flock -u 9
  exec 9>&-
}

# route_cargo ARGS...: run the route's cargo with its environment.
route_cargo() {
  case "$ROUTE" in
    rustup)
      env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_TARGET \
          -u RUSTC -u RUSTDOC -u RUSTC_BOOTSTRAP \
          RUSTUP_TOOLCHAIN="$RUSTUP_TC" CARGO_TARGET_DIR="$TARGET_DIR" \
        rustup run "$RUSTUP_TC" cargo "$@"
      ;;
    debian)
      env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_TARGET -u RUSTUP_TOOLCHAIN \
          RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
          CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="$DEBIAN_TARGET_RUSTFLAGS" \
          CARGO_TARGET_DIR="$TARGET_DIR" \
        /usr/bin/cargo "$@"
      ;;
  esac
}

# route_build_args: extra `cargo build` arguments of the route.
route_build_args() {
  case "$ROUTE" in
    debian) printf '%s\n' -Zbuild-std=std,panic_abort ;;
  esac
}

# ---------------------------------------------------------------- subcommands

cmd_toolchain() {
  [ $# -eq 0 ] || die "toolchain takes no arguments"
  ensure_toolchain
  local cargo
  case "$ROUTE" in
    rustup) cargo="rustup run $RUSTUP_TC cargo build --target $WASM_TARGET" ;;
    debian) cargo="RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS='$DEBIAN_TARGET_RUSTFLAGS' /usr/bin/cargo build --target $WASM_TARGET -Zbuild-std=std,panic_abort" ;;
  esac
  printf 'route: %s\nrustc: %s\ncargo: %s\ntarget dir: %s\nwasm-tools: %s (%s)\n' \
    "$ROUTE" "$RUSTC_VERSION" "$cargo" "$TARGET_DIR" "$WASM_TOOLS" "$("$WASM_TOOLS" --version)"
}

# shq STRING: STRING single-quoted for the shell.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

cmd_env() {
  [ $# -eq 0 ] || die "env takes no arguments"
  ensure_toolchain
  local cargo build_env unset_env build_args
  case "$ROUTE" in
    rustup)
      cargo="rustup run $RUSTUP_TC cargo"
      build_env="RUSTUP_TOOLCHAIN=$RUSTUP_TC"
      unset_env="RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET RUSTC RUSTDOC RUSTC_BOOTSTRAP"
      ;;
    debian)
      cargo=/usr/bin/cargo
      build_env="RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS=$(shq "$DEBIAN_TARGET_RUSTFLAGS")"
      unset_env="RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET RUSTUP_TOOLCHAIN"
      ;;
  esac
  printf 'WEIR_WASM_ROUTE=%s\n' "$(shq "$ROUTE")"
  printf 'WEIR_WASM_CARGO=%s\n' "$(shq "$cargo")"
  build_args="build --release --target $WASM_TARGET $(route_build_args)"
  printf 'WEIR_WASM_CARGO_BUILD_ARGS=%s\n' "$(shq "${build_args% }")"
  printf 'WEIR_WASM_BUILD_ENV=%s\n' "$(shq "$build_env")"
  printf 'WEIR_WASM_UNSET_ENV=%s\n' "$(shq "$unset_env")"
  printf 'WEIR_WASM_RUSTC_VERSION=%s\n' "$(shq "$RUSTC_VERSION")"
  printf 'WEIR_WASM_TARGET_DIR=%s\n' "$(shq "$TARGET_DIR")"
  printf 'WEIR_WASM_TOOLS=%s\n' "$(shq "$WASM_TOOLS")"
}

# check_component NAME FILE: die unless FILE is a valid component.
check_component() {
  local name=$1 f=$2 magic
  magic=$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')
  [ "$magic" = 0061736d0d000100 ] \
    || die "plugin $name: $f is not a WebAssembly component (starts with ${magic:-nothing}, want 0061736d0d000100): is the crate a cdylib?"
  "$WASM_TOOLS" validate "$f" || die "plugin $name: wasm-tools validate failed for $f"
}

# build_one DIR OUT: build the crate in DIR, copy its component to OUT.
build_one() {
  local dir=$1 out=$2 name manifest json artifacts wasm size extra
  name=$(basename "$dir")
  manifest=$(realpath "$dir/Cargo.toml")
  json=$(mktemp)
  mapfile -t extra < <(route_build_args)
  log "building $name ($dir)"
  # cd into the crate so that cargo config discovery is relative to it, not
  # to the caller's cwd. Diagnostics go to stderr, JSON messages to $json.
  if ! (cd "$dir" && route_cargo build --release --target "$WASM_TARGET" "${extra[@]}" \
          --manifest-path "$manifest" --message-format=json-render-diagnostics) >"$json"; then
    rm -f "$json"
    log "plugin $name: cargo build failed"
    return 1
  fi
  artifacts=$(jq -r --arg m "$manifest" '
      select(.reason == "compiler-artifact" and .manifest_path == $m
             and (.target.kind | index("cdylib")))
      | .filenames[] | select(endswith(".wasm"))' "$json")
  rm -f "$json"
  wasm=$(printf '%s\n' "$artifacts" | sed -n 1p)
  if [ -z "$wasm" ] || [ ! -f "$wasm" ]; then
    log "plugin $name: cargo produced no cdylib .wasm (is [lib] crate-type = [\"cdylib\"] set?)"
    return 1
  fi
  # Validate before publishing, so OUT never holds a broken component.
  (check_component "$name" "$wasm") || return 1
  { cp -f "$wasm" "$out/.$name.wasm.tmp" && mv -f "$out/.$name.wasm.tmp" "$out/$name.wasm"; } \
    || { log "plugin $name: cannot write $out/$name.wasm"; return 1; }
  size=$(stat -c %s "$out/$name.wasm")
  printf '%-24s %9d bytes  %s\n' "$name" "$size" "$out/$name.wasm"
}

cmd_build() {
  local out="$WEIR_CACHE/plugins" crates=() d seen=" " name failed=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
      --out=*) out=${1#--out=}; shift ;;
      -h|--help) usage; exit 0 ;;
      --) shift; crates+=("$@"); break ;;
      -*) die "build: unknown option $1" ;;
      *) crates+=("$1"); shift ;;
    esac
  done
  if [ ${#crates[@]} -eq 0 ]; then
    for d in "$REPO_ROOT"/plugins/*/; do
      [ -f "$d/Cargo.toml" ] && crates+=("${d%/}")
    done
    [ ${#crates[@]} -gt 0 ] || die "no plugin crates found: no $REPO_ROOT/plugins/*/Cargo.toml"
  fi
  for d in "${crates[@]}"; do
    [ -f "$d/Cargo.toml" ] || die "$d is not a crate directory (no Cargo.toml)"
    name=$(basename "$(realpath "$d")")
    case "$seen" in *" $name "*) die "two crates would both write $name.wasm: rename one directory" ;; esac
    seen+="$name "
  done
  command -v jq >/dev/null 2>&1 || need_apt jq
  ensure_toolchain
  log "route $ROUTE ($RUSTC_VERSION), target dir $TARGET_DIR"
  mkdir -p "$out"
  out=$(realpath "$out")
  for d in "${crates[@]}"; do
    d=$(realpath "$d")
    build_one "$d" "$out" || failed+=("$(basename "$d") ($d)")
  done
  [ ${#failed[@]} -eq 0 ] || die "plugin build failed for: ${failed[*]}"
}

case "${1:-}" in
  toolchain) shift; cmd_toolchain "$@" ;;
  build) shift; cmd_build "$@" ;;
  env) shift; cmd_env "$@" ;;
  -h|--help|help) usage ;;
  "") usage >&2; exit 2 ;;
  *) usage >&2; die "unknown command: $1" ;;
esac
