"""The ``runtrack`` command line. Subcommands live in their own modules and are imported
only when run, so ``runtrack --help`` stays fast; heavy libraries load inside commands."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import click

# name -> (module, attribute, one-line help shown by `runtrack --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "ls": ("runtrack.cli.ls", "ls", "List runs, filtered and sorted."),
    "show": ("runtrack.cli.show", "show", "Show one run: config, metrics, provenance."),
    "sync": ("runtrack.cli.sync", "sync", "Ship offline runs and unsent journals, exactly once."),
    "gc": ("runtrack.cli.gc", "gc", "Delete artifact blobs no longer referenced."),
    "db": ("runtrack.cli.db", "db", "Database schema: show the revision, upgrade."),
    "server": ("runtrack.cli.server", "server", "Run the team server (REST API)."),
    "ui": ("runtrack.cli.ui", "ui", "Open the web UI on the embedded store."),
    "admin": ("runtrack.cli.admin", "admin", "Team server users, API tokens and project roles."),
    "artifacts": (
        "runtrack.cli.artifacts",
        "artifacts",
        "Artifacts: list, show, download, aliases, history, delete.",
    ),
    "models": (
        "runtrack.cli.models",
        "models",
        "Model registry: list, show, register, aliases, history, gates.",
    ),
    "lineage": (
        "runtrack.cli.lineage",
        "lineage",
        "Where an artifact, model or run came from (or what came of it).",
    ),
    "rm": ("runtrack.cli.delete", "rm", "Delete runs (asks first on a terminal)."),
    "compare": ("runtrack.cli.compare", "compare", "Compare runs: differences, tests, verdicts."),
    "audit": ("runtrack.cli.audit", "audit", "Score how reproducible a run is, with fixes."),
    "reproduce": (
        "runtrack.cli.reproduce",
        "reproduce",
        "Run a recorded run again from its provenance; verify its metrics.",
    ),
    "sweep": (
        "runtrack.cli.sweep",
        "sweep",
        "Hyperparameter sweeps: create, show, list, stop.",
    ),
    "agent": ("runtrack.cli.sweep", "agent", "Run trials of a sweep (on any number of machines)."),
    "rerun": (
        "runtrack.cli.reproduce",
        "rerun",
        "Run a recorded run again with changed config, linked to it.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        cmd = getattr(import_module(entry[0]), entry[1])
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="runtrack", message="runtrack %(version)s")
def cli() -> None:
    """runtrack: experiment tracking that proves results are reproducible.

    Runs are recorded in the embedded store under RUNTRACK_DIR (default ~/.runtrack) unless
    RUNTRACK_URL names a team server. Every command takes --json for machine output.
    """


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="runtrack")
