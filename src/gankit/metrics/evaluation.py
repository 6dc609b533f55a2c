"""Which image metrics apply to which data, and computing them (`gankit.metrics.evaluate_images`).

| data | metrics |
|---|---|
| labelled with train/test splits: `mnist`, `fashion-mnist`, `digits` | classifier metrics (`metrics/images.py`): fid_lenet, kid_lenet, precision/recall, density/coverage, class coverage/KL, each beside its floor |
| `stacked-mnist` | mode counting (`metrics/stacked.py`): modes (of 1,000) and mode_kl, beside their floors |
| `folder` (no labels) | none of those; Inception FID with `--inception` |
| any image data, `--inception` | `fid_inception` (`metrics/inception.py`), beside its floor where there is a test split |

The classifier is trained on the whole train split (never the run's `limit`-ed subset) and cached
(`metrics/classifier.py`).
"""

from __future__ import annotations

from typing import Any

import torch

from gankit.errors import GankitError

# Settings of the MNIST digits that stacked-mnist passes on to the `mnist` source.
_MNIST_KEYS = ("root", "download")


class MetricsUnavailable(GankitError, NotImplementedError):
    """No metric applies to this data (a GankitError: one line, exit 2; a NotImplementedError for callers
    that already skip data without metrics that way)."""


def no_labels_message(data_name: str) -> str:
    return (
        f"data '{data_name}' has no labels, so gankit's classifier metrics (fid_lenet, kid_lenet, precision/recall, "
        "density/coverage, class coverage/KL) do not apply: they need a labelled dataset with train/test splits "
        "(mnist, fashion-mnist, digits; stacked-mnist gets mode counts); for these images use "
        "`gankit eval RUN_DIR --inception` (Inception FID: pip install 'gankit[inception]' plus its weights)"
    )


def check_applicable(data_name: str, data_settings: dict[str, Any], inception: bool = False) -> None:
    """MetricsUnavailable when no image metric applies (unlabelled data without `inception`): callers check
    this before sampling thousands of images for nothing."""
    if data_name != "stacked-mnist" and "split" not in data_settings and not inception:
        raise MetricsUnavailable(no_labels_message(data_name))


def evaluate_image_data(
    data_name: str, data_settings: dict[str, Any], fake_01: torch.Tensor, inception: bool = False
) -> dict[str, Any]:
    """The metrics that apply to `data_name` (see the module table) of generated images, float in [0, 1]."""
    from gankit.data import build_data

    if inception:
        from gankit.metrics.inception import require_inception

        require_inception()  # before any classifier training: a missing package is a one-line error at once
    check_applicable(data_name, data_settings, inception)
    base = {k: v for k, v in data_settings.items() if k not in ("split", "limit")}
    if data_name == "stacked-mnist":
        result = _stacked(base, fake_01)
    elif "split" in data_settings:
        result = _classifier_metrics(data_name, base, fake_01)
    else:
        result = {}  # unlabelled: Inception FID only
    if inception:
        from gankit.metrics.inception import inception_metrics

        if "split" in data_settings:
            train = build_data(data_name, {**base, "split": "train"})
            test = build_data(data_name, {**base, "split": "test"})
            result.update(inception_metrics(_stored(train.data), _stored(test.data), fake_01))
        else:
            real = build_data(data_name, base)
            result.update(inception_metrics(_stored(real.data), None, fake_01))
    return result


def _stored(images: torch.Tensor | None) -> torch.Tensor:
    assert images is not None  # image sources always hold their data
    return images


def _classifier_metrics(data_name: str, base: dict[str, Any], fake_01: torch.Tensor) -> dict[str, Any]:
    """Classifier metrics of a labelled dataset with splits, each beside its real-vs-real floor (the test split
    scored as if it were generated)."""
    from gankit.data import build_data
    from gankit.metrics.classifier import default_cache_dir, load_or_train
    from gankit.metrics.images import (
        cached_real_features,
        check_images,
        embed,
        metrics_from_features,
    )

    check_images("fake", fake_01)
    train = build_data(data_name, {**base, "split": "train"})
    test = build_data(data_name, {**base, "split": "test"})
    classifier, accuracy = load_or_train(train, test)
    assert train.labels is not None
    classes = int(train.labels.max().item()) + 1
    real = cached_real_features(classifier, train, test, default_cache_dir())
    fake_f, fake_pred = embed(classifier, fake_01)
    return {"classifier_test_accuracy": accuracy, **metrics_from_features(real, fake_f, fake_pred, classes)}


def _stacked(base: dict[str, Any], fake_01: torch.Tensor) -> dict[str, Any]:
    """Stacked MNIST mode counts: the MNIST classifier (trained on the MNIST train split) reads each channel;
    the floors come from as many real stacked images built from the MNIST test digits."""
    from gankit.data import build_data
    from gankit.metrics.classifier import load_or_train
    from gankit.metrics.stacked import stacked_metrics

    digits = {k: v for k, v in base.items() if k in _MNIST_KEYS}
    classifier, accuracy = load_or_train(
        build_data("mnist", {**digits, "split": "train"}), build_data("mnist", {**digits, "split": "test"})
    )
    settings = {k: v for k, v in base.items() if k != "num_images"}
    real = build_data("stacked-mnist", {**settings, "split": "test", "num_images": len(fake_01)})
    assert real.data is not None
    return {"classifier_test_accuracy": accuracy, **stacked_metrics(classifier, real.data, fake_01)}
