"""Batches of real data and latent noise, resident on the training device.

The whole dataset lives on the device as one tensor and a batch is an index into it: no DataLoader, no
per-sample transforms, no host round trip. Data order is a pure function of (seed, step), so a resumed run
reads exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from gankit.data import DataSource
from gankit.errors import ConfigError
from gankit.models.conditional import class_plane


class Batcher:
    def __init__(
        self,
        data: DataSource,
        batch_size: int,
        *,
        drop_last: bool,
        sampling: str,
        seed: int,
        device: torch.device,
        shard: Callable[[torch.Tensor], torch.Tensor] | None = None,
        classes: int = 0,
    ) -> None:
        self.data = data
        self.batch_size = batch_size  # the global batch; `shard` keeps this rank's slice of it (torchrun)
        self.shard = shard or (lambda x: x)
        self.sampling = sampling
        self.seed = seed
        self.device = device
        # class-conditional runs: each real example carries its label as one more plane (models/conditional.py)
        self.labels = data.labels.to(device) if classes else None
        self.classes = classes
        self._epoch_cached: int | None = None
        self._perm: torch.Tensor | None = None
        if data.finite:
            n = len(data)
            if batch_size > n and (drop_last or sampling == "shuffle"):
                raise ConfigError(
                    f"train.batch_size {batch_size} is larger than the dataset ({n} examples): lower it"
                )
            self.examples = data.data.to(device)
            self.steps_per_epoch = n // batch_size if drop_last else math.ceil(n / batch_size)
            if shard is not None and not drop_last and n % batch_size:
                raise ConfigError(f"under torchrun every global batch is split evenly across the ranks, but the last "
                                  f"batch of an epoch holds {n % batch_size} examples: set train.drop_last=true")
        else:
            # A sampler has no epochs; as in post 002 one "epoch" is one iteration.
            self.examples = None
            self.steps_per_epoch = 1

    def batch(self, step: int, generator: torch.Generator) -> torch.Tensor:
        """The real batch for iteration `step`, in model space, on the device."""
        if self.examples is None:
            return self.shard(self.data.sampler(self.batch_size, generator)).to(self.device)
        if self.sampling == "replacement":
            index = torch.randint(len(self.examples), (self.batch_size,), generator=generator)
        else:
            epoch, i = divmod(step, self.steps_per_epoch)
            index = self._permutation(epoch)[i * self.batch_size : (i + 1) * self.batch_size]
        index = self.shard(index).to(self.device)
        x = self.data.to_model(self.examples[index])
        if self.labels is None:
            return x
        return torch.cat([x, class_plane(self.labels[index], self.classes, x)], 1)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch_cached:
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self.examples), generator=rng)
            self._epoch_cached = epoch
        return self._perm


def d_view(x: torch.Tensor, mode: str) -> torch.Tensor:
    """What D sees of a batch. Post 002 shows D the whole 1-D batch at once: its sorted values (an empirical
    quantile function, so D can judge the shape) or its first four moments."""
    if mode == "sample":
        return x
    values = x.reshape(-1)
    if mode == "sorted":
        return values.sort().values.unsqueeze(0)
    mean = values.mean()
    centred = values - mean
    std = centred.pow(2).mean().sqrt()
    z = centred / (std + 1e-8)
    return torch.stack([mean, std, z.pow(3).mean(), z.pow(4).mean()]).unsqueeze(0)
