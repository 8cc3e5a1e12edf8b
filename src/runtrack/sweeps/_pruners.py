"""The ``pruner`` section of a sweep spec: validation (pure Python) and the Optuna pruner it means.

runtrack does not implement pruning itself: every type below is one of Optuna's pruners (or
Optuna's ``PatientPruner`` around one), configured with Optuna's own parameter names, so
Optuna's documentation applies unchanged. ``check_pruner`` runs client-side before a sweep is
created and imports nothing outside the standard library; ``make_pruner`` runs in the engine.

Accepted sections (every key except ``type`` is optional; defaults in ``_FIELDS``)::

    {"type": "none"}
    {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 0, "interval_steps": 1,
     "n_min_trials": 1}
    {"type": "percentile", "percentile": 25.0, ...same keys as median...}
    {"type": "sha", "min_resource": "auto", "reduction_factor": 4,
     "min_early_stopping_rate": 0, "bootstrap_count": 0}          # alias "successive_halving"
    {"type": "hyperband", "min_resource": 1, "max_resource": "auto", "reduction_factor": 3,
     "bootstrap_count": 0}
    {"type": "threshold", "lower": None, "upper": None, "n_warmup_steps": 0, "interval_steps": 1}

``median``, ``percentile`` and ``threshold`` also take ``"patience": int`` (and
``"min_delta": float``): the pruner is then wrapped in ``optuna.pruners.PatientPruner``, which
only lets it prune a trial whose best value over its last ``patience`` + 1 reports is worse
than its best before them by more than ``min_delta``: a trial that got worse for
``patience`` steps, not one that stays flat. ``sha`` and ``hyperband`` refuse it: they judge
a trial by its value at fixed rung steps, and a PatientPruner that skips a rung makes SHA
record the rung from a later step, so stalled trials would be compared with an unfair
advantage.

Steps are whatever the training loop passes with each report (usually epochs). The
resource-based types (``sha``, ``hyperband``) measure ``min_resource`` in those steps; with
``"auto"`` Optuna derives it from the first trial that completes (SHA: its last step // 100,
at least 1; Hyperband ``max_resource``: its last step + 1), so the defaults scale with the
length of the user's loop.

Multi-objective studies cannot prune in Optuna (``Trial.should_prune`` raises there):
``check_pruner`` accepts the section unchanged, and ``make_pruner(..., n_objectives > 1)``
returns a ``NopPruner``; the caller is expected to warn that the pruner is ignored.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only; optuna is imported lazily in make_pruner
    import optuna

__all__ = ["DEFAULT_PRUNER", "PRUNER_TYPES", "RECOMMENDED_PRUNER", "check_pruner", "make_pruner"]

PRUNER_TYPES: tuple[str, ...] = (
    "none",
    "median",
    "percentile",
    "sha",
    "successive_halving",
    "hyperband",
    "threshold",
)
_ALIASES = {"successive_halving": "sha"}

_AUTO = "auto"


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Field checkers: each takes (where, value) and returns the normalised value or raises
# --------------------------------------------------------------------------------------------

_Check = Callable[[str, object], object]


def _int(lo: int, *, auto: bool = False) -> _Check:
    def check(where: str, value: object) -> object:
        if auto and value == _AUTO:
            return _AUTO
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                also = ' or "auto"' if auto else ""
                raise ValueError(f"{where} must be an integer >= {lo}{also}, got {_show(value)}")
        if value < lo:
            also = ' or "auto"' if auto else ""
            raise ValueError(f"{where} must be an integer >= {lo}{also}, got {value}")
        return value

    return check


def _float(lo: float, hi: float, *, optional: bool = False) -> _Check:
    def check(where: str, value: object) -> object:
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(
                f"{where} must be a number in [{lo:g}, {hi:g}]"
                + (" or null" if optional else "")
                + f", got {_show(value)}"
            )
        out = float(value)
        if math.isnan(out) or not lo <= out <= hi:
            raise ValueError(f"{where} must be a number in [{lo:g}, {hi:g}], got {_show(value)}")
        return out

    return check


def _optional_int(lo: int) -> _Check:
    inner = _int(lo)

    def check(where: str, value: object) -> object:
        return None if value is None else inner(where, value)

    return check


_INF = math.inf
_STEPWISE: dict[str, tuple[_Check, object]] = {
    "n_startup_trials": (_int(0), 5),
    "n_warmup_steps": (_int(0), 0),
    "interval_steps": (_int(1), 1),
    "n_min_trials": (_int(1), 1),
}
_PATIENCE: dict[str, tuple[_Check, object]] = {
    "patience": (_optional_int(0), None),
    "min_delta": (_float(0.0, _INF), 0.0),
}

# type -> {key: (checker, default)}; the defaults are Optuna's own except where noted.
_FIELDS: dict[str, dict[str, tuple[_Check, object]]] = {
    "none": {},
    "median": {**_STEPWISE, **_PATIENCE},
    # Optuna's PercentilePruner has no default percentile; 25.0 keeps the best quarter.
    "percentile": {"percentile": (_float(0.0, 100.0), 25.0), **_STEPWISE, **_PATIENCE},
    "sha": {
        "min_resource": (_int(1, auto=True), _AUTO),
        "reduction_factor": (_int(2), 4),
        "min_early_stopping_rate": (_int(0), 0),
        "bootstrap_count": (_int(0), 0),
    },
    "hyperband": {
        "min_resource": (_int(1), 1),
        "max_resource": (_int(1, auto=True), _AUTO),
        "reduction_factor": (_int(2), 3),
        "bootstrap_count": (_int(0), 0),
    },
    "threshold": {
        "lower": (_float(-_INF, _INF, optional=True), None),
        "upper": (_float(-_INF, _INF, optional=True), None),
        "n_warmup_steps": (_int(0), 0),
        "interval_steps": (_int(1), 1),
        **_PATIENCE,
    },
}

# type -> the optuna.pruners class it builds (make_pruner passes it the type's _FIELDS, but
# the patience ones, as keyword arguments of the same names: Optuna's own parameter names).
_OPTUNA_PRUNERS: dict[str, str] = {
    "median": "MedianPruner",
    "percentile": "PercentilePruner",
    "sha": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    "threshold": "ThresholdPruner",
}

# What a pruning sweep should use (benchmarks/hpo/PRUNING.md): SHA keeping the best third at
# each rung, first rung at 1% of the first completed trial's length ("auto"). Measured with
# TPESampler: 75% fewer epochs, same median best over 10 seeds (1 image of 359 lower over 20).
RECOMMENDED_PRUNER: dict[str, Any] = {
    "type": "sha",
    "min_resource": "auto",
    "reduction_factor": 3,
    "min_early_stopping_rate": 0,
    "bootstrap_count": 0,
}

# What a spec without "pruner" gets: no pruning. Pruning must be chosen explicitly: it trades
# some chance of finding the best model for epochs, and Optuna's GPSampler (and CmaEsSampler
# as configured) never see pruned trials, so with sampler "auto" a pruner can stall the
# search (PRUNING.md, "runtrack's default sampler").
DEFAULT_PRUNER: dict[str, Any] = {"type": "none"}


def check_pruner(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a spec's ``pruner`` section and return it with every default filled in.

    Raises ``ValueError`` naming the offending key and value and what is allowed. Unknown keys
    are errors. A bare type name (``pruner: median``) stands for ``{type: median}`` with every
    default. ``"successive_halving"`` is normalised to ``"sha"``. Pure Python: no optuna.
    """
    if isinstance(cfg, str):
        cfg = {"type": cfg}
    if not isinstance(cfg, Mapping):
        raise ValueError(
            f"pruner must be a type name or a mapping with a 'type' key, got {_show(cfg)}"
        )
    if "type" not in cfg:
        raise ValueError(f"pruner.type is missing; allowed: {', '.join(PRUNER_TYPES)}")
    kind = cfg["type"]
    if not isinstance(kind, str) or kind not in PRUNER_TYPES:
        raise ValueError(
            f"pruner.type {_show(kind)} is unknown; allowed: {', '.join(PRUNER_TYPES)}"
        )
    kind = _ALIASES.get(kind, kind)
    fields = _FIELDS[kind]
    for key in cfg:
        if key != "type" and key not in fields:
            if key in _PATIENCE and kind in ("sha", "hyperband"):
                raise ValueError(
                    f"pruner.{key} is not available for pruner type {kind!r} (it judges trials "
                    "at fixed rung steps, which a patience wrapper would skip); "
                    "patience works with types median, percentile and threshold"
                )
            allowed = ", ".join(["type", *fields]) if fields else "type only"
            raise ValueError(
                f"pruner.{key} is not a setting of pruner type {kind!r}; allowed: {allowed}"
            )
    out: dict[str, Any] = {"type": kind}
    for key, (check, default) in fields.items():
        out[key] = check(f"pruner.{key}", cfg[key]) if key in cfg else default
    if kind == "sha" and out["bootstrap_count"] > 0 and out["min_resource"] == _AUTO:
        raise ValueError(
            "pruner.bootstrap_count > 0 needs an integer pruner.min_resource "
            '(Optuna cannot combine it with min_resource "auto")'
        )
    if kind == "hyperband":
        mx = out["max_resource"]
        if mx != _AUTO and mx < out["min_resource"]:
            raise ValueError(
                f"pruner.max_resource ({mx}) must be >= pruner.min_resource "
                f'({out["min_resource"]}) or "auto"'
            )
    if kind == "threshold":
        lo, hi = out["lower"], out["upper"]
        if lo is None and hi is None:
            raise ValueError("pruner type 'threshold' needs pruner.lower or pruner.upper (or both)")
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"pruner.lower ({lo:g}) must be <= pruner.upper ({hi:g})")
    return out


def make_pruner(cfg: Mapping[str, Any], *, n_objectives: int = 1) -> optuna.pruners.BasePruner:
    """The Optuna pruner for a pruner section (normalised by ``check_pruner`` if it is not).

    Multi-objective studies (``n_objectives > 1``) get a ``NopPruner``: Optuna cannot prune them.
    """
    import optuna

    P = optuna.pruners
    c = check_pruner(cfg)
    kind = c["type"]
    if kind == "none" or n_objectives > 1:
        return P.NopPruner()
    if kind not in _OPTUNA_PRUNERS:  # pragma: no cover - check_pruner admits only these
        raise ValueError(f"pruner.type {kind!r} is unknown")
    # Every key of the section except the PatientPruner's is the constructor's argument of
    # the same name (check_pruner filled in all of them).
    args = {key: c[key] for key in _FIELDS[kind] if key not in _PATIENCE}
    inner: optuna.pruners.BasePruner = getattr(P, _OPTUNA_PRUNERS[kind])(**args)
    if c.get("patience") is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "PatientPruner is experimental" (since Optuna 2.8)
            return P.PatientPruner(inner, patience=c["patience"], min_delta=c["min_delta"])
    return inner
