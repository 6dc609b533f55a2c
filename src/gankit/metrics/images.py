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
from gankit.metrics.classes import class_metrics, confident_coverage, reference_shares
from gankit.metrics.classifier import SmallCNN, data_key, fingerprint
from gankit.metrics.features import (
    frechet_distance,
    kernel_inception_distance,
    knn_sq_radii,
    prdc,
)
from gankit.metrics.memorisation import MEMORISATION_KEYS, copy_metrics
from gankit.store.checkpoint import load_checkpoint, save_to_cache

MAX_REAL = 10_000
_BATCH = 1000

# Metric keys (declared in the metric registry and read by the verdict rules: renamed here only). Each metric
# also comes as `floor_key(key)`, its real-vs-real floor.
FID_LENET, KID_LENET, PRECISION, RECALL = "fid_lenet", "kid_lenet", "precision", "recall"
DENSITY, COVERAGE, CLASS_COVERAGE, CLASS_KL = "density", "coverage", "class_coverage", "class_kl"
# class_coverage counts confident predictions with a minimum share per class (`classes.confident_coverage`);
# classes_predicted is the old any-prediction count, kept beside it.
CLASSES_PREDICTED, CONFIDENT_SHARE = "classes_predicted", "confident_share"
METRIC_KEYS = (FID_LENET, KID_LENET, PRECISION, RECALL, DENSITY, COVERAGE, CLASS_COVERAGE, CLASS_KL,
               CLASSES_PREDICTED, CONFIDENT_SHARE)
# Error bars: KID's std over its subsets; the std of the fid_lenet floor over FLOOR_DRAWS test subsets.
KID_LENET_STD, FID_LENET_FLOOR_STD = "kid_lenet_std", "fid_lenet_floor_std"
# fid_lenet of the fakes at the floor's size (num_real_test): the mean over FLOOR_DRAWS random subsets of that
# many fakes when there are more fakes than held-out images, else fid_lenet itself. The converged rule reads it,
# so a generator and held-out real data are compared at one N, with no model of FID's bias in between.
FID_LENET_MATCHED = "fid_lenet_matched"
CLASSIFIER_ACCURACY = "classifier_test_accuracy"  # the judging classifier's accuracy on the test split
NUM_FAKE, NUM_REAL, NUM_REAL_TEST = "num_fake", "num_real", "num_real_test"


def floor_key(key: str) -> str:
    """The key of metric `key`'s real-vs-real floor."""
    return f"{key}_floor"


# Everything the classifier family returns (`gankit.metrics.evaluate_images` on labelled data).
CLASSIFIER_KEYS = (CLASSIFIER_ACCURACY, *METRIC_KEYS, *map(floor_key, METRIC_KEYS), KID_LENET_STD,
                   FID_LENET_FLOOR_STD, FID_LENET_MATCHED, *MEMORISATION_KEYS, NUM_FAKE, NUM_REAL, NUM_REAL_TEST)
# Test subsets behind the fid_lenet floor's mean and std (each a Frechet distance of 128-d statistics: ~50 ms).
FLOOR_DRAWS = 10


@torch.no_grad()
def embed(
    classifier: SmallCNN, images_01: torch.Tensor, batch_size: int = _BATCH
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (N, 128) float64, predicted labels (N,) int64, their softmax probability (N,)) of images float
    in [0, 1]."""
    classifier.eval()
    feats, preds, confs = [], [], []
    for i in range(0, len(images_01), batch_size):
        x = images_01[i : i + batch_size].to(torch.float32)
        f = classifier.features(x)
        feats.append(f)
        conf, pred = classifier.head(f).softmax(1).max(1)
        preds.append(pred)
        confs.append(conf)
    return (torch.cat(feats).double().numpy(), torch.cat(preds).numpy().astype(np.int64),
            torch.cat(confs).double().numpy())


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
MIN_N = _K_PR + 1  # the fewest generated images an evaluation takes: each one's k_pr nearest others


def _metrics(
    real: np.ndarray, fake: np.ndarray, fake_pred: np.ndarray, fake_conf: np.ndarray, num_classes: int,
    real_radii: dict[int, np.ndarray], reference: np.ndarray,
) -> dict[str, Any]:
    manifold = prdc(real, fake, k_pr=_K_PR, k_dc=_K_DC, real_radii=real_radii)
    kid_mean, kid_std = kernel_inception_distance(real, fake)
    classes = confident_coverage(fake_pred, fake_conf, num_classes, reference=reference)
    return {
        FID_LENET: frechet_distance(real, fake),
        KID_LENET: kid_mean,
        KID_LENET_STD: kid_std,
        PRECISION: manifold["precision"],
        RECALL: manifold["recall"],
        DENSITY: manifold["density"],
        COVERAGE: manifold["coverage"],
        CLASS_COVERAGE: classes["class_coverage"],
        CLASS_KL: class_metrics(fake_pred, num_classes)["class_kl"],
        CLASSES_PREDICTED: classes["classes_predicted"],
        CONFIDENT_SHARE: classes["confident_share"],
    }


@dataclass
class RealFeatures:
    """Embeddings of the real sets: `train` (the training images, at most MAX_REAL), `test`, `test_pred` and
    `test_conf` (the predictions' softmax probability)."""

    train: np.ndarray
    test: np.ndarray
    test_pred: np.ndarray
    test_conf: np.ndarray


def real_features(classifier: SmallCNN, real_train_01: torch.Tensor, real_test_01: torch.Tensor) -> RealFeatures:
    for name, x in (("real_train", real_train_01), ("real_test", real_test_01)):
        check_images(name, x)
    train_f, _, _ = embed(classifier, _cap(real_train_01))
    test_f, test_pred, test_conf = embed(classifier, _cap(real_test_01))
    return RealFeatures(train_f, test_f, test_pred, test_conf)


def cached_real_features(classifier: SmallCNN, train: DataSource, test: DataSource, cache_dir: Path) -> RealFeatures:
    """`real_features` of two labelled splits, kept in `cache_dir` beside the classifier. The file is used only
    for the same classifier weights (a fingerprint), the same data (hashes) and the same MAX_REAL; otherwise it
    is recomputed and replaced. Features are stored as the float32 the classifier gives, so reloading them is
    exact."""
    assert train.data is not None and test.data is not None
    key = {"classifier": fingerprint(classifier), "train": data_key(train), "test": data_key(test), "max_real": MAX_REAL,
           "format": 2}  # 2: with the test predictions' confidence
    path = Path(cache_dir) / f"features-{key['classifier']}-{key['train']}-{key['test']}.pt"
    if path.is_file():
        try:
            state = load_checkpoint(path)
        except GankitError:
            state = {}  # damaged: recomputed and replaced below
        if state.get("key") == key:
            return RealFeatures(state["train"].double().numpy(), state["test"].double().numpy(),
                                state["test_pred"].numpy(), state["test_conf"].double().numpy())
    found = real_features(classifier, train.data.float() / 255, test.data.float() / 255)
    tensors = {n: torch.from_numpy(getattr(found, n)) for n in ("train", "test", "test_pred", "test_conf")}
    save_to_cache({"format": 2, "key": key, "train": tensors["train"].float(), "test": tensors["test"].float(),
                   "test_pred": tensors["test_pred"], "test_conf": tensors["test_conf"].float()}, path,
                  "the real images' features")
    return found


def metrics_from_features(
    real: RealFeatures, fake_f: np.ndarray, fake_pred: np.ndarray, num_classes: int,
    fake_conf: np.ndarray | None = None, seed: int = 0,
) -> dict[str, Any]:
    """The metrics of embedded fakes, their floors and the memorisation check (`fake_conf` None: every
    prediction counts as confident).

    The floors score held-out real test images as if generated, AT THE FAKES' SIZE N where the test split has
    that many: a random subset of m = min(N, test) images (every metric but precision and density depends on N;
    FID is biased by ~b / N). `fid_lenet_floor` is the mean over FLOOR_DRAWS subsets, `fid_lenet_floor_std`
    their std. With N above the test split's size m, the floors stay at m (the std of the whole split's FID
    estimated from subsets of m / 2) and `fid_lenet_matched` scores the fakes at m too: FID's bias is not b / N
    closely enough to move a floor from m to N (on the offline MNIST split, 1,000 -> 10,000 gave a negative
    floor)."""
    n_fake, n_test = len(fake_f), len(real.test)
    conf = np.ones(n_fake) if fake_conf is None else np.asarray(fake_conf, dtype=np.float64)
    # The real set's k-NN radii are the costly part of P/R and D/C: computed once for both, and both calls.
    radii = knn_sq_radii(real.train, [_K_PR, _K_DC])
    shares = reference_shares(real.test_pred, real.test_conf, num_classes)  # per class, held-out data's sure rate
    out = _metrics(real.train, fake_f, fake_pred, conf, num_classes, radii, shares)
    m = min(n_fake, n_test)
    rng = np.random.default_rng(seed)
    subsets = [rng.choice(n_test, m, replace=False) for _ in range(FLOOR_DRAWS if m < n_test else 1)]
    first = subsets[0]
    floor = _metrics(real.train, real.test[first], real.test_pred[first], real.test_conf[first], num_classes, radii,
                     shares)
    out.update({floor_key(key): value for key, value in floor.items() if key != KID_LENET_STD})
    fids = [frechet_distance(real.train, real.test[idx]) for idx in subsets]
    fid_floor, fid_std = float(np.mean(fids)), float(np.std(fids))
    if len(subsets) == 1:  # the whole test split: its spread from half-size subsets (~sqrt(2) x that at m)
        halves = [frechet_distance(real.train, real.test[rng.choice(n_test, m // 2, replace=False)])
                  for _ in range(FLOOR_DRAWS)]
        fid_std = float(np.std(halves)) / np.sqrt(2.0)
    out[floor_key(FID_LENET)] = fid_floor
    out[FID_LENET_FLOOR_STD] = fid_std
    out[FID_LENET_MATCHED] = out[FID_LENET] if n_fake <= n_test else float(np.mean(
        [frechet_distance(real.train, fake_f[rng.choice(n_fake, m, replace=False)]) for _ in range(FLOOR_DRAWS)]))
    out.update(copy_metrics(real.train, real.test, fake_f))
    out[NUM_FAKE] = n_fake
    out[NUM_REAL] = len(real.train)
    out[NUM_REAL_TEST] = m
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
    fake_f, fake_pred, fake_conf = embed(classifier, fake_01)
    return metrics_from_features(real, fake_f, fake_pred, num_classes, fake_conf)
