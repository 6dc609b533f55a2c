"""The pictures are valid, readable PNGs, and plot_samples picks the right one per data source."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.view import plots


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def _n_colours(px: np.ndarray) -> int:
    return len(np.unique(px.reshape(-1, 3), axis=0))


def _blobs(n: int, seed: int = 0) -> torch.Tensor:
    """Fake 28x28 'digits': a bright disc at a random place on black."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    centres = torch.rand(n, 2, generator=g) * 14 + 7
    d2 = (yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2
    return (d2 < 25).float().unsqueeze(1)


def _ring(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    angles = np.arange(8) * 2 * np.pi / 8
    modes = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return modes[rng.integers(0, 8, n)] + 0.05 * rng.standard_normal((n, 2)), modes


def _distance_critic(modes: np.ndarray):
    def critic(x: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(x[:, None, :] - modes[None], axis=2).min(axis=1)
        return 1 / (1 + np.exp(4 * (d - 0.5)))  # high near the modes, like a trained D

    return critic


def test_image_grid_gray_upscaled(tmp_path):
    out = plots.image_grid(_blobs(64), tmp_path / "sub" / "grid.png")
    px = _load(out)
    assert px.shape[1] >= 400 and px.shape[0] >= 400
    assert px.std() > 30
    # grey in, grey out: all three channels equal
    assert (px[..., 0] == px[..., 1]).all() and (px[..., 1] == px[..., 2]).all()


def test_image_grid_small_colour_with_title(tmp_path):
    imgs = torch.rand(10, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    out = plots.image_grid(imgs, tmp_path / "grid.png", nrow=5, title="epoch 3")
    px = _load(out)
    assert px.shape[1] >= 400
    assert px.shape[0] < px.shape[1]  # 2 rows x 5 columns stays landscape
    assert px.std() > 30


def test_image_grid_rejects_bad_shape(tmp_path):
    with pytest.raises(ValueError):
        plots.image_grid(torch.rand(4, 2, 8, 8), tmp_path / "x.png")


def test_histogram_1d(tmp_path):
    samples = np.random.default_rng(0).normal(4.0, 1.25, 5000)
    out = plots.histogram_1d(samples, tmp_path / "hist.png", 4.0, 1.25, title="1-D fit")
    px = _load(out)
    assert px.shape[1] >= 400
    assert px.std() > 10 and _n_colours(px) > 20


def test_histogram_1d_survives_non_finite(tmp_path):
    samples = np.array([1.0, 2.0, np.inf, np.nan, 1.5])
    px = _load(plots.histogram_1d(samples, tmp_path / "h.png", None, None))
    assert px.std() > 5


def test_scatter_2d_with_critic(tmp_path):
    real, modes = _ring()
    fake = np.random.default_rng(1).normal(0, 1.0, (3000, 2))
    out = plots.scatter_2d(
        fake,
        real,
        tmp_path / "s.png",
        modes=modes,
        critic=_distance_critic(modes),
        title="ring",
    )
    px = _load(out)
    assert px.std() > 20
    assert _n_colours(px) > 200  # the filled contours vary, not one flat colour


def test_scatter_2d_outlier_keeps_data_visible(tmp_path):
    real, modes = _ring()
    fake = np.concatenate([real[:500] + 0.1, [[1e4, -1e4]]])
    lo, hi = plots._extent(real, fake)
    span = real.max(axis=0) - real.min(axis=0)
    assert (hi - lo <= 3 * span + 1e-9).all()  # the outlier did not blow up the view
    px = _load(plots.scatter_2d(fake, real, tmp_path / "s.png", modes=modes))
    assert px.std() > 20
    grey = (np.abs(px[..., 0].astype(int) - px[..., 2]) < 8) & (px[..., 0] < 230)
    # the real points still cover a visible part of the picture
    assert grey.mean() > 0.01


def test_scatter_2d_constant_critic(tmp_path):
    real, _ = _ring(500)
    px = _load(
        plots.scatter_2d(
            real, real, tmp_path / "s.png", critic=lambda x: np.zeros(len(x))
        )
    )
    assert px.std() > 10


def _image_source():
    return SimpleNamespace(
        kind="image", shape=(1, 28, 28), info={}, from_model=lambda x: (x + 1) / 2
    )


def test_plot_samples_image(tmp_path):
    fake = _blobs(16) * 2 - 1  # model space [-1, 1]
    px = _load(
        plots.plot_samples(_image_source(), fake, tmp_path / "i.png", title="step 10")
    )
    assert px.shape[1] >= 400 and px.std() > 30


def test_plot_samples_1d(tmp_path):
    data = SimpleNamespace(
        kind="points",
        shape=(1,),
        info={"mean": 4.0, "std": 1.25},
        data=None,
        sampler=lambda n, g: 4 + 1.25 * torch.randn(n, 1, generator=g),
    )
    fake = 4 + 1.25 * torch.randn(2000, 1, generator=torch.Generator().manual_seed(0))
    px = _load(plots.plot_samples(data, fake, tmp_path / "h.png"))
    assert px.std() > 10


@pytest.mark.parametrize("finite", [True, False])
def test_plot_samples_2d_with_torch_critic(tmp_path, finite):
    real, modes = _ring()
    calls = []

    def critic(x: torch.Tensor) -> torch.Tensor:
        assert isinstance(x, torch.Tensor) and not torch.is_grad_enabled()
        calls.append(len(x))
        return torch.as_tensor(_distance_critic(modes)(x.numpy())) * 2 - 1

    def sampler(n, g):
        i = torch.randint(0, 8, (n,), generator=g)
        return torch.as_tensor(modes, dtype=torch.float32)[i] + 0.05 * torch.randn(
            n, 2, generator=g
        )

    data = SimpleNamespace(
        kind="points",
        shape=(2,),
        info={"modes": modes.tolist(), "std": 0.05},
        data=torch.as_tensor(real, dtype=torch.float32) if finite else None,
        sampler=sampler,
        to_model=lambda x: x,
    )
    fake = torch.randn(1000, 2, requires_grad=True)
    px = _load(
        plots.plot_samples(
            data, fake, tmp_path / "s.png", critic=critic, critic_label="critic score"
        )
    )
    assert sum(calls) == plots.CRITIC_GRID**2
    assert _n_colours(px) > 200


def test_plot_samples_rejects_3d_points(tmp_path):
    data = SimpleNamespace(kind="points", shape=(3,), info={}, data=None)
    with pytest.raises(ValueError):
        plots.plot_samples(data, torch.zeros(4, 3), tmp_path / "x.png")


def test_no_pyplot_figures_left_open(tmp_path):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    real, modes = _ring(500)
    plots.scatter_2d(
        real, real, tmp_path / "a.png", modes=modes, critic=_distance_critic(modes)
    )
    plots.histogram_1d(real[:, 0], tmp_path / "b.png", 0.0, 1.0)
    plots.image_grid(_blobs(4), tmp_path / "c.png", title="t")
    assert len(plt.get_fignums()) == before


def test_histogram_1d_cuts_off_a_collapsed_spike(tmp_path):
    # A collapsed G: every sample near 0.2. The target curve must stay readable, not flattened to the axis.
    samples = 0.2 + 0.001 * np.random.default_rng(0).standard_normal(5000)
    px = _load(plots.histogram_1d(samples, tmp_path / "h.png", 4.0, 1.25, title="collapsed"))
    dark = px.max(axis=2) < 80
    spine = max(r for r in range(px.shape[0]) if dark[r].mean() > 0.5)  # the x axis line
    # The column at x = 4 (the middle of the axes, left of the legend): where the target curve peaks.
    curve = np.nonzero(dark[40 : spine - 2, 360:385].any(axis=1))[0]
    assert curve.size and spine - 2 - (curve.min() + 40) > 80  # ~20 px when the spike sets the scale
