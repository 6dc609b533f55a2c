"""The generator and discriminator registries, the two module wrappers and shape checks.

Every architecture registers a generator factory and a discriminator factory under the same
name. A generator factory receives the injected `z_dim` and `out_shape` (one example's shape);
a discriminator factory receives the injected `in_shape`. Everything else is a user setting.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.models.init import init_weights
from gankit.registry import Registry

GENERATORS = Registry("generator")
DISCRIMINATORS = Registry("discriminator")

# Image models that fit each kind of data, for "pick a model that fits" hints.
_FIT_28 = "lsgan, dcgan-tf or dcgan-keras"
_FIT_POW2 = "dcgan64"
_FIT_ANY = "mlp-elu or mlp-mnist"


def build_generator(
    name: str, params: dict, z_dim: int, out_shape: tuple[int, ...]
) -> Generator:
    """Build generator `name` from user `params` (checked, defaults filled in)."""
    return GENERATORS.build(name, params, z_dim=z_dim, out_shape=tuple(out_shape))


def build_discriminator(
    name: str, params: dict, in_shape: tuple[int, ...]
) -> Discriminator:
    """Build discriminator `name` from user `params` (checked, defaults filled in)."""
    return DISCRIMINATORS.build(name, params, in_shape=tuple(in_shape))


class Generator(nn.Module):
    """(B, z_dim) -> (B, *out_shape). `output_range` is what the last activation allows:
    (0, 1) for a sigmoid, (-1, 1) for tanh, None for a linear output."""

    def __init__(
        self,
        net: nn.Module,
        out_shape: tuple[int, ...],
        output_range: tuple[float, float] | None,
        init: str,
    ) -> None:
        super().__init__()
        self.net = net
        self.out_shape = tuple(out_shape)
        self.output_range = output_range
        init_weights(self, init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(z.shape[0], *self.out_shape)


class Discriminator(nn.Module):
    """(B, *in_shape) -> (B,) raw scores (no final sigmoid: the objective applies it)."""

    def __init__(self, net: nn.Module, in_shape: tuple[int, ...], init: str) -> None:
        super().__init__()
        self.net = net
        self.in_shape = tuple(in_shape)
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0])


def numel(shape: tuple[int, ...]) -> int:
    """Number of values in one example of `shape`."""
    return math.prod(shape)


def is_pow2_square(shape: tuple[int, ...], smallest: int = 16) -> bool:
    """True for a (C, S, S) image shape with S a power of two >= `smallest`."""
    if len(shape) != 3 or shape[1] != shape[2]:
        return False
    side = shape[1]
    return side >= smallest and side & (side - 1) == 0


def suggest(shape: tuple[int, ...]) -> str:
    """Architectures that fit data of `shape`."""
    if len(shape) == 3 and tuple(shape[1:]) == (28, 28):
        return _FIT_28
    if is_pow2_square(shape):
        return _FIT_POW2
    return _FIT_ANY


def describe(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return "is " + "x".join(str(s) for s in shape)
    return f"has shape {tuple(shape)}"


def shape_error(
    kind: str, name: str, makes: str, shape: tuple[int, ...]
) -> ConfigError:
    verb = "makes" if kind == "generator" else "takes"
    return ConfigError(
        f"{kind} '{name}' {verb} {makes} but the data {describe(shape)}: "
        f"pick a model that fits, e.g. {suggest(shape)}"
    )


def image_channels(
    kind: str, name: str, shape: tuple[int, ...], size: tuple[int, int]
) -> int:
    """The channel count of a (C, H, W) shape whose H, W must equal `size`."""
    if len(shape) != 3 or tuple(shape[1:]) != tuple(size) or shape[0] < 1:
        raise shape_error(kind, name, f"{size[0]}x{size[1]} images", shape)
    return shape[0]


def check_settings(kind: str, name: str, **values: float) -> None:
    """Sizes must be >= 1; a setting called `dropout` must lie in [0, 1)."""
    for key, value in values.items():
        if key == "dropout":
            if not 0.0 <= value < 1.0:
                raise ConfigError(
                    f"{kind} '{name}' setting 'dropout' must be in [0, 1), got {value}"
                )
        elif value < 1:
            raise ConfigError(
                f"{kind} '{name}' setting '{key}' must be at least 1, got {value}"
            )
