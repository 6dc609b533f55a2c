"""The latent noise a generator reads: z ~ N(0, I), U[-1, 1) or U[0, 1) per `latent.dist`."""

from __future__ import annotations

import torch


def sample_latent(n: int, dim: int, dist: str, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    if dist == "normal":
        return torch.randn(n, dim, generator=generator, device=device)
    z = torch.rand(n, dim, generator=generator, device=device)
    return z * 2 - 1 if dist == "uniform" else z
