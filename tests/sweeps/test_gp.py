"""The engine's GPSampler: Optuna's model and suggestions, without the CPU device mode
when the CPU is torch's default already."""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest

pytest.importorskip("torch")

import optuna
import torch

from runtrack.sweeps._gp import EngineGPSampler, qei_samples

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _objective(x: list[float]) -> float:
    return sum((xi - 0.3 * (i + 1) / 3) ** 2 for i, xi in enumerate(x)) + 0.1 * math.sin(9 * x[0])


def _study(n: int, dims: int = 3) -> optuna.Study:
    st = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    st.optimize(
        lambda t: _objective([t.suggest_float(f"x{i}", 0, 1) for i in range(dims)]), n_trials=n
    )
    return st


def _ask(st: optuna.Study, sampler: optuna.samplers.BaseSampler, dims: int = 3) -> dict[str, Any]:
    st.sampler = sampler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = st.ask()
        params = {f"x{i}": t.suggest_float(f"x{i}", 0, 1) for i in range(dims)}
    st.tell(t, _objective(list(params.values())))
    return params


def _sequence(make: Any, start: int, asks: int) -> list[dict[str, Any]]:
    """Asks of a fresh sampler per trial (as the engine builds them) after ``start``
    random trials."""
    st = _study(start)
    return [_ask(st, make(100 + i)) for i in range(asks)]


def test_suggestions_are_optunas_bit_for_bit() -> None:
    ours = _sequence(lambda s: EngineGPSampler(seed=s, n_startup_trials=10), 12, 4)
    theirs = _sequence(lambda s: optuna.samplers.GPSampler(seed=s, n_startup_trials=10), 12, 4)
    assert ours == theirs


def test_before_startup_the_independent_sampler_suggests() -> None:
    ours = _sequence(lambda s: EngineGPSampler(seed=s, n_startup_trials=10), 3, 3)
    theirs = _sequence(lambda s: optuna.samplers.GPSampler(seed=s, n_startup_trials=10), 3, 3)
    assert ours == theirs


def test_a_running_trial_with_its_parameters_is_accounted_for() -> None:
    """As in the engine with two agents: another trial is running with recorded values."""

    def run(make: Any) -> dict[str, Any]:
        st = _study(12)
        other = st.ask()
        for i in range(3):
            other.suggest_float(f"x{i}", 0, 1)
        return _ask(st, make(7))

    def optunas(seed: int) -> optuna.samplers.GPSampler:
        sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
        sampler._n_qmc_samples_qei = qei_samples(1)
        return sampler

    ours = run(lambda s: EngineGPSampler(seed=s, n_startup_trials=10))
    assert ours == run(optunas)  # Optuna's q-LogEI, with fewer QMC samples
    assert ours != run(lambda s: optuna.samplers.GPSampler(seed=s, n_startup_trials=10))


def test_qei_samples_grow_with_the_running_trials() -> None:
    # the attribute the engine sets is Optuna's (a rename would make it set nothing)
    assert vars(optuna.samplers.GPSampler())["_n_qmc_samples_qei"] == 128
    assert [qei_samples(n) for n in (1, 2, 3, 7, 50)] == [32, 48, 64, 128, 128]


def test_the_device_mode_is_skipped_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    entered: list[str] = []
    real = torch.device

    class Spy:
        def __init__(self, *a: Any) -> None:
            self._d = real(*a)

        def __enter__(self) -> Any:
            entered.append(str(self._d))
            return self._d.__enter__()

        def __exit__(self, *exc: Any) -> Any:
            return self._d.__exit__(*exc)

    import optuna.samplers._gp.sampler as gp_sampler_module

    monkeypatch.setattr(gp_sampler_module.torch, "device", Spy)
    st = _study(12)
    _ask(st, EngineGPSampler(seed=1, n_startup_trials=10))
    assert entered == []
    _ask(st, optuna.samplers.GPSampler(seed=1, n_startup_trials=10))
    assert entered == ["cpu"]


def test_another_default_device_goes_through_optunas_own_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A program that made another device torch's default keeps Optuna's CPU mode."""
    used: list[str] = []
    real = optuna.samplers.GPSampler.sample_relative

    def spy(self: Any, *a: Any) -> Any:
        used.append("optuna")
        return real(self, *a)

    monkeypatch.setattr(optuna.samplers.GPSampler, "sample_relative", spy)
    monkeypatch.setattr(torch, "get_default_device", lambda: torch.device("cuda"))
    st = _study(12)
    params = _ask(st, EngineGPSampler(seed=5, n_startup_trials=10))
    assert used == ["optuna"] and set(params) == {"x0", "x1", "x2"}


def test_a_mixed_space_gets_optunas_suggestions_too() -> None:
    """Integers (log and step) and categories, as in the HistGradientBoosting benchmark."""

    def objective(t: optuna.trial.BaseTrial) -> float:
        lr = t.suggest_float("lr", 1e-3, 1.0, log=True)
        leaves = t.suggest_int("leaves", 4, 256, log=True)
        depth = t.suggest_int("depth", 2, 12, step=2)
        loss = t.suggest_categorical("loss", ["a", "b", "c"])
        return (math.log(lr) + 3) ** 2 + abs(leaves - 31) / 31 + depth / 12 + "abc".index(loss)

    def run(make: Any) -> list[dict[str, Any]]:
        st = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
        st.optimize(objective, n_trials=12)
        out = []
        for i in range(3):
            st.sampler = make(50 + i)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = st.ask()
                st.tell(t, objective(t))
            out.append(dict(t.params))
        return out

    ours = run(lambda s: EngineGPSampler(seed=s, n_startup_trials=10))
    theirs = run(lambda s: optuna.samplers.GPSampler(seed=s, n_startup_trials=10))
    assert ours == theirs
