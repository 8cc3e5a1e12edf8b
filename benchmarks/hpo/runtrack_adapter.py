"""runtrack's sweep engine as a plug-in optimiser of ``../shared/bench/hpo_anchor.py``.

    .venv/bin/python ../shared/bench/hpo_anchor.py --parts search \\
        --optimizer runtrack=benchmarks/hpo/runtrack_adapter.py:make ...

(see ``benchmarks/hpo/README.md`` for the recorded commands). The anchor's protocol, all
minimisation: ``make(space, seed, budget) -> adapter``; ``adapter.suggest(space) -> dict``,
``adapter.report(params, value, pruned=False)``, ``adapter.should_prune(params, step, value)``,
``adapter.close()``.

Two modes, chosen by the environment variable ``RUNTRACK_HPO_VIA``:

``optuna`` (default)
    Emulates the engine with an in-memory Optuna study, exactly as the engine drives it:
    before every ask ``study.sampler`` is set to the sampler that
    ``runtrack.sweeps._auto.make_sampler`` returns for that ask (seeded from the sweep's seed
    and the trial number), then ``study.ask()`` and a define-by-run ``suggest_*`` per
    parameter in spec order, then ``study.tell``. No database: this measures the search and
    the sampler's own cost.
``runtrack``
    The real engine through runtrack's public API: an embedded store in a temporary
    ``RUNTRACK_DIR`` per adapter, ``runtrack.Api().create_sweep(spec)``, then
    ``sweep.ask()`` / ``sweep.tell()`` / ``sweep.report()``. This includes the database
    writes of every trial (each trial is a run).

Other variables: ``RUNTRACK_HPO_METHOD`` (default ``auto``; any sweep method),
``RUNTRACK_HPO_PRUNER`` (a pruner type for the anchor's pruning part, e.g. ``sha``; default
none: the search part must not prune, and with a pruner ``auto`` searches with TPE),
``RUNTRACK_HPO_LOG`` (a file: one JSON line per finished adapter with the samplers used).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

_SRC = Path(__file__).resolve().parents[2] / "src"
if _SRC.is_dir() and str(_SRC) not in sys.path:  # runnable without `pip install -e .`
    sys.path.insert(0, str(_SRC))


def _key(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def _optuna_dist(spec: dict[str, Any]) -> Any:
    import optuna

    t = spec["type"]
    if t == "float":
        return optuna.distributions.FloatDistribution(
            float(spec["low"]), float(spec["high"]), log=bool(spec.get("log"))
        )
    if t == "int":
        return optuna.distributions.IntDistribution(
            int(spec["low"]), int(spec["high"]), log=bool(spec.get("log"))
        )
    return optuna.distributions.CategoricalDistribution(list(spec["choices"]))


def spec_parameters(space: dict[str, Any]) -> dict[str, Any]:
    """The anchor's space written as a runtrack sweep spec's ``parameters`` section."""
    out: dict[str, Any] = {}
    for name, s in space.items():
        if s["type"] == "categorical":
            out[name] = {"values": list(s["choices"])}
        elif s["type"] == "int":
            out[name] = {"distribution": "int", "min": int(s["low"]), "max": int(s["high"])}
            if s.get("log"):
                out[name]["log"] = True
        else:
            dist = "log_uniform" if s.get("log") else "uniform"
            out[name] = {"distribution": dist, "min": float(s["low"]), "max": float(s["high"])}
    return out


class _Base:
    def __init__(self, space: dict[str, Any], seed: int, budget: int) -> None:
        self.space = dict(space)
        self.seed = int(seed)
        self.budget = int(budget)
        self.method = os.environ.get("RUNTRACK_HPO_METHOD", "auto")
        self.pending: dict[tuple[tuple[str, str], ...], list[Any]] = {}
        self.samplers: list[str] = []

    def _push(self, params: dict[str, Any], handle: Any) -> None:
        self.pending.setdefault(_key(params), []).append(handle)

    def _peek(self, params: dict[str, Any]) -> Any:
        return self.pending[_key(params)][0]

    def _pop(self, params: dict[str, Any]) -> Any:
        return self.pending[_key(params)].pop(0)

    def _log_samplers(self) -> None:
        path = os.environ.get("RUNTRACK_HPO_LOG")
        if not path or not self.samplers:
            return
        phases: list[list[Any]] = []  # [name, first trial, last trial]
        for i, name in enumerate(self.samplers):
            if phases and phases[-1][0] == name:
                phases[-1][2] = i
            else:
                phases.append([name, i, i])
        rec = {
            "params": list(self.space),
            "seed": self.seed,
            "budget": self.budget,
            "method": self.method,
            "counts": dict(Counter(self.samplers)),
            "phases": phases,
        }
        with open(path, "a") as f:
            f.write(json.dumps(rec) + "\n")


class OptunaEmulation(_Base):
    """The engine's loop on an in-memory Optuna study (see the module docstring)."""

    def __init__(self, space: dict[str, Any], seed: int, budget: int) -> None:
        super().__init__(space, seed, budget)
        import optuna

        from runtrack.sweeps._auto import SamplerContext, make_sampler

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self._ctx = SamplerContext
        self._make_sampler = make_sampler
        self.dists = {k: _optuna_dist(v) for k, v in space.items()}
        from runtrack.sweeps._pruners import check_pruner, make_pruner

        pruner_type = os.environ.get("RUNTRACK_HPO_PRUNER", "none") or "none"
        self.pruning = pruner_type != "none"
        pruner = make_pruner(check_pruner({"type": pruner_type}))
        self.study = optuna.create_study(direction="minimize", pruner=pruner)

    def suggest(self, space: dict[str, Any] | None = None) -> dict[str, Any]:
        optuna = self._optuna
        ctx = self._ctx(
            method=self.method,
            distributions=self.dists,
            conditional=False,
            n_objectives=1,
            budget=self.budget,
            seed=self.seed,
            number=len(self.study._get_trials(deepcopy=False)),
            pruning=self.pruning,  # as the engine tells it
        )
        name, sampler = self._make_sampler(ctx)
        self.samplers.append(name)
        self.study.sampler = sampler
        trial = self.study.ask()
        params: dict[str, Any] = {}
        for k, d in self.dists.items():  # define-by-run, in spec order
            if isinstance(d, optuna.distributions.FloatDistribution):
                params[k] = trial.suggest_float(k, d.low, d.high, log=d.log)
            elif isinstance(d, optuna.distributions.IntDistribution):
                params[k] = trial.suggest_int(k, d.low, d.high, log=d.log)
            else:
                params[k] = trial.suggest_categorical(k, d.choices)
        self._push(params, trial)
        return dict(params)

    def should_prune(self, params: dict[str, Any], step: int, value: float) -> bool:
        trial = self._peek(params)
        trial.report(float(value), int(step))
        return bool(trial.should_prune())

    def report(self, params: dict[str, Any], value: float, pruned: bool = False) -> None:
        trial = self._pop(params)
        if pruned:
            self.study.tell(trial, state=self._optuna.trial.TrialState.PRUNED)
        elif value is None or not math.isfinite(float(value)):
            self.study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, float(value))

    def close(self) -> None:
        self._log_samplers()


class RuntrackSweep(_Base):
    """The real engine: ``runtrack.Api().create_sweep`` on an embedded store of its own."""

    def __init__(self, space: dict[str, Any], seed: int, budget: int) -> None:
        super().__init__(space, seed, budget)
        self._dir = tempfile.mkdtemp(prefix="runtrack_hpo_")
        os.environ["RUNTRACK_DIR"] = self._dir  # read when Api() loads its settings
        os.environ.setdefault("RUNTRACK_QUIET", "1")
        import runtrack

        self.api = runtrack.Api()
        spec: dict[str, Any] = {
            "method": self.method,
            "metric": {"name": "objective", "goal": "minimize"},
            "parameters": spec_parameters(space),
            "budget": {"trials": self.budget},
            "seed": self.seed,
        }
        pruner_type = os.environ.get("RUNTRACK_HPO_PRUNER", "none") or "none"
        spec["pruner"] = {"type": pruner_type}
        self.sweep = self.api.create_sweep(spec, project="hpo-bench")

    def suggest(self, space: dict[str, Any] | None = None) -> dict[str, Any]:
        t = self.sweep.ask()
        if t is None:
            raise RuntimeError(f"the sweep's budget ({self.budget} trials) is spent")
        params = dict(t.params)
        name = getattr(t, "sampler", None)
        if name is not None:
            self.samplers.append(str(name))
        self._push(params, t)
        return params

    def should_prune(self, params: dict[str, Any], step: int, value: float) -> bool:
        return bool(self.sweep.report(self._peek(params), float(value), int(step)))

    def report(self, params: dict[str, Any], value: float, pruned: bool = False) -> None:
        t = self._pop(params)
        if pruned:
            self.sweep.tell(t, float(value), state="pruned")
        else:
            self.sweep.tell(t, float(value))

    def close(self) -> None:
        self._log_samplers()
        close = getattr(self.sweep, "close", None)
        if callable(close):
            close()
        shutil.rmtree(self._dir, ignore_errors=True)


def make(space: dict[str, Any], seed: int = 0, budget: int = 200) -> _Base:
    """The anchor's factory: ``RUNTRACK_HPO_VIA`` = ``optuna`` (default) or ``runtrack``."""
    via = os.environ.get("RUNTRACK_HPO_VIA", "optuna")
    if via == "optuna":
        return OptunaEmulation(space, seed, budget)
    if via == "runtrack":
        return RuntrackSweep(space, seed, budget)
    raise ValueError(f"RUNTRACK_HPO_VIA must be 'optuna' or 'runtrack', not {via!r}")
