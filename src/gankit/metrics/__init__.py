"""Sample-quality metrics for trained generators, chosen by the data's kind.

`evaluate(data, samples)` returns the metrics that fit the data: the 1-D distribution metrics and the PacGAN
protocol for mixtures of Gaussians. `evaluate_images` scores images of a labelled dataset with train/test
splits (MNIST, Fashion-MNIST) through a small classifier gankit trains and caches itself.
"""

from __future__ import annotations

from typing import Any

import torch

from gankit.metrics.toy import DEFAULT_N, HEADLINE, metrics_1d, metrics_mixture

__all__ = ["default_n", "evaluate", "evaluate_images", "headline", "kind_of"]


def kind_of(data: Any) -> str:
    """'1d', '2d' (a mixture with known modes) or 'image'; anything else has no metrics yet."""
    if data.kind == "image":
        return "image"
    if tuple(data.shape) == (1,) and "mean" in data.info:
        return "1d"
    if tuple(data.shape) == (2,) and "modes" in data.info:
        return "2d"
    return "other"


def default_n(data: Any) -> int:
    return DEFAULT_N.get(kind_of(data), 10_000)


def evaluate_images(data_name: str, data_settings: dict[str, Any], fake_01: torch.Tensor) -> dict[str, Any]:
    """Classifier-based metrics of generated images (float in [0, 1]) for a dataset with train/test splits,
    each beside its real-vs-real floor (the test split scored as if it were generated)."""
    from gankit.data import build_data
    from gankit.metrics.classifier import load_or_train
    from gankit.metrics.images import image_metrics

    if "split" not in data_settings:
        raise NotImplementedError(
            f"image metrics need a labelled dataset with train/test splits (mnist, fashion-mnist); '{data_name}' has none yet"
        )
    # The classifier and the real statistics always use the whole splits, whatever subset the run trained on.
    base = {k: v for k, v in data_settings.items() if k not in ("split", "limit")}
    train = build_data(data_name, {**base, "split": "train"})
    test = build_data(data_name, {**base, "split": "test"})
    classifier, accuracy = load_or_train(train, test)
    classes = int(train.labels.max().item()) + 1
    result = image_metrics(classifier, train.data.float() / 255, test.data.float() / 255, fake_01, classes)
    return {"classifier_test_accuracy": accuracy, **result}


def headline(data: Any) -> tuple[str, str] | None:
    """(metric, 'min' or 'max'): the number that ranks runs on this data."""
    return HEADLINE.get(kind_of(data))


def evaluate(data: Any, samples: torch.Tensor, seed: int = 0, max_points: int | None = None) -> dict[str, Any]:
    """Metrics of generator `samples` (model space) against `data`.

    `max_points` caps the point sets of the 2-D W1 and MMD (default: the protocol's 2,500), for quick checks
    during training: the assignment takes tens of seconds on collapsed samples at 2,500 points. A capped
    result records it as `max_points` (W1 from fewer points is biased upwards: not comparable)."""
    kind = kind_of(data)
    if kind == "1d":
        return metrics_1d(samples.reshape(-1), data.info["mean"], data.info["std"], seed=seed)
    if kind == "2d":
        reference = data.sample_real(len(samples), torch.Generator().manual_seed(seed))
        if max_points is None:
            return metrics_mixture(samples, data.info["modes"], data.info["std"], reference=reference.numpy(), seed=seed)
        found = metrics_mixture(samples, data.info["modes"], data.info["std"], reference=reference.numpy(),
                                seed=seed, max_points=max_points)
        return {**found, "max_points": int(max_points)}
    raise NotImplementedError(f"no metrics yet for {data.kind} data '{data.name}'")
