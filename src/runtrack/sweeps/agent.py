"""The agent: take the next suggestion, run the trial, report, repeat.

Two ways to run a trial:

* a Python function (``runtrack.sweep(spec, fn)``): the trial's run is resumed in this
  process and ``fn(run)`` called;
* a command (``runtrack agent SWEEP``, the spec's ``command``): a child process with the
  parameters substituted into its arguments (``${lr}``, ``${args}``...) and passed in the
  environment (``RUNTRACK_PARAMS``, JSON); its ``runtrack.init()`` records into the
  trial's run. The agent beats for the trial's run while the child works, and the child
  is stopped if the agent dies (Linux: parent-death signal), so a dead agent's trial ends
  up failed and the sweep goes on.

Any number of agents, on any machines, may work on one sweep: the store hands each trial
out once and keeps the budget.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..entities import Sweep, SweepTrial
from ..errors import (
    ConflictError,
    RuntrackError,
    TrialPruned,
    TrialsFailingError,
    ValidationError,
)
from . import spec as spec_mod
from .spec import PLACEHOLDER as _PLACEHOLDER
from .spec import check_command

if TYPE_CHECKING:
    from ..client.run import Run
    from ..store.base import TrackingStore

log = logging.getLogger("runtrack")

#: seconds between two asks of an agent waiting for other agents' trials (retries)
WAIT_EVERY = 2.0

#: an agent gives up after this many of its trials failed in a row (0: never)
MAX_FAILURES = 5

#: what running one trial came to: the recorded state and values, and the error when the
#: trial crashed or ended without its objective (None when it completed, was pruned, or
#: reported a non-finite value, which is an outcome of its parameters, not a broken script)
Outcome = tuple[str, list[float] | None, str | None]


@dataclass
class AgentResult:
    """What one agent did."""

    sweep_id: str
    trials: list[dict[str, Any]] = field(default_factory=list)  # number, run_id, state, value
    stopped_because: str = ""
    interrupted: bool = False  # by Ctrl-C (KeyboardInterrupt): the caller decides what next

    @property
    def count(self) -> int:
        return len(self.trials)

    def to_json(self) -> dict[str, Any]:
        return {"sweep": self.sweep_id, "trials": self.trials, "stopped": self.stopped_because}


# -- command lines ------------------------------------------------------------------------
def _text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)  # floats round-trip exactly


_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*\Z")
_HYDRA_WORDS = {"true", "false", "null", "nan", "inf"}
_override_parser: Any = None


def override_value(v: Any) -> str:
    """``v`` written as the value of a Hydra override that reads back as ``v`` (a string
    that Hydra would read as a number, bool, null or sweep is quoted). With Hydra
    installed, its own parser checks the text (the sweeper plugin's ``format_value``);
    without it, strings other than plain words are single-quoted."""
    global _override_parser
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        from hydra_plugins.runtrack_sweeper.runtrack_sweeper import format_value
    except ImportError:
        if not isinstance(v, str):
            return _text(v)
        if _BARE.match(v) and v.lower() not in _HYDRA_WORDS:
            return v
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if _override_parser is None:
        _override_parser = OverridesParser.create()
    return format_value(v, _override_parser)


def render_command(command: Sequence[str], spec: Mapping[str, Any], trial: SweepTrial) -> list[str]:
    """The command with the trial's values substituted. A token naming a parameter that
    is not active in this trial (its condition did not hold) is left out; ``${args}``
    expands to ``--name=value`` for every value of the trial, ``${args_no_hyphens}`` to
    ``name=value`` (Hydra's override syntax, strings quoted where Hydra would misread
    them); ``$${name}`` is the literal text ``${name}``. Raises ``ValidationError`` for a
    value that cannot be written so."""
    values = {**spec_mod.fixed_values(spec), **dict(trial.params)}
    ordered = [n for n in spec["parameters"] if n in values]
    extra = {
        "interpreter": sys.executable,
        "run_id": trial.run_id or "",
        "trial": str(trial.number),
        "sweep_id": trial.sweep_id,
    }
    out: list[str] = []
    for token in command:
        if token == "${args}":
            out += [f"--{n}={_text(values[n])}" for n in ordered]
            continue
        if token == "${args_no_hyphens}":
            out += [f"{n}={override_value(values[n])}" for n in ordered]
            continue
        keys = [m.group(2) for m in _PLACEHOLDER.finditer(token) if not m.group(1)]
        if any(k in spec["parameters"] and k not in values for k in keys):
            continue  # an inactive conditional parameter: drop the whole argument

        def one(m: re.Match[str]) -> str:
            k = m.group(2)
            if m.group(1):
                return "${" + k + "}"  # $${k}: the text itself
            return extra[k] if k in extra else _text(values[k])

        out.append(_PLACEHOLDER.sub(one, token))
    return out


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM when the agent dies (even by SIGKILL)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _StderrTail:
    """Passes a child's standard error on to ours as it comes (progress bars with \\r
    included) and keeps its last bytes, so a trial that crashed before its run could
    record anything still says why."""

    KEEP = 4096

    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe
        self._tail = b""
        self._thread = threading.Thread(
            target=self._pump, name="runtrack-trial-stderr", daemon=True
        )
        self._thread.start()

    def _pump(self) -> None:
        fd = self._pipe.fileno()
        try:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                try:
                    sys.stderr.flush()
                    view = memoryview(chunk)
                    while view:  # a write may take part of it (a signal, a full pipe)
                        view = view[os.write(2, view) :]
                except OSError:  # our stderr is gone: keep reading so the child never blocks
                    pass
                self._tail = (self._tail + chunk)[-self.KEEP :]
        finally:
            self._pipe.close()  # here, at its end: a grandchild may hold it past finish()

    def finish(self, wait: float = 5.0) -> None:
        """Wait for the pipe's end, ``wait`` seconds at most: a grandchild may hold it
        open, and its output then goes on being passed through until it ends."""
        self._thread.join(timeout=wait)

    def last_line(self) -> str:
        """The child's last non-empty line of standard error so far."""
        text = self._tail.decode("utf-8", "replace").replace("\r", "\n")
        return _last_line(text) if text.strip() else ""


def _exit_text(rc: int) -> str:
    if rc < 0:
        try:
            return f"the command was killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"the command was killed by signal {-rc}"
    return f"the command exited with code {rc}"


# -- the loop -----------------------------------------------------------------------------
class _Beat:
    """Beats for a trial's run from the agent while a child process works on it."""

    def __init__(self, store: TrackingStore, run_id: str, every: float) -> None:
        self._store, self._run_id, self._every = store, run_id, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runtrack-trial-beat", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._store.heartbeat(self._run_id)
            except RuntrackError as exc:  # the child beats too; keep trying
                log.debug("runtrack: trial heartbeat failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _Progress:
    """One line per trial (and a bar on a terminal)."""

    #: seconds between two reads of the sweep's best (other agents' trials count too)
    REFRESH_EVERY = 2.0

    def __init__(
        self,
        sweep_id: str,
        count: int | None,
        metric: str,
        goal: str,
        quiet: bool,
        sweep_best: Callable[[], float | None] | None = None,
    ):
        self.metric, self.goal, self.quiet = metric, goal, quiet
        self.best: float | None = None
        self._sweep_best = sweep_best
        self._read_at = -math.inf
        self._bar: Any = None
        self._task: Any = None
        if not quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(
                TextColumn(f"sweep {sweep_id}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._bar.add_task("", total=count)
            self._bar.start()

    def _offer(self, v: float | None) -> None:
        if v is None or not math.isfinite(v):
            return
        if self.best is None or (v < self.best if self.goal == "minimize" else v > self.best):
            self.best = v

    def trial(self, t: SweepTrial, state: str, values: list[float] | None, secs: float) -> None:
        v = values[0] if values else None
        if state == "complete":
            self._offer(v)
        now = time.monotonic()
        if (
            self._sweep_best is not None
            and not self.quiet
            and now - self._read_at >= self.REFRESH_EVERY
        ):
            # the best of the whole sweep, other agents' trials included (read at most
            # every REFRESH_EVERY seconds: it reads every trial of the sweep)
            self._read_at = now
            try:
                self._offer(self._sweep_best())
            except RuntrackError as exc:  # a display detail: never stop the agent for it
                log.debug("runtrack: could not read the sweep's best: %s", exc)
        shown = "" if v is None else f" {self.metric}={v:.6g}"
        best = "" if self.best is None else f" (best {self.best:.6g})"
        line = f"trial {t.number}: {state}{shown}{best} in {secs:.1f} s"
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=line)
        else:
            self.note(line)

    def note(self, text: str) -> None:
        """A line on stderr (above the bar on a terminal), unless quiet."""
        if self._bar is not None:
            self._bar.console.print(f"runtrack: {text}")
        elif not self.quiet:
            print(f"runtrack: {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def check_max_failures(max_failures: object) -> int:
    if (
        isinstance(max_failures, bool)
        or not isinstance(max_failures, int)
        or not 0 <= max_failures <= 2**31
    ):
        raise ValidationError(
            f"max_failures {max_failures!r} must be an integer >= 0 (0: never give up)"
        )
    return max_failures


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[-1] if lines else text.strip()
    return line if len(line) <= 300 else line[:297] + "..."


def _loop(
    store: TrackingStore,
    sweep_id: str,
    count: int | None,
    quiet: bool,
    one: Callable[[SweepTrial, Mapping[str, Any]], Outcome],
    max_failures: int = MAX_FAILURES,
) -> AgentResult:
    from ..client._init import _host, _user

    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValidationError(f"count {count!r} must be a positive integer")
    check_max_failures(max_failures)
    from ..settings import load

    sweep = store.get_sweep(sweep_id)
    spec = sweep.spec.to_dict()
    result = AgentResult(sweep_id)

    def sweep_best() -> float | None:
        best = store.get_sweep(sweep_id).best
        return None if best is None else best.value

    quiet = quiet or load().quiet
    progress = _Progress(sweep_id, count, sweep.metric, sweep.goal, quiet, sweep_best)
    user, host = _user(), _host()
    waited = False
    failed_in_a_row: list[str] = []  # this agent's last trials' errors, while all crashed
    try:
        while count is None or result.count < count:
            trial = store.sweep_ask(sweep_id, user=user, host=host)
            if trial is None:
                current = store.get_sweep(sweep_id)  # a read settles dead agents' trials
                if _retry_may_come(current):
                    # the budget is handed out, but a trial still running elsewhere
                    # would be run again if it failed: wait for it rather than leave
                    # its retry to no one
                    if not waited:
                        progress.note(
                            f"waiting for {current.counts.get('running', 0)} running trial(s) "
                            "of other agents (one that fails is run again)"
                        )
                    waited = True
                    time.sleep(WAIT_EVERY)
                    continue
                reason = current.stop_reason or "sweep over"
                if current.status == "stopped":  # by a person: say so, with their reason
                    reason = f"the sweep was stopped ({reason})"
                result.stopped_because = reason
                break
            waited = False
            t0 = time.monotonic()
            state, values, crash = one(trial, spec)
            progress.trial(trial, state, values, time.monotonic() - t0)
            result.trials.append(
                {"number": trial.number, "run_id": trial.run_id, "state": state, "values": values}
            )
            # only a failed trial counts: a pruned one ends its process with an error on
            # purpose (raise TrialPruned) and is the pruner at work, not a broken script
            if crash is not None and state == "failed":
                failed_in_a_row = [*failed_in_a_row, crash]
            else:
                failed_in_a_row = []
            if max_failures and len(failed_in_a_row) >= max_failures:
                result.stopped_because = f"{len(failed_in_a_row)} trials in a row failed"
                raise TrialsFailingError(
                    f"the agent stopped: its last {len(failed_in_a_row)} trials of sweep "
                    f"{sweep_id} all failed; the last one: {_last_line(failed_in_a_row[-1])}. "
                    "Fix the trial code and start the agent again (the sweep goes on; "
                    "`runtrack sweep show` lists the failed trials, and max_failures=0 "
                    "(--max-failures 0) never gives up)",
                    sweep_id=sweep_id,
                    failures=len(failed_in_a_row),
                    last_error=failed_in_a_row[-1],
                )
        else:
            plural = "" if count == 1 else "s"
            result.stopped_because = f"count of {count} trial{plural} reached"
    except KeyboardInterrupt:  # the trial it ran is recorded failed ("interrupted")
        result.stopped_because = "interrupted"
        result.interrupted = True
    finally:
        progress.close()
    return result


def _retry_may_come(sweep: Sweep) -> bool:
    """The budget is handed out while trials run, and a failed one would be retried."""
    spec = sweep.spec
    return (
        sweep.status == "running"
        and int(spec.get("retries", 0)) > 0
        and sweep.counts.get("running", 0) > 0
        and sweep.stop_reason == spec_mod.trials_budget_reason(spec)
    )


def _tell(
    store: TrackingStore,
    sweep_id: str,
    run_id: str,
    state: str,
    values: list[float] | None = None,
    error: str | None = None,
) -> tuple[str, list[float] | None]:
    """Tell the store; the outcome it recorded (a trial the run already told, e.g. pruned
    from inside the child, keeps that outcome)."""
    try:
        t = store.sweep_tell(sweep_id, run_id, state=state, values=values, error=error)
    except ConflictError:
        got = [x for x in store.sweep_trials(sweep_id) if x.run_id == run_id]
        if not got:
            raise
        t = got[0]
    return t.state, None if t.values is None else list(t.values)


# -- a Python function per trial ------------------------------------------------------------
def run_function_trials(
    store: TrackingStore,
    sweep_id: str,
    fn: Callable[[Run], Any],
    *,
    count: int | None = None,
    quiet: bool = False,
    max_failures: int = MAX_FAILURES,
) -> AgentResult:
    """Call ``fn(run)`` once per trial. A trial whose function raises (or neither returns
    nor logs the objective) is recorded failed and the next one starts, unless
    ``max_failures`` trials in a row have failed so: then ``TrialsFailingError``."""
    from ..client._init import init
    from ..client._trial import attach, end_pruned
    from .returns import ReturnValueError, objective_values

    def one(trial: SweepTrial, spec: Mapping[str, Any]) -> Outcome:
        assert trial.run_id is not None
        names = spec_mod.objective_names(spec)
        run = init(resume=trial.run_id)
        attach(run, sweep_id, store)
        try:
            returned = fn(run)
        except TrialPruned:
            end_pruned(run)
            return (*_tell(store, sweep_id, run.id, "pruned"), None)
        except KeyboardInterrupt:
            run.finish("killed", "interrupted (KeyboardInterrupt)")
            _tell(store, sweep_id, run.id, "failed", error="interrupted")
            raise
        except SystemExit as exc:  # the process is ending: record why, then let it end
            why = f"the trial function called sys.exit({exc.code!r})"
            run.finish("failed", why)
            _tell(store, sweep_id, run.id, "failed", error=why)
            raise
        except Exception as exc:  # the trial failed; the sweep goes on
            text = traceback.format_exc()
            run.finish("failed", text)
            log.warning("runtrack: trial %d failed: %s: %s", trial.number, type(exc).__name__, exc)
            return (*_tell(store, sweep_id, run.id, "failed", error=text), text)
        try:
            values = objective_values(returned, names, lambda: run.summary, who="fn")
        except (ReturnValueError, ValueError) as exc:
            why = str(exc)
            run.finish("failed", why)
            log.warning("runtrack: trial %d failed: %s", trial.number, why)
            return (*_tell(store, sweep_id, run.id, "failed", error=why), why)
        if run.status == "running":
            missing = {n: v for n, v in zip(names, values, strict=True) if n not in run.summary}
            if missing:
                run.log(missing)  # a returned objective is recorded on the run too
        run.finish()
        return (*_tell(store, sweep_id, run.id, "complete", values), None)

    from ..client._state import STATE

    with STATE.lock:
        owner = STATE.shared_provenance is None
        if owner:  # the trials share the first one's git/environment capture (_init)
            STATE.shared_provenance = {}
    try:
        result = _loop(store, sweep_id, count, quiet, one, max_failures)
        if result.interrupted:
            raise KeyboardInterrupt
        return result
    finally:
        if owner:
            with STATE.lock:
                STATE.shared_provenance = None


# -- a command per trial ----------------------------------------------------------------------
def run_command_trials(
    store: TrackingStore,
    sweep_id: str,
    *,
    command: Sequence[str] | None = None,
    count: int | None = None,
    quiet: bool = False,
    heartbeat_every: float | None = None,
    child_output_to_stderr: bool = False,
    max_failures: int = MAX_FAILURES,
) -> AgentResult:
    """Run the sweep's ``command`` (or ``command``) once per trial. The agent beats for
    the trial's run every ``heartbeat_every`` seconds (default: the run heartbeat setting,
    ``RUNTRACK_HEARTBEAT_INTERVAL``) while the child starts and works. With
    ``child_output_to_stderr`` the trials' standard output goes to the agent's standard
    error (``runtrack agent --json`` keeps standard output for its JSON). A command that
    cannot be started (no such program, not executable) fails its trial and stops the
    agent with a ``ValidationError``: every other trial would fail the same way. After
    ``max_failures`` trials in a row that exit non-zero or log no objective, the agent
    stops with ``TrialsFailingError`` (0: never)."""
    check_max_failures(max_failures)
    if heartbeat_every is None:
        from ..settings import load

        heartbeat_every = load().beat_every
    sweep = store.get_sweep(sweep_id)
    spec = sweep.spec.to_dict()
    cmd = list(command) if command else spec.get("command")
    if not cmd:
        raise ValidationError(
            f"sweep {sweep_id} has no command: add 'command' to its spec, or give one "
            "after -- (runtrack agent SWEEP -- python train.py --lr ${lr})"
        )
    check_command(cmd, spec)
    names = spec_mod.objective_names(spec)

    def one(trial: SweepTrial, spec: Mapping[str, Any]) -> Outcome:
        assert trial.run_id is not None
        try:
            argv = render_command(cmd, spec, trial)
        except RuntrackError as exc:  # a value of this trial cannot be written so
            why = f"cannot write the command line: {exc.message}"
            return (*_tell(store, sweep_id, trial.run_id, "failed", error=why), why)
        env = dict(os.environ)
        env.update(
            {
                "RUNTRACK_SWEEP_ID": sweep_id,
                "RUNTRACK_TRIAL_RUN": trial.run_id,
                "RUNTRACK_TRIAL_NUMBER": str(trial.number),
                "RUNTRACK_PARAMS": json.dumps(
                    spec_mod.nest({**spec_mod.fixed_values(spec), **dict(trial.params)})
                ),
            }
        )
        beat = _Beat(store, trial.run_id, heartbeat_every)
        try:
            try:
                proc = subprocess.Popen(
                    argv,
                    env=env,
                    stdout=2 if child_output_to_stderr else None,
                    stderr=subprocess.PIPE,
                    preexec_fn=_die_with_parent if os.name == "posix" else None,
                )
            except OSError as exc:
                why = f"cannot start {argv[0]!r}: {exc.strerror or exc}"
                _tell(store, sweep_id, trial.run_id, "failed", error=why)
                raise ValidationError(
                    f"{why}; trial {trial.number} is recorded failed and the agent stops. "
                    "Fix the command (the spec's, or the one after --) and start it again"
                ) from None
            tail = _StderrTail(proc.stderr)
            try:
                rc = proc.wait()
            except KeyboardInterrupt:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:  # it would not end its run in time
                    proc.kill()
                    proc.wait()
                _tell(store, sweep_id, trial.run_id, "failed", error="agent interrupted")
                raise
            finally:
                tail.finish()
        finally:
            beat.stop()
        rec = store.get_run(trial.run_id)
        if rc == 0:
            got = [rec.summary.get(n) for n in names]
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in got):
                told = _tell(store, sweep_id, trial.run_id, "complete", [float(v) for v in got])  # type: ignore[arg-type]
                return (*told, None)
            why = (
                f"the command exited 0 but the run logged no {', '.join(names)} "
                "(log it with run.log inside runtrack.init's run)"
            )
            return (*_tell(store, sweep_id, trial.run_id, "failed", error=why), why)
        last = tail.last_line()
        why = rec.error or _exit_text(rc) + (f"; last line of its stderr: {last}" if last else "")
        return (*_tell(store, sweep_id, trial.run_id, "failed", error=why), why)

    return _loop(store, sweep_id, count, quiet, one, max_failures)
