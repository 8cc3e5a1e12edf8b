"""Optuna's ``GPSampler`` as the sweep engine runs it: the same model and suggestions,
without the CPU device mode when the CPU is torch's default device already, and with
fewer QMC samples for q-LogEI while other trials run.

``GPSampler.sample_relative`` runs its fit inside ``torch.device("cpu")`` (so that a
program that made CUDA torch's default device still fits on the CPU). That mode
dispatches each of the thousands of small tensor operations of a fit through Python:
about a third of an ask at 20-50 trials here. When the default device is the CPU the mode
changes nothing, and the model is fitted without it; the suggestion is the same, bit for
bit (``tests/sweeps/test_gp.py``). With another default device Optuna's own path runs.

A long-lived ``GPSampler`` would also start each kernel fit from the previous one. The
engine builds a sampler per ask (seeded from the sweep's seed and the trial number), so
fits start from the defaults. Keeping the last fit in the study as a warm start was built
and measured: on the HistGradientBoosting task of ``benchmarks/hpo`` (seeds 0-9, 200
trials) it needed 91 trials to match the grid against 41.5 without, and ended worse
(0.08626 against 0.08522); not adopted (docs/sweeps.md).

While other agents' trials run, Optuna scores candidates with q-LogEI, a Monte Carlo
integral over the joint posterior of the candidate and the running trials, with 128 QMC
samples whatever their number. That made a GP ask with one trial running ~40 % dearer than
without (64 against 45 ms at 40 trials, Hartmann-6), and was most of what a second agent
cost (benchmarks/README.md, "Agents"). The engine uses 16 samples per point of the
integral (32 with one trial running, Optuna's 128 from seven on): asks with one trial
running take ~57 ms, and the search is as good (``benchmarks/hpo/qei_samples.py``).

Uses ``GPSampler._sample_relative_impl`` and ``_n_qmc_samples_qei``; Optuna is pinned below
6 and the tests check both.
"""

from __future__ import annotations

from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import GPSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

__all__ = ["EngineGPSampler", "qei_samples"]

#: QMC samples of q-LogEI per point of its integral (the candidate and each running trial)
QEI_SAMPLES_PER_POINT = 16


def qei_samples(n_running: int) -> int:
    """QMC samples for q-LogEI over ``n_running`` running trials: 32 for one, growing with
    the dimension of the integral up to Optuna's 128."""
    return min(128, QEI_SAMPLES_PER_POINT * (n_running + 1))


class EngineGPSampler(GPSampler):
    """``GPSampler`` without the CPU device mode on a CPU-default torch (module docs)."""

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        import torch

        if not search_space:
            return {}
        states = (TrialState.COMPLETE, TrialState.RUNNING)
        trials = study.get_trials(deepcopy=False, states=states)
        # the engine records a running trial's parameters as soon as they are suggested,
        # so its params are all there is to know of it
        keys = search_space.keys()
        running = [t for t in trials if t.state == TrialState.RUNNING and keys <= t.params.keys()]
        self._n_qmc_samples_qei = qei_samples(len(running))
        if torch.get_default_device().type != "cpu":
            return super().sample_relative(study, trial, search_space)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        if len(complete) < self._n_startup_trials:
            return {}
        return self._sample_relative_impl(study, complete, running, search_space)
