"""Recursive-descent parser of the run query language.

Grammar (keywords case-insensitive)::

    filter    := or_expr EOF
    or_expr   := and_expr ("or" and_expr)*
    and_expr  := not_expr ("and" not_expr)*
    not_expr  := "not" not_expr | "(" or_expr ")" | predicate
    predicate := field ( op value
                       | ["not"] "in" "(" value ("," value)* ")"
                       | ["not"] ("like" | "ilike") string
                       | "is" ["not"] "null" )
    op        := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    value     := number | string | "true" | "false" | "null"
    order_by  := order_item ("," order_item)*
    order_item:= field ["asc" | "desc"]

Limits keep hostile input cheap: at most :data:`MAX_FILTER_LENGTH` characters, at most
:data:`MAX_DEPTH` nested parentheses / ``not``, at most :data:`MAX_TERMS` predicates and
:data:`MAX_IN_VALUES` values in one ``in (...)``. Nothing is ever evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ..entities import RUN_STATUSES
from ..errors import QueryError
from . import _semantics as sem
from ._lexer import Token, TokenKind, display_text, fail, tokenize
from .ast import (
    And,
    Bool,
    Compare,
    CompareOp,
    Expr,
    Field,
    FieldKind,
    In,
    IsNull,
    Like,
    Not,
    Null,
    Number,
    Or,
    OrderItem,
    String,
    Value,
)

MAX_FILTER_LENGTH: Final = 10_000
MAX_DEPTH: Final = 100
MAX_TERMS: Final = 200
MAX_IN_VALUES: Final = 1_000
MAX_ORDER_ITEMS: Final = 10

_OPS: Final[dict[str, CompareOp]] = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_KEYWORDS: Final = frozenset(
    {"and", "or", "not", "in", "like", "ilike", "is", "null", "true", "false", "asc", "desc"}
)
_FIELD_HELP: Final = "config.<key>, metrics.<key>, tags.<key> or run.<attribute>"
_OPERATOR_HELP: Final = (
    "an operator (=, !=, <, <=, >, >=, in, not in, like, ilike, is null, is not null)"
)


def parse_filter(text: str | None) -> Expr | None:
    """Parse a run filter; ``None`` or a blank text means "every run".

    Raises ``QueryError`` whose ``position`` is the offset of the offending token.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise QueryError(f"a filter must be a string, not {type(text).__name__}")
    if len(text) > MAX_FILTER_LENGTH:
        raise QueryError(
            f"filter is too long: {len(text)} characters (the limit is {MAX_FILTER_LENGTH})",
            position=MAX_FILTER_LENGTH,
        )
    if not text.strip():
        return None
    parser = _Parser(text)
    expr = parser.or_expr()
    parser.expect_end("'and', 'or' or the end of the filter")
    return expr


def parse_order_by(items: str | Sequence[str] | None) -> list[OrderItem]:
    """Parse ``"metrics.auc desc"``, ``"run.name, metrics.auc desc"`` or a list of such.

    Each item is ``<field> [asc|desc]`` (ascending by default). Raises ``QueryError``;
    its ``position`` is an offset in the item (or string) that holds the problem.
    """
    if items is None:
        return []
    if isinstance(items, str):
        texts = [items] if items.strip() else []
    elif isinstance(items, Sequence):
        texts = list(items)
        for t in texts:
            if not isinstance(t, str):
                raise QueryError(f"an order_by item must be a string, not {type(t).__name__}")
            if not t.strip():
                raise QueryError("an order_by item is empty")
    else:
        raise QueryError(
            f"order_by must be a string or a list of strings, not {type(items).__name__}"
        )
    out: list[OrderItem] = []
    for text in texts:
        if len(text) > MAX_FILTER_LENGTH:
            raise QueryError("order_by item is too long", position=MAX_FILTER_LENGTH)
        parser = _Parser(text)
        while True:
            out.append(parser.order_item())
            if len(out) > MAX_ORDER_ITEMS:
                fail(f"too many order_by items (the limit is {MAX_ORDER_ITEMS})", text, 0)
            if parser.peek.kind != ",":
                break
            parser.advance()
        parser.expect_end("',' or the end of the order_by item")
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.terms = 0

    # -- token helpers -------------------------------------------------------------------
    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def kind(self) -> TokenKind:
        return self.tokens[self.i].kind

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def at_keyword(self, *words: str) -> bool:
        return self.peek.keyword in words

    def error(self, message: str, at: Token | Value | int) -> QueryError:
        position = at if isinstance(at, int) else at.position
        return QueryError(message, display_text(self.text), position)

    def expected(self, what: str) -> QueryError:
        tok = self.peek
        return self.error(f"expected {what}, found {tok.describe()}", tok)

    def expect_end(self, what: str) -> None:
        if self.kind() == ")":
            raise self.error("unbalanced ')': no '(' matches it", self.peek)
        if self.kind() != "eof":
            raise self.expected(what)

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"filter is nested too deeply (the limit is {MAX_DEPTH} levels)", tok)

    # -- boolean structure ---------------------------------------------------------------
    def or_expr(self) -> Expr:
        start = self.peek.position
        items = [self.and_expr()]
        while self.at_keyword("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items), start)

    def and_expr(self) -> Expr:
        start = self.peek.position
        items = [self.not_expr()]
        while self.at_keyword("and"):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items), start)

    def not_expr(self) -> Expr:
        tok = self.peek
        if tok.keyword == "not":
            self.advance()
            self.enter(tok)
            item = self.not_expr()
            self.depth -= 1
            return Not(item, tok.position)
        if tok.kind == "(":
            self.advance()
            self.enter(tok)
            expr = self.or_expr()
            if self.kind() != ")":
                if self.kind() == "eof":
                    raise self.error("unbalanced '(': no ')' closes it", tok)
                raise self.expected("'and', 'or' or ')'")
            self.advance()
            self.depth -= 1
            return expr
        return self.predicate()

    # -- predicates ----------------------------------------------------------------------
    def predicate(self) -> Expr:
        f = self.field()
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(
                f"too many conditions in one filter (the limit is {MAX_TERMS})", f.position
            )
        tok = self.peek
        if tok.kind == "op":
            self.advance()
            return self.compare(f, _OPS[str(tok.value)], tok)
        kw = tok.keyword
        if kw == "is":
            self.advance()
            negated = self.at_keyword("not")
            if negated:
                self.advance()
            if not self.at_keyword("null"):
                raise self.expected("'null' or 'not null' after 'is'")
            self.advance()
            return IsNull(f, negated, f.position)
        negated = False
        if kw == "not":
            self.advance()
            negated = True
            kw = self.peek.keyword
            if kw not in ("in", "like", "ilike"):
                raise self.expected("'in', 'like' or 'ilike' after 'not'")
        if kw == "in":
            return self.in_list(f, negated)
        if kw in ("like", "ilike"):
            return self.like(f, negated, kw == "ilike")
        raise self.expected(_OPERATOR_HELP)

    def field(self) -> Field:
        tok = self.peek
        if tok.kind != "word" or (tok.keyword in _KEYWORDS):
            if tok.kind == "eof":
                raise self.error(
                    f"expected a field ({_FIELD_HELP}), found the end of the text", tok
                )
            raise self.expected(f"a field ({_FIELD_HELP})")
        self.advance()
        head = tok.parts[0]
        kind = None if head.quoted else sem.PREFIXES.get(head.text.lower())
        if kind is None:
            if len(tok.parts) == 1:
                raise self.error(
                    f"unknown field {tok.text!r}: fields look like metrics.auc, config.lr, "
                    "tags.stage or run.status",
                    tok,
                )
            raise self.error(
                f"unknown field prefix {head.text!r}: expected config, params, metrics, tags, "
                "run or audit",
                tok,
            )
        rest = tok.parts[1:]
        if not rest:
            raise self.error(f"expected '.<key>' after {head.text!r}", tok.position + len(tok.text))
        for part in rest:
            if not part.text:
                what = "a key" if part is rest[0] else "a key part"
                raise self.error(f"expected {what} after '.'", part.position)
        if kind == "run":
            name = ".".join(p.text for p in rest).lower()
            if name not in sem.RUN_ATTRIBUTES:
                raise self.error(
                    f"unknown run attribute {name!r}: expected one of "
                    + ", ".join(sem.RUN_ATTRIBUTES),
                    rest[0].position,
                )
            return Field("run", name, tok.position)
        key = ".".join(p.text for p in rest)
        if kind in sem.METRIC_ALIASES:  # audit.score -> metrics.audit.score
            key, kind = f"{kind}.{key}", "metrics"
        if len(key) > 250:
            raise self.error("key is too long (the limit is 250 characters)", rest[0].position)
        fk: FieldKind = "config" if kind == "config" else "metrics" if kind == "metrics" else "tags"
        return Field(fk, key, tok.position)

    def value(self) -> Value:
        tok = self.peek
        if tok.kind == "number":
            self.advance()
            assert isinstance(tok.value, int | float)
            return Number(tok.value, tok.position)
        if tok.kind == "string":
            self.advance()
            assert isinstance(tok.value, str)
            return String(tok.value, tok.position)
        kw = tok.keyword
        if kw in ("true", "false"):
            self.advance()
            return Bool(kw == "true", tok.position)
        if kw == "null":
            self.advance()
            return Null(tok.position)
        if tok.kind == "word" and kw not in _KEYWORDS:
            raise self.error(
                "expected a literal value (number, 'string', true, false or null), found "
                f"{tok.describe()}: a field cannot be compared with another field",
                tok,
            )
        raise self.expected("a literal value (number, 'string', true, false or null)")

    def compare(self, f: Field, op: CompareOp, op_tok: Token) -> Expr:
        v = self.value()
        if isinstance(v, Null):
            if op == "=":
                return IsNull(f, False, f.position)
            if op == "!=":
                return IsNull(f, True, f.position)
            raise self.error(f"null cannot be compared with {op_tok.text!r}; use 'is null'", v)
        self.check_value(f, v, op)
        return Compare(f, op, v, f.position)

    def in_list(self, f: Field, negated: bool) -> Expr:
        in_tok = self.advance()
        if self.kind() != "(":
            raise self.expected("'(' after 'in'")
        self.advance()
        if self.kind() == ")":
            raise self.error("'in ()' needs at least one value", self.peek)
        values: list[Number | String | Bool] = []
        while True:
            v = self.value()
            if isinstance(v, Null):
                raise self.error("null is not allowed in 'in (...)'; use 'is null'", v)
            if values and type(v) is not type(values[0]):
                raise self.error(
                    f"all values of 'in (...)' must be of one type: expected {_kind(values[0])}, "
                    f"found {_kind(v)}",
                    v,
                )
            self.check_value(f, v, "=")
            values.append(v)
            if len(values) > MAX_IN_VALUES:
                raise self.error(f"too many values in 'in (...)' (limit {MAX_IN_VALUES})", v)
            if self.kind() == ",":
                self.advance()
                continue
            if self.kind() == ")":
                self.advance()
                break
            if self.kind() == "eof":
                raise self.error("unbalanced '(': no ')' closes it", in_tok.position)
            raise self.expected("',' or ')'")
        return In(f, tuple(values), negated, f.position)

    def like(self, f: Field, negated: bool, ci: bool) -> Expr:
        like_tok = self.advance()
        ftype = sem.field_type(f)
        if ftype in ("number", "time"):
            raise self.error(f"'{like_tok.text}' needs a string field; {f} is a number", like_tok)
        tok = self.peek
        if tok.kind != "string":
            raise self.expected(f"a quoted pattern after '{like_tok.text}'")
        self.advance()
        assert isinstance(tok.value, str)
        try:
            sem.like_segments(tok.value)
        except ValueError:
            raise self.error(
                "the pattern ends with a lone backslash (write '\\\\\\\\' for a literal one)",
                tok,
            ) from None
        return Like(f, tok.value, ci, negated, f.position)

    # -- type checks ---------------------------------------------------------------------
    def check_value(self, f: Field, v: Number | String | Bool, op: CompareOp) -> None:
        ftype = sem.field_type(f)
        if isinstance(v, Bool):
            if ftype != "config":
                raise self.error(f"{f} cannot be compared with a boolean", v)
            if op not in ("=", "!="):
                raise self.error(f"a boolean can only be compared with = or !=, not {op}", v)
            return
        if ftype == "number" and not isinstance(v, Number):
            raise self.error(f"{f} is a number: expected a number, found a string", v)
        if ftype == "status" and (not isinstance(v, String) or v.value not in RUN_STATUSES):
            raise self.error("run.status is one of " + ", ".join(repr(s) for s in RUN_STATUSES), v)
        if ftype == "time" and isinstance(v, String):
            try:
                sem.parse_timestamp(v.value)
            except ValueError:
                raise self.error(
                    f"{f} compares with epoch seconds or an ISO-8601 date such as "
                    "'2026-11-01' or '2026-11-01T10:00:00Z'",
                    v,
                ) from None

    # -- order_by ------------------------------------------------------------------------
    def order_item(self) -> OrderItem:
        f = self.field()
        descending = False
        kw = self.peek.keyword
        if kw in ("asc", "desc"):
            self.advance()
            descending = kw == "desc"
        elif self.kind() not in (",", "eof"):
            raise self.expected("'asc', 'desc', ',' or the end of the order_by item")
        return OrderItem(f, descending, f.position)


def _kind(v: Value) -> str:
    return {Number: "a number", String: "a string", Bool: "a boolean", Null: "null"}[type(v)]
