"""The ``Flavor`` contract: how one kind of model is saved to files and rebuilt.

A flavor is stateless; one instance per kind lives in ``_registry.FLAVORS``. ``accepts``
looks at the object's type only and never imports a library (a type from a library the
process has not imported cannot be in front of it). ``save`` writes under
``request.directory`` and returns the ``load`` entry of the model document: JSON values,
files as POSIX paths relative to the model directory. ``load`` is given back that entry
and may assume the flavor's library imports. Both raise ``ValidationError`` for
predictable user errors; the callers translate anything else.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ._code import CodeCopy

__all__ = ["Flavor", "SaveRequest", "class_name", "predict_outputs"]


@dataclass(frozen=True, slots=True)
class SaveRequest:
    """What ``save_model`` asks a flavor to write.

    ``example`` is the truncated input example (or None); ``init_kwargs`` is already JSON;
    ``code`` lists the user code copied into the directory.
    """

    directory: Path
    example: Any
    init_kwargs: dict[str, Any] | None
    code: Sequence[CodeCopy]


class Flavor(abc.ABC):
    name: ClassVar[str]
    module: ClassVar[str | None]
    """Import name of the library the files need, e.g. ``sklearn`` (None: stdlib only)."""
    distribution: ClassVar[str | None]
    """Its distribution (pip) name, e.g. ``scikit-learn``."""
    saves: ClassVar[str]
    """What it saves, for messages: ``torch.nn.Module objects``."""

    @abc.abstractmethod
    def accepts(self, obj: object) -> bool:
        """Whether ``obj`` is of a type this flavor saves (by type; imports nothing)."""

    @abc.abstractmethod
    def save(self, obj: Any, request: SaveRequest) -> dict[str, Any]:
        """Write ``obj``'s files; return the document's ``load`` entry (with ``files``)."""

    @abc.abstractmethod
    def load(self, directory: Path, spec: Mapping[str, Any]) -> Any:
        """Rebuild the object from the files that ``save`` wrote and its ``load`` entry."""

    def library(self) -> tuple[str, str] | None:
        """``(module, distribution)`` the saved files need to load, or None."""
        if self.module is None or self.distribution is None:
            return None
        return self.module, self.distribution

    def outputs(self, model: Any, example: Any) -> Iterable[tuple[str, Any]]:
        """The model's named outputs on ``example`` (for the signature)."""
        return predict_outputs(model, example)


def predict_outputs(model: Any, example: Any) -> list[tuple[str, Any]]:
    """``predict`` and, if present and working, ``predict_proba`` on ``example``."""
    predict = getattr(model, "predict", None)
    if not callable(predict):
        return []
    out = [("predict", predict(example))]
    proba = getattr(model, "predict_proba", None)  # sklearn hides it when unusable
    if callable(proba):
        try:
            out.append(("predict_proba", proba(example)))
        except Exception:  # optional output: its absence is not an error
            pass
    return out


def class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
