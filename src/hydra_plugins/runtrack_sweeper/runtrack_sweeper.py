"""The runtrack sweeper for Hydra: Hydra's override grammar in, a runtrack sweep out.

    python train.py -m hydra/sweeper=runtrack hydra.sweeper.n_trials=30 \\
        'lr=tag(log, interval(1e-4, 1e-1))' 'model=choice(a, b)' epochs=5

Each sweep override becomes a parameter of a runtrack sweep spec
(:mod:`runtrack.sweeps.spec`); a plain ``key=value`` is a fixed value. The sweep is created
in the store of the environment (``RUNTRACK_DIR`` or ``RUNTRACK_URL``), and each trial
the store suggests is launched as one Hydra job whose overrides are the trial's values.
The job runs with ``RUNTRACK_SWEEP_ID`` and ``RUNTRACK_TRIAL_RUN`` in its environment, so
the ``runtrack.init(config=cfg)`` inside it records into the trial's run (its composed
config included). The job's return value is the objective (a number, a list of numbers
for several objectives, or a mapping holding the metric), else the metric its run logged.

What each override becomes (``docs/hydra.md`` has the full table)::

    interval(a, b)              uniform float in [a, b]
    tag(log, interval(a, b))    log-uniform float
    int(interval(a, b))         int in [a, b] (both ends included; tag log for a log scale)
    range(a, b[, step])         int (or float) grid a, a+step, ... below b, searched in order
    choice(x, y, ...) / x,y     categorical
    choice(...) of config group G   categorical hydra.choices.G (the run keeps G's content)
    x                           fixed value
    glob(...), ~key, ...        refused, with the override named in the error

The sweeper launches one job at a time through Hydra's launcher: the basic launcher runs
it in this process, which is what lets the environment reach ``runtrack.init``.
"""

# No ``from __future__ import annotations`` here: Hydra's plugin scan runs this module
# before it is in sys.modules, where dataclasses cannot resolve string annotations.
import logging
import math
import os
import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    Quote,
    QuotedString,
    RangeSweep,
    Transformer,
    ValueType,
)
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException, OverrideParseException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from runtrack.errors import ValidationError
from runtrack.sweeps.returns import ReturnValueError, objective_values

__all__ = [
    "ReturnValueError",
    "RuntrackSweeper",
    "RuntrackSweeperConf",
    "SearchSpace",
    "SweeperError",
    "format_value",
    "objective_values",
    "search_space",
]

log = logging.getLogger(__name__)

SWEEP_ENV = "RUNTRACK_SWEEP_ID"
TRIAL_ENV = "RUNTRACK_TRIAL_RUN"
_GOALS = {"minimize": "minimize", "min": "minimize", "maximize": "maximize", "max": "maximize"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*$")
_MAX_ERROR = 4000  # characters of a failed job's traceback kept on its trial


@dataclass
class RuntrackSweeperConf:
    """``hydra/sweeper=runtrack``: every field can be set as ``hydra.sweeper.FIELD=...``."""

    _target_: str = "hydra_plugins.runtrack_sweeper.runtrack_sweeper.RuntrackSweeper"
    metric: Any = "objective"  # the objective's metric key; a list for several objectives
    goal: Any = "minimize"  # minimize | maximize (a list: one per metric)
    method: str = "auto"  # auto | tpe | gp | cmaes | random | grid | qmc
    n_trials: int | None = 20  # trials in the sweep's budget; null: no trial limit
    seed: int | None = None  # null: runtrack picks one and records it
    project: str | None = None  # null: runtrack's default project
    name: str | None = None  # the sweep's name; null: Hydra's job name
    pruner: Any = None  # null | "median" | {type: median, n_warmup_steps: 2, ...}
    params: dict[str, str] = field(default_factory=dict)  # key -> override, like the CLI
    budget_seconds: float | None = None  # wall-time budget of the sweep
    patience: int | None = None  # stop after this many trials without improvement
    max_failures: int | None = 5  # stop after this many failed trials in a row; 0/null: never


ConfigStore.instance().store(
    group="hydra/sweeper", name="runtrack", node=RuntrackSweeperConf, provider="runtrack"
)


class SweeperError(ValidationError, CompactHydraException):
    """What the sweeper refuses: a ``runtrack.errors.ValidationError`` that Hydra prints as
    one line (as its own override errors), not as a traceback."""


def _error(message: str) -> Exception:
    return SweeperError(f"hydra sweeper: {message}")


# -- overrides -> sweep parameters ----------------------------------------------------------
@dataclass(frozen=True)
class SearchSpace:
    """What the overrides of a sweep ask for.

    ``parameters`` is the ``parameters`` section of a runtrack sweep spec; ``keys`` maps
    each searched parameter to the override key that sets it (``+x``, ``db@backup``);
    ``constant`` holds the overrides passed unchanged to every job; ``sources`` maps each
    parameter to the override that defined it (for error messages)."""

    parameters: dict[str, dict[str, Any]]
    keys: dict[str, str]
    constant: tuple[str, ...]
    sources: dict[str, str]

    def overrides(
        self, params: Mapping[str, Any], parser: OverridesParser | None = None
    ) -> list[str]:
        """The overrides of one trial: the constant ones, then ``key=value`` for each
        value the search suggested, written so that Hydra reads back the same value."""
        out = list(self.constant)
        for name, value in params.items():
            key = self.keys.get(name)
            if key is None:
                raise _error(f"the sweep suggested {name!r}, which no override defines")
            out.append(f"{key}={format_value(value, parser)}")
        return out


def search_space(
    overrides: Sequence[Override],
    *,
    group_options: Callable[[str], Sequence[str]] | None = None,
) -> SearchSpace:
    """Turn parsed Hydra overrides into sweep parameters. A later override of the same key
    replaces an earlier one. ``group_options(key)`` lists the options of a config group
    (none: the key is not a group). The run's config holds a group's content, not the
    option's name, so a swept choice of group ``model`` is the parameter
    ``hydra.choices.model`` (a task config has no ``hydra`` key), and a fixed one is
    passed to the jobs but kept out of the spec."""
    options_of = group_options or _no_options
    by_key: dict[tuple[str, str | None], Override] = {}
    for o in overrides:
        by_key.pop((o.key_or_group, o.package), None)
        by_key[(o.key_or_group, o.package)] = o
    parameters: dict[str, dict[str, Any]] = {}
    keys: dict[str, str] = {}
    sources: dict[str, str] = {}
    constant: list[str] = []
    for o in by_key.values():
        line = _line(o)
        if not o.is_sweep_override():
            constant.append(line)
            name = _fixed_name(o, options_of)
            if name is not None:
                parameters[name] = {"value": o.value()}
                sources[name] = line
            continue
        where = f"override {line!r}"
        if o.is_delete():
            raise _error(f"{where}: a deletion (~) cannot be swept")
        options = list(options_of(o.key_or_group))
        name = _param_name(o, where, bool(options))
        if name in parameters:
            raise _error(f"{where}: {name!r} is already set by {sources[name]!r}")
        parameters[name] = _parameter(o, where)
        if options:
            _check_options(parameters[name], options, o.key_or_group, where)
        keys[name] = o.get_key_element()
        sources[name] = line
    return SearchSpace(parameters, keys, tuple(constant), sources)


def _line(o: Override) -> str:
    if o.input_line:
        return str(o.input_line)
    if o.value_type is None:
        return str(o.get_key_element())
    return f"{o.get_key_element()}={o.get_value_element_as_str()}"


def _param_name(o: Override, where: str, group: bool) -> str:
    path = str(o.key_or_group).replace("/", ".")
    if group:  # Hydra's name for the choice: hydra.runtime.choices[key]
        path = "hydra.choices." + path + ("" if o.package is None else "." + str(o.package))
    elif o.package is not None:
        raise _error(f"{where}: a package (@{o.package}) applies to config groups only")
    if not _NAME.match(path):
        raise _error(
            f"{where}: {path!r} cannot name a sweep parameter (letters, digits, _ and -, "
            "dots for nesting)"
        )
    return path


def _no_options(key: str) -> Sequence[str]:
    return ()


def _check_options(param: Mapping[str, Any], options: list[str], group: str, where: str) -> None:
    shown = ", ".join(options)
    if "values" not in param:
        raise _error(f"{where}: config group {group!r} takes choice() of its options ({shown})")
    for v in param["values"]:
        if v not in options:
            raise _error(f"{where}: {v!r} is not an option of config group {group!r} ({shown})")


def _fixed_name(o: Override, options_of: Callable[[str], Sequence[str]]) -> str | None:
    """The spec name of a plain override, or None when it is only passed through."""
    if o.is_delete() or o.package is not None or o.value_type is None:
        return None
    if options_of(o.key_or_group):
        return None
    name = str(o.key_or_group)
    value = o.value()
    if not _NAME.match(name) or (isinstance(value, str) and "${" in value):
        return None  # interpolations resolve to something else in the composed config
    return name


def _parameter(o: Override, where: str) -> dict[str, Any]:
    if o.value_type == ValueType.GLOB_CHOICE_SWEEP:
        raise _error(f"{where}: glob() is not supported; list the options with choice(...)")
    value = o.value()
    if isinstance(value, IntervalSweep):
        return _interval(value, where)
    if isinstance(value, RangeSweep):
        return _range(value, where)
    if isinstance(value, ChoiceSweep):
        _check_tags(value.tags, set(), where)
        return _choice(value.list, where)
    raise _error(f"{where}: {type(value).__name__} sweeps are not supported")


def _check_tags(tags: set[str], allowed: set[str], where: str) -> None:
    unknown = sorted(set(tags) - allowed)
    if unknown:
        raise _error(
            f"{where}: tag {unknown[0]!r} means nothing to the runtrack sweeper "
            "(it reads one tag, log, on interval() and range())"
        )


def _interval(sweep: Any, where: str) -> dict[str, Any]:
    _check_tags(sweep.tags, {"log"}, where)
    lo, hi, log = sweep.start, sweep.end, "log" in sweep.tags
    if lo > hi:
        raise _error(f"{where}: the interval starts above its end ({lo} > {hi})")
    if log and lo <= 0:
        raise _error(f"{where}: a log-scale interval must start above 0, not at {lo}")
    if isinstance(lo, int) and isinstance(hi, int):  # int(interval(a, b))
        return {"distribution": "int", "min": lo, "max": hi, "log": log}
    return {"distribution": "log_uniform" if log else "uniform", "min": lo, "max": hi}


def _range(sweep: Any, where: str) -> dict[str, Any]:
    _check_tags(sweep.tags, {"log"}, where)
    shown = f"range({sweep.start}, {sweep.stop}, {sweep.step})"
    if sweep.step == 0:
        raise _error(f"{where}: {shown} has a step of 0")
    integer = all(isinstance(v, int) for v in (sweep.start, sweep.stop, sweep.step))
    ends = _range_ends(sweep.start, sweep.stop, sweep.step, integer)
    if ends is None:
        raise _error(f"{where}: {shown} holds no value")
    lo, hi = min(ends), max(ends)
    step, log = abs(sweep.step), "log" in sweep.tags
    if integer:
        if log:
            if step != 1:
                raise _error(f"{where}: a log-scale range takes no step")
            if lo <= 0:
                raise _error(f"{where}: a log-scale range must start above 0, not at {lo}")
            return {"distribution": "int", "min": lo, "max": hi, "log": True}
        return {"distribution": "int", "min": lo, "max": hi, "step": step}
    if log:
        raise _error(f"{where}: tag log applies to an int range or an interval")
    return {"distribution": "uniform", "min": lo, "max": hi, "step": float(step)}


def _range_ends(start: Any, stop: Any, step: Any, integer: bool) -> tuple[Any, Any] | None:
    """The first and last value of Hydra's range (None if empty), without listing it."""
    if integer:
        r = range(start, stop, step)
        return (r[0], r[-1]) if r else None
    first, end, by = Decimal(start), Decimal(stop), Decimal(step)  # as Hydra's FloatRange
    n = math.ceil((end - first) / by)
    return (float(first), float(first + (n - 1) * by)) if n > 0 else None


def _choice(options: Sequence[Any], where: str) -> dict[str, Any]:
    values: list[Any] = []
    for x in options:
        v = x.text if isinstance(x, QuotedString) else x
        if not (v is None or isinstance(v, str | int | float | bool)):
            raise _error(
                f"{where}: choice values must be strings, numbers, booleans or null; "
                f"{v!r} is a {type(v).__name__}"
            )
        values.append(v)
    return {"values": values}


def format_value(value: Any, parser: OverridesParser | None = None) -> str:
    """``value`` as the value of an override, checked to read back as the same value."""
    if value is None:
        candidates = ["null"]
    elif isinstance(value, bool):
        candidates = ["true" if value else "false"]
    elif isinstance(value, int):
        candidates = [str(value)]
    elif isinstance(value, float):
        candidates = [repr(value)]
    elif isinstance(value, str):
        candidates = [Transformer.str(value), QuotedString(value, Quote.single).with_quotes()]
    else:
        raise _error(f"cannot write the {type(value).__name__} {value!r} as an override value")
    if parser is None:
        parser = OverridesParser.create()
    for text in candidates:
        if _reads_back(parser, text, value):
            return text
    raise _error(f"cannot write {value!r} as an override value Hydra reads back unchanged")


def _reads_back(parser: OverridesParser, text: str, value: Any) -> bool:
    try:
        got = parser.parse_override(f"k={text}").value()
    except Exception:  # the grammar rejects it: try the next way of writing it
        return False
    if type(got) is not type(value):
        return False
    if isinstance(value, float) and isinstance(got, float) and math.isnan(value):
        return math.isnan(got)
    return bool(got == value)


# -- the sweeper ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Outcome:
    state: str  # complete | pruned | failed
    values: list[float] | None = None
    error: str | None = None
    fatal: BaseException | None = None  # stop the sweep after telling the trial


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=dict)
    first_error: str | None = None
    trials: dict[str, tuple[int, dict[str, Any], list[float] | None]] = field(default_factory=dict)

    def add(self, trial: Any, outcome: _Outcome) -> None:
        self.counts[outcome.state] = self.counts.get(outcome.state, 0) + 1
        if outcome.error and self.first_error is None:
            self.first_error = outcome.error
        self.trials[trial.run_id] = (trial.number, dict(trial.params), outcome.values)

    def describe(self) -> str:
        total = sum(self.counts.values())
        parts = [f"{n} {s}" for s, n in sorted(self.counts.items())]
        return f"{total} trial(s): {', '.join(parts) or 'none'}"


class RuntrackSweeper(Sweeper):
    """Runs a runtrack sweep, one Hydra job per trial. Not thread-safe (one sweep per
    instance, as Hydra uses it). Raises ``runtrack.errors.ValidationError`` naming the
    field or override at fault before anything is created."""

    def __init__(
        self,
        metric: Any = "objective",
        goal: Any = "minimize",
        method: str = "auto",
        n_trials: int | None = 20,
        seed: int | None = None,
        project: str | None = None,
        name: str | None = None,
        pruner: Any = None,
        params: Mapping[str, str] | None = None,
        budget_seconds: float | None = None,
        patience: int | None = None,
        max_failures: int | None = 5,
    ) -> None:
        super().__init__()
        self.metrics = _names(_plain(metric))
        self.goals = _goals(_plain(goal), len(self.metrics))
        self.method = _method(method)
        self.n_trials = _count("n_trials", n_trials)
        self.seed = _count("seed", seed, low=0)
        self.project = _project(project)
        self.name = name
        self.pruner = _pruner(_plain(pruner))
        self.params = _params(_plain(params))
        self.budget_seconds = _seconds(budget_seconds)
        self.patience = _count("patience", patience)
        self.max_failures = _count("max_failures", max_failures, low=0) or None
        if self.n_trials is None and self.budget_seconds is None and self.patience is None:
            raise _error(
                "hydra.sweeper.n_trials is null and neither budget_seconds nor patience is "
                "set: the sweep would never end"
            )
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        if type(self.launcher).__name__ != "BasicLauncher":
            log.warning(
                "runtrack sweeper: jobs find their trial's run through %s and %s in the "
                "environment; %s must pass them on to the job (the basic launcher does)",
                SWEEP_ENV,
                TRIAL_ENV,
                type(self.launcher).__name__,
            )

    # -- planning ---------------------------------------------------------------------------
    def plan(self, arguments: Sequence[str]) -> tuple[SearchSpace, dict[str, Any]]:
        """The search space and sweep spec of ``hydra.sweeper.params`` and the command-line
        overrides (which win over ``params`` for the same key)."""
        loader = self.hydra_context.config_loader if self.hydra_context is not None else None
        parser = OverridesParser.create(config_loader=loader)
        parsed = []
        for k, v in self.params.items():
            try:
                parsed += parser.parse_overrides([f"{k}={v}"])
            except OverrideParseException as e:
                raise _error(f"hydra.sweeper.params.{k}: {v!r} is not an override: {e}") from None
        parsed += parser.parse_overrides(list(arguments))
        space = search_space(parsed, group_options=None if loader is None else _options_in(loader))
        return space, self.spec(space, description="hydra: " + " ".join(arguments))

    def spec(self, space: SearchSpace, description: str | None = None) -> dict[str, Any]:
        """The sweep spec, validated here so that an error names the override at fault."""
        from runtrack.sweeps import spec as spec_mod

        budget = {"trials": self.n_trials, "seconds": self.budget_seconds}
        budget["patience"] = self.patience
        name = self.name
        if name is None and self.config is not None:
            name = str(self.config.hydra.job.name)
        spec: dict[str, Any] = {
            "method": self.method,
            "metrics": [
                {"name": m, "goal": g} for m, g in zip(self.metrics, self.goals, strict=True)
            ],
            "parameters": space.parameters,
            "pruner": self.pruner,
            "budget": {k: v for k, v in budget.items() if v is not None},
            "seed": self.seed,
            "name": name,
            "description": None if description is None else description[:10_000],
        }
        try:
            spec_mod.normalize(spec)
        except ValidationError as e:
            raise _error(_attribute(str(e), space)) from None
        return spec

    # -- running ----------------------------------------------------------------------------
    def sweep(self, arguments: list[str]) -> list[JobReturn]:
        import runtrack

        assert self.config is not None and self.launcher is not None, "setup() comes first"
        space, spec = self.plan(arguments)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        api = runtrack.Api()
        try:
            view = api.create_sweep(spec, project=self.project)
        except ValidationError as e:  # e.g. the project's name
            raise _error(str(e)) from None
        log.info("runtrack sweep %s: %s", view.id, _describe(space))
        tally = _Tally()
        returns: list[JobReturn] = []
        try:
            self._trials(api, view, space, tally, returns)
        except BaseException as exc:  # the sweep cannot go on: no agent will finish it
            try:
                view.stop(f"the hydra sweeper stopped: {type(exc).__name__}: {exc}"[:1000])
            except Exception:
                log.exception("runtrack sweep %s: could not record that it stopped", view.id)
            raise
        self._report(view, tally)
        return returns

    def _trials(
        self, api: Any, view: Any, space: SearchSpace, tally: _Tally, returns: list[JobReturn]
    ) -> None:
        parser = OverridesParser.create()
        in_a_row = 0  # failed trials since the last one that did not fail
        while (trial := view.ask()) is not None:
            try:
                overrides = space.overrides(trial.params, parser)
            except Exception as exc:
                view.tell(trial, state="failed", error=str(exc))
                raise
            ret, outcome = self._run_trial(api, view, trial, overrides)
            returns.append(ret)
            tally.add(trial, outcome)
            self._tell(view, trial, outcome)
            if outcome.fatal is not None:
                raise outcome.fatal
            in_a_row = in_a_row + 1 if outcome.state == "failed" else 0
            if self.max_failures is not None and in_a_row >= self.max_failures:
                raise _error(
                    f"sweep {view.id} stopped: its last {in_a_row} trials all failed "
                    f"(hydra.sweeper.max_failures={self.max_failures}; 0 never stops); "
                    f"the last error: {outcome.error}"
                )

    def _run_trial(
        self, api: Any, view: Any, trial: Any, overrides: list[str]
    ) -> tuple[JobReturn, _Outcome]:
        from runtrack.errors import TrialPruned

        os.environ[SWEEP_ENV] = view.id
        os.environ[TRIAL_ENV] = trial.run_id
        try:
            [ret] = self.launcher.launch([overrides], initial_job_idx=trial.number)
        except BaseException as exc:  # the job never ran (composition error, Ctrl-C)
            error = f"the job could not be launched: {type(exc).__name__}: {exc}"
            self._close_run(trial, "failed", error)
            view.tell(trial, state="failed", error=error)
            raise
        finally:
            os.environ.pop(SWEEP_ENV, None)  # runtrack.init() removes them when it attaches
            os.environ.pop(TRIAL_ENV, None)
        if ret.status == JobStatus.COMPLETED:
            outcome = self._completed(api, trial, ret.return_value)
        else:
            raised = ret._return_value  # what ret.return_value would raise
            if isinstance(raised, TrialPruned):
                outcome = _Outcome("pruned")
            else:
                text = "".join(traceback.format_exception(raised))
                log.error("trial %d failed:\n%s", trial.number, text)
                outcome = _Outcome("failed", error=text[-_MAX_ERROR:])
        run_status = "failed" if outcome.state == "failed" else "finished"
        self._close_run(trial, run_status, outcome.error)
        return ret, outcome

    def _completed(self, api: Any, trial: Any, returned: Any) -> _Outcome:
        run = _open_run(trial.run_id)

        def summary() -> Mapping[str, Any]:  # what the job's run logged
            return dict(run.summary if run is not None else api.run(trial.run_id).summary)

        try:
            values = objective_values(returned, self.metrics, summary)
        except ReturnValueError as e:
            return _Outcome("failed", error=str(e), fatal=_error(f"trial {trial.number}: {e}"))
        except ValueError as e:
            log.error("trial %d failed: %s", trial.number, e)
            return _Outcome("failed", error=str(e))
        if run is not None and returned is not None:  # the run gets the objective it lacks
            missing = {
                m: v for m, v in zip(self.metrics, values, strict=True) if m not in run.summary
            }
            if missing:
                run.log(missing)
        return _Outcome("complete", values=values)

    def _close_run(self, trial: Any, status: str, error: str | None) -> None:
        """End the trial's run if the job left it open in this process (a task that called
        ``runtrack.init()`` without ``with``), so the next trial starts clean."""
        run = _open_run(trial.run_id)
        if run is not None:
            run.finish(status, error if status == "failed" else None)

    def _tell(self, view: Any, trial: Any, outcome: _Outcome) -> None:
        if outcome.state == "complete":
            assert outcome.values is not None
            values = outcome.values
            view.tell(trial, values[0] if len(values) == 1 else values)
            log.info("trial %d: %s", trial.number, _show_values(self.metrics, values))
        elif outcome.state == "pruned":
            view.tell(trial, state="pruned")
            log.info("trial %d: pruned", trial.number)
        else:
            view.tell(trial, state="failed", error=outcome.error)

    def _report(self, view: Any, tally: _Tally) -> None:
        done = tally.describe()
        if not tally.counts.get("complete"):
            if not tally.counts:
                log.warning("runtrack sweep %s: the store handed out no trial", view.id)
                return
            from runtrack.errors import RuntrackError

            raise RuntrackError(
                f"runtrack sweep {view.id}: no trial completed ({done}); "
                f"first error: {tally.first_error}"
            )
        best = view.refresh().best
        if best is None:  # several objectives: a Pareto front, not one best
            log.info(
                "runtrack sweep %s done, %s; see: runtrack sweep show %s", view.id, done, view.id
            )
            return
        number, params, values = tally.trials.get(best.id, (None, dict(best.config), None))
        shown = (
            _show_values(self.metrics, values)
            if values is not None
            else _show_values(self.metrics, [best.summary.get(m) for m in self.metrics])
        )
        log.info(
            "runtrack sweep %s done, %s. Best: trial %s (run %s) %s with %s",
            view.id,
            done,
            "?" if number is None else number,
            best.id,
            shown,
            ", ".join(f"{k}={v!r}" for k, v in params.items()),
        )


def _open_run(run_id: str) -> Any:
    """The trial's run if it is this process's current run and still open."""
    import runtrack

    run = runtrack.current_run()
    if run is not None and run.id == run_id and run.status == "running":
        return run
    return None


def _options_in(loader: Any) -> Callable[[str], Sequence[str]]:
    def options(key: str) -> Sequence[str]:  # [] for a key that is not a config group
        return list(loader.get_group_options(key))

    return options


def _attribute(message: str, space: SearchSpace) -> str:
    """A spec error about ``parameters.NAME`` names the override that defined NAME."""
    for name in sorted(space.sources, key=len, reverse=True):
        prefix = f"sweep spec: parameters.{name}"
        if message.startswith(prefix) and message[len(prefix) : len(prefix) + 1] in (":", "."):
            return f"override {space.sources[name]!r}: {message}"
    return message


def _describe(space: SearchSpace) -> str:
    searched = [n for n, p in space.parameters.items() if "value" not in p]
    return f"searching {', '.join(searched)}"


def _show_values(metrics: Sequence[str], values: Sequence[Any]) -> str:
    return ", ".join(f"{m}={v}" for m, v in zip(metrics, values, strict=False))


# -- field checks (hydra.sweeper.*) ---------------------------------------------------------
def _plain(value: Any) -> Any:
    if type(value).__module__.startswith("omegaconf"):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _names(metric: Any) -> list[str]:
    names = [metric] if isinstance(metric, str) else metric
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise _error(
            f"hydra.sweeper.metric {metric!r} must be a metric key or a list of metric keys"
        )
    if len(set(names)) != len(names):
        raise _error(f"hydra.sweeper.metric {names!r} names a metric twice")
    return list(names)


def _goals(goal: Any, n: int) -> list[str]:
    goals = [goal] * n if isinstance(goal, str) else goal
    if not isinstance(goals, list) or len(goals) != n:
        raise _error(
            f"hydra.sweeper.goal {goal!r} must be minimize or maximize, or a list of "
            f"{n} of them (one per metric)"
        )
    for g in goals:
        if g not in _GOALS:
            raise _error(f"hydra.sweeper.goal {g!r} must be minimize or maximize")
    return [_GOALS[g] for g in goals]


def _method(value: Any) -> str:
    from runtrack.sweeps.spec import METHODS

    if value not in METHODS:
        raise _error(f"hydra.sweeper.method {value!r} must be one of {', '.join(METHODS)}")
    return str(value)


def _count(field_name: str, value: Any, low: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _error(f"hydra.sweeper.{field_name} {value!r} must be an integer >= {low} or null")
    return value


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise _error(f"hydra.sweeper.budget_seconds {value!r} must be a number above 0 or null")
    return float(value)


def _project(value: Any) -> str | None:
    if value is None:
        return None
    from runtrack.validation import check_project

    try:
        return check_project(value)
    except ValidationError as e:
        raise _error(f"hydra.sweeper.project: {e}") from None


def _pruner(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    from runtrack.sweeps._pruners import check_pruner

    raw = {"type": value} if isinstance(value, str) else value
    try:
        check_pruner(raw)
    except ValueError as e:
        raise _error(f"hydra.sweeper.{e}") from None
    return dict(raw)


def _params(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _error(f"hydra.sweeper.params must map config keys to override values, not {value!r}")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k:
            raise _error(f"hydra.sweeper.params: key {k!r} must be a config key")
        out[k] = v if isinstance(v, str) else _plain_value(v)
    return out


def _plain_value(v: Any) -> str:
    # YAML may have read `lr: 0.1` as a float: write it back as Hydra would read it
    return format_value(v) if v is None or isinstance(v, bool | int | float) else str(v)
