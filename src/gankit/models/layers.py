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
