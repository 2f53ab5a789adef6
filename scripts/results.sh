#!/usr/bin/env bash
# Regenerate docs/results.md: the tuning studies (validation questions of their own worlds), the quick study
# (test questions), then the results page. Studies resume, so a rerun only redoes what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
bash scripts/install.sh
"$PY" -m iclft models prepare smollm2-135m-instruct
"$PY" -m iclft models prepare gemma3-270m
"$PY" -m iclft study configs/tuning/validation.yaml --out runs/tuning --no-report
"$PY" -m iclft study configs/tuning/gemma.yaml --out runs/tuning-gemma --no-report
"$PY" -m iclft study configs/quick.yaml --out runs/quick
"$PY" -m iclft results runs/quick --tuning runs/tuning --tuning runs/tuning-gemma --notes docs/results-notes.md \
  --out docs/results.md
