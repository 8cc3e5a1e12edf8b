"""The software and hardware a run executes on: Python, packages, OS, CPU, RAM, GPUs.

Nothing is imported to look at it: accelerator libraries are reported only when the
user's program already imported them (``sys.modules``), GPUs are listed by
``nvidia-smi`` when it is on ``PATH``. psutil, a dependency, is imported inside the call.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

from ..._packages import _mtime, installed_packages, normalize_package_name

__all__ = [
    "DETERMINISM_ENV_VARS",
    "capture_environment",
    "editable_packages",
    "installed_packages",
    "normalize_package_name",
    "parse_nvidia_smi",
]

DETERMINISM_ENV_VARS: Final = (
    "PYTHONHASHSEED",
    "CUBLAS_WORKSPACE_CONFIG",
    "CUDA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)
"""Environment variables that change numeric results; recorded when set."""

_ACCELERATOR_MODULES: Final = (
    "torch",
    "tensorflow",
    "jax",
    "jaxlib",
    "cupy",
    "onnxruntime",
    "xgboost",
    "lightgbm",
)
_NVIDIA_SMI_TIMEOUT: Final = 5.0


def capture_environment(*, packages: bool) -> dict[str, Any]:
    """A JSON-ready description of the interpreter, installed packages and the machine.

    Keys: ``python`` (version, implementation, executable, prefix, base_prefix, virtualenv,
    conda_env), ``packages`` (``{normalised name: version}`` sorted by name, or None when
    ``packages`` is false), ``editable`` (``{normalised name: source URL}`` of editable
    installs, whose code a version number does not pin; None when ``packages`` is
    false), ``os`` (system, release, version, machine, platform), ``cpu``
    (model, logical, physical, available), ``ram_total_bytes``, ``gpus`` (list of
    ``{"index", "name", "memory_total_mb", "driver", "uuid"}``, empty without
    ``nvidia-smi``), ``accelerators`` (versions of already imported libraries, with
    ``torch.cuda``/``torch.cudnn`` when torch is loaded) and ``env`` (the
    :data:`DETERMINISM_ENV_VARS` that are set). Never raises: a probe that fails is None.
    """
    return {
        "python": _python(),
        "packages": installed_packages() if packages else None,
        "editable": editable_packages() if packages else None,
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "version": platform.version(),
            "machine": platform.machine(),
            "platform": platform.platform(),
        },
        "cpu": _cpu(),
        "ram_total_bytes": _ram_total(),
        "gpus": _gpus(),
        "accelerators": _accelerators(),
        "env": {name: os.environ[name] for name in DETERMINISM_ENV_VARS if name in os.environ},
    }


_EDITABLE_CACHE: list[Any] = [None, None]  # [key, result], as for installed_packages


def editable_packages() -> dict[str, str]:
    """``{normalised name: URL of its source}`` of the distributions on ``sys.path`` that
    are editable installs (PEP 610: ``direct_url.json`` with ``dir_info.editable``), such
    as ``pip install -e .``. As in :func:`installed_packages`, the first of a name wins."""
    key = tuple((p, _mtime(p)) for p in sys.path)
    if _EDITABLE_CACHE[0] == key:
        return dict(_EDITABLE_CACHE[1])
    import json

    seen: set[str] = set()
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for item in names:
            if not item.endswith(".dist-info"):
                continue
            name = normalize_package_name(item[: -len(".dist-info")].rpartition("-")[0] or item)
            if name in seen:
                continue
            seen.add(name)
            try:
                with open(os.path.join(entry or ".", item, "direct_url.json"), "rb") as f:
                    doc = json.loads(f.read())
            except (OSError, ValueError):  # the usual case: installed from an index
                continue
            info = doc.get("dir_info") if isinstance(doc, dict) else None
            if isinstance(info, dict) and info.get("editable") is True:
                found[name] = str(doc.get("url") or "")
    result = dict(sorted(found.items()))
    _EDITABLE_CACHE[:] = [key, result]
    return dict(result)


def _python() -> dict[str, Any]:
    virtualenv = os.environ.get("VIRTUAL_ENV") or (
        sys.prefix if sys.prefix != sys.base_prefix else None
    )
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "virtualenv": virtualenv,
        "conda_env": os.environ.get("CONDA_DEFAULT_ENV") or None,
    }


def _cpu() -> dict[str, Any]:
    available: int | None
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = None
    return {
        "model": _cpu_model(),
        "logical": os.cpu_count(),
        "physical": _physical_cores(),
        "available": available,
    }


def _cpu_model() -> str | None:
    cpuinfo = Path("/proc/cpuinfo")
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        text = ""
    for field in ("model name", "Model", "Hardware", "Processor", "cpu model"):
        match = re.search(rf"^{field}\s*:\s*(.+)$", text, re.MULTILINE)
        if match and match.group(1).strip():
            return match.group(1).strip()
    if sys.platform == "darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or None


def _physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except Exception:
        return None


def _ram_total() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _gpus() -> list[dict[str, Any]]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [
                exe,
                "--query-gpu=index,name,memory.total,driver_version,uuid",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=_NVIDIA_SMI_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    return parse_nvidia_smi(out.stdout)


def parse_nvidia_smi(text: str) -> list[dict[str, Any]]:
    """Rows of ``index,name,memory.total,driver_version,uuid`` (csv, noheader, nounits)."""
    gpus: list[dict[str, Any]] = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 5:
            continue
        index, name, memory, driver, uuid = cells[:5]
        gpus.append(
            {
                "index": _int_or_none(index),
                "name": name,
                "memory_total_mb": _int_or_none(memory),
                "driver": driver or None,
                "uuid": uuid or None,
            }
        )
    return gpus


def _int_or_none(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:
        return None


def _accelerators() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in _ACCELERATOR_MODULES:
        module = sys.modules.get(name)
        if module is None:
            continue
        version = getattr(module, "__version__", None)
        found[name] = str(version) if version is not None else None
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            found["torch.cuda"] = torch.version.cuda
            found["torch.cuda_available"] = bool(torch.cuda.is_available())
            cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
            found["torch.cudnn"] = cudnn
        except Exception:
            pass
    return found
