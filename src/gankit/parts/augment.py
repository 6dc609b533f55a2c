"""The augmentation axis: what D sees of every batch, real and fake alike, in both players' losses.

An augmentation must be differentiable (G learns through it) and applied to real and fake the same way, so D
cannot tell them apart by the augmentation alone (Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training"; Karras et al. 2020, ADA). A config picks one: `augment: {name: ...}`.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from gankit.registry import Registry

AUGMENTATIONS = Registry("augment")


class Augment:
    """x -> x as D sees it; batches of examples with any leading dimensions (ensembles stack members)."""

    identity: ClassVar[bool] = False  # the step skips calling it
    # Paths that cannot run it, with why (read by gankit.training.capability)
    unsupported: ClassVar[dict[str, str]] = {}
    data_kinds: ClassVar[tuple[str, ...]] = ("points", "image")

    def __call__(self, x: Tensor) -> Tensor:
        raise NotImplementedError


class NoAugment(Augment):
    identity = True

    def __call__(self, x: Tensor) -> Tensor:
        return x


@AUGMENTATIONS.register("none", "D sees the batches as they are")
def none() -> Augment:
    return NoAugment()
