"""Hydra sweeper plugin: ``python train.py -m hydra/sweeper=runtrack 'lr=interval(1e-4,1e-1)'``
runs a runtrack sweep (Bayesian search, pruning, every trial a tracked run) with Hydra's
override grammar. See ``docs/hydra.md``.

Hydra finds the plugin by scanning the ``hydra_plugins`` namespace package and registers
``hydra/sweeper=runtrack`` from :mod:`.runtrack_sweeper`. This file imports nothing on
purpose: the scan imports every module it finds, so the work is done once, there.
"""
