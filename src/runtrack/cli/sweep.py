"""``runtrack sweep`` (create, show, ls, stop) and ``runtrack agent``."""

from __future__ import annotations

import sys
from typing import Any

import click

from ._common import emit_json, fmt_value, handle_errors, json_option, local_time, open_api
from ._registry import add_row, console, table

_STATE_STYLE = {
    "complete": "green",
    "pruned": "yellow",
    "failed": "red",
    "running": "cyan",
    "waiting": "dim",
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def sweep() -> None:
    """Hyperparameter sweeps: Bayesian search with pruning, each trial a tracked run.

    Create one from a YAML spec, then run `runtrack agent SWEEP_ID` on any number of
    machines. See docs/sweeps.md for the spec. Every subcommand takes --json.
    """


def _state_cell(state: str) -> Any:
    from rich.text import Text

    return Text(state, style=_STATE_STYLE.get(state, ""))


def _sweep_json(s: Any) -> dict[str, Any]:
    from ..protocol import sweep_to_wire

    d = sweep_to_wire(s)
    d["created_at"] = s.created_at.isoformat()
    d["ended_at"] = None if s.ended_at is None else s.ended_at.isoformat()
    for t in [d["best"], *d["pareto"]]:
        if t is not None:
            _trial_times(t)
    return d


def _trial_times(t: dict[str, Any]) -> dict[str, Any]:
    from datetime import UTC, datetime

    for k in ("started_at", "ended_at"):
        if t.get(k) is not None:
            t[k] = datetime.fromtimestamp(t[k], UTC).isoformat()
    return t


@sweep.command("create")
@click.argument("spec_file", type=click.Path(dir_okay=False))
@click.option("--project", "-p", metavar="PROJECT", help="Project (default: the settings').")
@json_option
@handle_errors
def create(spec_file: str, project: str | None, as_json: bool) -> None:
    """Create a sweep from the YAML spec in SPEC_FILE and print its id."""
    api = open_api()
    view = api.create_sweep(spec_file, project=project)
    if as_json:
        emit_json(_sweep_json(view.record))
        return
    click.echo(view.id)
    spec = view.spec
    budget = spec["budget"]
    what = ", ".join(f"{k} {v}" for k, v in budget.items()) or "no budget (agents' --count)"
    click.echo(
        f"sweep {view.name} in project {view.project}: method {spec['method']}, "
        f"{' / '.join(m['goal'] + ' ' + m['name'] for m in spec['metrics'])}, {what}, "
        f"seed {spec['seed']}",
        err=True,
    )
    click.echo(f"run trials with: runtrack agent {view.id}", err=True)


@sweep.command("ls")
@click.argument("project", required=False)
@json_option
@handle_errors
def ls(project: str | None, as_json: bool) -> None:
    """List sweeps (of PROJECT, or every project), newest first."""
    api = open_api()
    items = api.sweeps(project)
    if as_json:
        emit_json([_sweep_json(v.record) for v in items])
        return
    if not items:
        console().print("no sweeps (create one with `runtrack sweep create spec.yaml`)")
        return
    t = table("id", "name", "project", "status", "trials", "best", "created")
    for v in items:
        r = v.record
        best = "-" if r.best is None else f"{r.metric}={fmt_value(r.best.value)}"
        if r.pareto:
            best = f"{len(r.pareto)} on the Pareto front"
        add_row(
            t,
            r.id,
            r.name,
            r.project,
            r.status,
            _counts_text(r),
            best,
            local_time(r.created_at),
        )
    console().print(t)


def _counts_text(r: Any) -> str:
    order = ("complete", "pruned", "failed", "running", "waiting", "warm")
    return ", ".join(f"{r.counts[k]} {k}" for k in order if r.counts.get(k)) or "0"


@sweep.command("show")
@click.argument("sweep_id")
@click.option(
    "--importance",
    type=click.Choice(["ped_anova", "fanova", "none"]),
    default="ped_anova",
    show_default=True,
    help="Parameter importance method.",
)
@click.option("--trials/--no-trials", default=True, help="List the trials (the 20 best).")
@json_option
@handle_errors
def show(sweep_id: str, importance: str, trials: bool, as_json: bool) -> None:
    """Show a sweep: status, best trial (or Pareto front), parameter importance, trials."""
    from ..sweeps.analysis import trial_json

    api = open_api()
    view = api.sweep(sweep_id)
    analysis = view.analysis(importance=importance)
    items = view.trials()
    r = view.record
    if as_json:
        out = _sweep_json(r)
        out["analysis"] = analysis
        out["trials"] = [trial_json(t) for t in items]
        emit_json(out)
        return
    con = console()
    spec = view.spec
    con.print(f"[bold]sweep {r.name}[/bold] ({r.id}) in project {r.project}")
    con.print(
        f"status {r.status}" + (f" ({r.stop_reason})" if r.stop_reason else "") + f"; trials: "
        f"{_counts_text(r)}; budget {_budget_text(spec['budget'])}; method {spec['method']}, "
        f"pruner {spec['pruner']['type']}, seed {spec['seed']}"
    )
    con.print(f"created {local_time(r.created_at)} by {r.user}")
    names = [m["name"] for m in spec["metrics"]]
    if r.best is not None:
        con.print(
            f"best: trial {r.best.number} (run {r.best.run_id}) "
            f"{names[0]}={fmt_value(r.best.value)} ({spec['metrics'][0]['goal']})"
        )
        for k, v in r.best.params.items():
            con.print(f"  {k} = {fmt_value(v)}")
        _print_history(con, analysis["history"], names[0])
    elif r.pareto:
        con.print(f"Pareto front: {len(r.pareto)} trial(s)")
        t = table("trial", "run", *names, "params")
        for p in r.pareto:
            add_row(
                t,
                str(p.number),
                p.run_id or "-",
                *[fmt_value(v) for v in (p.values or ())],
                ", ".join(f"{k}={fmt_value(v)}" for k, v in p.params.items()),
            )
        con.print(t)
    else:
        con.print("best: no complete trial yet")
    imp = analysis.get("importance")
    if imp:
        con.print(f"parameter importance ({analysis['importance_method']}):")
        for k, v in sorted(imp.items(), key=lambda kv: -kv[1]):
            bar = "#" * round(v * 30)
            con.print(f"  {k:<24} {v:6.1%} {bar}")
    if trials and items:
        goal = spec["metrics"][0]["goal"]
        done = [t for t in items if t.values]
        rest = [t for t in items if not t.values]
        done.sort(key=lambda t: t.values[0] if goal == "minimize" else -t.values[0])
        shown = (done + rest)[:20]
        params = [n for n, p in spec["parameters"].items() if "value" not in p]
        t = table("trial", "state", *names, *params, "sampler", "run")
        for tr in shown:
            vals = list(tr.values or ())
            add_row(
                t,
                str(tr.number) + (" (warm)" if tr.warm else ""),
                _state_cell(tr.state),
                *[fmt_value(vals[i]) if i < len(vals) else "-" for i in range(len(names))],
                *[fmt_value(tr.params.get(p)) if p in tr.params else "-" for p in params],
                tr.sampler or "-",
                tr.run_id or "-",
            )
        con.print(t)
        if len(items) > len(shown):
            con.print(f"... {len(items) - len(shown)} more (--json lists every trial)")


def _budget_text(budget: dict[str, Any]) -> str:
    """``{"trials": 50, "seconds": 3600, "patience": 10}`` as people read it."""
    parts = []
    if budget.get("trials") is not None:
        parts.append(f"{budget['trials']} trials")
    if budget.get("seconds") is not None:
        parts.append(f"{fmt_value(budget['seconds'])} s")
    if budget.get("patience") is not None:
        parts.append(f"stop after {budget['patience']} trials without improvement")
    return ", ".join(parts) or "none"


def _print_history(con: Any, history: list[dict[str, Any]], metric: str) -> None:
    """One line of the optimisation history: the best value so far after each finished
    trial as a sparkline, from the first value to the best."""
    from itertools import pairwise

    from .show import sparkline

    bests = [h["best"] for h in history if h["best"] is not None]
    if len(bests) < 2:
        return
    improved = sum(1 for a, b in pairwise(bests) if b != a)
    con.print(
        f"history, best {metric} so far over {len(history)} finished trials: "
        f"{sparkline(bests)} {fmt_value(bests[0])} -> {fmt_value(bests[-1])} "
        f"({improved} improvement{'s' if improved != 1 else ''})",
        highlight=False,
    )


@sweep.command("stop")
@click.argument("sweep_id")
@click.option("--reason", help="Why (recorded on the sweep).")
@json_option
@handle_errors
def stop(sweep_id: str, reason: str | None, as_json: bool) -> None:
    """Hand out no more trials (running ones finish and are recorded)."""
    api = open_api()
    view = api.sweep(sweep_id).stop(reason)
    if as_json:
        emit_json(_sweep_json(view.record))
        return
    click.echo(f"sweep {view.id} {view.status}: {view.record.stop_reason}")


@sweep.command("resume")
@click.argument("sweep_id")
@click.option("--trials", type=click.IntRange(min=1), help="N more trials than the sweep has used.")
@click.option(
    "--seconds", type=click.FloatRange(min=0, min_open=True), help="S more seconds from now."
)
@json_option
@handle_errors
def resume(sweep_id: str, trials: int | None, seconds: float | None, as_json: bool) -> None:
    """Hand out trials again: a stopped or finished sweep runs again (then start agents).

    A sweep whose budget is spent needs --trials or --seconds; one that stopped for lack
    of improvement drops its patience rule."""
    api = open_api()
    view = api.sweep(sweep_id).resume(trials=trials, seconds=seconds)
    if as_json:
        emit_json(_sweep_json(view.record))
        return
    r = view.record
    click.echo(
        f"sweep {view.id} {r.status}: budget {_budget_text(view.spec['budget'])}, "
        f"{r.budget_used} trial(s) used\nrun trials with: runtrack agent {view.id}"
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("sweep_id")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--count", "-n", type=click.IntRange(min=1), help="Run at most N trials.")
@click.option(
    "--max-failures",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Stop after this many trials in a row failed (crashed or logged no objective); 0: never.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@json_option
@handle_errors
def agent(
    sweep_id: str,
    command: tuple[str, ...],
    count: int | None,
    max_failures: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run trials of sweep SWEEP_ID until it is over (or --count trials).

    Each trial runs the spec's command (or COMMAND, given after --) with the trial's
    values substituted: ${lr} for one parameter, ${args} for --name=value of all of them,
    ${args_no_hyphens} for name=value (Hydra). The trial's process records into the
    trial's run through runtrack.init(). Start agents on as many machines as you like
    (embedded store, or RUNTRACK_URL for a team server).
    """
    from ..sweeps.agent import run_command_trials

    api = open_api()
    result = run_command_trials(
        api.store,
        sweep_id,
        command=list(command) or None,
        count=count,
        quiet=quiet or as_json,
        child_output_to_stderr=as_json,
        max_failures=max_failures,
    )
    if as_json:
        emit_json(result.to_json())
        if result.interrupted:
            sys.exit(130)
        return
    if result.interrupted:
        click.echo(
            f"agent interrupted: {result.count} trial(s) of sweep {sweep_id} run to their end; "
            "the one it was running is recorded failed",
            err=True,
        )
        sys.exit(130)
    view = api.sweep(sweep_id)
    best = view.best_trial
    click.echo(
        f"agent ran {result.count} trial(s) of sweep {sweep_id}: {result.stopped_because}",
        err=True,
    )
    if best is not None:
        click.echo(
            f"best so far: trial {best.number} {view.record.metric}={fmt_value(best.value)} "
            f"(run {best.run_id})",
            err=True,
        )
    sys.stdout.flush()
