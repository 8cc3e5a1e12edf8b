#!/usr/bin/env bash
# Set up a development environment in .venv (idempotent): runtrack in editable mode with
# its test and example dependencies. Used by the README's two commands and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# (this machine's pip configuration lists index folders that may be missing: hide those
# warnings, keep every other message)
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
quiet .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
quiet .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
