"""The flattened, typed copy of a run's config that the query language searches."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ... import configdoc
from ._records import dumps


def param_row(run_id: str, key: str, value: Any) -> dict[str, Any]:
    """vtype: n number, s string, b bool (num 1/0), z null, j anything else (JSON in str)."""
    row: dict[str, Any] = {"run_id": run_id, "key": key, "num": None, "str": None}
    if isinstance(value, bool):
        row.update(vtype="b", num=1.0 if value else 0.0)
    elif isinstance(value, int | float):
        try:
            f = float(value)
        except OverflowError:  # an int beyond a float's range: kept, searched as text
            row.update(vtype="j", str=str(value))
            return row
        row.update(vtype="n", num=None if math.isnan(f) else f)
    elif isinstance(value, str):
        row.update(vtype="s", str=value)
    elif value is None:
        row.update(vtype="z")
    else:
        row.update(vtype="j", str=dumps(value))
    return row


def param_rows(run_id: str, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [param_row(run_id, k, v) for k, v in configdoc.flatten(config).items()]
