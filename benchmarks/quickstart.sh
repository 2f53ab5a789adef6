#!/usr/bin/env bash
# The README's main job as a newcomer runs it: a fresh clone, virtual environment, HOME and model cache,
# `bash scripts/quickstart.sh` timed end to end (install included), beside the study's own dry-run estimate.
# Usage: bash benchmarks/quickstart.sh [WORKDIR]   (default: a new temporary folder; needs ~3 GB of disk)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
git clone -q "$repo" "$work/iclft"
export ICLFT_CACHE="$work/cache"
export HOME="$work/home"   # a newcomer's: no pip cache, no matplotlib font cache
mkdir -p "$HOME"
cd "$work/iclft"
unset VIRTUAL_ENV
t0=$(date +%s)
bash scripts/quickstart.sh >"$work/quickstart.log" 2>&1   # exactly the README's command: install, prepare, study
t1=$(date +%s)
estimate=$(tr -s ' \n' ' ' <"$work/quickstart.log" | sed -n 's/.*estimated \([0-9hm]*[0-9]*s\) on a 2-core CPU.*/\1/p' | head -1)
cells=$(.venv/bin/python - <<'PY'
import json, pathlib
t = [json.loads(p.read_text()) for p in pathlib.Path("runs/quick/cells").glob("*/timing.json")]
print(f"{sum(x['seconds'] for x in t):.0f} {sum(x['estimated_seconds'] for x in t):.0f}")
PY
)
read -r cell_s est_s <<<"$cells"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bash scripts/quickstart.sh, install included: $((t1 - t0)) s (goal <= 900 s)"
echo "study cells: ${cell_s} s; dry-run estimate of the cells: ${est_s} s (printed: $estimate); ratio real/estimate:" \
     "$(python3 -c "print(f'{$cell_s / max($est_s, 1):.2f}')")"
echo "per-cell times: $work/iclft/runs/quick/report.md; log: $work/quickstart.log"
