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
# the browser the UI tests drive (Debian's Chromium; no browser is downloaded)
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null; })
fi
# the web UI (ui/ -> src/runtrack/server/ui_dist)
scripts/build_ui.sh
