#!/usr/bin/env bash
# Build the web UI (ui/, TypeScript + Vite) into src/runtrack/server/ui_dist, which the
# Python package ships. Needs Node.js (20.19+) and npm; without them, keeps the assets
# already built (an installed package carries them) or says how to get them.
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=src/runtrack/server/ui_dist
if ! command -v npm >/dev/null 2>&1; then
  if [ -f "$DIST/index.html" ]; then
    echo "build_ui: npm not found; keeping the UI already built in $DIST" >&2
    exit 0
  fi
  echo "build_ui: npm not found and $DIST is empty: install Node.js 20.19+ to build the web UI" >&2
  exit 1
fi
cd ui
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund --loglevel=error >/dev/null
npm run --silent build >/dev/null
