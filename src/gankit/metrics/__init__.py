"""Sample-quality metrics for trained generators, chosen by the data's kind.

`evaluate(data, samples)` returns the metrics that fit the data: the 1-D distribution metrics, the PacGAN
protocol for mixtures of Gaussians; image metrics (a classifier gankit trains itself) come with issue 3.
"""

from __future__ import annotations

from typing import Any

import torch

from gankit.metrics.toy import DEFAULT_N, HEADLINE, metrics_1d, metrics_mixture

__all__ = ["default_n", "evaluate", "headline", "kind_of"]


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


def headline(data: Any) -> tuple[str, str] | None:
    """(metric, 'min' or 'max'): the number that ranks runs on this data."""
    return HEADLINE.get(kind_of(data))


def evaluate(data: Any, samples: torch.Tensor, seed: int = 0) -> dict[str, Any]:
    """Metrics of generator `samples` (model space) against `data`."""
    kind = kind_of(data)
    if kind == "1d":
        return metrics_1d(samples.reshape(-1), data.info["mean"], data.info["std"], seed=seed)
    if kind == "2d":
        reference = data.sample_real(len(samples), torch.Generator().manual_seed(seed))
        return metrics_mixture(samples, data.info["modes"], data.info["std"], reference=reference.numpy(), seed=seed)
    raise NotImplementedError(f"no metrics yet for {data.kind} data '{data.name}'")
