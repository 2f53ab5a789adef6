#!/usr/bin/env bash
# The main job: install, then run the quick study (configs/quick.yaml) on the embedded model.
# It prints the grid and a time estimate first, and ends with the path of the report.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
bash scripts/install.sh
"$PY" -m iclft models prepare >/dev/null
"$PY" -m iclft study configs/quick.yaml "$@"
[ -n "${VIRTUAL_ENV:-}" ] || echo "iclft is installed in .venv: 'source .venv/bin/activate' puts the iclft command on your PATH" >&2
