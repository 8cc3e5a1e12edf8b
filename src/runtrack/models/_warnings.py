"""The warnings of the models layer (filter them with ``warnings.filterwarnings``)."""

from __future__ import annotations

__all__ = ["ModelEnvironmentWarning", "ModelWarning"]


class ModelWarning(UserWarning):
    """A saved model may not load or behave the same elsewhere (e.g. it needs ``__main__``)."""


class ModelEnvironmentWarning(ModelWarning):
    """The environment loading a model differs from the one that saved it (library versions)."""
