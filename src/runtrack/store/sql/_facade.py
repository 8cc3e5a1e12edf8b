"""``SqlFacade``: what ``SqlStore`` (the facade in ``store``) provides to its method mixins
(``_catalog.CatalogMethods``, ``_sweeps.SweepMethods``), declared once: the clock, the
transaction helpers and the few lower-level steps the mixins build on."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from ...entities import NewRun, RunBatch, RunRecord, WriteResult

T = TypeVar("T")


class SqlFacade(abc.ABC):
    """The base of ``SqlStore``'s mixins; ``SqlStore`` implements every method here."""

    _clock: Callable[[], float]

    @abc.abstractmethod
    def _read(self, what: str, fn: Callable[[Connection], T]) -> T: ...

    @abc.abstractmethod
    def _write(self, what: str, fn: Callable[[Connection], T]) -> T: ...

    @abc.abstractmethod
    def _project_id(self, conn: Connection, name: str, create: bool) -> int | None: ...

    @abc.abstractmethod
    def _get(self, conn: Connection, run_id: str) -> RunRecord: ...

    @abc.abstractmethod
    def _create_tx(
        self,
        conn: Connection,
        items: Sequence[NewRun],
        checked: Sequence[Any],
        *,
        strict: bool,
        now: float,
    ) -> list[WriteResult]: ...

    @abc.abstractmethod
    def _apply_tx(self, conn: Connection, batch: RunBatch) -> WriteResult: ...

    @abc.abstractmethod
    def _sweep_stale(self) -> None: ...
