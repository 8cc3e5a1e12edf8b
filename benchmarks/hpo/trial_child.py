#!/usr/bin/env python3
"""One trial of ``agents.py --command``: what a user's ``train.py`` run by ``runtrack
agent`` does. ``runtrack.init()`` joins the trial's run (the agent passes it in the
environment), the objective takes ``RUNTRACK_BENCH_SLEEP`` seconds (50 ms), its value is
logged, the run finishes."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))
sys.path.insert(0, str(HERE))

from overhead import hartmann6  # noqa: E402

import runtrack  # noqa: E402

run = runtrack.init()
time.sleep(float(os.environ.get("RUNTRACK_BENCH_SLEEP", "0.05")))
run.log({"objective": hartmann6([run.config[f"x{i}"] for i in range(6)])})
run.finish()
