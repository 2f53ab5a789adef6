# Sourced by the other scripts: picks the Python that iclft is installed into and exports it as $PY.
#   1. the virtual environment already active ($VIRTUAL_ENV), else
#   2. .venv in this checkout, created with `python3 -m venv` (or $PYTHON) when missing.
# A system Python is never installed into (Debian's is "externally managed", PEP 668).
_iclft_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  PY="$VIRTUAL_ENV/bin/python"
else
  PY="$_iclft_root/.venv/bin/python"
  if [ ! -x "$PY" ]; then
    _base="${PYTHON:-python3}"
    if ! command -v "$_base" >/dev/null 2>&1; then
      echo "iclft: error: $_base not found: install Python 3.10+ (or set PYTHON=/path/to/python3)" >&2
      exit 2
    fi
    if ! "$_base" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
      echo "iclft: error: $("$_base" -V 2>&1) is too old: iclft needs Python 3.10+ (set PYTHON=/path/to/python3.x)" >&2
      exit 2
    fi
    if ! "$_base" -m venv "$_iclft_root/.venv" >/dev/null 2>&1; then
      rm -rf "$_iclft_root/.venv"
      echo "iclft: error: '$_base -m venv' failed: install the venv module (Debian/Ubuntu: apt install" \
        "python3-venv) or activate a virtual environment first" >&2
      exit 2
    fi
    echo "iclft: created a virtual environment in .venv (activate it with: source .venv/bin/activate)" >&2
  fi
fi
export PY
