"""The data axis: the `DataSource` every data factory returns, and the `DATA` registry.

A source is either finite (all examples held in memory as one tensor: float32 points or uint8 images)
or infinite (a `sampler` drawing fresh points, as post 002's 1-D Gaussian). Models never see the stored
form directly: `to_model` maps a stored batch into model space and `from_model` maps model outputs back
to something a picture can show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from gankit.registry import Registry

DATA = Registry("data")


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
        """Model space -> displayable: images float in [0, 1] (clamped); points as is."""
        if self.kind != "image":
            return x
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
