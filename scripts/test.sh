#!/usr/bin/env bash
# Install everything the tests need (dev tools, headless Chromium) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev --browser
exec .venv/bin/python -m pytest "$@"
