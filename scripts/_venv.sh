# Sourced by demo.sh and test.sh: create or reuse .venv and install the project
# with the given extras. Re-installs only when pyproject.toml changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${REPURCHASE_ML_VENV:-$ROOT/.venv}"
EXTRAS="$1"

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.repurchase-ml-$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)-$(echo "$EXTRAS" | tr ',' '-')"
if [ ! -f "$STAMP" ]; then
    echo "installing repurchase_ml[$EXTRAS] into $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$EXTRAS]"
    touch "$STAMP"
fi
# mlflow models serve --env-manager local needs the environment's bin on PATH
export PATH="$VENV/bin:$PATH"
