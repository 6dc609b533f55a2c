"""Class-conditional G and D (`latent.classes: K`) around any registered image architecture.

The class travels with each example as one extra image plane holding its index (`class_plane`), so every
training path still passes one tensor per batch: real batches get their labels' plane (training/batching.py),
G appends the plane of the class it drew, and D reads the class back from it and drops the plane before its
own layers. G's class is the argmax of its first K latent coordinates: uniform over the classes (the K
coordinates are exchangeable) and no second noise stream, so sampling, resume and interpolation stay as they
are. D is a projection discriminator (Miyato & Koyama 2018): the unconditional score plus the inner product of
a learned class embedding with D's last features. Conditioning is what makes a small CPU model's digits clean:
an unconditional G spends much of its capacity on the gaps between the classes (docs/presets.md, mnist-fast).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import ConfigError
from gankit.models.base import (
    Discriminator,
    Generator,
    build_discriminator,
    build_generator,
)
from gankit.registry import settings


def class_plane(labels: torch.Tensor, classes: int, like: torch.Tensor) -> torch.Tensor:
    """(B,) class indices -> (B, 1, H, W) planes of 2y/(K-1) - 1 in [-1, 1], shaped and typed as `like`'s planes."""
    value = labels.to(like.dtype) * (2.0 / (classes - 1)) - 1.0
    return value.reshape(-1, 1, 1, 1).expand(-1, 1, *like.shape[2:])


def read_class(x: torch.Tensor, classes: int) -> torch.Tensor:
    """The class indices a batch's last plane carries (`class_plane`'s inverse)."""
    value = x[:, -1, 0, 0].float()
    return ((value + 1.0) * ((classes - 1) / 2.0)).round().long().clamp(0, classes - 1)


def with_class(z: torch.Tensor, classes: int, label: int) -> torch.Tensor:
    """`z` with each row's largest of its first `classes` coordinates swapped into position `label`: a draw
    from the latent distribution given that G picks class `label` (the coordinates are exchangeable)."""
    z = z.clone()
    head, rows = z[:, :classes], torch.arange(len(z))
    top = head.argmax(1)
    high, there = head[rows, top].clone(), head[rows, label].clone()
    head[rows, top] = there
    head[rows, label] = high
    return z


def check_classes(classes: int, labelled: int | None, data_name: str) -> None:
    """`latent.classes` must equal the labelled data's class count (`labelled`; None: the data has no labels)."""
    if classes == 0:
        return
    if labelled is None:
        raise ConfigError(f"latent.classes={classes} needs labelled images (mnist, fashion-mnist, digits), but "
                          f"'{data_name}' has no labels: set latent.classes=0")
    if classes != labelled:
        raise ConfigError(f"latent.classes={classes} but '{data_name}' has {labelled} classes: "
                          f"set latent.classes={labelled} (or 0 for an unconditional GAN)")


class ClassConditionalGenerator(nn.Module):
    """G(z) for z of latent.dim: the class y = argmax z[:K]; the inner G reads [z, onehot(y)] and the output
    gets y's plane appended, (B, C + 1, H, W). `DataSource.from_model` drops the plane for pictures and metrics."""

    def __init__(self, inner: Generator, classes: int) -> None:
        super().__init__()
        self.inner, self.classes = inner, classes
        self.out_shape = (inner.out_shape[0] + 1, *inner.out_shape[1:])
        self.output_range = inner.output_range

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = z[:, : self.classes].argmax(1)
        x = self.inner(torch.cat([z, F.one_hot(y, self.classes).to(z.dtype)], 1))
        return torch.cat([x, class_plane(y, self.classes, x)], 1)


class ProjectionDiscriminator(nn.Module):
    """D(x, y) = head(h) + <embed(y), h>, h = D's features of the image planes, y read from the last plane."""

    def __init__(self, inner: Discriminator, classes: int, name: str) -> None:
        super().__init__()
        net = inner.net
        head = net[-1] if isinstance(net, nn.Sequential) else None
        if not isinstance(head, nn.Linear) or head.out_features != 1:
            raise ConfigError(f"discriminator '{name}' does not end in one linear score, so it cannot be "
                              "class-conditioned: set latent.classes=0 or pick another (e.g. dcgan-small)")
        self.inner, self.classes = inner, classes
        self.in_shape = (inner.in_shape[0] + 1, *inner.in_shape[1:])
        self.embed = nn.Embedding(classes, head.in_features)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = read_class(x, self.classes)
        net = self.inner.net
        h = net[:-1](x[:, :-1]).flatten(1)
        return net[-1](h).reshape(-1) + (self.embed(y).to(h.dtype) * h).sum(1)


def generator_for(config: Any, shape: tuple[int, ...]) -> nn.Module:
    """The config's G for examples of `shape`, class-conditional when latent.classes > 0."""
    classes = config.latent.classes
    G = build_generator(config.generator["name"], settings(config.generator), config.latent.dim + classes, shape)
    return ClassConditionalGenerator(G, classes) if classes else G


def discriminator_for(config: Any, shape: tuple[int, ...]) -> nn.Module:
    """The config's D for examples of `shape` (what D sees: `Config.d_in_shape`), a projection D when
    latent.classes > 0."""
    name, classes = config.discriminator["name"], config.latent.classes
    D = build_discriminator(name, settings(config.discriminator), config.d_in_shape(shape))
    return ProjectionDiscriminator(D, classes, name) if classes else D
