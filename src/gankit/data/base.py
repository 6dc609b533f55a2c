"""The data axis: the `DataSource` every data factory returns, and the `DATA` registry.

A source is either finite (all examples held in memory as one tensor: float32 points or uint8 images)
or infinite (a `sampler` drawing fresh points, as post 002's 1-D Gaussian). Models never see the stored
form directly: `to_model` maps a stored batch into model space and `from_model` maps model outputs back
to something a picture can show.

Each data part also declares, where it is registered, what its evaluation needs (`DataTraits`: the eval kind,
the headline metric that ranks its runs, the metric families that apply, how many samples to draw), so a run's
config alone says how it is judged: `data_traits(name)` reads the declaration without building any data.
The declarations are plain names; `gankit.metrics.registry` says what the family names mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from gankit.registry import Registry

EvalKind = Literal["1d", "2d", "image"]
Direction = Literal["min", "max"]


@dataclass(frozen=True)
class DataTraits:
    """How a data part is evaluated, declared on its registration (`DATA.register(..., kind=..., headline=...)`).

    `kind`: the eval kind ('1d', '2d', 'image'); None for data without a metric protocol. `headline`:
    (metric key, 'min' or 'max'), the one number that ranks evaluations (checkpoints/best.pt) and runs
    (reports, `gankit compare`, the verdict's trend); `tiebreak` breaks ties on it (modes captured is an
    integer). `metrics`: the metric families (`gankit.metrics.registry` names) computed for it by default;
    families computed only on request (Inception FID) apply to every data of their kind and are not listed.
    `default_n`: how many generator samples an evaluation draws."""

    kind: EvalKind | None = None
    headline: tuple[str, Direction] | None = None
    tiebreak: tuple[str, Direction] | None = None
    metrics: tuple[str, ...] = ()
    default_n: int = 10_000


class DataRegistry(Registry):
    """The `Registry` of data parts, with each part's `DataTraits` declared beside its factory."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self._traits: dict[str, DataTraits] = {}

    def register(  # type: ignore[override]  (the same call, plus the part's traits as keywords)
        self, name: str, summary: str = "", **traits: Any
    ) -> Callable[[Callable], Callable]:
        declared = DataTraits(**traits)  # a misspelt trait is a TypeError at import, not a silent default
        register = super().register(name, summary)

        def decorate(factory: Callable) -> Callable:
            register(factory)
            self._traits[name] = declared
            return factory

        return decorate

    def traits(self, name: str) -> DataTraits:
        """The declared traits of data part `name` (unknown names: the registry's one-line error)."""
        return self._traits[self._check(name)]


DATA = DataRegistry("data")


def data_traits(name: str) -> DataTraits | None:
    """The declared `DataTraits` of data part `name`, read from its registration without building any data
    (a run's config.yaml is enough); None for a name no data part is registered under."""
    return DATA.traits(name) if name in DATA.names() else None


@dataclass
class DataSource:
    """One data set, finite or infinite, with what metrics and pictures need to know about it."""

    name: str
    kind: Literal["points", "image"]
    shape: tuple[int, ...]  # one example: (1,), (2,), (C, H, W)
    data: torch.Tensor | None = None  # all examples: float32 (N, d) points or uint8 (N, C, H, W) images
    sampler: Callable[[int, torch.Generator], torch.Tensor] | None = None  # infinite: n -> (n, d) float32, CPU
    labels: torch.Tensor | None = None  # int64 class labels where known (MNIST family, digits)
    pixel_range: tuple[float, float] | None = None  # images: the value range the models see
    info: dict[str, Any] = field(default_factory=dict)  # e.g. {"mean": 4, "std": 1.25} or {"modes": ..., "std": ...}
    origin: str = ""  # one line saying where the data came from (printed by the trainer)

    def __post_init__(self) -> None:
        # These are programming errors in a factory, not user errors, hence ValueError.
        if self.kind not in ("points", "image"):
            raise ValueError(f"DataSource kind must be 'points' or 'image', got {self.kind!r}")
        if (self.data is None) == (self.sampler is None):
            raise ValueError("DataSource needs exactly one of data (finite) or sampler (infinite)")
        self.shape = tuple(int(s) for s in self.shape)
        if self.data is not None and tuple(self.data.shape[1:]) != self.shape:
            raise ValueError(f"DataSource data shape {tuple(self.data.shape)} does not match shape {self.shape}")
        if self.kind == "image":
            if self.data is None or self.data.dtype != torch.uint8 or self.data.dim() != 4:
                raise ValueError("image DataSource needs uint8 data of shape (N, C, H, W)")
            if self.pixel_range is None:
                raise ValueError("image DataSource needs a pixel_range")
        if self.labels is not None and (self.data is None or len(self.labels) != len(self.data)):
            raise ValueError("DataSource labels must have one entry per stored example")

    @property
    def num_classes(self) -> int | None:
        """How many classes the labels name (None: unlabelled)."""
        if self.labels is None:
            return None
        return len(self.info["classes"]) if "classes" in self.info else int(self.labels.max()) + 1

    @property
    def traits(self) -> DataTraits | None:
        """The traits its data part declared (None for a source built outside the DATA registry)."""
        return data_traits(self.name)

    def __len__(self) -> int:
        if self.data is None:
            raise TypeError(f"data '{self.name}' is an infinite source and has no length")
        return int(self.data.shape[0])

    @property
    def finite(self) -> bool:
        return self.data is not None

    def to_model(self, batch: torch.Tensor) -> torch.Tensor:
        """Stored examples -> model space: images uint8 [0, 255] -> float32 in `pixel_range`; points as is."""
        if self.kind != "image":
            return batch
        lo, hi = self.pixel_range  # type: ignore[misc]
        return batch.to(torch.float32) * ((hi - lo) / 255.0) + lo

    def from_model(self, x: torch.Tensor) -> torch.Tensor:
        """Model space -> displayable: images float in [0, 1] (clamped); points as is. Planes beyond the data's
        channels (a class-conditional G's class plane, `gankit.models.conditional`) are not part of the picture."""
        if self.kind != "image":
            return x
        if x.dim() == len(self.shape) + 1 and x.shape[1] > self.shape[0]:
            x = x[:, : self.shape[0]]
        lo, hi = self.pixel_range  # type: ignore[misc]
        return ((x.to(torch.float32) - lo) / (hi - lo)).clamp(0.0, 1.0)

    def sample_real(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """`n` real examples in model space: a random subset without replacement when `n <= len(self)`,
        with replacement beyond that; infinite sources ask their sampler."""
        if self.sampler is not None:
            return self.sampler(n, generator)
        assert self.data is not None
        size = len(self)
        if n <= size:
            idx = torch.randperm(size, generator=generator)[:n]
        else:
            idx = torch.randint(size, (n,), generator=generator)
        return self.to_model(self.data[idx.to(self.data.device)])


def build_data(name: str, params: dict[str, Any]) -> DataSource:
    """Build the data source `name` from its config settings (checked, coerced, defaults filled in)."""
    return DATA.build(name, params)
