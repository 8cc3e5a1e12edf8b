"""``runtrack reproduce RUN`` and ``runtrack rerun RUN --set key=value``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ._common import emit_json, fmt_value, handle_errors, json_option, open_api, resolve_run

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED = 1
EXIT_DIFFERS = 3


def _shared_options(fn: F) -> F:
    for option in reversed(
        [
            click.option(
                "--tolerance",
                "tolerance",
                multiple=True,
                metavar="TOL",
                help="Absolute tolerance for the metrics: a number (default 0: exactly equal) "
                "or KEY=TOL pairs, comma-separated, KEY may be a pattern (val/*=1e-6). "
                "Repeatable.",
            ),
            click.option(
                "--env",
                "env",
                type=click.Choice(["current", "new"]),
                default="new",
                show_default=True,
                envvar="RUNTRACK_REPRODUCE_ENV",
                help="new: a fresh venv with the recorded package versions; current: this "
                "Python and its packages (also RUNTRACK_REPRODUCE_ENV).",
            ),
            click.option(
                "--workdir",
                type=click.Path(file_okay=False),
                default=None,
                help="Where to put the worktree (DIR/code) and the venv (DIR/venv); must "
                "be empty. Default: a temporary directory.",
            ),
            click.option("--keep", is_flag=True, help="Keep the worktree and venv afterwards."),
            click.option(
                "--repo",
                type=click.Path(file_okay=False, exists=True),
                default=None,
                help="The local repository holding the run's commit (default: the "
                "recorded one, else the current directory's).",
            ),
            click.option(
                "--timeout",
                type=float,
                default=None,
                metavar="SECONDS",
                help="Kill the command after this long (verdict failed).",
            ),
            json_option,
        ]
    ):
        fn = option(fn)
    return fn


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--verify", is_flag=True, help="Compare every metric with the original's; give a verdict."
)
@_shared_options
@handle_errors
def reproduce(
    run_ref: str,
    verify: bool,
    tolerance: tuple[str, ...],
    env: str,
    workdir: str | None,
    keep: bool,
    repo: str | None,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Run RUN again from what was recorded: its commit checked out in a git worktree
    with the stored uncommitted diff applied, its datasets and artifacts checked by
    content hash (a changed dataset is named, and nothing runs), the same command line,
    config, seeds and PYTHONHASHSEED, in this Python or a fresh venv (--env new). The new
    run is tagged reproduction_of=RUN.

    With --verify every summary metric is compared within --tolerance: the verdict is
    reproduced, differs (which metrics, by how much) or failed (why). Exit code: 0
    reproduced (or ran, without --verify), 3 differs, 1 failed.
    """
    _go(run_ref, None, verify, tolerance, env, workdir, keep, repo, timeout, as_json)


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="A config value to change (dotted keys for nested config). Repeatable.",
)
@click.option("--verify", is_flag=True, help="Also compare the metrics (off by default).")
@_shared_options
@handle_errors
def rerun(
    run_ref: str,
    sets: tuple[str, ...],
    verify: bool,
    tolerance: tuple[str, ...],
    env: str,
    workdir: str | None,
    keep: bool,
    repo: str | None,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Run RUN again as `reproduce` does, with config values changed by --set. A Hydra
    run gets them as overrides; an option on the recorded command line (--lr 0.1) gets
    its value replaced; any other key goes through RUNTRACK_CONFIG_OVERRIDES: argparse
    returns it for the option of that dest, and runtrack.init sets it in the config object
    the script passes. The new run is tagged rerun_of=RUN; the metrics are listed with
    their change from RUN.
    """
    from ..reproduce import parse_sets

    parsed = parse_sets(list(sets))
    _go(run_ref, parsed, verify, tolerance, env, workdir, keep, repo, timeout, as_json)


def _go(
    run_ref: str,
    sets: dict[str, str] | None,
    verify: bool,
    tolerance: tuple[str, ...],
    env: str,
    workdir: str | None,
    keep: bool,
    repo: str | None,
    timeout: float | None,
    as_json: bool,
) -> None:
    from ..reproduce import parse_tolerance, reproduce

    tol = parse_tolerance(list(tolerance))
    api = open_api()
    view = resolve_run(api, run_ref)
    reporter = _reporter(as_json)
    result = reproduce(
        api,
        view.id,
        verify_metrics=verify,
        tolerance=tol,
        env=env,
        workdir=workdir,
        keep=keep,
        repo=repo,
        sets=sets,
        timeout=timeout,
        reporter=reporter,
    )
    if as_json:
        emit_json(result)
    else:
        _print(result)
    verdict = result["verdict"]
    if verdict == "failed":
        sys.exit(EXIT_FAILED)
    if verdict == "differs":
        sys.exit(EXIT_DIFFERS)


# -- progress ---------------------------------------------------------------------------
class _Reporter:
    """Rich progress bars on a terminal (stderr); plain lines otherwise. The command's
    own output is shown unless --json."""

    def __init__(self, live: bool, show_output: bool) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.live = live
        self.show_output = show_output
        self.progress: Any = None
        self.task: Any = None
        self.total: int | None = None
        self.done = 0

    def stage(self, text: str, total: int | None = None) -> None:
        if not self.live:
            if self.show_output:
                click.echo(f"reproduce: {text}", err=True)
            return
        if self.progress is None:
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                SpinnerColumn(finished_text="[green]✓[/]"),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[count]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self.progress.start()
        self._finish_task()
        self.total = total
        self.done = 0
        self.task = self.progress.add_task(text, total=total, count=self._count())

    def _count(self) -> str:
        return "" if self.total is None else f"{self.done}/{self.total}"

    def advance(self, n: int = 1, text: str | None = None) -> None:
        if self.progress is not None and self.task is not None:
            self.done += n
            self.progress.update(self.task, advance=n, count=self._count())

    def output(self, line: str) -> None:
        if not self.show_output:
            return
        if self.progress is not None:
            self.progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(line, err=True)

    def close(self) -> None:
        if self.progress is not None:
            self._finish_task()
            self.progress.stop()
            self.progress = None

    def _finish_task(self) -> None:
        if self.task is not None:
            total = self.total or 1
            self.done = self.total or 0
            self.progress.update(self.task, total=total, completed=total, count=self._count())
            self.task = None


def _reporter(as_json: bool) -> _Reporter:
    live = sys.stderr.isatty()
    return _Reporter(live=live, show_output=not as_json)


# -- the verdict for people ---------------------------------------------------------------
_STYLE = {"reproduced": "bold green", "differs": "bold yellow", "failed": "bold red"}


def _print(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=None if sys.stdout.isatty() else 120)

    def say(text: str) -> None:
        con.print(text, markup=False, highlight=False)

    verdict = result["verdict"]
    judged = verdict in ("reproduced", "differs")
    what = "rerun of" if result["kind"] == "rerun" else "reproduction of"
    new = result.get("reproduction")
    head = f"[{_STYLE.get(verdict, 'bold')}]{verdict.upper()}[/]"
    con.print(f"{head}  {what} {result['original']}" + (f": run {new}" if new else ""))
    if result.get("reason"):
        stage = f" ({result['stage']})" if result.get("stage") else ""
        say(f"reason{stage}: {result['reason']}")
    metrics = result.get("metrics") or {}
    if metrics:
        t = Table(box=None, header_style="bold")
        cols = ["metric", "original", "new" if result["kind"] == "rerun" else "reproduced"]
        cols += ["delta", "tolerance", ""] if judged else ["change"]
        for col in cols:
            t.add_column(col, justify="left" if col == "metric" else "right")
        for key, m in metrics.items():
            delta = "-" if m["delta"] is None else f"{m['delta']:+.6g}"
            row = [key, fmt_value(m["original"]), fmt_value(m["reproduced"]), delta]
            if judged:
                row += [fmt_value(m["tolerance"]), "[green]=[/]" if m["within"] else "[red]≠[/]"]
            t.add_row(*row)
        con.print(t)
    for key, entry in ((result.get("config") or {}).get("set") or {}).items():
        say(
            f"set {key}: {fmt_value(entry.get('original'))} -> "
            f"{fmt_value(entry.get('requested'))} (via {entry.get('via')})"
        )
    inputs = result.get("inputs") or {}
    for ds in inputs.get("datasets") or []:
        if ds["status"] != "ok":
            say(f"dataset {ds['name'] or ''} {ds['path']}: {ds['status']}")
    for art in inputs.get("artifacts") or []:
        if art.get("note"):
            say(f"artifact {art['ref']}: {art['note']}")
    for failed in (result.get("environment") or {}).get("failed") or []:
        say(f"not installed: {failed['requirement']}: {failed['error']}")
    for warning in result.get("warnings") or []:
        say(f"note: {warning}")
    if verdict != "reproduced":
        for hint in result.get("hints") or []:
            say(f"hint: {hint}")
    if result.get("output_tail"):
        con.rule("last lines of the command's output")
        say(result["output_tail"])
    if result.get("workdir"):
        say(f"kept: {result['workdir']}")
