"""Toy point data: the 1-D Gaussian of post 002 and the 2-D Gaussian mixtures of post 004."""

from __future__ import annotations

import math

import torch

from gankit.data.base import DATA, DataSource
from gankit.errors import ConfigError

# How many generator samples an evaluation draws: 10,000 1-D samples make the KS statistic's sampling noise
# (~1/sqrt(n)) about 0.01; PacGAN draws 2,500 samples for the 2-D mixtures.
EVAL_N_1D = 10_000
EVAL_N_MIXTURE = 2_500
# Mixtures: modes captured (PacGAN) ranks runs; as an integer it ties often, and the share of high-quality
# samples breaks the ties.
MIXTURE_TRAITS = {"kind": "2d", "headline": ("modes", "max"), "tiebreak": ("high_quality", "max"),
                  "metrics": ("mixture",), "default_n": EVAL_N_MIXTURE}


def _positive(name: str, where: str, **values: float) -> None:
    for key, value in values.items():
        if not value > 0:
            raise ConfigError(f"data '{name}' setting '{key}' must be > 0, got {value} ({where})")


def _at_least_one(name: str, **values: int) -> None:
    for key, value in values.items():
        if value < 1:
            raise ConfigError(f"data '{name}' setting '{key}' must be at least 1, got {value}")


@DATA.register("gaussian1d", "1-D normal distribution N(mean, std), sampled afresh each batch (post 002)",
               kind="1d", headline=("w1", "min"), metrics=("gaussian-1d",), default_n=EVAL_N_1D)  # W1 to the target
def gaussian1d(*, mean: float = 4.0, std: float = 1.25) -> DataSource:
    """1-D normal distribution N(mean, std); infinite, every batch is a fresh draw.

    Post 002 (vanilla GAN) learns N(4, 1.25) and reports the mean and std of 1,000 generated samples,
    so `info` carries the target `mean` and `std`.
    """
    _positive("gaussian1d", "a normal distribution needs a positive spread", std=std)

    def sampler(n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, 1, generator=generator) * std + mean

    return DataSource(
        name="gaussian1d",
        kind="points",
        shape=(1,),
        sampler=sampler,
        info={"mean": mean, "std": std},
        origin=f"N(mean={mean:g}, std={std:g}), fresh samples every batch",
    )


def _mixture(modes: torch.Tensor, std: float, points_per_mode: int, data_seed: int) -> torch.Tensor:
    """`points_per_mode` isotropic Gaussian points around each mode, shuffled once (so a plain
    sequential reader still sees every mode in every batch)."""
    gen = torch.Generator().manual_seed(data_seed)
    centres = modes.repeat_interleave(points_per_mode, dim=0)
    points = centres + std * torch.randn(centres.shape, generator=gen, dtype=torch.float64)
    points = points[torch.randperm(len(points), generator=gen)]
    return points.to(torch.float32)


def _mixture_source(name: str, modes: torch.Tensor, std: float, per_mode: int, seed: int, what: str) -> DataSource:
    """A stored 2-D mixture; `info` carries the modes and std the metrics and pictures need."""
    data = _mixture(modes, std, per_mode, seed)
    origin = f"{what}, {per_mode:,} points per mode = {len(data):,} points (seed {seed})"
    return DataSource(name=name, kind="points", shape=(2,), data=data,
                      info={"modes": modes.tolist(), "std": std}, origin=origin)


@DATA.register("grid25", "rows x rows grid of 2-D Gaussians, points stored (post 004: 5x5, 100,000 points)",
               **MIXTURE_TRAITS)
def grid25(
    *, rows: int = 5, spacing: float = 2.0, std: float = 0.05, points_per_mode: int = 4000, data_seed: int = 0
) -> DataSource:
    """A rows x rows grid of 2-D Gaussians centred symmetrically about 0, `points_per_mode` points each.

    Post 004 (WGAN with weight clipping) uses the 5 x 5 grid with centres at -4, -2, 0, 2, 4 on both
    axes and 4,000 points per mode (100,000 points). The points are generated once from `data_seed`
    and stored; `info` has the mode centres (`modes`, a list of [x, y]) and their `std`.
    """
    _at_least_one("grid25", rows=rows, points_per_mode=points_per_mode)
    _positive("grid25", "the modes need a positive spread and distinct centres", spacing=spacing, std=std)
    axis = (torch.arange(rows, dtype=torch.float64) - (rows - 1) / 2) * spacing
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    modes = torch.stack([xs.flatten(), ys.flatten()], dim=1)
    return _mixture_source("grid25", modes, std, points_per_mode, data_seed,
                           f"{rows}x{rows} grid of Gaussians (spacing {spacing:g}, std {std:g})")


@DATA.register("ring8", "Gaussians evenly spaced on a circle, points stored (the other classic 2-D mixture)",
               **MIXTURE_TRAITS)
def ring8(
    *, modes: int = 8, radius: float = 2.0, std: float = 0.02, points_per_mode: int = 4000, data_seed: int = 0
) -> DataSource:
    """`modes` 2-D Gaussians evenly spaced on a circle of `radius` (the first at angle 0).

    The companion of post 004's grid: the standard mode-collapse benchmark, stored and described the
    same way (`info` has `modes` and `std`).
    """
    _at_least_one("ring8", modes=modes, points_per_mode=points_per_mode)
    _positive("ring8", "the modes need a positive spread and a circle to sit on", radius=radius, std=std)
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    centres = torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], dim=1)
    return _mixture_source("ring8", centres, std, points_per_mode, data_seed,
                           f"{modes} Gaussians on a circle of radius {radius:g} (std {std:g})")
