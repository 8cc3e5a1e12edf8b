"""The run query language: ``metrics.auc > 0.9 and config.lr < 1e-3``.

Pure Python (standard library only), so the SDK can validate a filter before it sends
it anywhere. Parsing gives a validated syntax tree (:mod:`runtrack.query.ast`); the
stores compile that tree to their own query form (``runtrack.store.sql._query``
compiles it to parameterised SQL). Nothing is ever evaluated as code.
"""

from __future__ import annotations

from ._parser import (
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    MAX_IN_VALUES,
    MAX_ORDER_ITEMS,
    MAX_TERMS,
    parse_filter,
    parse_order_by,
)
from ._semantics import RUN_ATTRIBUTES, canonical_string, parse_timestamp
from .ast import (
    And,
    Bool,
    Compare,
    Expr,
    Field,
    In,
    IsNull,
    Like,
    Not,
    Null,
    Number,
    Or,
    OrderItem,
    String,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_FILTER_LENGTH",
    "MAX_IN_VALUES",
    "MAX_ORDER_ITEMS",
    "MAX_TERMS",
    "RUN_ATTRIBUTES",
    "And",
    "Bool",
    "Compare",
    "Expr",
    "Field",
    "In",
    "IsNull",
    "Like",
    "Not",
    "Null",
    "Number",
    "Or",
    "OrderItem",
    "String",
    "canonical_string",
    "parse_filter",
    "parse_order_by",
    "parse_timestamp",
]
