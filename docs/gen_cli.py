"""Regenerate docs/cli.md from the commands' own help (a test checks it is current):

.venv/bin/python docs/gen_cli.py > docs/cli.md
"""

from __future__ import annotations

import click

from runtrack.cli import COMMANDS, LazyGroup, cli


def _help(cmd: click.Command, path: list[str], parent: click.Context | None = None) -> str:
    return cmd.get_help(_ctx(cmd, path, parent))


def _ctx(cmd: click.Command, path: list[str], parent: click.Context | None = None) -> click.Context:
    settings = {"terminal_width": 100, **cmd.context_settings}
    return click.Context(cmd, info_name=path[-1], parent=parent, **settings)


def render() -> str:
    out = [
        "# CLI reference",
        "",
        "Generated from the commands' `--help` by `docs/gen_cli.py`. Every command prints a",
        "readable table or text for people and JSON with `--json` for machines. Errors go to",
        "stderr with a hint and exit code 1 (2 for a malformed query); never a stack trace.",
        "",
        "```",
        _help(cli, ["runtrack"]),
        "```",
    ]
    group = cli
    assert isinstance(group, LazyGroup)
    root = _ctx(group, ["runtrack"])
    for name in sorted(COMMANDS):
        cmd = group.get_command(root, name)
        assert cmd is not None
        out += ["", f"## runtrack {name}", "", "```", _help(cmd, ["runtrack", name], root), "```"]
        if isinstance(cmd, click.Group):
            mid = _ctx(cmd, ["runtrack", name], root)
            for sub in sorted(cmd.commands):
                out += [
                    "",
                    f"### runtrack {name} {sub}",
                    "",
                    "```",
                    _help(cmd.commands[sub], ["runtrack", name, sub], mid),
                    "```",
                ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
