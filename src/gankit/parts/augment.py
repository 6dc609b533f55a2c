"""The augmentation axis: what D sees of every batch, real and fake alike, in both players' losses.

An augmentation must be differentiable (G learns through it) and applied to real and fake the same way, so D
cannot tell them apart by the augmentation alone (Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training"; Karras et al. 2020, ADA). A config picks one: `augment: {name: ...}`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.errors import ConfigError
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


class DiffAugment(Augment):
    """Zhao et al. (2020), the authors' DiffAugment_pytorch.py: colour (brightness, saturation, contrast),
    translation (by up to `translation` of the size, zero padding) and cutout (a square of `cutout` of the
    size), fresh random draws for every batch D sees. Written with comparisons and gathers instead of the
    reference's in-place indexing (the same function, checked against the reference code); the draws come from
    torch's global stream, which checkpoints keep, so a resumed run continues bit for bit."""

    data_kinds = ("image",)
    unsupported: ClassVar[dict[str, str]] = {
        "ensemble": "random augmentation (the members would share one random stream, so a member would neither "
                    "match its solo run nor be independent of the others): train the seeds one at a time",
    }

    def __init__(self, policy: tuple[str, ...], translation: float, cutout: float) -> None:
        self.policy, self.translation, self.cutout = policy, translation, cutout

    def __call__(self, x: Tensor) -> Tensor:
        for name in self.policy:
            x = getattr(self, f"_{name}")(x)
        return x

    @staticmethod
    def _color(x: Tensor) -> Tensor:
        n = (x.shape[0], 1, 1, 1)
        x = x + (torch.rand(n, dtype=x.dtype, device=x.device) - 0.5)  # brightness
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(n, dtype=x.dtype, device=x.device) * 2) + mean  # saturation
        mean = x.mean(dim=[1, 2, 3], keepdim=True)
        return (x - mean) * (torch.rand(n, dtype=x.dtype, device=x.device) + 0.5) + mean  # contrast

    def _translation(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        out = F.pad(x, [1, 1, 1, 1])  # a pixel shifted in from outside the image is zero
        for dim, size in ((2, h), (3, w)):  # rows, then columns: each example's own integer shift
            shift = int(size * self.translation + 0.5)
            offset = torch.randint(-shift, shift + 1, (b, 1), device=x.device)
            index = (torch.arange(size, device=x.device) + offset + 1).clamp(0, size + 1)  # (b, size)
            view, full = [b, 1, 1, 1], list(out.shape)
            view[dim] = full[dim] = size
            out = out.gather(dim, index.view(view).expand(full))
        return out

    def _cutout(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        keep = torch.ones(b, h, w, dtype=torch.bool, device=x.device)
        inside = []
        for size in (h, w):
            cut = int(size * self.cutout + 0.5)
            start = torch.randint(0, size + (1 - cut % 2), (b, 1), device=x.device) - cut // 2
            pos = torch.arange(size, device=x.device)
            inside.append((pos >= start) & (pos < start + cut))  # (b, size)
        keep = keep & ~(inside[0][:, :, None] & inside[1][:, None, :])
        return x * keep.unsqueeze(1).to(x.dtype)


@AUGMENTATIONS.register("diffaugment", "DiffAugment (Zhao et al. 2020): colour, translation, cutout on real and fake")
def diffaugment(*, policy: str = "color,translation,cutout", translation: float = 0.125, cutout: float = 0.5) -> Augment:
    """The paper's policies, comma-separated (its recommendation with limited data: all three)."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [p for p in names if p not in ("color", "translation", "cutout")]
    if unknown or not names:
        raise ConfigError(f"augment 'diffaugment' policy '{policy}': choose from color, translation, cutout "
                          "(comma-separated)")
    if not 0 <= translation < 1 or not 0 < cutout <= 1:
        raise ConfigError(f"augment 'diffaugment': translation must be in [0, 1) and cutout in (0, 1], got "
                          f"{translation} and {cutout}")
    return DiffAugment(names, translation, cutout)
