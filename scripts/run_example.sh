#!/usr/bin/env bash
# The main job: installs gentf with its worker into .venv, then trains GenTF's softmax
# regression on scikit-learn's digits against an embedded local worker.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[server,examples]"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec .venv/bin/python examples/digits_softmax.py "$@"
