"""Image metrics on the features of gankit's own classifier (`metrics/classifier.py`), with their floors.

Every metric is computed twice: generated images against the real training images, and held-out real
test images against the same training images. The second value is the **floor** (`<name>_floor`): what
a perfect generator would score with this many samples, so users know what "good" means. The numbers are
NOT comparable with published FID/KID values (the embedding is not Inception-v3), hence `fid_lenet` etc.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gankit.metrics.classifier import SmallCNN
from gankit.metrics.features import (
    class_metrics,
    density_coverage,
    frechet_distance,
    kernel_inception_distance,
    precision_recall,
)

MAX_REAL = 10_000
_BATCH = 1000


@torch.no_grad()
def embed(classifier: SmallCNN, images_01: torch.Tensor, batch_size: int = _BATCH) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, 128) float64, predicted labels (N,) int64) of images float in [0, 1]."""
    classifier.eval()
    feats, preds = [], []
    for i in range(0, len(images_01), batch_size):
        x = images_01[i : i + batch_size].to(torch.float32)
        f = classifier.features(x)
        feats.append(f)
        preds.append(classifier.head(f).argmax(1))
    return torch.cat(feats).double().numpy(), torch.cat(preds).numpy().astype(np.int64)


def _check(name: str, x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"image_metrics: {name} must be (N, C, H, W) images, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"image_metrics: {name} must be float in [0, 1], got {x.dtype} (divide uint8 by 255)")
    if len(x) and (x.min() < -1e-3 or x.max() > 1 + 1e-3):
        raise ValueError(
            f"image_metrics: {name} must lie in [0, 1], got [{x.min().item():.3g}, {x.max().item():.3g}] "
            "(map model outputs with DataSource.from_model)"
        )


def _cap(x: torch.Tensor, n: int = MAX_REAL) -> torch.Tensor:
    """At most `n` examples: a fixed random subset when there are more."""
    if len(x) <= n:
        return x
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:n]
    return x[idx]


def _metrics(real: np.ndarray, fake: np.ndarray, fake_pred: np.ndarray, num_classes: int) -> dict[str, Any]:
    precision, recall = precision_recall(real, fake, k=3)
    density, coverage = density_coverage(real, fake, k=5)
    kid_mean, _ = kernel_inception_distance(real, fake)
    classes = class_metrics(fake_pred, num_classes)
    return {
        "fid_lenet": frechet_distance(real, fake),
        "kid_lenet": kid_mean,
        "precision": precision,
        "recall": recall,
        "density": density,
        "coverage": coverage,
        "class_coverage": classes["class_coverage"],
        "class_kl": classes["class_kl"],
    }


def image_metrics(
    classifier: SmallCNN,
    real_train_01: torch.Tensor,
    real_test_01: torch.Tensor,
    fake_01: torch.Tensor,
    num_classes: int,
) -> dict[str, Any]:
    """Metrics of `fake_01` against `real_train_01`, and the same metrics of `real_test_01` (the floors,
    keys `<name>_floor`). All images float in [0, 1], shape (N, C, H, W); real sets are capped at 10,000."""
    for name, x in (("real_train", real_train_01), ("real_test", real_test_01), ("fake", fake_01)):
        _check(name, x)
    real_f, _ = embed(classifier, _cap(real_train_01))
    test_f, test_pred = embed(classifier, _cap(real_test_01))
    fake_f, fake_pred = embed(classifier, fake_01)
    out = _metrics(real_f, fake_f, fake_pred, num_classes)
    floor = _metrics(real_f, test_f, test_pred, num_classes)
    out.update({f"{key}_floor": value for key, value in floor.items()})
    out["num_fake"] = len(fake_01)
    out["num_real"] = len(real_f)
    out["num_real_test"] = len(test_f)
    return out
