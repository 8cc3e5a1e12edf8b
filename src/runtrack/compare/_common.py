"""What the modules of :mod:`runtrack.compare` share: the runs being compared, metric
specifications (``name`` or ``name:min``/``name:max``), JSON values and number formats.

Every renderer (terminal table, Markdown, HTML) formats numbers with :func:`fmt_num` and
:func:`fmt_p`, so one value reads the same everywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError

if TYPE_CHECKING:
    from ..client.api import RunView

__all__ = [
    "Criterion",
    "RunInfo",
    "fmt_ci",
    "fmt_num",
    "fmt_p",
    "jsonable",
    "parse_criterion",
    "parse_metric",
]

_SPEC = re.compile(r"^(?P<name>[^:]+?)(?::(?P<goal>min|max))?$")
# summary metrics whose name says lower is better, when the user did not say
_LOWER_HINTS = ("loss", "error", "err", "rmse", "mse", "mae", "latency", "time", "perplexity")


@dataclass(frozen=True)
class RunInfo:
    """A run in a comparison: its id, display label (the name, or ``name (id)`` when two
    runs share a name) and its recorded view."""

    id: str
    name: str
    label: str
    view: RunView

    def to_json(self) -> dict[str, Any]:
        r = self.view
        return {
            "id": self.id,
            "name": self.name,
            "label": self.label,
            "project": r.project,
            "status": r.status,
            "group": r.group,
        }


@dataclass(frozen=True)
class Criterion:
    """A secondary criterion: ``name`` and whether a lower or higher value is preferred."""

    name: str
    goal: str  # "min" | "max"

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.goal}"


def _split(spec: str, what: str) -> tuple[str, str | None]:
    if not isinstance(spec, str):
        raise ValidationError(f"{what} must be a string like 'auc' or 'latency_ms:min'")
    m = _SPEC.match(spec.strip())
    if m is None or not m.group("name").strip():
        raise ValidationError(
            f"{what} {spec!r} must be NAME or NAME:min or NAME:max (e.g. 'latency_ms:min')"
        )
    return m.group("name").strip(), m.group("goal")


def parse_metric(spec: str) -> tuple[str, bool | None]:
    """(name, higher_is_better or None when not said) from ``auc`` / ``val_loss:min``."""
    name, goal = _split(spec, "metric")
    return name, None if goal is None else goal == "max"


def guess_higher_is_better(name: str) -> bool:
    """For a summary metric nobody gave a direction: names of losses, errors and times
    are lower-is-better, anything else higher-is-better."""
    low = name.lower()
    return not any(h in low for h in _LOWER_HINTS)


def parse_criterion(spec: str, primary_higher_is_better: bool) -> Criterion:
    """A secondary criterion from ``latency_ms:min``. Without a goal: a registered metric's
    own direction; ``worst_slice`` follows the primary metric; sizes and durations are
    minimised; other names are guessed from their name."""
    from ..stats import METRICS

    name, goal = _split(spec, "secondary criterion")
    if goal is None:
        if name in METRICS:
            goal = "max" if METRICS[name].higher_is_better else "min"
        elif name == "worst_slice":
            goal = "max" if primary_higher_is_better else "min"
        elif name in ("model_size", "duration"):
            goal = "min"
        else:
            goal = "max" if guess_higher_is_better(name) else "min"
    return Criterion(name, goal)


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, tuples as lists, NaN/inf as None."""
    if hasattr(value, "to_json") and callable(value.to_json):
        return jsonable(value.to_json())
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else list(value)
        return [jsonable(v) for v in items]
    return str(value)


def fmt_num(x: Any, digits: int = 4) -> str:
    """A number for people: ``digits`` significant digits, ``-`` when absent."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if math.isnan(x):
            return "-"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-4):
            return f"{x:.{digits - 1}e}"
        text = f"{x:.{digits}g}"
        if "e" in text:  # large values %g wants in exponent form: plain is clearer
            text = f"{x:.{max(0, digits - 1 - math.floor(math.log10(abs(x))))}f}"
        return text
    return str(x)


def fmt_ci(ci: Sequence[Any] | None, digits: int = 4) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "-"
    return f"[{fmt_num(ci[0], digits)}, {fmt_num(ci[1], digits)}]"


def fmt_p(p: Any) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.2g}"


def fmt_bytes(n: Any) -> str:
    if not isinstance(n, int | float) or isinstance(n, bool):
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def fmt_value(v: Any) -> str:
    """A config/provenance value for people (JSON-ish, short)."""
    import json

    if v is None:
        return "-"
    if isinstance(v, float):
        return fmt_num(v, 6)
    if isinstance(v, str):
        return v
    try:
        return json.dumps(jsonable(v), ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return str(v)
