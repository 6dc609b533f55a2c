"""Sample-quality metrics for trained generators, chosen by the data's kind.

`evaluate(data, samples)` returns the metrics that fit the data: the 1-D distribution metrics and the PacGAN
protocol for mixtures of Gaussians. `evaluate_images` scores images of a labelled dataset with train/test
splits (MNIST, Fashion-MNIST, digits) through a small classifier gankit trains and caches itself, counts the
1,000 Stacked MNIST modes, and adds Inception FID on request (`metrics/evaluation.py` says what applies where).
"""

from __future__ import annotations

from typing import Any

import torch

from gankit.metrics.toy import DEFAULT_N, metrics_1d, metrics_mixture

__all__ = ["HEADLINE", "TIEBREAK", "default_n", "evaluate", "evaluate_images", "headline", "kind_of"]

# The one number that ranks evaluations (checkpoints/best.pt) and runs (reports, `gankit compare`, the verdict's
# trend), with its direction, chosen by the data, never by which metrics happen to be present: by data kind,
# or "image/<data name>" where a dataset differs from the other images. 1-D: W1 to the target; mixtures: modes
# captured (PacGAN); labelled images: the classifier's Frechet distance; Stacked MNIST: its 1,000 modes counted
# (PacGAN); an unlabelled folder: Inception FID, the only metric that applies (`gankit eval --inception`).
HEADLINE: dict[str, tuple[str, str]] = {
    "1d": ("w1", "min"),
    "2d": ("modes", "max"),
    "image": ("fid_lenet", "min"),
    "image/stacked-mnist": ("modes", "max"),
    "image/folder": ("fid_inception", "min"),
}
# Ties on the headline (modes captured is an integer) are broken by this metric.
TIEBREAK: dict[str, tuple[str, str]] = {"2d": ("high_quality", "max")}


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
    if data.name == "stacked-mnist":
        from gankit.metrics.stacked import STACKED_N

        return STACKED_N  # PacGAN's 26,000 samples
    return DEFAULT_N.get(kind_of(data), 10_000)


def evaluate_images(
    data_name: str, data_settings: dict[str, Any], fake_01: torch.Tensor, inception: bool = False
) -> dict[str, Any]:
    """Metrics of generated images (float in [0, 1]) that fit the data, each beside its real-vs-real floor:
    classifier metrics for a labelled dataset with train/test splits, mode counts for stacked-mnist, and
    `fid_inception` with `inception=True`. Unlabelled data without `inception` raises a GankitError (also a
    NotImplementedError) naming what would apply."""
    from gankit.metrics.evaluation import evaluate_image_data

    return evaluate_image_data(data_name, data_settings, fake_01, inception=inception)


def headline(kind: str, data_name: str | None = None) -> tuple[str, str] | None:
    """(metric, 'min' or 'max'): the HEADLINE number that ranks evaluations and runs of this data; `kind` is
    `kind_of(data)`, `data_name` the data's name (config data.name). None for data without metrics."""
    return HEADLINE.get(f"{kind}/{data_name}", HEADLINE.get(kind))


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
