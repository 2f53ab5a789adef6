#!/usr/bin/env bash
# The README's main job as a newcomer runs it: a fresh clone, a fresh virtual environment and a fresh model cache,
# `bash scripts/quickstart.sh` timed end to end (install included), beside the study's own dry-run estimate.
# Usage: bash benchmarks/quickstart.sh [WORKDIR]   (default: a new temporary folder; needs ~3 GB of disk)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
git clone -q "$repo" "$work/iclft"
export ICLFT_CACHE="$work/cache"
cd "$work/iclft"
unset VIRTUAL_ENV
t0=$(date +%s)
bash scripts/install.sh
t1=$(date +%s)
.venv/bin/python -m iclft models prepare >/dev/null
estimate=$(.venv/bin/python -m iclft study configs/quick.yaml --dry-run 2>/dev/null | tr -s ' \n' ' ' |
           sed -n 's/.*estimated \([0-9hm]*[0-9]*s\) on a 2-core CPU.*/\1/p')
bash scripts/quickstart.sh >"$work/quickstart.log" 2>&1
t2=$(date +%s)
cells=$(.venv/bin/python - <<'PY'
import json, pathlib
t = [json.loads(p.read_text()) for p in pathlib.Path("runs/quick/cells").glob("*/timing.json")]
print(f"{sum(x['seconds'] for x in t):.0f} {sum(x['estimated_seconds'] for x in t):.0f}")
PY
)
read -r cell_s est_s <<<"$cells"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "install: $((t1 - t0)) s; quickstart after install: $((t2 - t1)) s; total: $((t2 - t0)) s (goal <= 900 s)"
echo "study cells: ${cell_s} s; dry-run estimate of the cells: ${est_s} s (printed: $estimate); ratio real/estimate:" \
     "$(python3 -c "print(f'{$cell_s / max($est_s, 1):.2f}')")"
echo "per-cell times: $work/iclft/runs/quick/report.md; log: $work/quickstart.log"
