"""System metrics of a running run: CPU, memory, this process, and NVIDIA GPUs.

A daemon thread samples every ``interval`` seconds and hands a flat ``{key: float}`` dict
to ``emit`` (the SDK logs it as ``system/*`` metrics). psutil is imported by the thread;
GPUs are read through NVML (``nvidia-ml-py``'s ``pynvml``) when it can be imported and
initialised, and are silently absent otherwise.

Keys (units in the name; ``gb``/``mb`` are GiB/MiB, 2**30 and 2**20 bytes):
``system/cpu_percent`` (the whole machine), ``system/memory_percent``,
``system/memory_used_gb``, ``system/proc_rss_mb``, ``system/proc_cpu_percent`` (can
exceed 100 on several cores), ``system/proc_threads`` and, per GPU ``i`` in NVML order,
``system/gpu.{i}.util_percent``, ``system/gpu.{i}.memory_used_mb``,
``system/gpu.{i}.memory_percent``, ``system/gpu.{i}.temp_c``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Final

from ..errors import ValidationError

__all__ = ["SystemMonitor"]

_log = logging.getLogger("runtrack")
_FIRST_SAMPLE_AFTER: Final = 0.2  # seconds: long enough for a meaningful CPU percentage
_MIB: Final = float(1 << 20)
_GIB: Final = float(1 << 30)


class SystemMonitor:
    """Samples system metrics on a daemon thread until stopped.

    ``start()`` and ``stop()`` are idempotent and may be called from any thread; after
    ``stop()`` the monitor can be started again. ``stop()`` waits up to ``join_timeout``
    seconds for the thread (a sample in progress or a slow ``emit`` is not interrupted).
    A failure in sampling or in ``emit`` is logged once on the ``runtrack`` logger and
    sampling goes on; ``emit`` is only called from the monitor's thread.
    """

    def __init__(
        self,
        interval: float,
        emit: Callable[[dict[str, float]], None],
        *,
        join_timeout: float = 1.0,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float):
            raise ValidationError(f"interval must be a number of seconds, got {interval!r}")
        if not interval > 0:
            raise ValidationError(f"interval must be > 0 seconds, got {interval!r}")
        self.interval = float(interval)
        self._emit = emit
        self._join_timeout = join_timeout
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stopping = threading.Event()
            self._thread = threading.Thread(
                target=self._run,
                args=(self._stopping,),
                name="runtrack-system-monitor",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopping.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(self._join_timeout)

    # ----------------------------------------------------------------------------------
    def _run(self, stopping: threading.Event) -> None:
        sampler = _Sampler(self._warn_once)
        try:
            sampler.prime()
            wait = min(self.interval, _FIRST_SAMPLE_AFTER)
            while not stopping.wait(wait):
                wait = self.interval
                values = sampler.sample()
                if not values:
                    continue
                try:
                    self._emit(values)
                except Exception:
                    self._warn_once("emit", "runtrack: could not record system metrics")
        finally:
            sampler.close()

    def _warn_once(self, what: str, message: str) -> None:
        if what in self._warned:
            return
        self._warned.add(what)
        _log.warning("%s (further errors are not reported)", message, exc_info=True)


class _Sampler:
    """Reads the numbers; each source fails on its own without stopping the others."""

    def __init__(self, warn: Callable[[str, str], None]) -> None:
        self._warn = warn
        self._psutil: Any = None
        self._process: Any = None
        self._nvml: Any = None
        self._gpus: list[Any] = []

    def prime(self) -> None:
        try:
            import psutil

            self._psutil = psutil
            self._process = psutil.Process()
            psutil.cpu_percent(interval=None)  # the first call only sets the baseline
            self._process.cpu_percent(interval=None)
        except Exception:
            self._psutil = None
            self._warn("psutil", "runtrack: psutil is unavailable; no CPU/memory metrics")
        try:
            import pynvml
        except Exception:  # nvidia-ml-py not installed: no GPU metrics, not an error
            return
        try:
            pynvml.nvmlInit()
            self._nvml = pynvml
            count = pynvml.nvmlDeviceGetCount()
            self._gpus = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception:  # no driver / no GPU
            self.close()

    def sample(self) -> dict[str, float]:
        values: dict[str, float] = {}
        if self._psutil is not None:
            try:
                self._sample_host(values)
            except Exception:
                self._warn("psutil", "runtrack: could not sample CPU/memory metrics")
        for index, handle in enumerate(self._gpus):
            try:
                self._sample_gpu(index, handle, values)
            except Exception:
                self._warn("gpu", "runtrack: could not sample GPU metrics")
        return values

    def _sample_host(self, values: dict[str, float]) -> None:
        psutil = self._psutil
        memory = psutil.virtual_memory()
        values["system/cpu_percent"] = float(psutil.cpu_percent(interval=None))
        values["system/memory_percent"] = float(memory.percent)
        values["system/memory_used_gb"] = memory.used / _GIB
        process = self._process
        with process.oneshot():
            values["system/proc_rss_mb"] = process.memory_info().rss / _MIB
            values["system/proc_cpu_percent"] = float(process.cpu_percent(interval=None))
            values["system/proc_threads"] = float(process.num_threads())

    def _sample_gpu(self, index: int, handle: Any, values: dict[str, float]) -> None:
        nvml = self._nvml
        prefix = f"system/gpu.{index}."
        util = nvml.nvmlDeviceGetUtilizationRates(handle)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        values[prefix + "util_percent"] = float(util.gpu)
        values[prefix + "memory_used_mb"] = memory.used / _MIB
        if memory.total:
            values[prefix + "memory_percent"] = 100.0 * memory.used / memory.total
        values[prefix + "temp_c"] = float(
            nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
        )

    def close(self) -> None:
        nvml, self._nvml = self._nvml, None
        self._gpus = []
        if nvml is not None:
            with contextlib.suppress(Exception):
                nvml.nvmlShutdown()
