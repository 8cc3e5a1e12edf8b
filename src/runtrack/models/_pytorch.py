"""The ``pytorch`` flavor: a ``torch.nn.Module`` as its state dict plus a way to rebuild it.

The weights are always written as ``state_dict.pt`` (``torch.save(module.state_dict())``,
read back with ``weights_only=True``: reading them runs no code). The document's
``load.loader`` says how the module comes back:

``class``
    ``<module>:<qualname>(**init_kwargs)`` is built and given the state dict. Used when the
    class can be imported by that path, including a class of the script that saved it
    when the script is one of the ``code_paths`` (it then imports under the script's name;
    its top-level code runs, so keep the training under ``if __name__ == "__main__":``).
    ``init_kwargs`` are required at save time when the class needs arguments, and are
    checked by building the class on torch's ``meta`` device (no memory, no weights).
``torch_export``
    For a class no other process can import (defined in ``__main__`` or in a function):
    with an input example, a ``torch.export`` program (``model.pt2``, the batch dimension
    left dynamic) captured in eval mode. It loads as an ``ExportedModule`` that cannot be
    put back into training mode.
``torchscript``
    Otherwise (no input example, or the export failed): ``torch.jit.script``
    (``model.ts``) when the module can be scripted; also a module that is TorchScript
    already. (TorchScript is
    deprecated in recent torch releases; the deprecation warnings of saving and loading
    it are muted here.)

A portable copy is checked before it is kept: loaded back from its file, it must give
the module's outputs on the example. When no portable copy can be made, a ``__main__``
class is kept with the ``class`` loader and a ``ModelWarning`` (it loads only where
``__main__`` defines it); a class defined inside a function is refused.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ValidationError
from ._code import module_for_file
from ._document import model_file
from ._flavor import Flavor, SaveRequest
from ._values import is_array, is_tensor
from ._warnings import ModelWarning

__all__ = ["PytorchFlavor", "torch_inputs"]

STATE_FILE = "state_dict.pt"
EXPORT_FILE = "model.pt2"
SCRIPT_FILE = "model.ts"


class PytorchFlavor(Flavor):
    name = "pytorch"
    module = "torch"
    distribution = "torch"
    saves: ClassVar[str] = "torch.nn.Module objects"

    def accepts(self, obj: object) -> bool:
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(obj, torch.nn.Module)

    def save(self, obj: Any, request: SaveRequest) -> dict[str, Any]:
        import torch

        cls = type(obj)
        torch.save(obj.state_dict(), request.directory / STATE_FILE)
        path = _class_path(cls, request)
        spec: dict[str, Any] = {
            "loader": "class",
            "class": path or f"{cls.__module__}:{cls.__qualname__}",
            "init_kwargs": request.init_kwargs,
            "state_dict": STATE_FILE,
            "portable": None,
            "files": [STATE_FILE],
        }
        if isinstance(obj, torch.jit.ScriptModule):  # already TorchScript: keep it so
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.jit.save(obj, request.directory / SCRIPT_FILE)
            files = [STATE_FILE, SCRIPT_FILE]
            return {**spec, "loader": "torchscript", "portable": SCRIPT_FILE, "files": files}
        if path is not None and not path.startswith("__main__:"):
            _check_rebuild(obj, request.init_kwargs)
            return spec
        problems: list[str] = []
        portable = _save_portable(obj, request, problems)
        if portable is not None:
            loader, file = portable
            return {**spec, "loader": loader, "portable": file, "files": [STATE_FILE, file]}
        why = "; ".join(problems) or "no input_example was given"
        if path is None:
            raise ValidationError(
                f"{cls.__qualname__} cannot be saved: it cannot be imported by name (define "
                "it at the top level of a module) and no portable copy could be made "
                f"({why})"
            )
        _check_rebuild(obj, request.init_kwargs)
        warnings.warn(
            ModelWarning(
                f"{cls.__qualname__} is defined in __main__ and no portable copy could be "
                f"made ({why}): the model will load only in a process whose __main__ "
                f"defines {cls.__qualname__}. Pass code_paths=[<the file defining it>] or "
                "an input_example= to load it anywhere"
            ),
            stacklevel=3,
        )
        return spec

    def load(self, directory: Path, spec: Mapping[str, Any]) -> Any:
        import torch

        loader = spec.get("loader")
        if loader == "torch_export":
            from ._torch_export import ExportedModule

            program = torch.export.load(model_file(directory, spec.get("portable")))
            return ExportedModule(program)
        if loader == "torchscript":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                scripted = torch.jit.load(  # type: ignore[no-untyped-call]
                    model_file(directory, spec.get("portable")), map_location="cpu"
                )
            return scripted.eval()
        if loader != "class":
            raise ValidationError(f"unknown pytorch loader {loader!r} in the model document")
        cls = _import_class(str(spec.get("class")))
        kwargs = spec.get("init_kwargs") or {}
        module = cls(**kwargs)
        state = torch.load(
            model_file(directory, spec.get("state_dict")), map_location="cpu", weights_only=True
        )
        module.load_state_dict(state)
        return module.eval()

    def outputs(self, model: Any, example: Any) -> Iterable[tuple[str, Any]]:
        import torch

        args, kwargs = torch_inputs(example)
        with _eval_mode(model), torch.no_grad():
            out = model(*args, **kwargs)
        if isinstance(out, Mapping):
            return [(str(k), v) for k, v in out.items()]
        if isinstance(out, (tuple, list)):
            return [(f"output_{i}", v) for i, v in enumerate(out)]
        return [("output", out)]


def torch_inputs(example: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A forward call's arguments: a tuple is positional arguments, a dict keyword ones;
    numpy arrays and lists become tensors."""
    if isinstance(example, Mapping):
        return (), {str(k): _tensor(v) for k, v in example.items()}
    if isinstance(example, tuple):
        return tuple(_tensor(v) for v in example), {}
    return (_tensor(example),), {}


def _tensor(value: Any) -> Any:
    import torch

    if is_tensor(value):
        return value
    if is_array(value):
        return torch.from_numpy(value)
    if isinstance(value, list):
        return torch.tensor(value)
    return value


@contextlib.contextmanager
def _eval_mode(module: Any) -> Iterator[None]:
    """Eval mode for runtrack's own forward calls: dropout off, batch-norm statistics frozen."""
    training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(training)


# -- rebuilding by class ----------------------------------------------------------------
def _class_path(cls: type, request: SaveRequest) -> str | None:
    """``module:qualname`` that rebuilds ``cls`` (``__main__:...`` for a script's class
    not in ``code_paths``), or None when no import path leads to it."""
    qualname = cls.__qualname__
    if "<locals>" in qualname:
        return None
    if cls.__module__ == "__main__":
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        name = module_for_file(Path(main_file), request.code) if main_file else None
        return f"{name or '__main__'}:{qualname}"
    try:
        found: Any = importlib.import_module(cls.__module__)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return f"{cls.__module__}:{qualname}" if found is cls else None


def _check_rebuild(module: Any, init_kwargs: Mapping[str, Any] | None) -> None:
    """Refuse init_kwargs (or their absence) that cannot rebuild ``module``."""
    import inspect

    import torch

    cls = type(module)
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        try:
            signature.bind(**(init_kwargs or {}))
        except TypeError as exc:
            if init_kwargs is None:
                needed = [
                    p.name
                    for p in signature.parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                ]
                example = ", ".join(f'"{n}": ...' for n in needed)
                raise ValidationError(
                    f"{cls.__qualname__} cannot be built without arguments (it needs "
                    f"{', '.join(needed) or 'positional arguments'}), so the model could "
                    "not be rebuilt at load: pass the arguments this model was built with, "
                    f"e.g. save_model(model, directory, init_kwargs={{{example}}})"
                ) from None
            raise ValidationError(
                f"init_kwargs do not fit {cls.__qualname__}{signature}: {exc}"
            ) from None
    try:  # build it on the meta device (no memory) and compare the parameters' shapes
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probe = cls(**(init_kwargs or {}))
        rebuilt = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    except Exception:  # some classes cannot be built on the meta device: no check then
        return
    saved = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    if rebuilt != saved:
        diff = sorted(
            f"{k}: {saved.get(k, 'missing')} saved, {rebuilt.get(k, 'missing')} rebuilt"
            for k in set(saved) | set(rebuilt)
            if saved.get(k) != rebuilt.get(k)
        )
        raise ValidationError(
            f"{cls.__qualname__}(**init_kwargs) builds a module whose parameters differ from "
            f"this model's ({'; '.join(diff[:3])}{'; ...' if len(diff) > 3 else ''}): pass "
            "the init_kwargs this model was built with"
        )


def _import_class(path: str) -> Any:
    import torch

    module_name, _, qualname = path.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        if module_name == "__main__":
            hint = (
                "it was defined in the script that saved the model; load it from a process "
                "whose __main__ defines it, or re-save with code_paths= or input_example="
            )
        else:
            hint = (
                f"make {module_name!r} importable here (install it, or re-save the model "
                "with code_paths=[the file or package defining it])"
            )
        raise ValidationError(f"cannot import the model class {path} ({exc}): {hint}") from None
    if not (isinstance(found, type) and issubclass(found, torch.nn.Module)):
        raise ValidationError(f"{path} in the model document is not a torch.nn.Module class")
    return found


# -- portable copies ------------------------------------------------------------------
def _save_portable(
    module: Any, request: SaveRequest, problems: list[str]
) -> tuple[str, str] | None:
    """Write a copy that loads without the class: ``(loader, file)``, or None."""
    with _eval_mode(module), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if request.example is not None:
            try:
                _export(module, request.example, request.directory / EXPORT_FILE)
                return "torch_export", EXPORT_FILE
            except Exception as exc:
                problems.append(f"torch.export failed: {_first_line(exc)}")
                (request.directory / EXPORT_FILE).unlink(missing_ok=True)
        try:
            _script(module, request.example, request.directory / SCRIPT_FILE)
            return "torchscript", SCRIPT_FILE
        except Exception as exc:
            problems.append(f"torch.jit.script failed: {_first_line(exc)}")
            (request.directory / SCRIPT_FILE).unlink(missing_ok=True)
    return None


def _export(module: Any, example: Any, path: Path) -> None:
    import torch

    auto = getattr(torch.export.Dim, "AUTO", None)
    if auto is None:
        raise RuntimeError("this torch has no dynamic batch dimension for torch.export")
    args, kwargs = torch_inputs(example)
    args = tuple(_two_rows(a) for a in args)
    kwargs = {k: _two_rows(v) for k, v in kwargs.items()}
    dynamic: Any
    if kwargs:
        dynamic = {k: _batch_dim(v, auto) for k, v in kwargs.items()}
    else:
        dynamic = tuple(_batch_dim(a, auto) for a in args)
    program = torch.export.export(module, args, kwargs, dynamic_shapes=dynamic)
    torch.export.save(program, path)
    reloaded = torch.export.load(path).module()
    with torch.no_grad():
        _check_same(module(*args, **kwargs), reloaded(*args, **kwargs))


def _script(module: Any, example: Any, path: Path) -> None:
    import torch

    torch.jit.save(torch.jit.script(module), path)
    if example is not None:
        args, kwargs = torch_inputs(example)
        reloaded = torch.jit.load(path, map_location="cpu")  # type: ignore[no-untyped-call]
        with torch.no_grad():
            _check_same(module(*args, **kwargs), reloaded(*args, **kwargs))


def _two_rows(value: Any) -> Any:
    """A batch of one is repeated: torch.export fixes a dimension it sees at size 1."""
    import torch

    if is_tensor(value) and value.ndim and value.shape[0] == 1:
        return torch.cat([value, value])
    return value


def _batch_dim(value: Any, auto: Any) -> Any:
    return {0: auto} if is_tensor(value) and value.ndim else None


def _check_same(expected: Any, got: Any) -> None:
    import torch

    if is_tensor(expected):
        if not (is_tensor(got) and got.shape == expected.shape and torch.allclose(expected, got)):
            raise RuntimeError("the copy's outputs differ from the module's")
    elif isinstance(expected, Mapping):
        if not isinstance(got, Mapping) or set(got) != set(expected):
            raise RuntimeError("the copy's outputs differ from the module's")
        for k in expected:
            _check_same(expected[k], got[k])
    elif isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            raise RuntimeError("the copy's outputs differ from the module's")
        for e, g in zip(expected, got, strict=True):
            _check_same(e, g)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    return f"{type(exc).__name__}: {line[:200]}"
