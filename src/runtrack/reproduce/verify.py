"""Comparing a reproduction with its original: every summary metric within a tolerance,
and what else differs (config, seeds, code).

A tolerance is absolute: ``|reproduced - original| <= tolerance``. The default is 0:
exactly the same float. Per key: ``--tolerance 'val/*=1e-6,test/acc=0'`` (shell-style
patterns; an exact key wins over a pattern, a later pattern over an earlier one;
``inf`` ignores a key). ``system/*`` metrics (CPU, memory) and ``audit.*`` values
(written by ``runtrack audit``, not by the training) are never compared. NaN equals NaN;
a metric only one of the two runs has is a difference.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import configdoc
from ..errors import ValidationError

__all__ = ["NOT_COMPARED", "Tolerance", "compare_config", "compare_metrics", "parse_tolerance"]

NOT_COMPARED = ("system/", "audit.")
"""Summary keys with these prefixes are not the training's results: never compared."""


@dataclass(frozen=True)
class Tolerance:
    default: float = 0.0
    keys: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    def of(self, key: str) -> float:
        exact = [t for pattern, t in self.keys if pattern == key]
        if exact:
            return exact[-1]
        matched = [t for pattern, t in self.keys if fnmatch.fnmatchcase(key, pattern)]
        return matched[-1] if matched else self.default

    def to_json(self) -> dict[str, Any]:
        return {"default": self.default, "keys": dict(self.keys)}


def parse_tolerance(specs: Sequence[str | float] | str | float | None) -> Tolerance:
    """``1e-6``, ``"1e-6"``, ``"val/*=1e-3,test/acc=0"`` or a list of them (a bare number
    sets the default). Raises ``ValidationError`` for anything else."""
    if specs is None:
        return Tolerance()
    if isinstance(specs, str | float | int):
        specs = [specs]
    default = 0.0
    keys: list[tuple[str, float]] = []
    for spec in specs:
        if isinstance(spec, int | float) and not isinstance(spec, bool):
            default = _tol(str(spec), str(spec))
            continue
        if not isinstance(spec, str):
            raise ValidationError(f"tolerance {spec!r} must be a number or key=number")
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.rpartition("=")
            if not sep:
                default = _tol(value, part)
            elif not key.strip():
                raise ValidationError(f"tolerance {part!r} has no key before '='")
            else:
                keys.append((key.strip(), _tol(value, part)))
    return Tolerance(default, tuple(keys))


def _tol(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(
            f"tolerance {spec!r} must be a number (1e-6) or key=number (val/acc=1e-6)"
        ) from None
    if not value >= 0:
        raise ValidationError(f"tolerance {spec!r} must be >= 0")
    return value


def compare_metrics(
    original: Mapping[str, Any], reproduced: Mapping[str, Any], tolerance: Tolerance
) -> tuple[bool, dict[str, dict[str, Any]]]:
    """(all within tolerance, ``{key: {"original", "reproduced", "delta", "tolerance",
    "within"}}``) over the keys of either summary, :data:`NOT_COMPARED` left out.
    ``delta`` is reproduced - original (None when either is missing or not a number)."""
    out: dict[str, dict[str, Any]] = {}
    keys = sorted(k for k in {*original, *reproduced} if not k.startswith(NOT_COMPARED))
    for key in keys:
        a = original.get(key)
        b = reproduced.get(key)
        tol = tolerance.of(key)
        delta = _delta(a, b)
        if key not in original or key not in reproduced:
            within = math.isinf(tol)
        elif delta is None:
            within = configdoc.same_value(a, b) or math.isinf(tol)
        else:
            within = abs(delta) <= tol if not math.isnan(delta) else math.isinf(tol)
        out[key] = {
            "original": a,
            "reproduced": b,
            "delta": delta,
            "tolerance": tol,
            "within": within,
        }
    return all(m["within"] for m in out.values()), out


def _delta(a: Any, b: Any) -> float | None:
    if not _number(a) or not _number(b):
        return None
    fa, fb = float(a), float(b)
    if fa == fb or (math.isnan(fa) and math.isnan(fb)):
        return 0.0  # inf == inf, NaN "equals" NaN
    return fb - fa


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def compare_config(
    original: Mapping[str, Any], reproduced: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """``{dotted key: {"original", "reproduced"}}`` for every leaf that differs."""
    a = configdoc.flatten(dict(original))
    b = configdoc.flatten(dict(reproduced))
    return {
        k: {"original": a.get(k), "reproduced": b.get(k)}
        for k in sorted({*a, *b})
        if k not in a or k not in b or not configdoc.same_value(a[k], b[k])
    }
