"""Hyperparameter sweeps: specs, engine and Optuna integration (issue 7)."""
