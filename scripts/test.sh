#!/usr/bin/env bash
# Install iclft with its test dependencies, then run the default test suite (slow tests excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
python -m pytest "$@"
