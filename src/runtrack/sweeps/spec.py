"""The sweep spec: validated and normalised before anything is stored.

A spec is a dict (or the same as YAML). Everything is checked here, in pure Python, so
the SDK refuses a bad spec before it reaches a store and a store refuses it again from an
untrusted client. Every message names the key at fault (``parameters.lr.min``) and what
would be accepted. :func:`normalize` returns the spec with every default filled in: that
is what the store keeps, so a sweep reads back exactly as it runs.

Parameters (in the order given; a conditional one after those it depends on)::

    lr:        {distribution: log_uniform, min: 1e-5, max: 1e-1}
    dropout:   {distribution: uniform, min: 0.0, max: 0.5, step: 0.05}   # step optional
    depth:     {distribution: int, min: 2, max: 12, step: 2}             # or log: true
    optimizer: {values: [adam, sgd]}                                     # categorical
    momentum:  {distribution: uniform, min: 0, max: 0.99, when: {optimizer: sgd}}
    epochs:    {value: 20}                                               # fixed
    warmup:    {min: 0, max: 500}        # no distribution: int for int bounds, else uniform

A spec written for W&B sweeps is refused with what each W&B name is called here
(``method: bayes``, ``int_uniform``, ``early_terminate`` ...): the names that look alike
do not all mean the same (W&B's ``log_uniform`` takes exponents), so none is taken silently.

A dotted name (``model.depth``) is a nested config key of the trial's run.
"""

from __future__ import annotations

import math
import random
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import ValidationError
from ..validation import check_key, check_run_name, extent, unstorable

METHODS = ("auto", "tpe", "gp", "cmaes", "random", "grid", "qmc")
GOALS = {"minimize": "minimize", "min": "minimize", "maximize": "maximize", "max": "maximize"}
DISTRIBUTIONS = ("uniform", "log_uniform", "int")
MAX_PARAMETERS = 200
MAX_CHOICES = 10_000
MAX_OBJECTIVES = 8
MAX_TRIALS = 1_000_000
_SPEC_KEYS = (
    "method",
    "metric",
    "metrics",
    "parameters",
    "pruner",
    "budget",
    "seed",
    "command",
    "retries",
    "warm_start",
    "name",
    "description",
)
_PARAM_KEYS = {"distribution", "min", "max", "step", "log", "values", "value", "when"}
# what a user coming from W&B sweeps writes, and what to write here instead
_WANDB_KEYS = {
    "early_terminate": "pruner (e.g. pruner: hyperband)",
    "program": "command (e.g. command: python train.py ${args})",
    "run_cap": "budget: {trials: N}",
    "project": "--project of runtrack sweep create, or project= of runtrack.sweep",
    "entity": "--project of runtrack sweep create, or project= of runtrack.sweep",
    "q": "step",
    "parameters": "dotted names for nested config keys (model.depth: {...})",
    "probabilities": "plain values: the sampler, not fixed weights, picks among them",
}
_WANDB_METHODS = {"bayes": "auto (the default; it picks GP, TPE or CMA-ES) or gp"}
_WANDB_DISTRIBUTIONS = {
    "log_uniform_values": "log_uniform (min and max are the values, as in W&B's)",
    "int_uniform": "int",
    "q_uniform": "uniform with a step",
    "q_log_uniform_values": "int with log: true, or log_uniform (a log scale takes no step)",
    "categorical": "values: [...] instead of a distribution",
    "constant": "value: ... instead of a distribution",
}
_WANDB_MACROS = {
    "env": "nothing (the agent runs the command itself; write the program first)",
    "program": "the script itself: command: python train.py ${args}",
}
_NO_WANDB_EQUIVALENT = (
    "normal",
    "q_normal",
    "log_normal",
    "q_log_normal",
    "beta",
    "q_beta",
    "q_log_uniform",
    "inv_log_uniform",
    "inv_log_uniform_values",
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*\Z")
Scalar = str | int | float | bool | None
#: ``${name}`` in a command; ``$${name}`` is the literal text ``${name}`` (group 1 is "$")
PLACEHOLDER = re.compile(r"\$(\$?)\{([^}]*)\}")
KEYWORDS = ("args", "args_no_hyphens", "interpreter", "run_id", "trial", "sweep_id")


def _wandb_hint(table: Mapping[str, str], word: object) -> str:
    """The end of a message saying what W&B's name ``word`` is here ("" if it is none)."""
    if isinstance(word, str) and word in table:
        return f"; for W&B's {word} use {table[word]}"
    if table is _WANDB_DISTRIBUTIONS and word in _NO_WANDB_EQUIVALENT:
        return f"; W&B's {word} has no equivalent here: search a uniform or log_uniform range"
    return ""


def _fail(where: str, msg: str) -> ValidationError:
    return ValidationError(f"sweep spec: {where}: {msg}")


def _check_storable(value: object, where: str = "", depth: int = 0) -> None:
    """Every string of the spec, keys included, can be stored and passed on: no NUL (no
    database column or command-line argument holds one), no lone surrogate (no UTF-8)."""
    if depth > 64:
        raise _fail(where, "nested more than 64 levels deep")
    if isinstance(value, str):
        why = unstorable(value)
        if why:
            raise _fail(where or "spec", f"{_show(value)} {why}")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            here = f"{where}.{k}" if where else str(k)
            if isinstance(k, str) and unstorable(k):
                raise _fail(where or "spec", f"key {_show(k)} {unstorable(k)}")
            _check_storable(v, here, depth + 1)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_storable(v, f"{where}[{i}]", depth + 1)


def _show(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(where: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _fail(where, f"{_show(v)} must be a number")
    try:
        f = float(v)
    except OverflowError:  # an int beyond a float's range
        raise _fail(where, f"{_show(v)} is too large") from None
    if not math.isfinite(f):
        raise _fail(where, f"{_show(v)} must be finite")
    return f


#: values a spec may hold, all levels (``validation.extent``)
MAX_SPEC_VALUES = 100_000

#: integers of a spec are kept exactly up to this size (seeds, bounds, budgets)
MAX_INT = 2**63 - 1


def _integer(where: str, v: object) -> int:
    """An integer of the spec, exactly (``2.0`` reads as 2, ``2.5`` is refused)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _fail(where, f"{_show(v)} must be an integer")
    if isinstance(v, float):
        if not math.isfinite(v):
            raise _fail(where, f"{_show(v)} must be finite")
        if not v.is_integer():
            raise _fail(where, f"{_show(v)} must be an integer")
        v = int(v)
    if abs(v) > MAX_INT:
        raise _fail(where, f"{_show(v)} is too large (at most 2**63 - 1)")
    return v


def _scalar(where: str, v: object) -> Scalar:
    if v is None or isinstance(v, str | bool | int):
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise _fail(where, f"{_show(v)} must be finite")
        return v
    raise _fail(where, f"{_show(v)} ({type(v).__name__}) must be a string, number, bool or null")


def _objectives(spec: Mapping[str, Any]) -> list[dict[str, str]]:
    has_one, has_many = "metric" in spec, "metrics" in spec
    if has_one == has_many:
        raise _fail(
            "metric",
            "give the objective as metric: {name: val_loss, goal: minimize} "
            "(or metrics: [...] for several objectives)",
        )
    raw: list[Any]
    if has_one:
        raw = [spec["metric"]]
        where = ["metric"]
    else:
        if not isinstance(spec["metrics"], list) or not spec["metrics"]:
            raise _fail("metrics", "must be a non-empty list of {name, goal}")
        raw = spec["metrics"]
        where = [f"metrics[{i}]" for i in range(len(raw))]
        if len(raw) > MAX_OBJECTIVES:
            raise _fail("metrics", f"at most {MAX_OBJECTIVES} objectives")
    out: list[dict[str, str]] = []
    for w, m in zip(where, raw, strict=True):
        if isinstance(m, str):
            m = {"name": m}
        if not isinstance(m, Mapping):
            raise _fail(w, "must be {name: ..., goal: minimize|maximize}")
        extra = set(m) - {"name", "goal"}
        if extra:
            raise _fail(w, f"unknown key {sorted(extra, key=repr)[0]!r} (allowed: name, goal)")
        if "name" not in m:
            raise _fail(w, "needs a name (the metric key the trial logs)")
        try:
            name = check_key(m["name"])
        except ValidationError as e:
            raise _fail(f"{w}.name", str(e)) from None
        goal = m.get("goal", "minimize")
        if not isinstance(goal, str) or goal not in GOALS:
            raise _fail(f"{w}.goal", f"{_show(goal)} must be minimize or maximize")
        out.append({"name": name, "goal": GOALS[goal]})
    names = [o["name"] for o in out]
    if len(set(names)) != len(names):
        raise _fail("metrics", "each objective must be a different metric")
    return out


def _parameter(name: str, p: object) -> dict[str, Any]:
    where = f"parameters.{name}"
    if not isinstance(p, Mapping):
        # shorthands: a list is a categorical, anything else a fixed value
        p = {"values": p} if isinstance(p, list) else {"value": p}
    extra = set(p) - _PARAM_KEYS
    if extra:
        key = sorted(extra, key=repr)[0]
        raise _fail(
            where,
            f"unknown key {key!r} (allowed: {', '.join(sorted(_PARAM_KEYS))})"
            + _wandb_hint(_WANDB_KEYS, key),
        )
    out: dict[str, Any]
    kinds = [k for k in ("value", "values", "distribution") if k in p]
    if not kinds and ("min" in p or "max" in p):
        # as W&B does: int bounds make an int, any float a uniform (log: true for a log
        # scale); the stored spec names the distribution it chose
        ints = all(
            isinstance(p.get(k), int) and not isinstance(p.get(k), bool)
            for k in ("min", "max")
            if k in p
        )
        p = {**p, "distribution": "int" if ints else "uniform"}
        kinds = ["distribution"]
    if len(kinds) != 1:
        raise _fail(
            where,
            "give exactly one of value (fixed), values (categorical) or distribution "
            f"({', '.join(DISTRIBUTIONS)}; or just min and max)",
        )
    kind = kinds[0]
    if kind != "distribution":
        stray = {"min", "max", "step", "log"} & set(p)
        if stray:
            raise _fail(where, f"{sorted(stray)[0]!r} only applies to a distribution")
    if kind == "value":
        v = p["value"]
        _json_value(f"{where}.value", v)
        out = {"value": v}
    elif kind == "values":
        vals = p["values"]
        if not isinstance(vals, list) or not vals:
            raise _fail(f"{where}.values", "must be a non-empty list")
        if len(vals) > MAX_CHOICES:
            raise _fail(f"{where}.values", f"at most {MAX_CHOICES} choices")
        clean = [_scalar(f"{where}.values[{i}]", v) for i, v in enumerate(vals)]
        for i, v in enumerate(clean):
            # Optuna finds a choice by ==: 1 and 1.0, or True and 1, would be one choice
            for c in clean[:i]:
                if v == c:
                    same = "" if type(v) is type(c) else f" (it equals {_show(c)})"
                    raise _fail(f"{where}.values", f"{_show(v)} is listed twice{same}")
        out = {"values": clean}
    else:
        out = _distribution(where, p)
    if "when" in p:
        out["when"] = _when(where, p["when"])
    return out


def _json_value(where: str, v: object, depth: int = 0) -> None:
    if depth > 20:
        raise _fail(where, "nested too deeply")
    if isinstance(v, Mapping):
        for k, x in v.items():
            if not isinstance(k, str):
                raise _fail(where, f"key {_show(k)} must be a string")
            _json_value(where, x, depth + 1)
    elif isinstance(v, list):
        for x in v:
            _json_value(where, x, depth + 1)
    else:
        _scalar(where, v)


def _distribution(where: str, p: Mapping[str, Any]) -> dict[str, Any]:
    dist = p["distribution"]
    if dist == "log_int":
        dist, log = "int", True
    else:
        log = p.get("log", dist == "log_uniform")
    if dist not in DISTRIBUTIONS:
        raise _fail(
            f"{where}.distribution",
            f"{_show(dist)} must be one of {', '.join(DISTRIBUTIONS)}"
            + _wandb_hint(_WANDB_DISTRIBUTIONS, dist),
        )
    if not isinstance(log, bool):
        raise _fail(f"{where}.log", "must be true or false")
    if dist == "uniform" and log:
        dist = "log_uniform"
    if dist == "log_uniform" and not log:
        raise _fail(f"{where}.log", "a log_uniform distribution is on a log scale")
    for k in ("min", "max"):
        if k not in p:
            article = "an" if dist == "int" else "a"
            raise _fail(where, f"{article} {dist} distribution needs {k}")
    integer = dist == "int"
    lo: float
    hi: float
    if integer:
        lo, hi = _integer(f"{where}.min", p["min"]), _integer(f"{where}.max", p["max"])
    else:
        lo, hi = _number(f"{where}.min", p["min"]), _number(f"{where}.max", p["max"])
        if not math.isfinite(hi - lo):
            raise _fail(where, f"the range {p['min']!r}..{p['max']!r} is too wide for a float")
    if lo > hi:
        raise _fail(where, f"min {p['min']!r} is above max {p['max']!r}")
    if log and lo <= 0:
        raise _fail(
            f"{where}.min",
            f"{p['min']!r} must be above 0 on a log scale (min and max are the values "
            "themselves, as W&B's log_uniform_values; W&B's log_uniform takes exponents)",
        )
    out: dict[str, Any] = {"distribution": dist}
    if integer:
        out.update(min=int(lo), max=int(hi), log=log)
        step = p.get("step")
        si = 1 if step is None else _integer(f"{where}.step", step)
        if si < 1:
            raise _fail(f"{where}.step", f"{step!r} must be 1 or more")
        if log and si != 1:
            raise _fail(f"{where}.step", "a log-scale int takes no step")
        if (int(hi) - int(lo)) % si:
            top = int(lo) + (int(hi) - int(lo)) // si * si
            raise _fail(
                f"{where}.step",
                f"{step!r} does not divide the range {int(lo)}..{int(hi)}: "
                f"the values would stop at {top}; make max {top} or {top + si}",
            )
        out["step"] = si
    else:
        out.update(min=lo, max=hi)
        if "step" in p and p["step"] is not None:
            if log:
                raise _fail(f"{where}.step", "a log_uniform distribution takes no step")
            s = _number(f"{where}.step", p["step"])
            if s <= 0:
                raise _fail(f"{where}.step", f"{p['step']!r} must be above 0")
            if s > hi - lo and hi > lo:
                raise _fail(f"{where}.step", f"{p['step']!r} is larger than the range")
            cells = (hi - lo) / s
            if abs(cells - round(cells)) > 1e-9 * max(1.0, cells):
                last = lo + math.floor(cells + 1e-9) * s
                raise _fail(
                    f"{where}.step",
                    f"{p['step']!r} does not divide the range {p['min']!r}..{p['max']!r}: "
                    f"the values would stop at {last:.12g}; make max {last:.12g} "
                    f"or {last + s:.12g}",
                )
            out["step"] = s
    return out


def _when(where: str, w: object) -> dict[str, list[Scalar]]:
    if not isinstance(w, Mapping) or not w:
        raise _fail(f"{where}.when", "must be {other_parameter: value or [values]}")
    out: dict[str, list[Scalar]] = {}
    for k, v in w.items():
        if not isinstance(k, str):
            raise _fail(f"{where}.when", f"key {_show(k)} must be a parameter name")
        vals = v if isinstance(v, list) else [v]
        if not vals:
            raise _fail(f"{where}.when.{k}", "must list at least one value")
        out[k] = [_scalar(f"{where}.when.{k}", x) for x in vals]
    return out


def _parameters(raw: object) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, Mapping) or not raw:
        raise _fail("parameters", "must map parameter names to their definitions")
    if len(raw) > MAX_PARAMETERS:
        raise _fail("parameters", f"at most {MAX_PARAMETERS} parameters")
    params: dict[str, dict[str, Any]] = {}
    for name, p in raw.items():
        if not isinstance(name, str) or not _NAME.match(name) or len(name) > 200:
            raise _fail(
                "parameters",
                f"name {_show(name)} must be a config key: letters, digits, _ and -, "
                "dots for nesting (model.depth)",
            )
        params[name] = _parameter(name, p)
    names = list(params)
    for n in names:  # a name that is both a leaf and a prefix would make a bad config
        for m in names:
            if m.startswith(n + "."):
                raise _fail("parameters", f"{n!r} is both a value and the parent of {m!r}")
    for name, p in params.items():
        for other, vals in p.get("when", {}).items():
            if other == name:
                raise _fail(f"parameters.{name}.when", "a parameter cannot depend on itself")
            if other not in params:
                raise _fail(f"parameters.{name}.when", f"{other!r} is not a parameter of the sweep")
            q = params[other]
            if "value" in q:
                raise _fail(
                    f"parameters.{name}.when",
                    f"{other!r} is fixed; a condition on it is always true or never",
                )
            if "values" in q:
                for v in vals:
                    if not any(type(v) is type(c) and v == c for c in q["values"]):
                        raise _fail(
                            f"parameters.{name}.when.{other}",
                            f"{_show(v)} is not one of {other}'s values {q['values']}",
                        )
            else:
                for v in vals:
                    _check_condition_value(f"parameters.{name}.when.{other}", other, q, v)
    if not any("value" not in p for p in params.values()):
        raise _fail("parameters", "nothing to search: every parameter is fixed")
    order = suggestion_order(params)
    _check_conditions_can_hold(params, order)
    return {n: params[n] for n in order}


def same_value(a: object, b: object) -> bool:
    """Equal as a condition compares: a bool matches only a bool (True == 1 in Python)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _check_condition_value(where: str, other: str, q: Mapping[str, Any], v: Scalar) -> None:
    """A condition on a numeric parameter names a value that parameter can take."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _fail(where, f"{_show(v)} must be a number ({other} is a {q['distribution']})")
    if not q["min"] <= v <= q["max"]:
        raise _fail(where, f"{_show(v)} is outside {other}'s range {q['min']}..{q['max']}")
    if q["distribution"] == "int" and (v != int(v) or (int(v) - q["min"]) % q["step"]):
        raise _fail(where, f"{_show(v)} is not a value {other} can take (an int, step {q['step']})")


def _check_conditions_can_hold(params: Mapping[str, Mapping[str, Any]], order: list[str]) -> None:
    """Refuse a parameter whose condition, with those of the parameters it depends on,
    asks one parameter for two disjoint sets of values: it could never be suggested."""
    needs: dict[str, dict[str, list[Scalar]]] = {}
    for n in order:  # parents first
        req: dict[str, list[Scalar]] = {}
        for other, vals in params[n].get("when", {}).items():
            implied = [(other, vals, n), *((k, vs, other) for k, vs in needs[other].items())]
            for k, vs, via in implied:
                have = req.get(k)
                both = (
                    vs if have is None else [v for v in have if any(same_value(v, c) for c in vs)]
                )
                if not both:
                    raise _fail(
                        f"parameters.{n}.when",
                        f"can never hold: it needs {k} in {have} and, through {via}, in {vs}",
                    )
                req[k] = both
        needs[n] = req


def suggestion_order(params: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Parameter names with each after those its condition names (stable otherwise).
    Raises ``ValidationError`` for a cycle."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, path: tuple[str, ...]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            raise _fail("parameters", "conditions form a cycle: " + " -> ".join((*path, n)))
        state[n] = 1
        for other in params[n].get("when", {}):
            visit(other, (*path, n))
        state[n] = 2
        order.append(n)

    for n in params:
        visit(n, ())
    return order


def _budget(raw: object) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _fail("budget", "must be {trials: N, seconds: S, patience: N}")
    extra = set(raw) - {"trials", "seconds", "patience"}
    if extra:
        raise _fail(
            "budget",
            f"unknown key {sorted(extra, key=repr)[0]!r} (allowed: trials, seconds, patience)",
        )
    out: dict[str, Any] = {}
    if raw.get("trials") is not None:
        n = _integer("budget.trials", raw["trials"])
        if not 1 <= n <= MAX_TRIALS:
            raise _fail("budget.trials", f"{raw['trials']!r} must be between 1 and {MAX_TRIALS:,}")
        out["trials"] = int(n)
    if raw.get("seconds") is not None:
        s = _number("budget.seconds", raw["seconds"])
        if s <= 0:
            raise _fail("budget.seconds", f"{raw['seconds']!r} must be above 0")
        out["seconds"] = s
    if raw.get("patience") is not None:
        n = _integer("budget.patience", raw["patience"])
        if n < 1:
            raise _fail("budget.patience", f"{raw['patience']!r} must be 1 or more trials")
        out["patience"] = int(n)
    return out


def _command(raw: object) -> list[str] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            parts = shlex.split(raw)
        except ValueError as e:
            raise _fail("command", f"cannot be split into arguments: {e}") from None
    elif isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        parts = list(raw)
    else:
        raise _fail("command", "must be a list of strings (or one string split like a shell)")
    if not parts or not parts[0]:
        raise _fail("command", "is empty")
    if any("\x00" in x for x in parts):
        raise _fail("command", "contains a NUL character")
    return parts


def check_command(command: Sequence[str], spec: Mapping[str, Any]) -> None:
    """Every ``${...}`` in the command names a parameter or a keyword (``args``,
    ``args_no_hyphens``, ``interpreter``, ``run_id``, ``trial``, ``sweep_id``) but not
    both (``$${...}`` is the literal text ``${...}``); ``${args}`` and
    ``${args_no_hyphens}``, which become several arguments, stand alone; the program is not
    empty."""
    names = set(spec["parameters"])
    if not command or not command[0]:
        raise _fail("command", "the program (its first argument) is empty")
    for token in command:
        for m in PLACEHOLDER.finditer(token):
            if m.group(1):
                continue  # $${...}: literal text
            key = m.group(2)
            if key not in names and key not in KEYWORDS:
                raise _fail(
                    "command",
                    f"argument {token!r}: ${{{key}}} is not a parameter of the sweep "
                    f"(parameters: {', '.join(sorted(names))}; also {', '.join(KEYWORDS)})"
                    + _wandb_hint(_WANDB_MACROS, key),
                )
            if key in names and key in KEYWORDS:
                raise _fail(
                    "command",
                    f"argument {token!r}: ${{{key}}} is ambiguous: {key!r} is a parameter "
                    "of the sweep and the name of a keyword; rename the parameter",
                )
            if key in ("args", "args_no_hyphens") and token != m.group(0):
                raise _fail(
                    "command",
                    f"argument {token!r}: ${{{key}}} becomes one argument per parameter, "
                    "so it must be an argument of its own",
                )


def _warm_start(raw: object) -> dict[str, Any] | None:
    if raw is None or raw is False:
        return None
    if raw is True:
        return {"filter": None, "limit": 1000}
    if not isinstance(raw, Mapping):
        raise _fail("warm_start", "must be true or {filter: QUERY, limit: N}")
    extra = set(raw) - {"filter", "limit"}
    if extra:
        raise _fail(
            "warm_start", f"unknown key {sorted(extra, key=repr)[0]!r} (allowed: filter, limit)"
        )
    flt = raw.get("filter")
    if flt is not None and not isinstance(flt, str):
        raise _fail("warm_start.filter", "must be a run query (a string)")
    if flt is not None:
        from ..errors import QueryError
        from ..query import parse_filter

        try:
            if parse_filter(flt) is None:  # blank: every finished run
                flt = None
        except QueryError as e:
            raise _fail("warm_start.filter", str(e)) from None
    limit = raw.get("limit", 1000)
    n = _integer("warm_start.limit", limit)
    if not 1 <= n <= 100_000:
        raise _fail("warm_start.limit", f"{limit!r} must be between 1 and 100,000")
    return {"filter": flt, "limit": int(n)}


def normalize(spec: object) -> dict[str, Any]:
    """The spec with every default filled in; raises ``ValidationError`` naming the first
    problem."""
    from ._pruners import DEFAULT_PRUNER, check_pruner

    if not isinstance(spec, Mapping):
        raise ValidationError("a sweep spec is a dict (or a YAML mapping)")
    # first, as the checks below walk the spec; too deep a spec is theirs to refuse, naming
    # the field (extent does not walk below 100 levels, so one that contains itself ends)
    if extent(spec, MAX_SPEC_VALUES).values > MAX_SPEC_VALUES:
        raise ValidationError(
            f"sweep spec: more than {MAX_SPEC_VALUES:,} values (keys, items and numbers, a "
            "shared part counted each time it appears): a spec describes a search space, "
            "keep data out of it"
        )
    extra = [k for k in spec if k not in _SPEC_KEYS]
    if extra:
        raise _fail(
            str(extra[0]),
            f"unknown key (allowed: {', '.join(_SPEC_KEYS)})" + _wandb_hint(_WANDB_KEYS, extra[0]),
        )
    method = spec.get("method", "auto")
    if method not in METHODS:
        raise _fail(
            "method",
            f"{_show(method)} must be one of {', '.join(METHODS)}"
            + _wandb_hint(_WANDB_METHODS, method),
        )
    objectives = _objectives(spec)
    params = _parameters(spec.get("parameters"))
    try:
        raw_pruner = spec.get("pruner")
        pruner = check_pruner(DEFAULT_PRUNER if raw_pruner is None else raw_pruner)
    except ValueError as e:
        raise _fail("pruner", str(e)) from None
    seed = spec.get("seed")
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)  # recorded: the sweep can be replayed
    n = _integer("seed", seed)
    if not 0 <= n < 2**63:
        raise _fail("seed", f"{seed!r} must be between 0 and 2**63 - 1")
    retries = spec.get("retries", 0)
    r = _integer("retries", retries)
    if not 0 <= r <= 10:
        raise _fail("retries", f"{retries!r} must be between 0 and 10")
    name = spec.get("name")
    if name is not None:
        try:
            check_run_name(name)
        except ValidationError as e:
            raise _fail("name", str(e)) from None
    desc = spec.get("description")
    if desc is not None and (not isinstance(desc, str) or len(desc) > 10_000):
        raise _fail("description", "must be a string of at most 10,000 characters")
    if len(objectives) > 1 and pruner["type"] != "none":
        raise _fail(
            "pruner",
            "a sweep with several objectives cannot prune (a pruner ranks one value); "
            "remove the pruner or optimise one metric",
        )
    if method == "grid":
        _check_grid(params)
    command = _command(spec.get("command"))
    if command is not None:
        check_command(command, {"parameters": params})
    _check_storable(spec)  # last: the checks above say more where they apply
    return {
        "method": method,
        "metrics": objectives,
        "parameters": params,
        "pruner": pruner,
        "budget": _budget(spec.get("budget")),
        "seed": int(n),
        "command": command,
        "retries": int(r),
        "warm_start": _warm_start(spec.get("warm_start")),
        "name": name,
        "description": desc,
    }


def _check_grid(params: Mapping[str, Mapping[str, Any]]) -> None:
    for name, p in params.items():
        if "when" in p:
            raise _fail(
                f"parameters.{name}.when", "a grid search cannot have conditional parameters"
            )


def load_yaml(text: str, where: str = "spec") -> dict[str, Any]:
    """Parse a YAML spec (safe loader) and normalise it."""
    from .. import _yaml

    try:
        doc = _yaml.safe_load(text)
    except _yaml.YAMLError as e:
        raise ValidationError(f"{where} is not valid YAML: {_yaml_problem(e)}") from None
    return normalize(doc)


def _yaml_problem(e: Exception) -> str:
    """PyYAML's error on one line: what is wrong and where (line and column, 1-based)."""
    problem = getattr(e, "problem", None)
    mark = getattr(e, "problem_mark", None)
    if problem is None:
        return " ".join(str(e).split())
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def is_active(p: Mapping[str, Any], chosen: Mapping[str, Any]) -> bool:
    """Whether a parameter exists given the values chosen so far (its condition holds)."""
    for other, vals in p.get("when", {}).items():
        if other not in chosen:
            return False
        v = chosen[other]
        if not any(same_value(v, c) for c in vals):  # 3 matches 3.0, True matches only True
            return False
    return True


def choose(spec: Mapping[str, Any], pick: Callable[[str], Any]) -> dict[str, Any]:
    """Walk the parameters in spec order, as a define-by-run objective would: fixed ones
    take their value, conditional ones whose condition does not hold are skipped, and
    ``pick(name)`` gives each other one its value. The searched values chosen (fixed ones
    left out). ``pick`` may raise to abandon the walk."""
    chosen: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for name, p in spec["parameters"].items():
        if "value" in p:
            chosen[name] = p["value"]
        elif is_active(p, chosen):
            chosen[name] = out[name] = pick(name)
    return out


def fixed_values(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {n: p["value"] for n, p in spec["parameters"].items() if "value" in p}


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"model.depth": 3}`` -> ``{"model": {"depth": 3}}``."""
    out: dict[str, Any] = {}
    for key, v in flat.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = v
    return out


def directions(spec: Mapping[str, Any]) -> list[str]:
    return [m["goal"] for m in spec["metrics"]]


def check_extension(trials: object, seconds: object) -> tuple[int | None, float | None]:
    """The ``trials`` and ``seconds`` a resumed sweep gets on top of what it used."""
    if isinstance(trials, float) and trials.is_integer():
        trials = int(trials)  # 5.0 reads as 5, as in a spec
    if trials is not None:
        if isinstance(trials, bool) or not isinstance(trials, int) or not trials >= 1:
            raise ValidationError(f"trials {trials!r} must be a whole number of 1 or more")
        if trials > MAX_TRIALS:
            raise ValidationError(f"trials {trials!r} must be at most {MAX_TRIALS:,}")
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValidationError(f"seconds {seconds!r} must be a number")
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValidationError(f"seconds {seconds!r} must be finite and above 0")
    return trials, None if seconds is None else float(seconds)


def extended_budget(
    budget: Mapping[str, Any],
    *,
    used: int,
    elapsed: float,
    trials: int | None,
    seconds: float | None,
) -> dict[str, Any]:
    """``budget`` with ``trials`` more trials than the ``used`` ones and ``seconds`` more
    than the ``elapsed`` since the sweep was created (both are totals in the spec)."""
    out = dict(budget)
    if trials is not None:
        if used + trials > MAX_TRIALS:
            raise ValidationError(
                f"trials: {used:,} used and {trials:,} more exceed the limit of {MAX_TRIALS:,}"
            )
        out["trials"] = used + trials
    if seconds is not None:
        out["seconds"] = round(max(elapsed, 0.0) + seconds, 3)
    return out


def trials_budget_reason(spec: Mapping[str, Any]) -> str | None:
    """The stop reason of a sweep whose ``budget.trials`` is all handed out."""
    n = spec["budget"].get("trials")
    return None if n is None else f"budget of {n} trial{'' if n == 1 else 's'} spent"


def objective_names(spec: Mapping[str, Any]) -> list[str]:
    return [m["name"] for m in spec["metrics"]]


def searched(spec: Mapping[str, Any]) -> Sequence[str]:
    return [n for n, p in spec["parameters"].items() if "value" not in p]
