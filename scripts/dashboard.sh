#!/usr/bin/env bash
# Start the molgen dashboard: install into ./.venv if needed, then run it headless on a free
# local port (127.0.0.1 only) with the shipped models, and print the URL. Ctrl-C stops it.
#   bash scripts/dashboard.sh                    # a free port
#   bash scripts/dashboard.sh --port 8501        # extra options go to 'molgen dashboard'
set -euo pipefail
cd "$(dirname "$0")/.."
if ! { [ -x .venv/bin/molgen ] && .venv/bin/python -c "import molgen, streamlit, rdkit, torch" >/dev/null 2>&1; }; then
  bash scripts/install.sh
fi
exec .venv/bin/molgen dashboard "$@"
