#!/usr/bin/env bash
# Install iclft with its test dependencies, then run the default test suite (slow tests excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
bash scripts/install.sh test
"$PY" -m pytest "$@"
