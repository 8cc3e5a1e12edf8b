"""Regenerate the limits table in docs/server.md (between the LIMITS markers):

.venv/bin/python docs/gen_limits.py
"""

from __future__ import annotations

from pathlib import Path

from runtrack.server.limits import DESCRIPTIONS, Limits

DOC = Path(__file__).with_name("server.md")
START, END = "<!-- LIMITS:START -->", "<!-- LIMITS:END -->"


def render() -> str:
    lines = ["| limit | value | what |", "|---|---|---|"]
    for name, value in Limits().table():
        lines.append(f"| `{name}` | {value:,} | {DESCRIPTIONS[name]} |")
    return "\n".join(lines)


def updated(text: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{render()}\n{END}{tail}"


if __name__ == "__main__":
    DOC.write_text(updated(DOC.read_text()))
