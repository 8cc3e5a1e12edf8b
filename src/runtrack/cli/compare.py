"""``runtrack compare RUN RUN [RUN...]``: which run is better, is the difference real,
and what differs between them."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..errors import RuntrackError
from ._common import clean_json, emit_json, open_api, resolve_run

F = TypeVar("F", bound=Callable[..., Any])


def _one_line_errors(fn: F) -> F:
    """A runtrack error -> one line on stderr (a JSON object with --json), exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RuntrackError as exc:
            if kwargs.get("as_json"):
                click.echo(json.dumps({"error": clean_json(exc.to_dict())}))
            else:
                message = " ".join(str(exc.message).split())
                click.echo(f"error: {message}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@click.command()
@click.argument("runs", nargs=-1, metavar="RUN RUN [RUN...]")
@click.option(
    "--metric",
    "-m",
    metavar="NAME",
    help="Metric to compare: auc, accuracy, logloss, brier, ece, f1, rmse, mae, r2 on "
    "the prediction set, or any summary metric (NAME:min / NAME:max says which way "
    "is better). Default: auc (binary), accuracy (multiclass), rmse (regression).",
)
@click.option(
    "--set",
    "prediction_set",
    metavar="NAME",
    help="Prediction set (run.log_predictions name). Default: the one all runs share.",
)
@click.option(
    "--alpha",
    type=float,
    default=0.05,
    show_default=True,
    help="Significance level (intervals are 1 - alpha).",
)
@click.option(
    "--secondary",
    metavar="NAME:GOAL,...",
    multiple=True,
    help="Criteria that choose among the runs not significantly worse than the "
    "best, in order: summary metrics (latency_ms:min), model_size:min, duration:min, "
    "metrics from the predictions (ece:min) and worst_slice:max.",
)
@click.option(
    "--no-repeats",
    is_flag=True,
    help="Do not group runs of the same config (different seeds) as repeats.",
)
@click.option("--n-boot", type=int, default=2000, show_default=True, help="Bootstrap resamples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print Markdown.")
@click.option(
    "--html",
    "html_path",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Also write a self-contained HTML report with plots to FILE.",
)
@_one_line_errors
def compare(
    runs: tuple[str, ...],
    metric: str | None,
    prediction_set: str | None,
    alpha: float,
    secondary: tuple[str, ...],
    no_repeats: bool,
    n_boot: int,
    seed: int,
    as_json: bool,
    as_markdown: bool,
    html_path: str | None,
) -> None:
    """Compare runs (ids, unique id prefixes or 'latest'): what differs (config, code, data,
    environment, hardware, seeds, duration, model size), each run's metric with a bootstrap
    confidence interval, paired tests for runs evaluated on the same examples (DeLong for
    AUC, McNemar for accuracy, paired bootstrap otherwise; Holm-adjusted), repeats over
    seeds, a verdict per pair and a recommendation.

    \b
    runtrack compare 3kf9 7qa2 --metric auc --secondary latency_ms:min,model_size:min
    runtrack compare 3kf9 7qa2 x81c --json
    runtrack compare 3kf9 7qa2 --html report.html
    """
    from ..errors import ValidationError

    if as_json and as_markdown:
        raise ValidationError("give one of --json and --markdown")
    if len(runs) < 2:
        raise ValidationError(f"compare needs at least 2 runs; got {len(runs)}")
    api = open_api()
    views = [resolve_run(api, ref) for ref in runs]
    criteria = [s.strip() for item in secondary for s in item.split(",") if s.strip()]
    result = api.compare(
        views,
        metric,
        prediction_set=prediction_set,
        alpha=alpha,
        secondary=criteria,
        group_repeats=not no_repeats,
        n_boot=n_boot,
        seed=seed,
    )
    if html_path is not None:
        path = result.write_html(Path(html_path))
        click.echo(f"wrote {path}", err=True)
    if as_json:
        emit_json(result.to_json())
    elif as_markdown:
        click.echo(result.to_markdown(), nl=False)
    else:
        result.print_table()
