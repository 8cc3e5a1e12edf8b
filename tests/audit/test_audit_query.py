"""``audit.<key>`` in the query language: an alias of ``metrics.audit.<key>``."""

from __future__ import annotations

import re

import pytest

from runtrack.errors import QueryError
from runtrack.query import And, Compare, Field, parse_filter, parse_order_by


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("audit.score >= 80", "metrics.audit.score >= 80"),
        ("AUDIT.score >= 80", "metrics.audit.score >= 80"),
        ("audit.seeds = 0 and not audit.code = 1", "metrics.audit.seeds = 0 and not "
         "metrics.audit.code = 1"),
        ("audit.score is null", "metrics.audit.score is null"),
        ("audit.score in (90, 100)", "metrics.audit.score in (90, 100)"),
    ],
)  # fmt: skip
def test_audit_fields_are_summary_metrics(alias: str, canonical: str) -> None:
    assert parse_filter(alias) == parse_filter(canonical)


def test_the_alias_keeps_its_position_and_sorts() -> None:
    expr = parse_filter("config.lr > 0 and audit.score >= 80")
    assert isinstance(expr, And) and isinstance(expr.items[1], Compare)
    field = expr.items[1].field
    assert field == Field("metrics", "audit.score") and field.position == 18
    [item] = parse_order_by(["audit.score desc"])
    assert item.field == Field("metrics", "audit.score") and item.descending


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("audit = 1", "expected '.<key>' after 'audit'"),
        ("audit. = 1", "expected a key after '.'"),
        ("`audit`.score = 1", "unknown field prefix 'audit'"),
        ("audit.score = 'high'", "metric"),
        ("foo.x = 1", "expected config, params, metrics, tags, run or audit"),
    ],
)
def test_mistakes_are_reported(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=re.escape(message)):
        parse_filter(text)
