"""Image metrics on the features of gankit's own classifier (`metrics/classifier.py`), with their floors.

Every metric is computed twice: generated images against the real training images, and held-out real
test images against the same training images. The second value is the **floor** (`<name>_floor`): what
a perfect generator would score with this many samples, so users know what "good" means. The numbers are
NOT comparable with published FID/KID values (the embedding is not Inception-v3), hence `fid_lenet` etc.

`cached_real_features` keeps the real sets' embeddings next to the cached classifier, so an evaluation embeds
only the generated images (at 10,000 real train + 10,000 test images that saves about 7 s on 2 cores).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data.base import DataSource
from gankit.errors import GankitError
from gankit.metrics.classifier import SmallCNN, data_key, fingerprint
from gankit.metrics.features import (
    class_metrics,
    frechet_distance,
    kernel_inception_distance,
    knn_sq_radii,
    prdc,
)
from gankit.store.checkpoint import load_checkpoint, save_checkpoint

MAX_REAL = 10_000
_BATCH = 1000

# Metric keys (declared in the metric registry and read by the verdict rules: renamed here only). Each metric
# also comes as `floor_key(key)`, its real-vs-real floor.
FID_LENET, KID_LENET, PRECISION, RECALL = "fid_lenet", "kid_lenet", "precision", "recall"
DENSITY, COVERAGE, CLASS_COVERAGE, CLASS_KL = "density", "coverage", "class_coverage", "class_kl"
METRIC_KEYS = (FID_LENET, KID_LENET, PRECISION, RECALL, DENSITY, COVERAGE, CLASS_COVERAGE, CLASS_KL)
CLASSIFIER_ACCURACY = "classifier_test_accuracy"  # the judging classifier's accuracy on the test split
NUM_FAKE, NUM_REAL, NUM_REAL_TEST = "num_fake", "num_real", "num_real_test"


def floor_key(key: str) -> str:
    """The key of metric `key`'s real-vs-real floor."""
    return f"{key}_floor"


# Everything the classifier family returns (`gankit.metrics.evaluate_images` on labelled data).
CLASSIFIER_KEYS = (CLASSIFIER_ACCURACY, *METRIC_KEYS, *map(floor_key, METRIC_KEYS), NUM_FAKE, NUM_REAL, NUM_REAL_TEST)


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


def check_images(name: str, x: torch.Tensor) -> None:
    """ValueError unless `x` is (N, C, H, W) float images in [0, 1]."""
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


_K_PR, _K_DC = 3, 5  # the k of precision/recall and of density/coverage (their papers' defaults)


def _metrics(
    real: np.ndarray, fake: np.ndarray, fake_pred: np.ndarray, num_classes: int, real_radii: dict[int, np.ndarray]
) -> dict[str, Any]:
    manifold = prdc(real, fake, k_pr=_K_PR, k_dc=_K_DC, real_radii=real_radii)
    kid_mean, _ = kernel_inception_distance(real, fake)
    classes = class_metrics(fake_pred, num_classes)
    return {
        FID_LENET: frechet_distance(real, fake),
        KID_LENET: kid_mean,
        PRECISION: manifold["precision"],
        RECALL: manifold["recall"],
        DENSITY: manifold["density"],
        COVERAGE: manifold["coverage"],
        CLASS_COVERAGE: classes["class_coverage"],
        CLASS_KL: classes["class_kl"],
    }


@dataclass
class RealFeatures:
    """Embeddings of the real sets: `train` (the training images, at most MAX_REAL), `test` and `test_pred`."""

    train: np.ndarray
    test: np.ndarray
    test_pred: np.ndarray


def real_features(classifier: SmallCNN, real_train_01: torch.Tensor, real_test_01: torch.Tensor) -> RealFeatures:
    for name, x in (("real_train", real_train_01), ("real_test", real_test_01)):
        check_images(name, x)
    train_f, _ = embed(classifier, _cap(real_train_01))
    test_f, test_pred = embed(classifier, _cap(real_test_01))
    return RealFeatures(train_f, test_f, test_pred)


def cached_real_features(classifier: SmallCNN, train: DataSource, test: DataSource, cache_dir: Path) -> RealFeatures:
    """`real_features` of two labelled splits, kept in `cache_dir` beside the classifier. The file is used only
    for the same classifier weights (a fingerprint), the same data (hashes) and the same MAX_REAL; otherwise it
    is recomputed and replaced. Features are stored as the float32 the classifier gives, so reloading them is
    exact."""
    assert train.data is not None and test.data is not None
    key = {"classifier": fingerprint(classifier), "train": data_key(train), "test": data_key(test), "max_real": MAX_REAL}
    path = Path(cache_dir) / f"features-{key['classifier']}-{key['train']}-{key['test']}.pt"
    if path.is_file():
        try:
            state = load_checkpoint(path)
        except GankitError:
            state = {}  # damaged: recomputed and replaced below
        if state.get("key") == key:
            return RealFeatures(state["train"].double().numpy(), state["test"].double().numpy(), state["test_pred"].numpy())
    found = real_features(classifier, train.data.float() / 255, test.data.float() / 255)
    tensors = {n: torch.from_numpy(getattr(found, n)) for n in ("train", "test", "test_pred")}
    save_checkpoint({"format": 1, "key": key, "train": tensors["train"].float(), "test": tensors["test"].float(),
                     "test_pred": tensors["test_pred"]}, path)
    return found


def metrics_from_features(
    real: RealFeatures, fake_f: np.ndarray, fake_pred: np.ndarray, num_classes: int
) -> dict[str, Any]:
    """The metrics of embedded fakes and their floors (the real test set scored the same way)."""
    # The real set's k-NN radii are the costly part of P/R and D/C: computed once for both, and both calls.
    radii = knn_sq_radii(real.train, [_K_PR, _K_DC])
    out = _metrics(real.train, fake_f, fake_pred, num_classes, radii)
    floor = _metrics(real.train, real.test, real.test_pred, num_classes, radii)
    out.update({floor_key(key): value for key, value in floor.items()})
    out[NUM_FAKE] = len(fake_f)
    out[NUM_REAL] = len(real.train)
    out[NUM_REAL_TEST] = len(real.test)
    return out


def image_metrics(
    classifier: SmallCNN,
    real_train_01: torch.Tensor,
    real_test_01: torch.Tensor,
    fake_01: torch.Tensor,
    num_classes: int,
) -> dict[str, Any]:
    """Metrics of `fake_01` against `real_train_01`, and the same metrics of `real_test_01` (the floors,
    keys `<name>_floor`). All images float in [0, 1], shape (N, C, H, W); real sets are capped at 10,000."""
    check_images("fake", fake_01)
    real = real_features(classifier, real_train_01, real_test_01)
    fake_f, fake_pred = embed(classifier, fake_01)
    return metrics_from_features(real, fake_f, fake_pred, num_classes)
