"""Sweeps from the SDK: ``Api.create_sweep`` / ``Api.sweep`` and the ``SweepView`` they
return (ask / report / tell by hand, the best trial, the analysis), and
``runtrack.sweep(spec, fn)`` which runs trials in this process.

The search runs store-side (``runtrack.sweeps.engine``): embedded, this process is the
store side; with ``RUNTRACK_URL``, the team server is. Either way this module only talks
to the ``TrackingStore``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..entities import Sweep, SweepTrial
from ..errors import RunNotFoundError, ValidationError
from ..validation import check_existing_run_id, check_project

if TYPE_CHECKING:
    from ..store.base import TrackingStore
    from .api import Api, RunView
    from .run import Run


def load_spec(spec: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """A spec dict, or the path of a YAML file holding one: validated and normalised."""
    from ..sweeps.spec import load_yaml, normalize

    if isinstance(spec, str | Path) and not isinstance(spec, Mapping):
        p = Path(spec)
        if not p.is_file():
            what = "is a directory, not a file" if p.is_dir() else "does not exist"
            raise ValidationError(f"sweep spec file {str(p)!r} {what}")
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ValidationError(
                f"sweep spec file {str(p)!r} is not UTF-8 text (byte {e.start}): "
                "save it as UTF-8 YAML"
            ) from None
        except OSError as e:
            raise ValidationError(
                f"sweep spec file {str(p)!r} cannot be read: {e.strerror}"
            ) from None
        if not text.strip():
            raise ValidationError(f"sweep spec file {str(p)!r} is empty: it needs a YAML spec")
        return load_yaml(text, where=str(p))
    return normalize(spec)


class SweepView:
    """A sweep as recorded, and the handle to drive it by hand. Attributes are a snapshot
    (``refresh()`` reads again); ``best`` is the best trial's run."""

    def __init__(self, record: Sweep, api: Api) -> None:
        self._record = record
        self._api = api

    def __repr__(self) -> str:
        r = self._record
        return f"<runtrack.SweepView {r.id} {r.name!r} {r.status} trials={r.budget_used}>"

    # -- the record ---------------------------------------------------------------------
    @property
    def record(self) -> Sweep:
        return self._record

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def project(self) -> str:
        return self._record.project

    @property
    def status(self) -> str:
        return self._record.status

    @property
    def spec(self) -> dict[str, Any]:
        return self._record.spec.to_dict()

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._record.counts)

    @property
    def best_trial(self) -> SweepTrial | None:
        return self._record.best

    @property
    def best(self) -> RunView | None:
        """The run of the best complete trial (None before one completes, or for
        several objectives: see ``pareto``)."""
        t = self._record.best
        return None if t is None or t.run_id is None else self._api.run(t.run_id)

    @property
    def pareto(self) -> tuple[SweepTrial, ...]:
        return self._record.pareto

    def refresh(self) -> SweepView:
        self._record = self._api.store.get_sweep(self.id)
        return self

    def trials(self) -> list[SweepTrial]:
        return self._api.store.sweep_trials(self.id)

    def analysis(self, importance: str = "ped_anova") -> dict[str, Any]:
        """History, parameter importance (``ped_anova``, ``fanova``, ``none``), best trial
        or Pareto front and the parallel-coordinates table."""
        return self._api.store.sweep_analysis(self.id, importance=importance)

    def stop(self, reason: str | None = None) -> SweepView:
        self._record = self._api.store.stop_sweep(self.id, reason=reason)
        return self

    def resume(self, trials: int | None = None, seconds: float | None = None) -> SweepView:
        """Hand out trials again: a stopped or finished sweep runs again, with ``trials``
        more trials than it used and ``seconds`` more from now if given (agents started
        after this pick them up). A sweep that stopped for lack of improvement drops its
        patience rule. Raises ``ConflictError`` if its budget would still be spent."""
        self._record = self._api.store.resume_sweep(self.id, trials=trials, seconds=seconds)
        return self

    # -- driving it by hand ------------------------------------------------------------------
    def ask(self) -> SweepTrial | None:
        """The next trial (its run is created: config = the parameters), or None when the
        sweep is over. Evaluate it, then ``tell``."""
        from ._init import _host, _user

        return self._api.store.sweep_ask(self.id, user=_user(), host=_host())

    def report(self, trial: SweepTrial | str, value: float, step: int) -> bool:
        """An intermediate objective value; True when the trial should stop (pruned)."""
        return self._api.store.sweep_report(self.id, _run_of(trial), step, value)

    def tell(
        self,
        trial: SweepTrial | str,
        value: float | Sequence[float] | None = None,
        *,
        state: str = "complete",
        error: str | None = None,
    ) -> SweepTrial:
        """Finish a trial: ``complete`` with its objective value (a list for several
        objectives), ``pruned`` (last value optional) or ``failed``."""
        from ..sweeps.records import clean_error

        values = _values(value)
        if isinstance(error, str):
            error = clean_error(error)  # kept as the store keeps it, on every backend
        return self._api.store.sweep_tell(
            self.id, _run_of(trial), state=state, values=values, error=error
        )


def _run_of(trial: SweepTrial | str) -> str:
    if isinstance(trial, SweepTrial) and trial.warm:
        raise ValidationError(
            f"trial {trial.number} was warm-started from run {trial.run_id}, a finished run: "
            "it cannot be told or reported"
        )
    run_id = trial.run_id if isinstance(trial, SweepTrial) else trial
    if run_id is None:
        raise ValidationError("this trial has no run (a warm-started trial cannot be told)")
    return check_existing_run_id(run_id)


def _values(value: float | Sequence[float] | None) -> list[float] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes | Mapping):
        raise ValidationError(f"objective value {value!r} must be a number or a list of numbers")
    if isinstance(value, Sequence):
        return [_number(v) for v in value]
    return [_number(value)]


def _number(v: object) -> float:
    if v is None or isinstance(v, bool | str | bytes):
        raise ValidationError(f"objective value {v!r} is not a number")
    try:
        return float(v)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond a float's range
        raise ValidationError(
            f"objective value (an integer of {len(str(v))} digits) is too large a number "
            "for a float"
        ) from None
    except (TypeError, ValueError):
        raise ValidationError(f"objective value {v!r} is not a number") from None


class SweepMethods(abc.ABC):
    """Mixed into ``Api``."""

    @property
    @abc.abstractmethod
    def store(self) -> TrackingStore: ...

    def create_sweep(
        self, spec: Mapping[str, Any] | str | Path, project: str | None = None
    ) -> SweepView:
        """Create a sweep from a spec (a dict, or a YAML file's path) in ``project``
        (default: the settings' project). See ``docs/sweeps.md`` for the spec."""
        from ._init import _host, _user

        norm = load_spec(spec)
        proj = check_project(project if project is not None else self._default_project())
        rec = self.store.create_sweep(proj, norm, actor=_user(), host=_host())
        return SweepView(rec, self)  # type: ignore[arg-type]

    def sweep(self, sweep_id: str) -> SweepView:
        """Raises ``SweepNotFoundError``."""
        return SweepView(self.store.get_sweep(sweep_id), self)  # type: ignore[arg-type]

    def sweeps(self, project: str | None = None) -> list[SweepView]:
        return [SweepView(s, self) for s in self.store.list_sweeps(project)]  # type: ignore[arg-type]

    def _default_project(self) -> str:
        from .. import settings as settings_mod

        return settings_mod.load().project


def sweep(
    spec: Mapping[str, Any] | str | Path,
    fn: Callable[[Run], Any],
    count: int | None = None,
    project: str | None = None,
    *,
    max_failures: int = 5,
) -> SweepView:
    """Run a sweep's trials in this process: create the sweep from ``spec`` (a dict or a
    YAML file) — or continue an existing one when ``spec`` is its id — then, ``count``
    times at most (None: until the sweep is over), take the next suggestion, start its run
    and call ``fn(run)``. ``fn`` reads ``run.config``, logs the objective with ``run.log``
    (and may call ``run.should_prune()`` / raise ``runtrack.TrialPruned``); it may also
    return the objective value (a list, or a dict by metric name, for several; see
    ``runtrack.sweeps.returns``). A trial that raises is recorded failed and the sweep goes
    on, unless ``max_failures`` trials in a row have failed (raised, returned no objective,
    or returned None without logging it): then
    ``TrialsFailingError`` says why the last one failed (0: never give up). Returns the
    sweep."""
    from ..sweeps.agent import check_max_failures, run_function_trials
    from .api import Api

    if not callable(fn):
        raise ValidationError("fn must be a function taking the trial's run")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValidationError(f"count {count!r} must be a positive integer or None")
    check_max_failures(max_failures)
    api = Api()
    if isinstance(spec, str) and not Path(spec).suffix and _looks_like_id(spec):
        view = api.sweep(spec)
    elif isinstance(spec, str | Path) and not Path(spec).exists():
        raise ValidationError(
            f"{str(spec)!r} is neither a sweep spec file nor the id of a sweep "
            "(give a spec dict, the path of a YAML spec, or an id from `runtrack sweep ls`)"
        )
    else:
        view = api.create_sweep(spec, project=project)
    run_function_trials(api.store, view.id, fn, count=count, max_failures=max_failures)
    return view.refresh()


def _looks_like_id(text: str) -> bool:
    try:
        check_existing_run_id(text)
    except (ValidationError, RunNotFoundError):  # malformed: not an id, so a file name
        return False
    return not Path(text).exists()
