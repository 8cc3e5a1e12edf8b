"""runtrack's pruner configurations as a plug-in of ../shared/bench/hpo_anchor.py (part "pruning").

    .venv/bin/python ../shared/bench/hpo_anchor.py --parts pruning --prune-seeds 5 \
        --pruners none,median,sha,hyperband \
        --optimizer rt=benchmarks/hpo/prune_adapter.py:make --out /tmp/prune.json

Environment:
  RUNTRACK_PRUNER   a JSON pruner section as a sweep spec would hold it (validated by
                    runtrack.sweeps._pruners.check_pruner); default: DEFAULT_PRUNER unless that
                    is "none", in which case RECOMMENDED_PRUNER (SHA, reduction_factor 3).
  RUNTRACK_SAMPLER  "tpe" (default: TPESampler(seed=seed), the sampler the harness gives its
                    built-in pruners, so the comparison isolates the pruner) or "runtrack"
                    (runtrack's default, method "auto": runtrack.sweeps._auto.make_sampler builds
                    the sampler before every ask, as the sweep engine does), or
                    "runtrack:METHOD" for another runtrack method (e.g. runtrack:tpe).

The harness keys resumable runs by label, so give each configuration its own label
(``--optimizer rt_sha=...``) when several are run into one results file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

_SRC = Path(__file__).resolve().parents[2] / "src"
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

import optuna  # noqa: E402

from runtrack.sweeps._pruners import (  # noqa: E402
    DEFAULT_PRUNER,
    RECOMMENDED_PRUNER,
    check_pruner,
    make_pruner,
)


def _dist(spec: dict[str, Any]) -> optuna.distributions.BaseDistribution:
    D = optuna.distributions
    if spec["type"] == "float":
        return D.FloatDistribution(spec["low"], spec["high"], log=bool(spec.get("log")))
    if spec["type"] == "int":
        return D.IntDistribution(int(spec["low"]), int(spec["high"]), log=bool(spec.get("log")))
    return D.CategoricalDistribution(list(spec["choices"]))


def _key(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def pruner_config() -> dict[str, Any]:
    raw = os.environ.get("RUNTRACK_PRUNER")
    if raw:
        return check_pruner(json.loads(raw))
    return check_pruner(DEFAULT_PRUNER if DEFAULT_PRUNER["type"] != "none" else RECOMMENDED_PRUNER)


def _sampler_choice() -> str:
    which = os.environ.get("RUNTRACK_SAMPLER", "tpe")
    if which != "tpe" and which != "runtrack" and not which.startswith("runtrack:"):
        raise ValueError(f"RUNTRACK_SAMPLER must be 'tpe' or 'runtrack[:method]', got {which!r}")
    return which


class PruneAdapter:
    """Ask/tell driver: one Optuna study, reports each epoch, prunes with runtrack's pruner."""

    def __init__(self, space: dict[str, Any], seed: int, budget: int) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.cfg = pruner_config()
        self.dists = {k: _dist(v) for k, v in space.items()}
        # A fixed study name: Hyperband assigns brackets by hashing study name + trial number,
        # so an unnamed (random-name) study would not be reproducible for a given seed.
        self.seed, self.budget = seed, budget
        self.which = _sampler_choice()
        sampler = optuna.samplers.TPESampler(seed=seed) if self.which == "tpe" else None
        self.study = optuna.create_study(
            direction="minimize",
            study_name=f"runtrack-prune-s{seed}",
            sampler=sampler,
            pruner=make_pruner(self.cfg),
        )
        self.sampler_names: list[str] = []
        self._pending: dict[tuple[tuple[str, str], ...], list[optuna.trial.Trial]] = {}

    def _set_runtrack_sampler(self) -> None:
        from runtrack.sweeps import _auto  # written by another helper

        method = "auto" if self.which == "runtrack" else self.which.split(":", 1)[1]
        ctx = _auto.SamplerContext(
            method=method,
            distributions=self.dists,
            conditional=False,
            n_objectives=1,
            budget=self.budget,
            seed=self.seed,
            number=len(self.study.get_trials(deepcopy=False)),
            pruning=self.cfg["type"] != "none",  # as the engine tells it
        )
        name, sampler = _auto.make_sampler(ctx)
        self.sampler_names.append(name)
        self.study.sampler = sampler

    def suggest(self, space: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.which != "tpe":
            self._set_runtrack_sampler()
        t = self.study.ask(self.dists)
        p = dict(t.params)
        self._pending.setdefault(_key(p), []).append(t)
        return p

    def should_prune(self, params: dict[str, Any], step: int, value: float) -> bool:
        t = self._pending[_key(params)][0]
        t.report(float(value), int(step))
        return bool(t.should_prune())

    def report(self, params: dict[str, Any], value: float, pruned: bool = False) -> None:
        t = self._pending[_key(params)].pop(0)
        if pruned:
            self.study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(t, float(value))


def make(space: dict[str, Any], seed: int, budget: int) -> PruneAdapter:
    return PruneAdapter(space, seed, budget)
