"""The metric registry: every metric family gankit computes, with what it applies to and the keys it produces.

Like stylegan2-ada-pytorch's `@register_metric` (metrics/metric_main.py): a family is one function taking an
`EvalRequest` and returning its metrics, registered with one decorator line:

    @register_metric("mixture", "modes captured, high quality, reverse KL, W1, MMD (PacGAN)",
                     kinds=("2d",), keys=toy.MIXTURE_KEYS)
    def mixture(req: EvalRequest) -> dict[str, Any]: ...

`gankit.metrics.evaluate` / `evaluate_images` dispatch through `METRICS`: a data part lists the families that
apply to it (`DataTraits.metrics`, declared where the data is registered); families registered with
`on_request=True` (Inception FID) apply to every data of their kind when asked for. `list_metrics()` is what
`gankit parts` lists. This module holds no metric of its own: `gankit.metrics.families` registers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from gankit.errors import unknown_choice


@dataclass
class EvalRequest:
    """What a metric family is given: the data (by name and config settings, and the built source where the
    caller has it) and the generator's samples, in model space for points, floats in [0, 1] for images."""

    data_name: str
    settings: dict[str, Any]
    samples: torch.Tensor
    data: Any = None  # the built DataSource (point families need its target: modes, mean, std)
    seed: int = 0
    max_points: int | None = None  # points: cap on the 2-D W1/MMD sets (None: the protocol's 2,500)


@dataclass(frozen=True)
class Metric:
    """One registered metric family. `keys` are the metric keys every call returns; `optional_keys` those only
    some calls add (a capped evaluation's `max_points`, Inception FID's floor where there is a test split)."""

    name: str
    summary: str  # one line, for `gankit parts`
    kinds: tuple[str, ...]  # the eval kinds of data it measures: '1d', '2d', 'image'
    keys: tuple[str, ...]
    compute: Callable[[EvalRequest], dict[str, Any]]
    optional_keys: tuple[str, ...] = ()
    on_request: bool = False  # computed only when asked for (`gankit eval --inception`), for any data of its kinds
    check: Callable[[], Any] | None = None  # raises a one-line error when it cannot run here (missing package)

    @property
    def all_keys(self) -> tuple[str, ...]:
        return self.keys + self.optional_keys


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str,
    summary: str,
    *,
    kinds: tuple[str, ...],
    keys: tuple[str, ...],
    optional_keys: tuple[str, ...] = (),
    on_request: bool = False,
    check: Callable[[], Any] | None = None,
) -> Callable[[Callable[[EvalRequest], dict[str, Any]]], Callable[[EvalRequest], dict[str, Any]]]:
    """Register a metric family function under `name` (see the module docstring)."""

    def decorate(fn: Callable[[EvalRequest], dict[str, Any]]) -> Callable[[EvalRequest], dict[str, Any]]:
        if name in METRICS:
            raise ValueError(f"metric '{name}' registered twice")
        METRICS[name] = Metric(name, summary, tuple(kinds), tuple(keys), fn, tuple(optional_keys), on_request, check)
        return fn

    return decorate


def list_metrics() -> list[Metric]:
    """Every registered metric family, sorted by name (gankit.metrics imports the families: they register)."""
    return [METRICS[name] for name in sorted(METRICS)]


def get_metric(name: str) -> Metric:
    """The family registered as `name`; an unknown name is a one-line ConfigError with the closest match."""
    if name not in METRICS:
        raise unknown_choice("metric", name, METRICS)
    return METRICS[name]


def run_metrics(names: tuple[str, ...] | list[str], req: EvalRequest) -> dict[str, Any]:
    """The families `names` computed in order on `req`, their metrics merged (later families win on a shared
    key, e.g. `classifier_test_accuracy`)."""
    result: dict[str, Any] = {}
    for name in names:
        result.update(get_metric(name).compute(req))
    return result
