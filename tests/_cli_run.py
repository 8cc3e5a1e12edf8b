"""The runtrack CLI run in process, as test modules read it (importable as ``_cli_run``:
``tests/`` is on sys.path): exit code, standard output and error apart, and the
exception a user would have seen as a traceback."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner

from runtrack.cli import cli


@dataclass
class Out:
    code: int
    out: str
    err: str
    exc: BaseException | None

    @property
    def crashed(self) -> str:
        """The unhandled exception (what a user would see as a traceback), or ''."""
        if self.exc is None or isinstance(self.exc, SystemExit):
            return ""
        return f"{type(self.exc).__name__}: {self.exc}"

    def json(self) -> Any:
        return json.loads(self.out)


def invoke(*args: str) -> Out:
    r = CliRunner().invoke(cli, list(args))
    return Out(r.exit_code, r.stdout, r.stderr, r.exception)
