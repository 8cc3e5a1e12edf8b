"""A trial's objective values: what its code returned, or else what its run logged.

Shared by ``runtrack.sweep(spec, fn)`` (the function's return value) and the Hydra sweeper
(the job's return value). A return of the wrong shape (a string, a bool, a list of the
wrong length, a mapping without the metric) is ``ReturnValueError``: a bug in the trial
code, which the caller reports with this message rather than silently reading the logged
metric instead. ``None`` means "read what the run logged"; a metric the run did not log
then is a plain ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


class ReturnValueError(Exception):
    """The trial code returned something that is not an objective."""


def objective_values(
    returned: Any,
    metrics: Sequence[str],
    summary: Callable[[], Mapping[str, Any]],
    *,
    who: str = "the job",
) -> list[float]:
    """The objective values, in the order of ``metrics``: from ``returned`` (a number; a
    list, tuple or array of numbers; a mapping or OmegaConf container holding each
    metric), or, when it is None, from ``summary()``, the last values the trial's run
    logged. ``who`` names the trial code in messages ("the job", "fn")."""
    if returned is None:
        logged = summary()
        missing = [m for m in metrics if m not in logged]
        if missing:
            raise ValueError(
                f"{who} returned nothing and its run logged no {missing[0]!r}: return the "
                f"objective, or log it with run.log({{{missing[0]!r}: value}})"
            )
        return [_number(logged[m], f"the run's {m!r}", ValueError) for m in metrics]
    if isinstance(returned, Mapping) or _is_omegaconf(returned, "DictConfig"):
        missing = [m for m in metrics if m not in returned]
        if missing:
            raise ReturnValueError(
                f"{who} returned a mapping without {missing[0]!r} "
                f"(its keys: {', '.join(map(str, returned)) or 'none'})"
            )
        return [_number(returned[m], f"the returned {m!r}", ReturnValueError) for m in metrics]
    if getattr(returned, "ndim", 0) and hasattr(returned, "tolist"):
        returned = returned.tolist()  # a numpy array or torch tensor of values
    if isinstance(returned, list | tuple) or _is_omegaconf(returned, "ListConfig"):
        items = list(returned)
        if len(items) != len(metrics):
            raise ReturnValueError(
                f"{who} returned {len(items)} value(s); the sweep has {len(metrics)} "
                f"objective(s) ({', '.join(metrics)})"
            )
        return [_number(v, "a returned value", ReturnValueError) for v in items]
    if len(metrics) > 1:
        raise ReturnValueError(
            f"{who} returned one value; the sweep has {len(metrics)} objectives "
            f"({', '.join(metrics)}): return a list or a mapping"
        )
    return [_number(returned, "the returned value", ReturnValueError)]


def _number(v: Any, what: str, error: type[Exception]) -> float:
    """``v`` as a float: an int, a float, or a numpy/torch scalar; never a bool or text."""
    if isinstance(v, bool | str | bytes) or not hasattr(v, "__float__"):
        raise error(
            f"{what} is {type(v).__name__} {v!r:.80}: return a number, a list of numbers (one "
            "per objective) or a mapping holding the metric"
        )
    try:
        return float(v)
    except (TypeError, ValueError) as e:  # e.g. a tensor of several elements
        raise error(f"{what} ({type(v).__name__}) is not a single number: {e}") from None


def _is_omegaconf(v: Any, kind: str) -> bool:
    return type(v).__module__.startswith("omegaconf") and type(v).__name__ == kind
