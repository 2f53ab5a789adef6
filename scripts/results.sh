#!/usr/bin/env bash
# Regenerate docs/results.md: the tuning studies (validation questions of their own worlds), the quick study and
# the full local study (test questions; configs/full.yaml carries the claims the quick study leaves out), then the
# results page from the full study. Studies resume and share model and generation caches, so a rerun only redoes
# what changed. `STUDY=quick bash scripts/results.sh` writes the page from the quick study alone.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
bash scripts/install.sh
study="${STUDY:-full}"
"$PY" -m iclft models prepare smollm2-135m-instruct
"$PY" -m iclft models prepare gemma3-270m
"$PY" -m iclft study configs/tuning/validation.yaml --out runs/tuning --no-report
"$PY" -m iclft study configs/tuning/gemma.yaml --out runs/tuning-gemma --no-report
"$PY" -m iclft study configs/tuning/precision.yaml --out runs/tuning-precision --no-report
"$PY" -m iclft study configs/tuning/scoring-dtype.yaml --out runs/tuning-scoring-dtype --no-report
"$PY" -m iclft study configs/tuning/ft-epochs.yaml --out runs/tuning-ft-epochs --no-report
"$PY" -m iclft study configs/tuning/ft-batch16.yaml --out runs/tuning-ft-batch16 --no-report
"$PY" -m iclft study configs/quick.yaml --out runs/quick
[ "$study" = quick ] || "$PY" -m iclft study "configs/$study.yaml" --out "runs/$study"
"$PY" -m iclft results "runs/$study" --tuning runs/tuning --tuning runs/tuning-gemma --tuning runs/tuning-precision \
  --tuning runs/tuning-scoring-dtype --tuning runs/tuning-ft-epochs --tuning runs/tuning-ft-batch16 --notes docs/results-notes.md --out docs/results.md
