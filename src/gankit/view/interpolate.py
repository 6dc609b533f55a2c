"""Latent interpolation: rows of images along straight (or great-circle) paths between random latents.

A smooth walk, each row morphing from one image into another, says G learned a continuous map rather than
memorising a few outputs; abrupt jumps or repeated images along a row are signs of collapse.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from gankit.errors import GankitError
from gankit.models.conditional import with_class
from gankit.models.latent import sample_latent
from gankit.view.plots import image_grid

if TYPE_CHECKING:
    from gankit.run import Run


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of rows of `a` and `b` at fractions `t` ((steps,)): shape (rows, steps, dim).

    For Gaussian latents: a straight line passes through the low-norm middle where G has seen almost no
    inputs (White 2016, "Sampling generative networks"); the great circle keeps the typical norm."""
    a_n, b_n = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega = torch.arccos((a_n * b_n).sum(1).clamp(-1 + 1e-7, 1 - 1e-7))[:, None, None]
    t = t[None, :, None]
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a[:, None] + (torch.sin(t * omega) / so) * b[:, None]


def latent_paths(rows: int, steps: int, dim: int, dist: str, seed: int = 0, classes: int = 0,
                 label: int | None = None) -> torch.Tensor:
    """(rows * steps, dim) latents, row by row: slerp for normal noise, linear for uniform (stays in the box).

    `label` (a class-conditional G, `classes` > 0): both ends of every walk pick that class. Both paths are
    combinations of the ends with weights >= 0, so the class coordinate stays the largest all along."""
    rng = torch.Generator().manual_seed(seed)
    ends = sample_latent(2 * rows, dim, dist, rng, torch.device("cpu"))
    if label is not None:
        ends = with_class(ends, classes, label)
    a, b = ends[:rows], ends[rows:]
    t = torch.linspace(0, 1, steps)
    if dist == "normal" and dim > 1:
        paths = slerp(a, b, t)
    else:
        paths = a[:, None] + t[None, :, None] * (b - a)[:, None]
    return paths.reshape(rows * steps, dim)


@torch.no_grad()
def interpolation_grid(run: Run, path: str | Path, rows: int = 8, steps: int = 10, seed: int = 0,
                       label: int | str | None = None) -> Path:
    """Write a grid of `rows` latent walks of `steps` images each for an image run (`label`: within one class)."""
    if run.data.kind != "image":
        raise GankitError(
            f"--interpolate draws image grids; '{run.path}' is a {tuple(run.data.shape)}-point run "
            "(use gankit sample without --interpolate)"
        )
    if rows < 1 or steps < 2:
        raise GankitError(f"an interpolation needs at least 1 row and 2 steps, got {rows} and {steps}")
    cfg = run.config
    index = None if label is None else run.class_index(label)
    z = latent_paths(rows, steps, cfg.latent.dim, cfg.latent.dist, seed, cfg.latent.classes, index)
    images = run.data.from_model(run.generator(z).float())
    title = f"{cfg.name} · step {run.step:,} · latent interpolation ({rows} walk{'s' if rows != 1 else ''} of {steps})"
    title += f" · class {label}" if label is not None else ""
    return image_grid(images, path, nrow=steps, title=title)
