#!/usr/bin/env bash
# The Helm test oracle: the real Helm SDK (v4.2.3), as PyPI's
# helm-python-sdk bundles it (a C library over Helm's Go code; no helm
# binary, no network at render time). Installs it idempotently into a venv
# under $WEIR_CACHE/oracles/helm and prints the variable the helm plugin's
# corpus test reads:
#
#   eval "$(bash scripts/oracles/helm.sh)"   # exports WEIR_HELM_ORACLE_PYTHON
#
# Used only by tests (plugins/helm/tests/corpus.rs, through
# plugins/helm/tests/oracle.py); weir never runs Helm.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

HELM_SDK_VERSION=0.2.2
venv="$WEIR_CACHE/oracles/helm"
python="$venv/bin/python"

have() {
  [ -x "$python" ] && "$python" - "$HELM_SDK_VERSION" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version
import helm_python
sys.exit(0 if version("helm-python-sdk") == sys.argv[1] else 1)
PY
}

if ! have; then
  command -v python3 >/dev/null || need_apt python3
  python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt python3-venv
  log "installing helm-python-sdk $HELM_SDK_VERSION into $venv"
  mkdir -p "$(dirname "$venv")"
  # One install at a time.
  exec 9>"$WEIR_CACHE/.oracle-helm.lock"
  flock 9
  if ! have; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "helm-python-sdk==$HELM_SDK_VERSION" >&2 \
      || die "pip could not install helm-python-sdk==$HELM_SDK_VERSION"
  fi
  flock -u 9
  have || die "helm-python-sdk $HELM_SDK_VERSION does not import from $venv"
fi
printf 'export WEIR_HELM_ORACLE_PYTHON=%q\n' "$python"
