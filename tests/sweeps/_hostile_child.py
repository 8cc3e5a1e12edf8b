"""A trial program for tests/sweeps/test_agent_hostile.py.

    python _hostile_child.py MODE OUT [ARG...]

Writes what it received (argv after OUT, RUNTRACK_PARAMS, the run's config, its run id)
as JSON to OUT (appending one line per trial), then behaves as MODE says:

ok      log loss = 1.0 and exit 0          nan / inf   log loss = NaN / +inf, exit 0
nolog   log nothing, exit 0                 exit3       log loss, then exit 3
kill    log loss, then SIGKILL itself       term        log loss, then SIGTERM itself
noinit  never call runtrack.init, exit 0    sleep       log loss, then sleep 60 s
pruned  log loss, then raise TrialPruned (the process exits 1)
"""

import json
import os
import signal
import sys
import time

mode, out = sys.argv[1], sys.argv[2]
record = {"argv": sys.argv[3:], "params": json.loads(os.environ.get("RUNTRACK_PARAMS", "null"))}
record["pid"] = os.getpid()
record["env"] = {k: v for k, v in os.environ.items() if k.startswith("RUNTRACK_")}

if mode == "noinit":
    with open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    sys.exit(0)

import runtrack  # noqa: E402

run = runtrack.init()
record["config"] = run.config.to_dict()
record["run"] = run.id
with open(out, "a", encoding="utf-8") as f:
    f.write(json.dumps(record) + "\n")
value = {"nan": float("nan"), "inf": float("inf")}.get(mode, 1.0)
if mode != "nolog":
    run.log({"loss": value})
if mode == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "term":
    os.kill(os.getpid(), signal.SIGTERM)
if mode == "sleep":
    time.sleep(60)
if mode == "exit3":
    sys.exit(3)
if mode == "pruned":
    raise runtrack.TrialPruned()
run.finish()
