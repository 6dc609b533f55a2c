"""Stacked MNIST mode counting: the protocol of Metz et al. 2017 (unrolled GAN), VEEGAN and PacGAN.

Each generated 3 x 28 x 28 image is split into its three channels; gankit's MNIST classifier
(`metrics/classifier.py`, trained on the MNIST train split) reads one digit from each; the triple
(d1, d2, d3) is the image's mode, 100 * d1 + 10 * d2 + d3, one of 1,000. Reported, on 26,000 samples as
PacGAN's code draws them (`num_test_sample: 26000`):

- `modes`: modes with at least one sample (of `modes_total` = 1,000);
- `mode_kl`: KL(p || uniform) = sum_m p_m log(1000 p_m) of the mode histogram p, with 0 log 0 = 0, in nats
  (PacGAN's code computes exactly this: `KLD(p, q)` with q uniform, skipping empty modes). 0 for a perfectly
  balanced histogram, log(1000) = 6.9 when every sample is one mode.

Both come with real-vs-real floors (`modes_floor`, `mode_kl_floor`): the same number of real Stacked MNIST
images built from the MNIST *test* digits, scored the same way. With 26,000 samples a uniform histogram is
not flat: its KL is about (1000 - 1) / (2 * 26000) = 0.019 from sampling noise alone, plus what classifier
errors add.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gankit.data.stacked import EVAL_IMAGES, NUM_MODES
from gankit.metrics.classifier import SmallCNN, predict
from gankit.metrics.features import class_metrics
from gankit.metrics.images import CLASSIFIER_ACCURACY, NUM_FAKE, NUM_REAL, floor_key

STACKED_N = EVAL_IMAGES  # PacGAN's 26,000 evaluation samples: the data's declared default_n

# Metric keys (declared in the metric registry and read by the verdict rules: renamed here only).
MODES, MODES_TOTAL, MODE_KL = "modes", "modes_total", "mode_kl"
MODES_FLOOR, MODE_KL_FLOOR = floor_key(MODES), floor_key(MODE_KL)
# Everything the stacked-modes family returns (`gankit.metrics.evaluate_images` on stacked-mnist).
STACKED_KEYS = (CLASSIFIER_ACCURACY, MODES, MODES_TOTAL, MODE_KL, MODES_FLOOR, MODE_KL_FLOOR, NUM_FAKE, NUM_REAL)


_CHUNK = 2000  # images per chunk: uint8 input is converted to float one chunk at a time


def channel_digits(classifier: SmallCNN, images: torch.Tensor) -> np.ndarray:
    """(N, 3) digits the MNIST classifier reads in each channel of (N, 3, H, W) images, float in [0, 1] or
    uint8 (converted chunk by chunk, so 26,000 real images never exist as one float tensor)."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"stacked MNIST images must be (N, 3, H, W), got shape {tuple(images.shape)}")
    out = []
    for start in range(0, len(images), _CHUNK):
        x = images[start : start + _CHUNK]
        x = x.to(torch.float32) / 255.0 if x.dtype == torch.uint8 else x.to(torch.float32)
        # Every channel as its own greyscale image: (n, 3, H, W) -> (3n, 1, H, W), image-major.
        out.append(predict(classifier, x.reshape(len(x) * 3, 1, *x.shape[2:])).reshape(len(x), 3))
    return torch.cat(out).numpy().astype(np.int64)


def mode_metrics(classifier: SmallCNN, images: torch.Tensor) -> dict[str, Any]:
    """{'modes', 'mode_kl', 'mode_histogram'} of (N, 3, H, W) images (as `channel_digits`; see the module doc)."""
    if len(images) == 0:
        raise ValueError("stacked MNIST mode metrics need at least 1 image, got 0")
    d = channel_digits(classifier, images)
    modes = d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]
    found = class_metrics(modes, NUM_MODES)
    return {
        MODES: int(np.count_nonzero(found["class_histogram"])),
        MODE_KL: found["class_kl"],
        "mode_histogram": found["class_histogram"],
    }


def stacked_metrics(classifier: SmallCNN, real: torch.Tensor, fake_01: torch.Tensor) -> dict[str, Any]:
    """Modes and mode KL of `fake_01` (float in [0, 1], (N, 3, H, W)) beside the floors from `real` (real
    Stacked MNIST images, uint8 or float in [0, 1], ideally as many as the fakes, from digits the classifier
    did not train on)."""
    if not fake_01.is_floating_point():
        raise ValueError(f"stacked_metrics: fake images must be float in [0, 1], got {fake_01.dtype}")
    if fake_01.dim() == 4 and len(fake_01) and (fake_01.min() < -1e-3 or fake_01.max() > 1 + 1e-3):
        raise ValueError("stacked_metrics: fake images must lie in [0, 1] (map model outputs with from_model)")
    fake = mode_metrics(classifier, fake_01)
    real_found = mode_metrics(classifier, real)
    return {
        MODES: fake[MODES],
        MODES_TOTAL: NUM_MODES,
        MODE_KL: fake[MODE_KL],
        MODES_FLOOR: real_found[MODES],
        MODE_KL_FLOOR: real_found[MODE_KL],
        NUM_FAKE: len(fake_01),
        NUM_REAL: len(real),
    }
