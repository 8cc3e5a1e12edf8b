"""The live mappings of a run: ``run.config`` and ``run.summary``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .. import configdoc
from ..entities import FrozenMap
from ..errors import ValidationError
from ..validation import check_key
from ._config import normalize_config


class RunConfig(FrozenMap):
    """The recorded config: a read-only nested mapping that accepts new keys.

    ``run.config.update({"epochs": 10})`` (or ``run.config["epochs"] = 10``) records new
    keys; changing a recorded value raises ``ConfigError``. ``run.config.lr`` is
    ``run.config["lr"]``.
    """

    __slots__ = ("_record",)

    def __init__(self, data: Mapping[str, Any], record: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(dict(data))
        object.__setattr__(self, "_record", record)

    def update(self, values: Any = None, /, **kwargs: Any) -> None:
        new = normalize_config(values) if values is not None else {}
        if kwargs:
            new = configdoc.merge(new, normalize_config(kwargs))
        if not new:
            return
        merged = configdoc.merge(self._data, new)  # raises ConfigError, nothing changes
        configdoc.flatten(merged)
        self._record(new)
        self._data = merged

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __repr__(self) -> str:
        return f"RunConfig({self._data!r})"


class RunSummary(Mapping[str, Any]):
    """Final values of a run: each metric's last logged value unless set explicitly with
    ``run.summary[key] = value`` (a number, string, bool, None, list or dict)."""

    def __init__(
        self,
        last_values: Callable[[], dict[str, float]],
        record: Callable[[dict[str, Any]], None],
        initial: Mapping[str, Any] | None = None,
    ) -> None:
        self._last_values = last_values
        self._record = record
        self._set: dict[str, Any] = dict(initial or {})

    def _merged(self) -> dict[str, Any]:
        out = self._last_values()
        out.update(self._set)
        return out

    def __getitem__(self, key: str) -> Any:
        if key in self._set:
            return self._set[key]
        return self._last_values()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged())

    def __len__(self) -> int:
        return len(self._merged())

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def update(self, values: Mapping[str, Any]) -> None:
        if not isinstance(values, Mapping):
            raise ValidationError(f"summary.update takes a dict, got {type(values).__name__}")
        for k in values:
            check_key(k, "summary key")
        clean = normalize_config(dict(values))
        self._record(clean)
        self._set.update(clean)

    def __repr__(self) -> str:
        return f"RunSummary({self._merged()!r})"
