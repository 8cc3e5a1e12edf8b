#!/usr/bin/env bash
# Set up runtrack on a fresh machine and run the main job on the embedded store:
# train a digit classifier with examples/train_digits.py, then show the recorded run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export RUNTRACK_DIR=${RUNTRACK_DIR:-$PWD/runtrack-data}
.venv/bin/python examples/train_digits.py "$@"
.venv/bin/runtrack show latest
