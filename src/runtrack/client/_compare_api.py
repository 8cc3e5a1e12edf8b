"""``Api.compare``: a mixin over ``Api`` (the work lives in :mod:`runtrack.compare`, which
imports numpy and scipy; nothing heavy is imported until ``compare`` is called)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..compare import Comparison
    from .api import RunView


class CompareMethods:
    """Mixed into ``Api``."""

    def compare(
        self,
        runs: Sequence[str | RunView],
        metric: str | None = None,
        *,
        prediction_set: str | None = None,
        alpha: float = 0.05,
        secondary: Sequence[str] | str = (),
        group_repeats: bool = True,
        n_boot: int = 2000,
        seed: int = 0,
    ) -> Comparison:
        """Compare two or more runs (ids or ``RunView``s) on ``metric``.

        The metric is computed on each run's prediction set (``run.log_predictions``;
        ``prediction_set`` names it, default: the one all runs share) with a bootstrap
        interval; runs on the same evaluation set get paired tests (DeLong for ``auc``,
        McNemar for ``accuracy``, paired bootstrap otherwise), Holm-adjusted, and a
        verdict per pair. Without prediction sets ``metric`` is read from the runs'
        summaries (``"val_loss:min"`` says which way is better). Runs repeating one
        config over seeds (or sharing a ``group``) are also summarised as groups
        (``group_repeats``). ``secondary`` (``["latency_ms:min", "model_size:min",
        "ece:min", "worst_slice:max"]``) chooses among the runs not significantly worse
        than the best. Returns a :class:`runtrack.compare.Comparison` (``to_json()``,
        ``to_markdown()``, ``write_html(path)``). Raises ``ValidationError`` for bad
        input, ``RunNotFoundError`` for an unknown run.
        """
        from ..compare import compare_runs

        return compare_runs(
            self,
            runs,
            metric,
            prediction_set=prediction_set,
            alpha=alpha,
            secondary=secondary,
            group_repeats=group_repeats,
            n_boot=n_boot,
            seed=seed,
        )
