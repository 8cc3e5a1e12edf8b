"""Torch modules for the model tests, importable by name (``tests/models`` is on sys.path)."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """Needs constructor arguments: saving it requires init_kwargs."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class TwoHeads(nn.Module):
    """Built without arguments; returns a dict of two outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.a(x), "score": self.b(x).squeeze(-1).double()}
