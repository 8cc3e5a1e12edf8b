"""A trial as an agent runs it: reads its parameters, logs the objective, may be pruned.

TRIAL_SLEEP: seconds per epoch (default 0.02); TRIAL_EPOCHS: epochs (default 3).
"""

import os
import time

import runtrack

with runtrack.init() as run:
    x = run.config["x"]
    for epoch in range(int(os.environ.get("TRIAL_EPOCHS", "3"))):
        time.sleep(float(os.environ.get("TRIAL_SLEEP", "0.02")))
        run.log({"loss": (x - 0.3) ** 2 + 1.0 / (epoch + 1)})
        if run.should_prune():
            raise runtrack.TrialPruned()
