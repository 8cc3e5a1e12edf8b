"""Regenerate docs/settings.md from runtrack.settings.SETTINGS:

.venv/bin/python docs/gen_settings.py > docs/settings.md
"""

from __future__ import annotations

from runtrack.settings import SETTINGS


def render() -> str:
    lines = [
        "# Settings",
        "",
        "Every setting is an environment variable, read when a run starts (`runtrack.init`),",
        "when an `Api` is created and by the CLI. Defaults need no configuration.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for s in SETTINGS:
        default = "unset" if s.default is None else f"`{s.default}`"
        if s.name == "dir":
            default = "`~/.runtrack`"
        lines.append(f"| `{s.env}` | {default} | {s.help} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
