"""System metrics sampling (runtrack.client._monitor)."""

from __future__ import annotations

import logging
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import pytest

from runtrack.client._monitor import SystemMonitor
from runtrack.errors import ValidationError

HOST_KEYS = {
    "system/cpu_percent",
    "system/memory_percent",
    "system/memory_used_gb",
    "system/proc_rss_mb",
    "system/proc_cpu_percent",
    "system/proc_threads",
}


class Collector:
    def __init__(self, fail_first: int = 0) -> None:
        self.samples: list[dict[str, float]] = []
        self.fail_first = fail_first
        self.calls = 0
        self.cond = threading.Condition()

    def __call__(self, values: dict[str, float]) -> None:
        with self.cond:
            self.calls += 1
            if self.calls <= self.fail_first:
                raise RuntimeError("store is down")
            self.samples.append(values)
            self.cond.notify_all()

    def wait_for(self, n: int, timeout: float = 5.0) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.samples) >= n, timeout)
        assert ok, f"only {len(self.samples)} samples"


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def _no_real_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError


def test_emits_documented_keys_promptly() -> None:
    got = Collector()
    monitor = SystemMonitor(30.0, got)
    start = time.monotonic()
    monitor.start()
    try:
        got.wait_for(1)
        assert time.monotonic() - start < 10.0  # the first sample does not wait the 30 s
    finally:
        monitor.stop()
    sample = got.samples[0]
    assert set(sample) == HOST_KEYS
    assert all(isinstance(v, float) for v in sample.values())
    assert 0 <= sample["system/memory_percent"] <= 100
    assert sample["system/proc_rss_mb"] > 1
    assert sample["system/proc_threads"] >= 2  # the main thread and the monitor


def test_samples_repeatedly_and_stops_quickly() -> None:
    got = Collector()
    monitor = SystemMonitor(0.05, got)
    monitor.start()
    monitor.start()  # idempotent
    got.wait_for(3)
    assert monitor.running
    start = time.monotonic()
    monitor.stop()
    monitor.stop()  # idempotent
    assert time.monotonic() - start < 5.0  # not a join on a sleeping thread's timeout
    assert not monitor.running
    count = len(got.samples)
    time.sleep(0.2)
    assert len(got.samples) == count
    assert not any(t.name == "runtrack-system-monitor" for t in threading.enumerate())


def test_can_be_restarted() -> None:
    got = Collector()
    monitor = SystemMonitor(0.05, got)
    monitor.start()
    got.wait_for(1)
    monitor.stop()
    monitor.start()
    got.wait_for(len(got.samples) + 1)
    monitor.stop()


def test_emit_errors_are_logged_once_and_sampling_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got = Collector(fail_first=3)
    monitor = SystemMonitor(0.02, got)
    with caplog.at_level(logging.WARNING, logger="runtrack"):
        monitor.start()
        try:
            got.wait_for(2)
        finally:
            monitor.stop()
    warnings = [r for r in caplog.records if "could not record system metrics" in r.message]
    assert len(warnings) == 1
    assert warnings[0].exc_info is not None


def test_sampling_errors_do_not_kill_the_thread(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import psutil

    calls = {"n": 0}
    real = psutil.virtual_memory

    def flaky() -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise OSError("transient")
        return real()

    monkeypatch.setattr(psutil, "virtual_memory", flaky)
    got = Collector()
    monitor = SystemMonitor(0.02, got)
    with caplog.at_level(logging.WARNING, logger="runtrack"):
        monitor.start()
        try:
            got.wait_for(1)
        finally:
            monitor.stop()
    assert set(got.samples[0]) == HOST_KEYS
    assert caplog.text.count("could not sample CPU/memory metrics") == 1


def fake_pynvml(devices: int, *, fail_init: bool = False) -> types.ModuleType:
    nvml = types.ModuleType("pynvml")
    state = {"shutdown": 0}

    def init() -> None:
        if fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    nvml.nvmlInit = init  # type: ignore[attr-defined]
    nvml.nvmlShutdown = lambda: state.__setitem__("shutdown", state["shutdown"] + 1)  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetCount = lambda: devices  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetHandleByIndex = lambda i: f"handle-{i}"  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=50, memory=10)  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(  # type: ignore[attr-defined]
        used=2 * 1024**3, total=8 * 1024**3, free=6 * 1024**3
    )
    nvml.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetTemperature = lambda h, kind: 61  # type: ignore[attr-defined]
    nvml.state = state  # type: ignore[attr-defined]
    return nvml


def test_gpu_metrics_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_pynvml(2)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    got = Collector()
    monitor = SystemMonitor(30.0, got)
    monitor.start()
    try:
        got.wait_for(1)
    finally:
        monitor.stop()
    sample = got.samples[0]
    for i in (0, 1):
        assert sample[f"system/gpu.{i}.util_percent"] == 50.0
        assert sample[f"system/gpu.{i}.memory_used_mb"] == 2048.0
        assert sample[f"system/gpu.{i}.memory_percent"] == 25.0
        assert sample[f"system/gpu.{i}.temp_c"] == 61.0
    assert set(sample) >= HOST_KEYS
    wait_until(lambda: nvml.state["shutdown"] == 1)


def test_nvml_without_driver_means_no_gpu_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(1, fail_init=True))
    got = Collector()
    monitor = SystemMonitor(30.0, got)
    monitor.start()
    try:
        got.wait_for(1)
    finally:
        monitor.stop()
    assert set(got.samples[0]) == HOST_KEYS


@pytest.mark.parametrize("interval", [0, -1, float("nan"), True, "1"])
def test_interval_must_be_positive(interval: Any) -> None:
    with pytest.raises(ValidationError, match="interval"):
        SystemMonitor(interval, lambda values: None)
