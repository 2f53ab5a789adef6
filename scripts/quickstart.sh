#!/usr/bin/env bash
# The main job: install, then run the quick study on the embedded model and print the report's path.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
iclft models prepare
iclft score --questions examples/demo_questions.jsonl --context examples/demo_context.txt \
  --out runs/demo/scores.jsonl
echo "scores written to runs/demo/scores.jsonl"
