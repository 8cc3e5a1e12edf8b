"""runtrack: experiment tracking that proves results are reproducible.

    import runtrack

    with runtrack.init(project="churn", config={"lr": 1e-3}) as run:
        for step in range(100):
            run.log({"loss": 1 / (step + 1)})

This package is lazy (PEP 562): ``import runtrack`` loads almost nothing, so a training
script pays for tracking only when it starts a run. Names are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "init": "runtrack.client._init",
    "log": "runtrack.client._init",
    "finish": "runtrack.client._init",
    "seed_everything": "runtrack.client._init",
    "current_run": "runtrack.client._init",
    "Run": "runtrack.client.run",
    "Api": "runtrack.client.api",
    "RunView": "runtrack.client.api",
    "RuntrackError": "runtrack.errors",
    "log_model": "runtrack.client._models",
    "load_model": "runtrack.client._models",
    "register_model": "runtrack.client._models",
    "errors": "runtrack.errors",
    "sweep": "runtrack.client._sweep_api",
    "SweepView": "runtrack.client._sweep_api",
    "TrialPruned": "runtrack.errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:  # pragma: no cover
    from . import errors as errors
    from .client._init import current_run as current_run
    from .client._init import finish as finish
    from .client._init import init as init
    from .client._init import log as log
    from .client._init import seed_everything as seed_everything
    from .client._models import load_model as load_model
    from .client._models import log_model as log_model
    from .client._models import register_model as register_model
    from .client._sweep_api import SweepView as SweepView
    from .client._sweep_api import sweep as sweep
    from .client.api import Api as Api
    from .client.api import RunView as RunView
    from .client.run import Run as Run
    from .errors import RuntrackError as RuntrackError
    from .errors import TrialPruned as TrialPruned


if __import__("os").environ.get("RUNTRACK_CONFIG_OVERRIDES"):  # `runtrack rerun --set`
    import_module("runtrack.client._reproduction").hook_argparse()


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runtrack' has no attribute {name!r}")
    mod = import_module(module)
    value = mod if name == "errors" else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
