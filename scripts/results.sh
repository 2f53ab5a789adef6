#!/usr/bin/env bash
# Regenerate docs/results.md: the quick study, the full local study (test questions; configs/full.yaml carries the
# claims the quick study leaves out) and the knowledge-injection example (configs/knowledge.yaml), then
# `iclft results` on them: a claim takes its rows from the first study named that ran it. Studies resume and share
# model and generation caches, so a rerun only redoes what changed, and the same stored runs give the same page
# byte for byte.
#   STUDIES=quick bash scripts/results.sh   the page from the quick study alone
#   TUNING=1 bash scripts/results.sh        also the six tuning studies (validation questions of worlds built with
#                                           another seed) and their tables on the page: hours on a 2-core CPU
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
bash scripts/install.sh
studies="${STUDIES:-quick full knowledge}"
tuning=""
[ "${TUNING:-0}" = 1 ] && tuning="validation:tuning gemma:tuning-gemma precision:tuning-precision
scoring-dtype:tuning-scoring-dtype ft-epochs:tuning-ft-epochs ft-batch16:tuning-ft-batch16"
"$PY" -m iclft models prepare smollm2-135m-instruct >/dev/null
[ -z "$tuning" ] || "$PY" -m iclft models prepare gemma3-270m >/dev/null
args=()
for t in $tuning; do
  "$PY" -m iclft study "configs/tuning/${t%%:*}.yaml" --out "runs/${t#*:}" --no-report
  args+=(--tuning "runs/${t#*:}")
done
for s in $studies; do
  "$PY" -m iclft study "configs/$s.yaml" --out "runs/$s" --no-report
done
# shellcheck disable=SC2086
"$PY" -m iclft results $(printf 'runs/%s ' $studies) "${args[@]}" --notes docs/results-notes.md --out docs/results.md
