#!/usr/bin/env bash
# Set up everything and run the whole test suite: lint, types, tests (SQLite and the
# PostgreSQL server on 127.0.0.1:5432, started here if it is down).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "PostgreSQL is down; starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

status=0
echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --check .; status=1; }
echo "== mypy"; .venv/bin/mypy || status=1
echo "== pytest"
# long soak tests are marked slow; CI runs their short versions (pass -m slow to run them)
if [ $# -eq 0 ]; then set -- -m "not slow"; fi
.venv/bin/python -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "pytest collected no tests: failing"; rc=1; fi
[ $rc -ne 0 ] && status=$rc
exit $status
