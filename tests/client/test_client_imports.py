"""Import cost: the client's capture modules load nothing heavy until they are used."""

from __future__ import annotations

import json
import subprocess
import sys

CLIENT_MODULES = (
    "runtrack.client._config",
    "runtrack.client._console",
    "runtrack.client._monitor",
    "runtrack.client.provenance.command",
    "runtrack.client.provenance.datasets",
    "runtrack.client.provenance.environment",
    "runtrack.client.provenance.git",
    "runtrack.client.provenance.hydra",
    "runtrack.client.provenance.seeds",
)
HEAVY = ("numpy", "torch", "omegaconf", "hydra", "yaml", "psutil", "pynvml", "sqlalchemy")


def test_client_modules_import_nothing_heavy() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {CLIENT_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(out.stdout) == []
