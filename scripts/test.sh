#!/usr/bin/env bash
# The whole test suite: unit, property, real-data, MLflow (real SQLite store and a real
# served model), notebooks, doctests and the report in a headless browser.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "dev,baselines,dask"
cd "$ROOT"
if [ -f scripts/install-chromium.sh ]; then
    bash scripts/install-chromium.sh
fi
python -m pytest -p no:cacheprovider "$@"
