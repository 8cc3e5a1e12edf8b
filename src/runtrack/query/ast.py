"""The syntax tree of the run query language.

Every node is a frozen, slotted dataclass that remembers ``position``: the 0-based
character offset in the source text where it starts (used to point at a problem in an
error message). Positions take no part in equality, so two filters that mean the same
thing compare equal whatever their spacing.

The tree is what :func:`runtrack.query.parse_filter` returns after validation: field
kinds are normalised (``params`` becomes ``config``), operators are normalised (``==``
becomes ``=``, ``<>`` becomes ``!=``), ``= null`` / ``!= null`` became :class:`IsNull`,
and every literal was checked against the type of its field.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from typing import Final, Literal, TypeAlias

__all__ = [
    "COMPARE_OPS",
    "FIELD_KINDS",
    "And",
    "Bool",
    "Compare",
    "CompareOp",
    "Expr",
    "Field",
    "FieldKind",
    "In",
    "IsNull",
    "Like",
    "Not",
    "Null",
    "Number",
    "Or",
    "OrderItem",
    "String",
    "Value",
]

FieldKind: TypeAlias = Literal["config", "metrics", "tags", "run"]
FIELD_KINDS: Final[tuple[FieldKind, ...]] = ("config", "metrics", "tags", "run")

CompareOp: TypeAlias = Literal["=", "!=", "<", "<=", ">", ">="]
COMPARE_OPS: Final[tuple[CompareOp, ...]] = ("=", "!=", "<", "<=", ">", ">=")


@dataclass(frozen=True, slots=True)
class Field:
    """``config.model.depth`` -> ``Field("config", "model.depth")``; ``run.status`` ->
    ``Field("run", "status")``."""

    kind: FieldKind
    key: str
    position: int = _field(default=0, compare=False)

    def __str__(self) -> str:
        return f"{self.kind}.{self.key}"


# -- literals ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Number:
    """A number literal: ``int`` when written without a point or exponent, else ``float``.
    Always finite."""

    value: int | float
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class String:
    """A quoted string literal, escapes already resolved."""

    value: str
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Null:
    """``null``. Only the parser sees it: ``= null`` becomes ``IsNull``."""

    position: int = _field(default=0, compare=False)


Value: TypeAlias = Number | String | Bool | Null


# -- predicates ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Compare:
    """``field op value`` with ``op`` one of :data:`COMPARE_OPS` (never ``Null``)."""

    field: Field
    op: CompareOp
    value: Number | String | Bool
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class In:
    """``field [not] in (v1, v2, ...)``: at least one value, all of one literal type."""

    field: Field
    values: tuple[Number | String | Bool, ...]
    negated: bool = False
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Like:
    """``field [not] like|ilike 'pattern'``.

    ``%`` matches any run of characters, ``_`` one character, and a backslash makes the
    next character literal (``'100\\%'``). The pattern never ends with a lone backslash.
    """

    field: Field
    pattern: str
    case_insensitive: bool = False
    negated: bool = False
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class IsNull:
    """``field is null`` (``negated``: ``field is not null``)."""

    field: Field
    negated: bool = False
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    item: Expr
    position: int = _field(default=0, compare=False)


Expr: TypeAlias = Compare | In | Like | IsNull | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderItem:
    """One ``order_by`` entry: ``"metrics.auc desc"``."""

    field: Field
    descending: bool = False
    position: int = _field(default=0, compare=False)
