"""Tokens of the run query language.

A hand-written scanner over the source text. Token kinds:

* ``word``: a field path or a keyword. It starts with a letter, ``_`` or a backtick and
  runs on over letters, digits, ``_ - / .`` and backtick-quoted parts (```val loss```,
  a doubled backtick inside stands for one). Unquoted dots split it into parts:
  ``metrics.`val loss`.x`` has the parts ``metrics``, ``val loss``, ``x``.
* ``number``: ``1``, ``-2``, ``.5``, ``3.``, ``1e-3``, ``+4E+2``. A number that runs into
  a letter, digit, ``_`` or ``.`` (``1e``, ``1.2.3``) is an error.
* ``string``: ``'...'`` or ``"..."``. ``\\\\``, ``\\'`` and ``\\"`` stand for ``\\``,
  ``'`` and ``"``; a doubled quote stands for one quote; a backslash before any other
  character is kept as it is (so ``like '100\\%'`` reaches the pattern intact).
* ``op`` (``= == != <> < <= > >=``), ``(``, ``)``, ``,`` and ``eof``.

Whitespace is space, tab, CR, LF, FF and VT. Any other control character outside a
string, a NUL or lone surrogate anywhere, is an error with its position.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, NoReturn, TypeAlias

from ..errors import QueryError

TokenKind: TypeAlias = Literal["word", "number", "string", "op", "(", ")", ",", "eof"]

_WHITESPACE = frozenset(" \t\r\n\f\v")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_OPERATORS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">")
_OP_CHARS = frozenset("=!<>")


@dataclass(frozen=True, slots=True)
class Part:
    """One dot-separated part of a word, with the position where it starts."""

    text: str
    position: int
    quoted: bool


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # the source text of the token (for messages)
    position: int
    value: str | int | float | None = None  # string value, number value, or operator
    parts: tuple[Part, ...] = ()  # words only

    @property
    def keyword(self) -> str | None:
        """The lower-cased word if it could be a keyword (one unquoted part), else None."""
        if self.kind == "word" and len(self.parts) == 1 and not self.parts[0].quoted:
            return self.parts[0].text.lower()
        return None

    def describe(self) -> str:
        if self.kind == "eof":
            return "the end of the text"
        text = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return repr(text)


def display_text(text: str) -> str:
    """The text as shown above the caret of an error: one printable cell per character."""
    return "".join(c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in text)


def fail(message: str, text: str, position: int) -> NoReturn:
    raise QueryError(message, display_text(text), position)


def _is_word_start(c: str) -> bool:
    return c.isalpha() or c == "_" or c == "`"


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c in "_-/."


def _check_char(text: str, i: int) -> None:
    c = text[i]
    if c == "\x00":
        fail("NUL character is not allowed", text, i)
    if "\ud800" <= c <= "\udfff":
        fail("invalid character (lone surrogate)", text, i)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``eof`` token. Raises ``QueryError``."""
    tokens: list[Token] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c in _WHITESPACE:
            i += 1
            continue
        _check_char(text, i)
        if c in "(),":
            tokens.append(Token(c, c, i))  # type: ignore[arg-type]
            i += 1
        elif c in _OP_CHARS:
            for op in _OPERATORS:
                if text.startswith(op, i):
                    tokens.append(Token("op", op, i, op))
                    i += len(op)
                    break
            else:
                fail(f"unexpected character {c!r}; did you mean '!='?", text, i)
        elif c in "'\"":
            i = _scan_string(text, i, tokens)
        elif _starts_number(text, i):
            i = _scan_number(text, i, tokens)
        elif _is_word_start(c):
            i = _scan_word(text, i, tokens)
        else:
            fail(f"unexpected character {c!r}", text, i)
    tokens.append(Token("eof", "", n))
    return tokens


def _starts_number(text: str, i: int) -> bool:
    c = text[i]
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if c.isascii() and c.isdigit():
        return True
    if c == "." and nxt.isascii() and nxt.isdigit():
        return True
    if c in "+-":
        after = text[i + 2] if i + 2 < len(text) else ""
        return (nxt.isascii() and nxt.isdigit()) or (
            nxt == "." and after.isascii() and after.isdigit()
        )
    return False


def _scan_number(text: str, start: int, tokens: list[Token]) -> int:
    m = _NUMBER.match(text, start)
    assert m is not None  # _starts_number guarantees a match
    end = m.end()
    if end < len(text) and (_is_word_char(text[end]) or text[end] == "`"):
        stop = end
        while stop < len(text) and (_is_word_char(text[stop]) or text[stop] == "`"):
            stop += 1
        fail(f"malformed number {text[start:stop]!r}", text, start)
    raw = m.group()
    value: int | float
    try:
        value = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
        if not math.isfinite(float(value)):
            raise OverflowError(raw)
    except (ValueError, OverflowError):  # int(): too many digits; float(): too large
        fail(f"number {raw[:40]!r} is out of range", text, start)
    tokens.append(Token("number", raw, start, value))
    return end


def _scan_string(text: str, start: int, tokens: list[Token]) -> int:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                break
            nxt = text[i + 1]
            _check_char(text, i + 1)
            if nxt in "\\'\"":
                out.append(nxt)
            else:
                out.append(c)
                out.append(nxt)
            i += 2
            continue
        if c == quote:
            if i + 1 < n and text[i + 1] == quote:
                out.append(quote)
                i += 2
                continue
            tokens.append(Token("string", text[start : i + 1], start, "".join(out)))
            return i + 1
        _check_char(text, i)
        out.append(c)
        i += 1
    fail(f"unterminated string: no closing {quote}", text, start)


def _scan_word(text: str, start: int, tokens: list[Token]) -> int:
    parts: list[Part] = []
    buf: list[str] = []
    part_start = start
    quoted = False
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == "`":
            quoted = True
            j = i + 1
            while True:
                if j >= n:
                    fail("unterminated `quoted` key: no closing `", text, i)
                if text[j] == "`":
                    if j + 1 < n and text[j + 1] == "`":
                        buf.append("`")
                        j += 2
                        continue
                    break
                _check_char(text, j)
                buf.append(text[j])
                j += 1
            i = j + 1
        elif c == ".":
            parts.append(Part("".join(buf), part_start, quoted))
            buf, quoted, part_start = [], False, i + 1
            i += 1
        elif _is_word_char(c):
            buf.append(c)
            i += 1
        else:
            break
    parts.append(Part("".join(buf), part_start, quoted))
    tokens.append(Token("word", text[start:i], start, None, tuple(parts)))
    return i
