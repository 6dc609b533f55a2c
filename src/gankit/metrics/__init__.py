"""Sample-quality metrics for trained generators, chosen by what the data declares.

Each data part declares, where it is registered, its eval kind, its headline metric and the metric families
that apply to it (`gankit.data.DataTraits`); the families are registered in `metrics/families.py` with
`@register_metric` (`metrics/registry.py`, listed by `list_metrics()`). `evaluate(data, samples)` computes the
point families (1-D distribution metrics, the PacGAN protocol for mixtures of Gaussians); `evaluate_images`
the image families (classifier metrics, Stacked MNIST mode counts, Inception FID on request;
`metrics/evaluation.py` says what applies where).
"""

from __future__ import annotations

from typing import Any

import torch

from gankit.data.base import DataTraits, data_traits
from gankit.metrics import families, images, toy  # noqa: F401  (importing families registers them)

__all__ = [
    "HEADLINE", "TIEBREAK", "default_n", "evaluate", "evaluate_images", "headline", "kind_of", "tiebreak", "traits_of",
]  # fmt: skip

# Fallbacks by kind, for data that declares no traits (a DataSource built outside the DATA registry, or a
# rank_key asked without a data name); every registered data part declares its own headline and tie-breaker.
HEADLINE: dict[str, tuple[str, str]] = {
    "1d": (toy.W1, "min"),
    "2d": (toy.MODES, "max"),
    "image": (images.FID_LENET, "min"),
}
TIEBREAK: dict[str, tuple[str, str]] = {"2d": (toy.HIGH_QUALITY, "max")}
POINT_KINDS = ("1d", "2d")  # what `evaluate` measures; images go through `evaluate_images`


def traits_of(data_name: str | None) -> DataTraits | None:
    """The traits data part `data_name` declares (`gankit.data.data_traits`: read from its registration, no data
    built); None for no name or an unregistered one."""
    return data_traits(data_name) if data_name else None


def kind_of(data: Any) -> str:
    """'1d', '2d' (a mixture with known modes) or 'image' as the data part declares it; 'other' for data
    without metrics. A source from outside the registry is judged by its structure."""
    declared = traits_of(data.name)
    if declared is not None:
        return declared.kind or "other"
    if data.kind == "image":
        return "image"
    if tuple(data.shape) == (1,) and "mean" in data.info:
        return "1d"
    if tuple(data.shape) == (2,) and "modes" in data.info:
        return "2d"
    return "other"


def default_n(data: Any) -> int:
    """How many generator samples an evaluation of `data` draws (its declared `default_n`)."""
    declared = traits_of(data.name)
    if declared is not None:
        return declared.default_n
    return toy.DEFAULT_N.get(kind_of(data), 10_000)


def min_n(data: Any) -> int:
    """The fewest generator samples an evaluation of `data` can score (images: precision/recall's neighbours)."""
    return images.MIN_N if kind_of(data) == "image" else 2


def headline(kind: str, data_name: str | None = None) -> tuple[str, str] | None:
    """(metric, 'min' or 'max'): the number that ranks evaluations and runs of this data, as its data part
    declares it; `kind` (`kind_of(data)`) picks the fallback for undeclared data. None: data without metrics."""
    declared = traits_of(data_name)
    if declared is not None:
        return declared.headline
    return HEADLINE.get(kind)


def tiebreak(kind: str, data_name: str | None = None) -> tuple[str, str] | None:
    """(metric, direction) that breaks ties on the headline (as `headline`), or None."""
    declared = traits_of(data_name)
    if declared is not None:
        return declared.tiebreak
    return TIEBREAK.get(kind)


def evaluate_images(
    data_name: str, data_settings: dict[str, Any], fake_01: torch.Tensor, inception: bool = False
) -> dict[str, Any]:
    """Metrics of generated images (float in [0, 1]) that fit the data, each beside its real-vs-real floor:
    the families the data declares (classifier metrics for a labelled dataset with train/test splits, mode
    counts for stacked-mnist), and `fid_inception` with `inception=True`. Data with no family and without
    `inception` raises a GankitError (also a NotImplementedError) naming what would apply."""
    from gankit.metrics.evaluation import evaluate_image_data

    return evaluate_image_data(data_name, data_settings, fake_01, inception=inception)


def evaluate(data: Any, samples: torch.Tensor, seed: int = 0, max_points: int | None = None) -> dict[str, Any]:
    """Metrics of generator `samples` (model space) against point `data`: the families it declares.

    `max_points` caps the point sets of the 2-D W1 and MMD (default: the protocol's 2,500), for quick checks
    during training: the assignment takes tens of seconds on collapsed samples at 2,500 points. A capped
    result records it as `max_points` (W1 from fewer points is biased upwards: not comparable)."""
    from gankit.metrics.registry import EvalRequest, list_metrics, run_metrics

    kind = kind_of(data)
    declared = traits_of(data.name)
    if declared is not None:
        names = declared.metrics
    else:  # undeclared point data: every family of its kind (judged by its structure)
        names = tuple(m.name for m in list_metrics() if kind in m.kinds and not m.on_request)
    if kind not in POINT_KINDS or not names:
        raise NotImplementedError(f"no metrics yet for {data.kind} data '{data.name}'")
    req = EvalRequest(data.name, {}, samples, data=data, seed=seed, max_points=max_points)
    return run_metrics(names, req)
