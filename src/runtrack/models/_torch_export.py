"""The module a ``torch.export`` copy loads as (imports torch: imported only to load one)."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ValidationError

__all__ = ["ExportedModule"]


class ExportedModule(torch.nn.Module):
    """A model rebuilt from a ``torch.export`` program, captured in eval mode.

    Call it like the original module. ``eval()`` is accepted (it already is); ``train()``
    raises ``ValidationError``: the graph has dropout and batch-norm fixed in eval mode.
    The program is ``.program``.
    """

    def __init__(self, program: Any) -> None:
        super().__init__()
        self.program = program
        self.graph_module = program.module()
        self.training = False

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.graph_module(*args, **kwargs)

    def train(self, mode: bool = True) -> ExportedModule:
        if mode:
            raise ValidationError(
                "this model was loaded from a torch.export copy captured in eval mode and "
                "cannot train; rebuild it from its class (code_paths=) to train it"
            )
        return self
