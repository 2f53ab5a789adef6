#!/usr/bin/env bash
# Every GPU measurement of the scorer and the quick study, in one run (for a short lease on a GPU machine):
#   1. the quick study's wall time from a fresh cache (`iclft study configs/quick.yaml`), per-cell times;
#   2. benchmarks/scoring.py: the embedded model in fp32 and bf16 at 2,000 context tokens, and a random-weight
#      1.2B Llama-shaped model in bf16 at 2,000 and 8,000 (lm-eval on the same GPU, batch 32 / 16);
#   3. tests/test_scoring.py on the GPU;
#   4. if time is left, a cProfile of the quick study run again from a fresh cache (where the time goes).
#   5. `scale` (not in the default steps; run it alone: STEPS=scale BUDGET=540 bash benchmarks/gpu.sh):
#      benchmarks/scale.py: a Llama-3-8B-shaped random model through every condition (time, peak memory, trained
#      tokens/s, GPU busy share per cell), iclft vs lm-eval at 1.2B 2k/8k and 8B 2k, and device_map with the GPU
#      capped at half the model scoring like the whole model; one table (scale.txt). `bash benchmarks/gpu.sh --tiny`
#      runs only that step with tiny shapes, on a CPU too, in a minute or two (a run check, not a measurement).
# Writes under $OUT (default benchmarks/out): gpu.txt, quick.log, cells.json, scoring.log, pytest.log, quick.prof,
# summary.txt.
# Needs iclft importable with the embedded model prepared, and lm-eval for step 2.
#   bash benchmarks/gpu.sh            (BUDGET=seconds bounds the whole run: default 480;
#                                      STEPS="quick small large2k large8k tests profile" picks steps, all by
#                                      default; LM_EVAL_QUESTIONS=K times lm-eval at 8,000 tokens on K questions)
set -u
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--tiny" ]; then STEPS=scale; TINY=--tiny; else TINY=; fi
out=${OUT:-benchmarks/out}; mkdir -p "$out"; : > "$out/summary.txt"
PY=${PY:-python3}
budget=${BUDGET:-480}
steps=" ${STEPS:-quick small large2k large8k tests profile} "
want() { [[ $steps == *" $1 "* ]]; }
t0=$(date +%s)
left() { echo $(( budget - ($(date +%s) - t0) )); }
say() { echo "$*" | tee -a "$out/summary.txt"; }

# Preflight: a package mismatch (e.g. a pydantic-core wheel newer than the pinned pydantic accepts) fails every step;
# stop at once with its message rather than spending the lease.
$PY -c "import iclft.study.run, iclft.scoring.likelihood" 2>"$out/preflight.log" \
  || { tail -1 "$out/preflight.log"; echo "gpu.sh: iclft does not import here; fix the packages first"; exit 2; }
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi"; } > "$out/gpu.txt" 2>&1
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, \
'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')" >> "$out/gpu.txt"
cat "$out/gpu.txt"

# 1. The quick study, from a fresh study folder and fresh fine-tuning/generation caches (the model stays prepared).
cache=${ICLFT_CACHE:-$HOME/.cache/iclft}
quick() {  # $1: output folder, $2: log; the rest: the Python command (e.g. with the profiler); prints "seconds rc"
  local dir=$1 log=$2; shift 2
  rm -rf "$dir" "$cache/ft" "$cache/generations"
  local s; s=$(date +%s%N)
  timeout "$(( $(left) > 240 ? 240 : $(left) ))" "$@" -m iclft study configs/quick.yaml --out "$dir" >>"$log" 2>&1
  local rc=$?
  echo "$(( ($(date +%s%N) - s) / 1000000 ))e-3 $rc"
}
if want quick; then
read -r wall rc < <(quick /tmp/quick-gpu "$out/quick.log" $PY)
say "quick study: ${wall} s wall, exit ${rc} (goal <= 90 s)"
$PY - "$out/cells.json" <<'PY' >> "$out/summary.txt"
import json, pathlib, sys
cells = {p.parent.name: json.loads(p.read_text()) for p in sorted(pathlib.Path("/tmp/quick-gpu/cells").glob("*/timing.json"))}
pathlib.Path(sys.argv[1]).write_text(json.dumps(cells, indent=1))
print(f"cells: {len(cells)}, sum of cell seconds {sum(c['seconds'] for c in cells.values()):.1f}")
for k, c in cells.items():
    print(f"  {k.rsplit('.', 1)[0]:55s} {c['seconds']:7.1f} s (prepare {c.get('prepare_seconds', 0):.1f})")
PY
tail -3 "$out/summary.txt"
fi

# 2. The scorer against lm-eval on this GPU.
bench() {  # time limit, then benchmarks/scoring.py's arguments
  local limit=$1; shift
  [ "$(left)" -gt 30 ] || { say "skipped (time): $*"; return; }
  timeout "$(( $(left) < limit ? $(left) : limit ))" $PY benchmarks/scoring.py --device cuda "$@" 2>&1 \
    | grep -v -i "warn" | tee -a "$out/scoring.log" | grep RESULT >> "$out/summary.txt" || say "failed or timed out: $*"
}
if want small; then
  bench 60 --dtype float32 --lm-eval-batch-size 32
  bench 60 --dtype bfloat16 --lm-eval-batch-size 32
fi
# 2b. The scorer's equality tests on this GPU (fp32; the tests load the model on CUDA when present).
if want tests && [ "$(left)" -gt 30 ]; then
  timeout "$(( $(left) < 80 ? $(left) : 80 ))" $PY -m pytest -q -p no:cacheprovider tests/test_scoring.py > "$out/pytest.log" 2>&1
  say "tests/test_scoring.py on the GPU: $(tail -1 "$out/pytest.log")"
fi

if want large2k; then
  bench 90 --dtype bfloat16 --random-model 1.2b --reference iclft --lm-eval-batch-size 32
fi
if want large8k; then  # also: smaller packs, whose attention spans less than the 8,000-token context
  bench 120 --dtype bfloat16 --random-model 1.2b --reference iclft --context-tokens 8000 --lm-eval-batch-size 16 \
    --also-batch-tokens 2048 4096 ${LM_EVAL_QUESTIONS:+--lm-eval-questions $LM_EVAL_QUESTIONS}
fi

# 5. Paper scale: the 8B-shaped model through the grid, the scorer at scale, device_map (one table).
if want scale; then
  if [ "$(left)" -gt 60 ]; then
    timeout "$(left)" $PY benchmarks/scale.py $TINY --budget "$(( $(left) - 30 ))" > "$out/scale.log" 2>&1 \
      || say "benchmarks/scale.py: exit $? (see scale.log)"
    sed -n '/^iclft at scale on/,$p' "$out/scale.log" > "$out/scale.txt"
    cat "$out/scale.txt" >> "$out/summary.txt"
  else
    say "no time left for the scale step"
  fi
fi

# 4. Where the quick study's time goes, if there is time for a second run.
if want profile; then
  if [ "$(left)" -gt 150 ]; then
    read -r wall2 rc2 < <(quick /tmp/quick-gpu-prof /dev/null $PY -m cProfile -o "$out/quick.prof")
    say "quick study under cProfile: ${wall2} s wall, exit ${rc2}"
  else
    say "no time left for the profiled run"
  fi
fi
cat "$out/summary.txt"
