"""A run that is a sweep trial: attaching to it, ``run.should_prune()``, and ending it
on ``runtrack.TrialPruned``.

An agent (``runtrack agent``, ``runtrack.sweep``, the Hydra sweeper) creates the trial's
run store-side when it asks for a suggestion. A training process then records into that
run: ``runtrack.init()`` finds ``RUNTRACK_SWEEP_ID`` and ``RUNTRACK_TRIAL_RUN`` in the
environment, resumes the run (its config holds the trial's parameters; the script's own
config is merged in, and a swept value it would change is refused) and removes the two
variables, so a later ``init()`` in the same process starts an ordinary run.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import RuntrackError, ValidationError
from ..validation import check_existing_run_id

if TYPE_CHECKING:
    from ..store.base import TrackingStore
    from .run import Run

log = logging.getLogger("runtrack")
ENV_SWEEP = "RUNTRACK_SWEEP_ID"
ENV_RUN = "RUNTRACK_TRIAL_RUN"


@dataclass
class TrialLink:
    """What a trial run knows about its sweep (read from the store once)."""

    sweep_id: str
    store: TrackingStore
    _metrics: list[str] | None = None
    _pruning: bool | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _load(self) -> None:
        if self._metrics is None:
            spec = self.store.get_sweep(self.sweep_id).spec
            self._metrics = [str(m["name"]) for m in spec["metrics"]]
            self._pruning = spec["pruner"]["type"] != "none" and len(self._metrics) == 1

    @property
    def metric(self) -> str:
        self._load()
        assert self._metrics is not None
        return self._metrics[0]

    @property
    def metrics(self) -> list[str]:
        self._load()
        assert self._metrics is not None
        return list(self._metrics)

    @property
    def pruning(self) -> bool:
        self._load()
        return bool(self._pruning)


def trial_from_env() -> tuple[str, str] | None:
    """(sweep id, trial run id) from the environment, removing both variables."""
    sweep_id = os.environ.pop(ENV_SWEEP, None)
    run_id = os.environ.pop(ENV_RUN, None)
    if not sweep_id and not run_id:
        return None
    if not sweep_id or not run_id:
        raise ValidationError(f"{ENV_SWEEP} and {ENV_RUN} must be set together (by an agent)")
    return check_existing_run_id(sweep_id), check_existing_run_id(run_id)


def attach(run: Run, sweep_id: str, store: TrackingStore) -> None:
    run._trial = TrialLink(sweep_id, store)


def _last_value(run: Run, key: str) -> float | None:
    v = run._last_values().get(key)
    return None if v is None else float(v)


#: sweeps whose missing pruner this process has warned about (a Hydra or runtrack.sweep
#: loop runs every trial in one process: one warning, not one per trial)
_WARNED_NO_PRUNER: set[str] = set()


def should_prune(run: Run) -> bool:
    """Report the objective's latest value to the sweep's pruner; True when the trial
    should stop. False for a run that is not a trial (a script runs the same in and out
    of a sweep) or a sweep without a pruner."""
    link = run._trial
    if link is None or run.mode != "online":
        return False
    if not link.pruning:
        if link.sweep_id not in _WARNED_NO_PRUNER:  # once per sweep and process
            _WARNED_NO_PRUNER.add(link.sweep_id)
            log.warning(
                "runtrack: sweep %s has no pruner, so should_prune() is always False; add "
                "pruner: {type: sha, reduction_factor: 3} to its spec to stop hopeless trials",
                link.sweep_id,
            )
        return False
    key = link.metric
    value = _last_value(run, key)
    if value is None:
        raise ValidationError(
            f"should_prune() reports the sweep's objective {key!r}: log it first with "
            f"run.log({{{key!r}: value}})"
        )
    if not math.isfinite(value):
        return False  # the pruner cannot rank a NaN; the final tell will fail the trial
    step = max(run.step - 1, 0)
    return link.store.sweep_report(link.sweep_id, run.id, step, value)


def end_pruned(run: Run) -> None:
    """Finish a trial run stopped by ``TrialPruned``: the run ends ``finished``, the trial
    is recorded ``pruned`` with the last value of its objective."""
    link = run._trial
    last = None
    if link is not None:
        try:
            last = _last_value(run, link.metric)
        except RuntrackError:  # the sweep could not be read: the agent settles it
            last = None
    run.finish("finished")
    if link is None:
        return
    try:
        link.store.sweep_tell(
            link.sweep_id,
            run.id,
            state="pruned",
            values=None if last is None or not math.isfinite(last) else [last],
        )
    except RuntrackError as exc:  # the agent tells again from its side
        log.warning("runtrack: could not record trial %s as pruned: %s", run.id, exc)
