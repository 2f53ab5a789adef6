#!/usr/bin/env bash
# The main job: install, then run the quick study (configs/quick.yaml) on the embedded model.
# It prints the grid and a time estimate first, and ends with the path of the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
iclft models prepare >/dev/null
iclft study configs/quick.yaml "$@"
