"""Pictures of what a GAN is doing: image grids, the 1-D fit, 2-D samples over D's landscape.

Figures are built with ``matplotlib.figure.Figure`` directly rather than through pyplot: that
renders with Agg, never opens a window, does not switch the backend of a user's notebook, and
leaves nothing registered in pyplot's figure manager, so a long run cannot leak figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.axes_grid1 import make_axes_locatable
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from gankit.view.marks import PNG as MARK

if TYPE_CHECKING:
    from gankit.data.base import DataSource

# A grid narrower than this is upscaled (nearest neighbour) so 8x8 digits stay readable.
MIN_GRID_WIDTH = 480
MAX_REAL_POINTS = 5_000
MAX_FAKE_POINTS = 2_500
CRITIC_GRID = 200
FAKE_COLOUR = "#1a9e3f"  # green: stands out on both halves of the red/blue critic map
DPI = 100
# The 1-D histogram's y axis stops at this many times the target's peak density.
CLIP_FACTOR = 3.0


def _prepare(path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def image_grid(
    images: torch.Tensor,
    path: str | Path,
    nrow: int | None = None,
    title: str | None = None,
) -> Path:
    """Save (N, C, H, W) images in [0, 1] (C = 1 grey, C = 3 colour) as one PNG grid."""
    path = _prepare(path)
    images = images.detach().float().cpu()
    if images.dim() != 4 or images.shape[1] not in (1, 3) or images.shape[0] == 0:
        raise ValueError(
            f"expected images of shape (N, 1 or 3, H, W), got {tuple(images.shape)}"
        )
    n = images.shape[0]
    nrow = nrow or math.ceil(math.sqrt(n))
    # here, not at the top: importing torchvision imports dynamo (~1.1 s), which 1-D and 2-D runs need only to compile
    from torchvision.utils import make_grid

    # Mid-grey padding separates cells for white-on-black digits and dark colour images alike.
    grid = make_grid(images.clamp(0, 1), nrow=nrow, padding=2, pad_value=0.5)
    pixels = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    scale = max(1, math.ceil(MIN_GRID_WIDTH / pixels.shape[1]))
    # Nearest neighbour: pixel edges stay crisp.
    pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    h, w = pixels.shape[:2]
    if title is None:
        info = PngInfo()
        info.add_text("Software", MARK["Software"])
        Image.fromarray(pixels).save(path, format="PNG", pnginfo=info)
        return path

    # Figure exactly the grid's size plus a title band, so the grid is not resampled again.
    band = 34
    fig = Figure(figsize=(w / DPI, (h + band) / DPI), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, h / (h + band)))
    ax.imshow(pixels, interpolation="nearest")
    ax.set_axis_off()
    # Shrink long titles to fit the width (a character is roughly 0.6 em wide).
    fontsize = min(12.0, 0.95 * (w * 72 / DPI) / (0.6 * max(len(title), 1)))
    fig.text(
        0.5,
        1 - 0.5 * band / (h + band),
        title,
        ha="center",
        va="center",
        fontsize=max(fontsize, 6.0),
    )
    fig.savefig(path, dpi=DPI, format="png", facecolor="white", metadata=MARK)
    return path


def histogram_1d(
    samples: np.ndarray,
    path: str | Path,
    target_mean: float | None,
    target_std: float | None,
    title: str | None = None,
) -> Path:
    """Density histogram of G's 1-D samples with the target N(mean, std) curve over it."""
    path = _prepare(path)
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    # A diverged G can emit inf/nan; np.histogram would fail on them.
    finite = x[np.isfinite(x)]
    fig = Figure(figsize=(7, 4.5), dpi=DPI)
    ax = fig.add_subplot()
    has_target = target_mean is not None and target_std is not None and target_std > 0

    lo, hi = (finite.min(), finite.max()) if finite.size else (np.inf, -np.inf)
    if has_target:
        lo = min(lo, target_mean - 4 * target_std)
        hi = max(hi, target_mean + 4 * target_std)
    # No samples and no target, or all samples equal: any unit window around them.
    if not np.isfinite([lo, hi]).all() or hi <= lo:
        centre = float(finite.mean()) if finite.size else 0.0
        lo, hi = centre - 1.0, centre + 1.0

    # Bins over the whole view: a collapsed G is one bar of the same width as the others, not a
    # hundred hair-thin bars inside a single one.
    bins = np.linspace(lo, hi, 101)
    peak = 1 / (target_std * math.sqrt(2 * math.pi)) if has_target else None
    if finite.size:
        label = f"G samples: mean {finite.mean():.3f}, std {finite.std():.3f}"
        if finite.size < x.size:
            label += f" ({x.size - finite.size} non-finite dropped)"
        counts = np.histogram(finite, bins=bins, density=True)[0]
        tallest = float(counts.max())
        # A collapsed G's spike would flatten the target curve to a line on the axis: cut it off.
        clipped = peak is not None and tallest > CLIP_FACTOR * peak
        if clipped:
            label += f"\ntallest bar {tallest:.3g}, cut off (hatched)"
        # One filled outline, not a patch per bar: a 100-bar ax.hist cost ~0.2 s of each picture (gan-1d draws 11)
        ax.stairs(counts, bins, fill=True, color="tab:blue", alpha=0.6, label=label)
        if clipped:
            ax.set_ylim(0, CLIP_FACTOR * peak)
            cut = counts > CLIP_FACTOR * peak
            ax.bar(bins[:-1][cut], counts[cut], width=np.diff(bins)[cut], align="edge", fill=False,
                   hatch="//", edgecolor="tab:blue", linewidth=0)
    else:
        ax.text(0.5, 0.5, "no finite samples", transform=ax.transAxes, ha="center")
    if has_target:
        grid = np.linspace(lo, hi, 500)
        pdf = np.exp(-0.5 * ((grid - target_mean) / target_std) ** 2)
        pdf /= target_std * math.sqrt(2 * math.pi)
        ax.plot(
            grid,
            pdf,
            color="black",
            lw=2,
            label=f"target N({target_mean:g}, {target_std:g})",
        )
    ax.set_xlim(lo, hi)
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png", metadata=MARK)
    return path


def _subsample(points: np.ndarray, limit: int, seed: int) -> np.ndarray:
    if len(points) <= limit:
        return points
    # Fixed seed: successive epoch pictures show the same real points, so only G's change.
    return points[np.random.default_rng(seed).choice(len(points), limit, replace=False)]


def _extent(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis (lo, hi): the data plus 15%, widened for fakes but never past 3x its range."""
    if len(real):
        dlo, dhi = real.min(axis=0), real.max(axis=0)
    elif len(fake):
        dlo, dhi = np.nanpercentile(fake, 1, axis=0), np.nanpercentile(fake, 99, axis=0)
    else:
        dlo, dhi = np.full(2, -1.0), np.full(2, 1.0)
    span = np.where(dhi - dlo > 0, dhi - dlo, 1.0)
    lo, hi = dlo - 0.15 * span, dhi + 0.15 * span
    if len(fake):
        flo, fhi = fake.min(axis=0), fake.max(axis=0)
        lo = np.minimum(lo, flo - 0.05 * span)
        hi = np.maximum(hi, fhi + 0.05 * span)
    centre = (dlo + dhi) / 2
    # Clipped so one far outlier from a diverging G does not shrink the data to a dot.
    return np.maximum(lo, centre - 1.5 * span), np.minimum(hi, centre + 1.5 * span)


def scatter_2d(
    fake: np.ndarray,
    real: np.ndarray,
    path: str | Path,
    modes: np.ndarray | None = None,
    critic: Callable[[np.ndarray], np.ndarray] | None = None,
    critic_label: str = "D(x)",
    title: str | None = None,
) -> Path:
    """G's 2-D samples over the real data, with the critic's landscape as filled contours."""
    path = _prepare(path)
    fake = np.asarray(fake, dtype=np.float64).reshape(-1, 2)
    real = np.asarray(real, dtype=np.float64).reshape(-1, 2)
    real = _subsample(real[np.isfinite(real).all(axis=1)], MAX_REAL_POINTS, 0)
    finite = np.isfinite(fake).all(axis=1)
    lo, hi = _extent(real, fake[finite])
    # Counted over all fakes (before subsampling): how much of G's mass the picture misses.
    outside = int(
        (~finite).sum() + ((fake[finite] < lo) | (fake[finite] > hi)).any(axis=1).sum()
    )
    fake = _subsample(fake[finite], MAX_FAKE_POINTS, 1)

    fig = Figure(figsize=(7.2 if critic else 6.4, 6.2), dpi=DPI)
    ax = fig.add_subplot()
    if critic is not None:
        xs = np.linspace(lo[0], hi[0], CRITIC_GRID)
        ys = np.linspace(lo[1], hi[1], CRITIC_GRID)
        gx, gy = np.meshgrid(xs, ys)
        grid_pts = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
        z = np.asarray(critic(grid_pts), dtype=np.float64).reshape(gx.shape)
        z = np.nan_to_num(
            z, nan=0.0, posinf=np.finfo(np.float32).max, neginf=np.finfo(np.float32).min
        )
        zlo, zhi = float(z.min()), float(z.max())
        if zhi - zlo < 1e-12:  # a constant critic still gets a (one-colour) picture
            zlo, zhi = zlo - 0.5, zhi + 0.5
        # ~20 levels at round values, so the colorbar reads 0.05, 0.10, ... not 0.0659.
        levels = MaxNLocator(nbins=20).tick_values(zlo, zhi)
        cs = ax.contourf(gx, gy, z, levels=levels, cmap="RdBu_r", alpha=0.75, zorder=0)
        cax = make_axes_locatable(ax).append_axes("right", size="4%", pad=0.1)
        fig.colorbar(cs, cax=cax).set_label(critic_label)

    # Darker grey over the contour map, where light grey would vanish in the white middle.
    real_colour = "0.35" if critic is not None else "0.7"
    fake_label = "G samples" + (f" ({outside} outside view)" if outside else "")
    dots = {"lw": 0, "marker": "o"}
    ax.scatter(
        *real.T,
        s=4,
        color=real_colour,
        alpha=0.5,
        label=f"data ({len(real)} shown)",
        zorder=1,
        **dots,
    )
    ax.scatter(
        *fake.T, s=7, color=FAKE_COLOUR, alpha=0.8, label=fake_label, zorder=2, **dots
    )
    if modes is not None and len(modes):
        m = np.asarray(modes, dtype=np.float64).reshape(-1, 2)
        # Hollow rings: the data under each mode stays visible (a cross hid it).
        ax.scatter(
            *m.T,
            marker="o",
            s=70,
            facecolors="none",
            edgecolors="black",
            lw=1.0,
            label="modes",
            zorder=3,
        )
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    if title:
        ax.set_title(title)
    leg = ax.legend(loc="upper right", fontsize=8, framealpha=0.85)
    leg.set_zorder(5)
    for handle, text in zip(leg.legend_handles, leg.get_texts()):
        if text.get_text() != "modes":  # tiny, faint dots are unreadable in the legend
            handle.set_sizes([20])
            handle.set_alpha(1)
    fig.tight_layout()
    # tight: the equal aspect leaves empty bands otherwise
    fig.savefig(path, dpi=DPI, format="png", bbox_inches="tight", pad_inches=0.1, metadata=MARK)
    return path


def plot_samples(
    data: DataSource,
    fake: torch.Tensor,
    path: str | Path,
    title: str | None = None,
    critic: Callable[[torch.Tensor], torch.Tensor] | None = None,
    critic_label: str = "D(x)",
) -> Path:
    """Draw G's samples in the picture that suits the data source (used by training and CLI).

    ``critic`` must be safe to call on a batch of grid points: put D in eval mode first if it
    has batch norm or dropout, or the picture will move D's running statistics.
    """
    fake = fake.detach()
    if data.kind == "image":
        return image_grid(data.from_model(fake.cpu()), path, title=title)
    shape = tuple(data.shape)
    info = getattr(data, "info", None) or {}
    if shape == (1,):
        return histogram_1d(
            fake.float().cpu().numpy().reshape(-1),
            path,
            info.get("mean"),
            info.get("std"),
            title=title,
        )
    if shape != (2,):
        raise ValueError(
            f"no picture for points of shape {shape}; expected (1,) or (2,)"
        )

    if getattr(data, "data", None) is not None:
        real = data.data
    else:
        real = data.sampler(MAX_REAL_POINTS, torch.Generator().manual_seed(0))
    to_model = getattr(data, "to_model", None)
    if to_model is not None:  # same space as G's samples and D's input
        real = to_model(real)
    real_np = torch.as_tensor(real).detach().float().cpu().numpy()
    modes = info.get("modes")

    np_critic = None
    if critic is not None:
        device = fake.device
        dtype = fake.dtype if fake.is_floating_point() else torch.float32

        def np_critic(points: np.ndarray) -> np.ndarray:
            out = []
            with torch.no_grad():
                # Chunks keep a big D's activations for 40,000 grid points within memory.
                for chunk in np.array_split(points, max(1, len(points) // 10_000)):
                    x = torch.as_tensor(chunk, dtype=dtype, device=device)
                    out.append(critic(x).detach().float().reshape(-1).cpu().numpy())
            return np.concatenate(out)

    return scatter_2d(
        fake.float().cpu().numpy(),
        real_np,
        path,
        modes=None if modes is None else np.asarray(modes),
        critic=np_critic,
        critic_label=critic_label,
        title=title,
    )
