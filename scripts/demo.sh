#!/usr/bin/env bash
# The main job end to end on embedded defaults (synthetic log, local SQLite MLflow store
# under ./models): validate, retrain, register the champion, score the radar list.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "baselines"
cd "$ROOT"
repurchase-ml demo "$@"
