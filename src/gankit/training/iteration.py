"""The GAN iteration, written once: D's update(s), then G's (or, with `train.fakes: reuse`, G's first and D's on
its fakes), each loss seeing D's scores on real and fake, penalties and augmentation living with D's loss.

Every training path runs this code. What differs between them is only how a loss becomes a weight change,
which the `Players` they hand in decide: the eager trainer (`training/players.py`: backward and the
optimisers, DDP under torchrun), the compiled step (`training/compiled.py`: `torch.func.grad` and a
functional Adam inside one inductor graph) and ensembles (`scale/ensemble.py`: every member at once through
`torch.func.vmap`). The loss functions take their tensors as arguments (not closures), so a path can vmap them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import torch
from torch import Tensor

from gankit.parts.augment import Augment
from gankit.parts.objectives import Objective
from gankit.parts.penalties import Penalty
from gankit.training.batching import d_view

Model = Callable[[Tensor], Tensor]
LOGGED = ("loss_d", "loss_g", "d_real", "d_fake")


class Players(Protocol):
    """G and D as a training path holds them, and how it turns a loss into an update."""

    def n_examples(self, real: Tensor) -> int:
        """How many examples `real` stands for in noise() terms (torchrun: the global batch)."""
        ...

    def noise(self, n: int) -> Tensor: ...

    def G(self, z: Tensor) -> Tensor:
        """G's output with no update in view (fakes for D, pictures)."""
        ...

    def update(self, who: str, loss: Callable[..., tuple[Tensor, ...]], *tensors: Tensor) -> tuple[Tensor, ...]:
        """`loss(G, D, *tensors)` -> (scalar loss, *extras); step `who`'s ("d" or "g") weights down its gradient
        (the other player's stay as they are); return the loss and the extras, detached."""
        ...

    def mid_step(self) -> None:
        """Between D's and G's updates (the crash point the resume tests use)."""
        ...


class Iteration:
    """The GAN iteration over the parts of a config; `__call__` returns the logged values (`LOGGED`)."""

    def __init__(self, objective: Objective, penalties: list[Penalty], augment: Augment, train: Any,
                 autocast: Callable[[], AbstractContextManager[Any]]) -> None:
        self.objective, self.augment, self.train = objective, augment, train
        self.penalties = [p for p in penalties if p.weight]  # those with a term in D's loss (others act elsewhere)
        self.autocast = autocast  # runtime.precision: G's and D's forward passes run inside it

    def __call__(self, play: Players, real: Tensor, step: int) -> Tensor:
        n, train = play.n_examples(real), self.train
        d_loss = functools.partial(self.d_loss, penalties=self.due(step))
        if train.fakes == "reuse":  # PyTorch-GAN's dcgan.py: G first, then D on the same fakes, detached
            loss_g, fake = play.update("g", self.g_loss, real, play.noise(n))
            play.mid_step()
            loss_d, d_real, d_fake = play.update("d", d_loss, real, fake)
        else:
            for _ in range(train.d_steps):  # n_critic
                fake = self.fake(play.G, play.noise(n))
                loss_d, d_real, d_fake = play.update("d", d_loss, real, fake)
            play.mid_step()
            for _ in range(train.g_steps):
                loss_g, _ = play.update("g", self.g_loss, real, play.noise(train.batch_size))
        prob = self.objective.prob
        return torch.stack([loss_d, loss_g, prob(d_real).mean(-1), prob(d_fake).mean(-1)], -1)

    def due(self, step: int) -> list[Penalty]:
        """The penalties with a term in D's loss at `step` (lazy regularisation, StyleGAN2: every k-th)."""
        return [p for p in self.penalties if step % p.every == 0]

    def fake(self, G: Model, z: Tensor) -> Tensor:
        """Fakes for D's update: no graph through G."""
        with torch.no_grad(), self.autocast():
            return G(z).float()

    def d_loss(self, G: Model, D: Model, real: Tensor, fake: Tensor, penalties: list[Penalty] = ()
               ) -> tuple[Tensor, ...]:
        """D's loss on one real and one fake batch, plus `penalties` (each times its weight and interval)."""
        seen = self.augmented(D)
        with self.autocast():  # one region: bf16 casts of D's weights happen once for both batches
            d_real, d_fake = seen(real).float(), seen(fake).float()
        loss = self.objective.d_loss(d_real, d_fake, real, fake)
        for penalty in penalties:
            loss = loss + (penalty.weight * penalty.every) * penalty.d_loss(seen, real, fake)
        return loss, d_real, d_fake

    def g_loss(self, G: Model, D: Model, real: Tensor, z: Tensor) -> tuple[Tensor, ...]:
        """G's loss on fakes from `z`, from D's scores on them (and on `real` when the objective reads those)."""
        seen = self.augmented(D)
        with self.autocast():
            fake = G(z).float()
            d_fake = seen(fake).float()
            d_real = seen(real).float() if self.objective.g_sees_real else None
        return self.objective.g_loss(d_real, d_fake, real, fake), fake

    def augmented(self, D: Model) -> Model:
        """D as both players see it, on every path: after the augmentation, applied to real and fake alike, and
        through `train.d_input`'s view of the batch (post 002's D sees the whole sorted batch)."""
        view = self.train.d_input
        if self.augment.identity:
            return D if view == "sample" else lambda x: D(d_view(x, view))
        return lambda x: D(d_view(self.augment(x), view))
