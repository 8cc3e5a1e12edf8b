"""A small Hydra app whose hyperparameters runtrack searches, trial by trial.

    python examples/hydra_sweep/train.py -m hydra/sweeper=runtrack \\
        'x=interval(-2,2)' 'model=choice(a,b)' 'optimizer.lr=tag(log, interval(1e-4, 1))'

(``conf/config.yaml`` sets the sweep's metric, ``loss``, and 20 trials.)

Without ``-m`` it is one ordinary run of the composed config. With the runtrack sweeper,
each trial is one call of ``main``: ``runtrack.init(config=cfg)`` attaches to the trial's
run (created by the sweep, a child of it), records the composed config and the per-epoch
loss; ``run.should_prune()`` stops a hopeless trial when the sweep has a pruner
(``hydra.sweeper.pruner=median``). The returned loss is the trial's objective.
The "training" is a closed-form curve, so a trial takes milliseconds.
"""

from __future__ import annotations

import math

import hydra
from omegaconf import DictConfig

import runtrack


def final_loss(cfg: DictConfig) -> float:
    lr_penalty = 0.1 * (math.log10(cfg.optimizer.lr) + 2) ** 2  # best lr: 1e-2
    return (cfg.x - cfg.model.best_x) ** 2 + cfg.model.floor + lr_penalty


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    if cfg.epochs < 1:
        raise ValueError(f"epochs must be at least 1, not {cfg.epochs}")
    target = final_loss(cfg)
    with runtrack.init(config=cfg) as run:
        for epoch in range(cfg.epochs):
            loss = target + 1.0 / (epoch + 1)  # converges to the final loss
            run.log({"loss": loss}, step=epoch)
            if run.should_prune():
                raise runtrack.TrialPruned()
    return loss


if __name__ == "__main__":
    main()
