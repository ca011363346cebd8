#!/usr/bin/env bash
# Install molgen into ./.venv (idempotent). torch goes in first, pinned to the
# CPU wheel, so that resolving the project's "torch>=2.1" never pulls CUDA.
#   scripts/install.sh            library + dashboard
#   scripts/install.sh --dev      + test tools
#   scripts/install.sh --browser  + Debian chromium/chromium-driver (needs root or sudo)
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0; BROWSER=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    --browser) BROWSER=1 ;;
    *) echo "install.sh: unknown option '$arg' (use --dev, --browser)" >&2; exit 2 ;;
  esac
done
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
if ! $VPY -c "import torch" >/dev/null 2>&1; then
  $VPY -m pip install -q --upgrade pip
  $VPY -m pip install -q "torch==${MOLGEN_TORCH_VERSION:-2.13.0}"
fi
if [ "$DEV" = 1 ]; then
  $VPY -m pip install -q -e ".[dev]"
else
  $VPY -m pip install -q -e .
fi
if [ "$BROWSER" = 1 ] && ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
