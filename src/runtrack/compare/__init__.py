"""Compare runs: what differs between them, their metrics with confidence intervals,
paired significance tests on a shared evaluation set, verdicts in plain words and a
recommendation (``Api.compare``, ``runtrack compare``).

Needs numpy and scipy (and matplotlib for the HTML report): the ``compare`` extra.
``import runtrack`` never imports this package.

Modules, one concept each:

* :mod:`~runtrack.compare.engine`: ``compare_runs``, the pipeline, and the pairs.
* :mod:`~runtrack.compare.pairing`: prediction sets, evaluation sets, repeat groups.
* :mod:`~runtrack.compare.measures`: per-run metric with its interval; secondary criteria.
* :mod:`~runtrack.compare.recommend`: the recommendation and its sentence.
* :mod:`~runtrack.compare.diffs`: config, code, data, environment, hardware, seeds, size.
* :mod:`~runtrack.compare.report`: ``Comparison``, its JSON, the terminal table, Markdown.
* :mod:`~runtrack.compare.html`, :mod:`~runtrack.compare.plots`: the HTML report.
"""

from __future__ import annotations

from .engine import Pair, compare_runs
from .report import Comparison

__all__ = ["Comparison", "Pair", "compare_runs"]
