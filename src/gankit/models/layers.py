"""Small layers the architectures share."""

import torch
from torch import nn


class ELU(nn.Module):
    """ELU (alpha 1) computed as where(x > 0, x, exp(min(x, 0)) - 1).

    The same function as nn.ELU, but F.elu goes through expm1, which is over ten times slower than exp on
    the AVX-512 CPUs we train on (../shared/perf-notes.md); the toy MLPs spend most of their time there.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x, torch.exp(torch.clamp(x, max=0.0)) - 1.0)


class Scale(nn.Module):
    """Multiplies by a fixed factor: lets a generator's linear output start at the data's scale (toy data
    spans +-4 while a fresh MLP's output is ~0.1, and Adam moves each weight ~lr a step whatever the scale)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = float(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:g}"
