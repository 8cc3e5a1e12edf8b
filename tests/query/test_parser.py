"""The run query language: grammar, literals, fields, error positions, hostile input."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import subprocess
import sys

import pytest

from runtrack.errors import QueryError, ValidationError
from runtrack.query import (
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    MAX_TERMS,
    And,
    Bool,
    Compare,
    Field,
    In,
    IsNull,
    Like,
    Not,
    Number,
    Or,
    OrderItem,
    String,
    parse_filter,
    parse_order_by,
)

M = Field("metrics", "x")
C = Field("config", "x")
T = Field("tags", "x")


def f(text: str):  # type: ignore[no-untyped-def]
    return parse_filter(text)


def err(text: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        parse_filter(text)
    return info.value


# -- structure ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_empty_filter_means_everything(text: str | None) -> None:
    assert parse_filter(text) is None


def test_precedence_not_over_and_over_or() -> None:
    a, b, c = (Compare(Field("metrics", k), ">", Number(1)) for k in "abc")
    assert f("metrics.a > 1 or metrics.b > 1 and metrics.c > 1") == Or((a, And((b, c))))
    assert f("metrics.a > 1 and metrics.b > 1 or metrics.c > 1") == Or((And((a, b)), c))
    assert f("not metrics.a > 1 and metrics.b > 1") == And((Not(a), b))
    assert f("not (metrics.a > 1 and metrics.b > 1)") == Not(And((a, b)))
    assert f("(metrics.a > 1 or metrics.b > 1) and metrics.c > 1") == And((Or((a, b)), c))
    assert f("not not metrics.a > 1") == Not(Not(a))
    assert f("((metrics.a > 1))") == a


def test_chains_are_flat() -> None:
    e = f(" and ".join(f"metrics.k{i} = {i}" for i in range(50)))
    assert isinstance(e, And) and len(e.items) == 50


@pytest.mark.parametrize(
    ("text", "op"),
    [("=", "="), ("==", "="), ("!=", "!="), ("<>", "!="), ("<", "<"), ("<=", "<="),
     (">", ">"), (">=", ">=")],
)  # fmt: skip
def test_comparison_operators(text: str, op: str) -> None:
    assert f(f"metrics.x {text} 1") == Compare(M, op, Number(1))  # type: ignore[arg-type]
    assert f(f"metrics.x{text}1") == Compare(M, op, Number(1))  # type: ignore[arg-type]


def test_set_pattern_and_null_operators() -> None:
    assert f("tags.x in ('a', 'b')") == In(T, (String("a"), String("b")))
    assert f("tags.x not in ('a')") == In(T, (String("a"),), negated=True)
    assert f("tags.x IN('a',\"b\")") == In(T, (String("a"), String("b")))
    assert f("tags.x like 'a%'") == Like(T, "a%")
    assert f("tags.x ilike 'a%'") == Like(T, "a%", case_insensitive=True)
    assert f("tags.x not like 'a%'") == Like(T, "a%", negated=True)
    assert f("tags.x NOT ILIKE 'a%'") == Like(T, "a%", case_insensitive=True, negated=True)
    assert f("tags.x is null") == IsNull(T)
    assert f("tags.x IS NOT NULL") == IsNull(T, negated=True)
    assert f("tags.x = null") == IsNull(T)
    assert f("tags.x != NULL") == IsNull(T, negated=True)
    assert f("tags.x <> null") == IsNull(T, negated=True)


@pytest.mark.parametrize(
    "text",
    ["metrics.x > 1 AND metrics.x < 2", "metrics.x > 1 And metrics.x < 2",
     "metrics.x > 1 aNd metrics.x < 2"],
)  # fmt: skip
def test_keywords_are_case_insensitive(text: str) -> None:
    assert f(text) == And((Compare(M, ">", Number(1)), Compare(M, "<", Number(2))))


def test_keywords_in_other_positions_are_case_insensitive() -> None:
    assert f("config.x = TRUE or config.x = False") == Or(
        (Compare(C, "=", Bool(True)), Compare(C, "=", Bool(False)))
    )
    assert f("NOT tags.x Is Not Null") == Not(IsNull(T, negated=True))
    assert f("tags.x In ('a') OR tags.x LiKe 'b'") == Or((In(T, (String("a"),)), Like(T, "b")))


# -- literals -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1), ("-2", -2), ("+3", 3), ("0", 0), (".5", 0.5), ("-.5", -0.5), ("3.", 3.0),
     ("1e-3", 0.001), ("1E3", 1000.0), ("2.5e+2", 250.0), ("007", 7), ("1.25", 1.25),
     ("123456789012345678901234567890", 123456789012345678901234567890)],
)  # fmt: skip
def test_numbers(text: str, value: float) -> None:
    e = f(f"metrics.x = {text}")
    assert isinstance(e, Compare) and isinstance(e.value, Number)
    assert e.value.value == value
    assert type(e.value.value) is type(value)


@pytest.mark.parametrize(
    ("text", "value"),
    [("'abc'", "abc"), ('"abc"', "abc"), ("''", ""), ("'it''s'", "it's"),
     ('"say ""hi"""', 'say "hi"'), (r"'it\'s'", "it's"), (r'"a\"b"', 'a"b'),
     (r"'a\\b'", "a\\b"), (r"'a\"b'", 'a"b'), (r"'100\%'", "100\\%"), (r"'a\nb'", "a\\nb"),
     ("'a\"b'", 'a"b'), ("\"a'b\"", "a'b"), ("'über ✓ 数'", "über ✓ 数"),
     ("'tab\there'", "tab\there"), ("'multi\nline'", "multi\nline")],
)  # fmt: skip
def test_strings(text: str, value: str) -> None:
    e = f(f"tags.x = {text}")
    assert isinstance(e, Compare) and e.value == String(value)


def test_booleans_and_null() -> None:
    assert f("config.x = true") == Compare(C, "=", Bool(True))
    assert f("config.x != false") == Compare(C, "!=", Bool(False))
    assert f("config.x in (true, false)") == In(C, (Bool(True), Bool(False)))


# -- fields ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "field"),
    [("config.lr", Field("config", "lr")), ("params.lr", Field("config", "lr")),
     ("config.model.depth", Field("config", "model.depth")),
     ("config.layers.0.size", Field("config", "layers.0.size")),
     ("metrics.val/acc", Field("metrics", "val/acc")),
     ("metrics.train.loss", Field("metrics", "train.loss")),
     ("metrics.my-metric_2", Field("metrics", "my-metric_2")),
     ("metrics.`val loss`", Field("metrics", "val loss")),
     ("metrics.`a``b`", Field("metrics", "a`b")),
     ("metrics.`x y`.z", Field("metrics", "x y.z")),
     ("metrics.pre`x y`post", Field("metrics", "prex ypost")),
     ("metrics.`and`", Field("metrics", "and")),
     ("metrics.`100%`", Field("metrics", "100%")),
     ("tags.stage", Field("tags", "stage")),
     ("tags.ünï", Field("tags", "ünï")),
     ("Metrics.auc", Field("metrics", "auc")),
     ("CONFIG.LR", Field("config", "LR")),
     ("run.status", Field("run", "status")), ("RUN.Start_Time", Field("run", "start_time"))],
)  # fmt: skip
def test_fields(text: str, field: Field) -> None:
    e = f(f"{text} is null")
    assert isinstance(e, IsNull) and e.field == field


@pytest.mark.parametrize(
    "attr",
    ["id", "name", "status", "user", "host", "group", "parent", "start_time", "end_time",
     "duration"],
)  # fmt: skip
def test_every_run_attribute(attr: str) -> None:
    assert f(f"run.{attr} is not null") == IsNull(Field("run", attr), negated=True)


def test_run_attribute_literals() -> None:
    assert f("run.status in ('running', 'crashed')") == In(
        Field("run", "status"), (String("running"), String("crashed"))
    )
    assert f("run.start_time >= '2026-11-01'") == Compare(
        Field("run", "start_time"), ">=", String("2026-11-01")
    )
    assert f("run.end_time < 1800000000.5") == Compare(
        Field("run", "end_time"), "<", Number(1800000000.5)
    )
    assert f("run.name = 5") == Compare(Field("run", "name"), "=", Number(5))
    assert f("run.name like 'exp-%'") == Like(Field("run", "name"), "exp-%")


def test_positions() -> None:
    e = f("metrics.a > 1 and (not config.b in ('x', 'y') or tags.c like 'z')")
    assert isinstance(e, And)
    cmp_, rest = e.items
    assert isinstance(cmp_, Compare) and isinstance(rest, Or)
    assert (cmp_.position, cmp_.field.position, cmp_.value.position) == (0, 0, 12)
    not_, like = rest.items
    assert isinstance(not_, Not) and isinstance(like, Like)
    assert not_.position == 19
    in_ = not_.item
    assert isinstance(in_, In)
    assert in_.field.position == 23 and [v.position for v in in_.values] == [36, 41]
    assert like.position == like.field.position == 49


def test_nodes_are_frozen_and_slotted() -> None:
    e = f("metrics.x = 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.op = "!="  # type: ignore[misc,union-attr]
    assert not hasattr(e, "__dict__")


# -- order_by -------------------------------------------------------------------------------------
def test_order_by() -> None:
    auc = Field("metrics", "auc")
    assert parse_order_by("metrics.auc") == [OrderItem(auc)]
    assert parse_order_by("metrics.auc desc") == [OrderItem(auc, True)]
    assert parse_order_by("metrics.auc DESC") == [OrderItem(auc, True)]
    assert parse_order_by("metrics.auc Asc") == [OrderItem(auc, False)]
    assert parse_order_by(["metrics.auc desc", "params.lr"]) == [
        OrderItem(auc, True),
        OrderItem(Field("config", "lr")),
    ]
    assert parse_order_by("metrics.auc desc, run.name") == [
        OrderItem(auc, True),
        OrderItem(Field("run", "name")),
    ]
    assert parse_order_by(("metrics.`a b` desc",)) == [OrderItem(Field("metrics", "a b"), True)]
    assert parse_order_by([]) == parse_order_by("") == parse_order_by("  ") == []
    assert parse_order_by(None) == []


@pytest.mark.parametrize(
    ("items", "position", "message"),
    [("metrics.auc up", 12, "expected 'asc', 'desc'"), ("metrics.auc desc desc", 17, "expected"),
     ("auc desc", 0, "unknown field"), ("metrics.auc desc,", 17, "expected a field"),
     (["metrics.auc", "foo.x"], 0, "unknown field prefix"), ([""], None, "empty"),
     (["metrics.auc", 3], None, "must be a string"), ("run.bogus", 4, "unknown run attribute"),
     (", ".join(["metrics.a"] * 11), 0, "too many"), ("metrics.x = 1", 10, "expected")],
)  # fmt: skip
def test_order_by_errors(items: object, position: int | None, message: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_order_by(items)  # type: ignore[arg-type]
    assert message in info.value.reason
    assert info.value.position == position


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("foo.x = 1", 0, "unknown field prefix 'foo'"),
        ("auc > 0.9", 0, "unknown field 'auc'"),
        ("run.bogus = 1", 4, "unknown run attribute 'bogus'"),
        ("run.project = 'a'", 4, "unknown run attribute"),
        ("metrics. = 1", 8, "expected a key"),
        ("metrics = 1", 7, "expected '.<key>'"),
        ("config.a..b = 1", 9, "expected a key part"),
        ("config.a. = 1", 9, "expected a key part"),
        ("metrics.`` = 1", 8, "expected a key"),
        ("metrics.x = 1 garbage", 14, "expected 'and', 'or' or the end"),
        ("metrics.x = 1 metrics.y = 2", 14, "expected 'and', 'or'"),
        ("metrics.x = 1 and", 17, "expected a field"),
        ("and metrics.x = 1", 0, "expected a field"),
        ("(metrics.x = 1", 0, "unbalanced '('"),
        ("((metrics.x = 1)", 0, "unbalanced '('"),
        ("metrics.x = 1)", 13, "unbalanced ')'"),
        ("(metrics.x = 1 metrics.y)", 15, "expected 'and', 'or' or ')'"),
        ("()", 1, "expected a field"),
        ("tags.x = 'abc", 9, "unterminated string"),
        ('tags.x = "abc', 9, "unterminated string"),
        ("tags.x = 'abc\\'", 9, "unterminated string"),
        ("metrics.`x = 1", 8, "unterminated `quoted` key"),
        ("metrics.x in ()", 14, "at least one value"),
        ("metrics.x in 1", 13, "expected '(' after 'in'"),
        ("metrics.x in (1, 2", 10, "unbalanced '('"),
        ("metrics.x in (1 2)", 16, "expected ',' or ')'"),
        ("metrics.x in (1,)", 16, "expected a literal value"),
        ("metrics.x in (1, null)", 17, "null is not allowed"),
        ("config.x in (1, 'a')", 16, "must be of one type"),
        ("config.x in ('a', true)", 18, "must be of one type"),
        ("metrics.x = metrics.y", 12, "cannot be compared with another field"),
        ("metrics.x = (1)", 12, "expected a literal value"),
        ("metrics.x =", 11, "expected a literal value"),
        ("metrics.x", 9, "expected an operator"),
        ("metrics.x between 1 and 2", 10, "expected an operator"),
        ("metrics.x is 5", 13, "'null' or 'not null'"),
        ("metrics.x is not 5", 17, "'null' or 'not null'"),
        ("metrics.x not 5", 14, "'in', 'like' or 'ilike'"),
        ("metrics.x ! 1", 10, "unexpected character '!'"),
        ("metrics.x = 1;", 13, "unexpected character ';'"),
        ("run.status = 'bogus'", 13, "run.status is one of"),
        ("run.status in ('running', 'done')", 26, "run.status is one of"),
        ("run.status = 1", 13, "run.status is one of"),
        ("metrics.x = 'abc'", 12, "is a number"),
        ("metrics.x in ('a')", 14, "is a number"),
        ("metrics.x = true", 12, "cannot be compared with a boolean"),
        ("tags.x = false", 9, "cannot be compared with a boolean"),
        ("metrics.x like 'a%'", 10, "needs a string field"),
        ("metrics.x not ilike 'a%'", 14, "needs a string field"),
        ("run.duration like '1%'", 13, "needs a string field"),
        ("run.start_time like '2026%'", 15, "needs a string field"),
        ("tags.x like 5", 12, "expected a quoted pattern"),
        ("tags.x like 'ab\\\\'", 12, "lone backslash"),
        ("config.x < true", 11, "only be compared with = or !="),
        ("metrics.x < null", 12, "null cannot be compared"),
        ("run.start_time > '2026-13-01'", 17, "ISO-8601"),
        ("run.end_time < 'yesterday'", 15, "ISO-8601"),
        ("run.start_time > true", 17, "boolean"),
        ("metrics.x = 1e", 12, "malformed number"),
        ("metrics.x = 1.2.3", 12, "malformed number"),
        ("metrics.x = 12abc", 12, "malformed number"),
        ("metrics.x = 1e400", 12, "out of range"),
        ("metrics.x = -1e999", 12, "out of range"),
        ("metrics.x = " + "9" * 5000, 12, "out of range"),
        ("metrics.x = 1 && metrics.y = 2", 14, "unexpected character '&'"),
        ("metrics.x = 1 || metrics.y = 2", 14, "unexpected character '|'"),
        ("metrics." + "k" * 251 + " = 1", 8, "key is too long"),
    ],
)
def test_errors_point_at_the_offending_token(text: str, position: int, message: str) -> None:
    e = err(text)
    assert message in e.reason, e.reason
    assert e.position == position, str(e)
    assert isinstance(e, ValidationError)
    assert e.to_dict()["position"] == position
    lines = str(e).splitlines()  # message, the text, a caret under the position
    assert lines[-1].index("^") - 2 == position
    assert lines[-2].strip() == text.strip() or "\N{REPLACEMENT CHARACTER}" in lines[-2]


def test_error_display_replaces_control_characters() -> None:
    e = err("tags.x = 'a\x00b'")
    assert e.position == 11 and "NUL" in e.reason
    shown = str(e).splitlines()[-2]
    assert "\x00" not in shown and len(shown) == len("  tags.x = 'a\x00b'")


def test_not_a_string() -> None:
    with pytest.raises(QueryError, match="must be a string"):
        parse_filter(123)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="must be a string or a list"):
        parse_order_by(123)  # type: ignore[arg-type]


# -- hostile input --------------------------------------------------------------------------------
def test_deep_parentheses() -> None:
    ok = "(" * MAX_DEPTH + "metrics.x = 1" + ")" * MAX_DEPTH
    assert f(ok) == Compare(M, "=", Number(1))
    e = err("(" * (MAX_DEPTH + 1) + "metrics.x = 1" + ")" * (MAX_DEPTH + 1))
    assert "nested too deeply" in e.reason and e.position == MAX_DEPTH
    e = err("(" * 5000)  # within the length limit, far beyond the recursion limit
    assert "nested too deeply" in e.reason


def test_deep_not_chain() -> None:
    e = err("not " * 2000 + "metrics.x = 1")
    assert "nested too deeply" in e.reason and e.position == 4 * MAX_DEPTH
    assert isinstance(f("not " * MAX_DEPTH + "metrics.x = 1"), Not)


def test_mixed_deep_nesting() -> None:
    e = err("not (" * 60 + "metrics.x = 1" + ")" * 60)
    assert "nested too deeply" in e.reason


def test_length_limit() -> None:
    long_ok = "tags.x = '" + "a" * (MAX_FILTER_LENGTH - 11) + "'"
    assert len(long_ok) == MAX_FILTER_LENGTH
    assert isinstance(f(long_ok), Compare)
    e = err(long_ok + " ")
    assert "too long" in e.reason and e.position == MAX_FILTER_LENGTH
    assert len(str(e)) < 200  # the huge text is not echoed
    e = err("x" * 10_000_000)
    assert "too long" in e.reason


def test_term_limit() -> None:
    many = " or ".join(f"metrics.k = {i}" for i in range(MAX_TERMS))
    assert isinstance(f(many), Or)
    e = err(many + " or metrics.k = 1")
    assert "too many conditions" in e.reason


def test_in_list_limit() -> None:
    e = err("metrics.x in (" + ",".join(["1"] * 1001) + ")")
    assert "too many values" in e.reason


@pytest.mark.parametrize(
    ("text", "position"),
    [("metrics.x\x00 = 1", 9), ("\x00", 0), ("tags.x = '\x00'", 10), ("metrics.`a\x00` = 1", 10),
     ("metrics.x = 1\x01", 13), ("metrics.x\x7f = 1", 9), ("metrics.x = 1 \x1b[31m", 14),
     ("tags.x = '\ud800'", 10), ("metrics.\ud83d = 1", 8), ("\u200bmetrics.x = 1", 0)],
)  # fmt: skip
def test_nul_control_and_invalid_characters(text: str, position: int) -> None:
    assert err(text).position == position


def test_whitespace_of_every_kind() -> None:
    assert f("\tmetrics.x\r\n=\f1\v") == Compare(M, "=", Number(1))


def test_unicode() -> None:
    assert f("tags.ключ = 'значение ✓'") == Compare(
        Field("tags", "ключ"), "=", String("значение ✓")
    )
    assert f("metrics.`损失 📉` < 1") == Compare(Field("metrics", "损失 📉"), "<", Number(1))
    assert f("tags.x = '🎉'") == Compare(T, "=", String("🎉"))


@pytest.mark.parametrize(
    "text",
    ["__import__('os').system('echo hi')", "metrics.x = __import__('os')",
     "metrics.x = 1; DROP TABLE runs", "metrics.x = 1 -- comment", "metrics.x = 1 /* c */",
     "lambda: 1", "metrics.x = eval('1')", "{{7*7}}", "${jndi:ldap://x}", "metrics.x = 0x10"],
)  # fmt: skip
def test_code_is_never_evaluated(text: str) -> None:
    with pytest.raises(QueryError):
        parse_filter(text)


def test_injection_text_stays_a_literal() -> None:
    e = f("tags.x = '''; drop table runs; --'")
    assert e == Compare(T, "=", String("'; drop table runs; --"))


def test_random_input_only_ever_raises_query_error() -> None:
    """Fuzz: any text parses or raises QueryError -- never another exception."""
    rnd = random.Random(1234)
    pieces = [
        "metrics.x", "config.a.b", "tags.t", "run.status", "run.start_time", "params.`q r`",
        "=", "!=", "<", ">=", "==", "<>", "in", "not", "like", "ilike", "is", "null", "and",
        "or", "(", ")", ",", "'s'", '"d"', "1", "-2.5e3", ".5", "true", "false", "'running'",
        "'2026-11-01'", "`", "'", '"', "\\", ".", "\x00", "é", " ", "((", "))", "%", "_",
    ]  # fmt: skip
    alphabet = "abc.`'\"()=<>!, \\%_01e-+\x00\t\néx"
    parsed = 0
    for _ in range(4000):
        if rnd.random() < 0.7:
            text = " ".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 12)))
        else:
            text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 30)))
        try:
            parse_filter(text)
            parsed += 1
        except QueryError as exc:
            assert exc.position is None or 0 <= exc.position <= len(text)
        with contextlib.suppress(QueryError):
            parse_order_by(text)
    assert parsed > 10  # the generator does hit valid filters too


def test_the_package_needs_only_the_standard_library() -> None:
    """The SDK imports it: no SQLAlchemy (or anything else heavy) comes with it."""
    code = (
        "import sys, runtrack.query as q; q.parse_filter('metrics.x > 1'); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'psycopg', 'numpy', 'runtrack') and m not in "
        "('runtrack', 'runtrack.errors', 'runtrack.entities') and "
        "not m.startswith('runtrack.query')); print(bad); sys.exit(bool(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
