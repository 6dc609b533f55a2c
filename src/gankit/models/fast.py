"""Small convolutional models sized for a laptop CPU (the `*-fast` recipe presets), 28x28, any channel count.

- ``dcgan-small``: a DCGAN at a quarter of the usual width. G: fc to 4w x 7 x 7, BN, ReLU, two 4x4 stride-2
  transposed convs (4w -> 2w -> C) with BN and ReLU between, tanh. D: two 4x4 stride-2 convs (C -> w -> 2w),
  LeakyReLU 0.2, no batch norm (so per-example penalties such as R1 apply), fc to one logit.
  Narrow because on a CPU width buys quality more slowly than iterations do (docs/presets.md, mnist-fast:
  wider models collapsed or trailed at the same wall time).
"""

from torch import nn

from gankit.models.base import (
    DISCRIMINATORS,
    GENERATORS,
    Discriminator,
    Generator,
    check_settings,
    image_channels,
)
from gankit.models.init import InitScheme

_28 = (28, 28)


@GENERATORS.register("dcgan-small", "fc + 2 deconv 4x4 s2, BN, ReLU, tanh; narrow, for CPU recipes; 28x28")
def dcgan_small_generator(
    *,
    z_dim: int,
    out_shape: tuple[int, ...],
    width: int = 16,
    init: InitScheme = "normal02",
) -> Generator:
    """fc z -> 4w x 7 x 7, BN, ReLU; deconv 4x4 s2 -> 2w x 14 x 14, BN, ReLU; deconv 4x4 s2 -> C x 28 x 28, tanh."""
    c = image_channels("generator", "dcgan-small", out_shape, _28)
    check_settings("generator", "dcgan-small", width=width)
    w = width
    net = nn.Sequential(
        nn.Linear(z_dim, 4 * w * 49),
        nn.Unflatten(1, (4 * w, 7, 7)), nn.BatchNorm2d(4 * w), nn.ReLU(),
        nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.ConvTranspose2d(2 * w, c, 4, 2, 1), nn.Tanh(),
    )  # fmt: skip
    return Generator(net, out_shape, (-1.0, 1.0), init)


@DISCRIMINATORS.register("dcgan-small", "2 conv 4x4 s2, LeakyReLU 0.2, no BN, fc; narrow, for CPU recipes; 28x28")
def dcgan_small_discriminator(
    *,
    in_shape: tuple[int, ...],
    width: int = 16,
    init: InitScheme = "normal02",
) -> Discriminator:
    """conv 4x4 s2 -> w x 14 x 14, LeakyReLU 0.2; conv 4x4 s2 -> 2w x 7 x 7, LeakyReLU 0.2; fc -> 1 logit."""
    c = image_channels("discriminator", "dcgan-small", in_shape, _28)
    check_settings("discriminator", "dcgan-small", width=width)
    w = width
    net = nn.Sequential(
        nn.Conv2d(c, w, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * w * 49, 1),
    )  # fmt: skip
    return Discriminator(net, in_shape, init)
