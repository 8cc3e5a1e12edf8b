"""Pickled files (joblib when installed, else the standard library), with clear errors.

Before anything is written the object is pickled once to nowhere: an object pickle
cannot store (a lambda, a lock, an open file) is refused with a ``ValidationError``
instead of leaving half a file, and references to classes and functions of ``__main__``
(which another process cannot import) are found and reported.
"""

from __future__ import annotations

import importlib.util
import pickle
import types
import warnings
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from ._warnings import ModelWarning

__all__ = ["dump", "joblib_available", "load", "main_references"]


def joblib_available() -> bool:
    return importlib.util.find_spec("joblib") is not None


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


class _Scanner(pickle.Pickler):
    def __init__(self) -> None:
        super().__init__(_Discard(), protocol=pickle.HIGHEST_PROTOCOL)
        self.main: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (type, types.FunctionType)) and obj.__module__ == "__main__":
            self.main.add(obj.__qualname__)
        return NotImplemented


def main_references(obj: Any, what: str) -> list[str]:
    """Names of ``__main__`` classes/functions ``obj`` refers to; refuses unpicklable objects."""
    scanner = _Scanner()
    try:
        scanner.dump(obj)
    except (pickle.PicklingError, TypeError, AttributeError, ValueError) as exc:
        raise ValidationError(
            f"{what} cannot be pickled ({type(exc).__name__}: {exc}). Objects holding "
            "lambdas, local functions, locks, threads, open files or connections cannot be "
            "saved: define functions at module level, drop or re-create such attributes "
            "(__getstate__/__setstate__), or save the parts that matter"
        ) from None
    except RecursionError:
        raise ValidationError(f"{what} is nested too deeply to be pickled") from None
    return sorted(scanner.main)


def dump(obj: Any, directory: Path, *, what: str, serializer: str) -> dict[str, Any]:
    """Pickle ``obj`` to ``model.joblib`` / ``model.pkl``; returns the ``load`` entry."""
    refs = main_references(obj, what)
    if refs:
        warnings.warn(
            ModelWarning(
                f"{what} refers to {', '.join(refs)}, defined in the script that saved it "
                "(__main__): it will load only in a process whose __main__ defines them. "
                "Move them into a module (pass code_paths= if it is not installed) to load "
                "the model anywhere"
            ),
            stacklevel=4,
        )
    if serializer == "joblib":
        import joblib

        file = "model.joblib"
        joblib.dump(obj, directory / file)
    else:
        file = "model.pkl"
        with open(directory / file, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {"format": serializer, "file": file, "main_references": refs}


def load(path: Path, *, serializer: str) -> Any:
    """Unpickle a file written by :func:`dump` (this runs code from the file)."""
    try:
        if serializer == "joblib":
            import joblib

            return joblib.load(path)
        if serializer == "pickle":
            with open(path, "rb") as fh:
                return pickle.load(fh)
    except (AttributeError, ImportError) as exc:
        hint = (
            "it refers to objects defined in the script that saved it (__main__); load it "
            "from that script, or re-save the model with those classes in a module"
            if "__main__" in str(exc)
            else "a module or class it was pickled with is not importable here: install "
            "it, or re-save the model with code_paths="
        )
        raise ValidationError(
            f"cannot unpickle {path.name} ({type(exc).__name__}: {exc}): {hint}"
        ) from None
    raise ValidationError(f"unknown pickle format {serializer!r} in the model document")
