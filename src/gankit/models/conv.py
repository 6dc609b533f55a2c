"""Convolutional image architectures: any channel count, fixed height and width.

- ``lsgan``: post 000 (LSGAN in PyTorch, 28x28).
- ``dcgan-tf``: post 001 (DCGAN in TensorFlow 1, 28x28).
- ``dcgan-keras``: post 003 (DCGAN in Keras, 28x28; follows the prose's 64-channel layer).
- ``dcgan64``: Radford et al. 2015 / the PyTorch DCGAN tutorial (64x64; any power of 2 >= 16).
- ``dcgan-pytorch-gan``: eriklindernoren/PyTorch-GAN's implementations/dcgan/dcgan.py,
  the most copied DCGAN-MNIST (32x32; any side divisible by 16): nearest upsampling + 3x3 conv in G,
  stride-2 3x3 convs with Dropout2d in D.

`batchnorm: false` on a discriminator removes its batch norms (e.g. for a gradient penalty,
which is defined per example).
"""

from torch import nn

from gankit.errors import ConfigError
from gankit.models.base import (
    DISCRIMINATORS,
    GENERATORS,
    Discriminator,
    Generator,
    check_settings,
    image_channels,
    is_pow2_square,
    shape_error,
)
from gankit.models.init import InitScheme

_28 = (28, 28)


def _bn(n: int, on: bool = True, dims: int = 2, **kw: float) -> nn.Module:
    if not on:
        return nn.Identity()
    return (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(n, **kw)


@GENERATORS.register(
    "lsgan", "post 000: 2 fc + 2 deconv, BN, LeakyReLU, sigmoid; 28x28"
)
def lsgan_generator(
    *,
    z_dim: int,
    out_shape: tuple[int, ...],
    hidden: int = 1024,
    width: int = 64,
    init: InitScheme = "default",
) -> Generator:
    """Post 000 (LSGAN, PyTorch): fc 1024, fc 128x7x7, deconv 64, deconv C, sigmoid."""
    c = image_channels("generator", "lsgan", out_shape, _28)
    check_settings("generator", "lsgan", hidden=hidden, width=width)
    w = width
    net = nn.Sequential(
        # The post writes nn.LeakyReLU(): PyTorch's default slope 0.01.
        nn.Linear(z_dim, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(),
        nn.Linear(hidden, 2 * w * 49), nn.BatchNorm1d(2 * w * 49), nn.LeakyReLU(),
        nn.Unflatten(1, (2 * w, 7, 7)),
        nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.LeakyReLU(),
        nn.ConvTranspose2d(w, c, 4, 2, 1), nn.Sigmoid(),
    )  # fmt: skip
    return Generator(net, out_shape, (0.0, 1.0), init)


@DISCRIMINATORS.register("lsgan", "post 000: 2 conv + 2 fc, BN, LeakyReLU(0.2); 28x28")
def lsgan_discriminator(
    *,
    in_shape: tuple[int, ...],
    hidden: int = 1024,
    width: int = 64,
    batchnorm: bool = True,
    init: InitScheme = "default",
) -> Discriminator:
    """Post 000: conv 64, conv 128 + BN, fc 1024 + BN, fc 1 (no output activation)."""
    c = image_channels("discriminator", "lsgan", in_shape, _28)
    check_settings("discriminator", "lsgan", hidden=hidden, width=width)
    w, bn = width, batchnorm
    net = nn.Sequential(
        nn.Conv2d(c, w, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(w, 2 * w, 4, 2, 1), _bn(2 * w, bn), nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Linear(2 * w * 49, hidden), _bn(hidden, bn, dims=1), nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1),
    )  # fmt: skip
    return Discriminator(net, in_shape, init)


@GENERATORS.register("dcgan-tf", "post 001: 2 fc + 2 deconv 5x5, BN, ReLU, tanh; 28x28")
def dcgan_tf_generator(
    *,
    z_dim: int,
    out_shape: tuple[int, ...],
    hidden: int = 1024,
    width: int = 64,
    init: InitScheme = "normal02",
) -> Generator:
    """Post 001 (DCGAN, TensorFlow 1): fc 1024, fc 128x7x7, deconv 5x5 64, deconv 5x5 C.

    The post normalises with tf.nn.batch_normalization(x, mean, var, None, None, 1e-5):
    no learnable scale or shift, hence affine=False. (It also always uses batch
    statistics; PyTorch uses running statistics in eval mode.) TF 'SAME' deconvolution
    with stride 2 and a 5x5 kernel is padding=2, output_padding=1.
    """
    c = image_channels("generator", "dcgan-tf", out_shape, _28)
    check_settings("generator", "dcgan-tf", hidden=hidden, width=width)
    w = width
    net = nn.Sequential(
        nn.Linear(z_dim, hidden), nn.BatchNorm1d(hidden, affine=False), nn.ReLU(),
        nn.Linear(hidden, 2 * w * 49), nn.BatchNorm1d(2 * w * 49, affine=False), nn.ReLU(),
        nn.Unflatten(1, (2 * w, 7, 7)),
        nn.ConvTranspose2d(2 * w, w, 5, 2, 2, output_padding=1),
        nn.BatchNorm2d(w, affine=False), nn.ReLU(),
        nn.ConvTranspose2d(w, c, 5, 2, 2, output_padding=1), nn.Tanh(),
    )  # fmt: skip
    return Generator(net, out_shape, (-1.0, 1.0), init)


@DISCRIMINATORS.register(
    "dcgan-tf", "post 001: 2 conv 5x5 + fc 256, LeakyReLU(0.01), dropout"
)
def dcgan_tf_discriminator(
    *,
    in_shape: tuple[int, ...],
    hidden: int = 256,
    width: int = 64,
    dropout: float = 0.5,
    init: InitScheme = "normal02",
) -> Discriminator:
    """Post 001: conv 5x5 s2 64, conv 5x5 s2 128, fc 256, dropout, fc 1 (the logit).

    The post ends with a sigmoid and a cross-entropy loss; the sigmoid is dropped here
    because the loss folds it in (BCE with logits). The post feeds dropout's keep
    probability through a placeholder without giving its value; 0.5 is assumed.
    """
    c = image_channels("discriminator", "dcgan-tf", in_shape, _28)
    check_settings(
        "discriminator", "dcgan-tf", hidden=hidden, width=width, dropout=dropout
    )
    w = width
    net = nn.Sequential(
        nn.Conv2d(c, w, 5, 2, 2), nn.LeakyReLU(0.01),
        nn.Conv2d(w, 2 * w, 5, 2, 2), nn.LeakyReLU(0.01),
        nn.Flatten(),
        nn.Linear(2 * w * 49, hidden), nn.LeakyReLU(0.01),
        nn.Dropout(dropout),
        nn.Linear(hidden, 1),
    )  # fmt: skip
    return Discriminator(net, in_shape, init)


# Keras BatchNormalization defaults: momentum 0.99 (PyTorch's momentum is 1 - that), eps 1e-3.
_KERAS_BN = {"momentum": 0.01, "eps": 1e-3}


@GENERATORS.register(
    "dcgan-keras", "post 003: dense + 3 deconv 3x3, BN, LeakyReLU, tanh; 28x28"
)
def dcgan_keras_generator(
    *,
    z_dim: int,
    out_shape: tuple[int, ...],
    width: int = 64,
    init: InitScheme = "glorot",
) -> Generator:
    """Post 003 (DCGAN, Keras), as its prose describes it: Dense 256x7x7 (no activation),
    deconv 3x3 s2 128, deconv 3x3 s1 64 (the layer its code leaves out), deconv 3x3 s2 C.

    Keras 'same' deconvolution with stride 2 and a 3x3 kernel is padding=1,
    output_padding=1.
    """
    c = image_channels("generator", "dcgan-keras", out_shape, _28)
    check_settings("generator", "dcgan-keras", width=width)
    w = width
    net = nn.Sequential(
        nn.Linear(z_dim, 4 * w * 49),
        nn.Unflatten(1, (4 * w, 7, 7)),
        nn.ConvTranspose2d(4 * w, 2 * w, 3, 2, 1, output_padding=1),
        nn.BatchNorm2d(2 * w, **_KERAS_BN), nn.LeakyReLU(0.01),
        nn.ConvTranspose2d(2 * w, w, 3, 1, 1),
        nn.BatchNorm2d(w, **_KERAS_BN), nn.LeakyReLU(0.01),
        nn.ConvTranspose2d(w, c, 3, 2, 1, output_padding=1), nn.Tanh(),
    )  # fmt: skip
    return Generator(net, out_shape, (-1.0, 1.0), init)


@DISCRIMINATORS.register(
    "dcgan-keras", "post 003: 3 conv 3x3 s2, BN, LeakyReLU(0.01); 28x28"
)
def dcgan_keras_discriminator(
    *,
    in_shape: tuple[int, ...],
    width: int = 32,
    batchnorm: bool = True,
    init: InitScheme = "glorot",
) -> Discriminator:
    """Post 003: conv 3x3 s2 32, conv 64 + BN, conv 128 + BN, flatten, dense 1.

    'same' padding with stride 2 gives ceil(n/2): 28 -> 14 -> 7 -> 4 (padding=1).
    The post's code has two BatchNormalization layers in a row before the last
    LeakyReLU (a slip); one is used. Its final sigmoid is dropped because the loss
    folds it in (BCE with logits).
    """
    c = image_channels("discriminator", "dcgan-keras", in_shape, _28)
    check_settings("discriminator", "dcgan-keras", width=width)
    w, bn = width, batchnorm
    net = nn.Sequential(
        nn.Conv2d(c, w, 3, 2, 1), nn.LeakyReLU(0.01),
        nn.Conv2d(w, 2 * w, 3, 2, 1), _bn(2 * w, bn, **_KERAS_BN), nn.LeakyReLU(0.01),
        nn.Conv2d(2 * w, 4 * w, 3, 2, 1), _bn(4 * w, bn, **_KERAS_BN), nn.LeakyReLU(0.01),
        nn.Flatten(),
        nn.Linear(4 * w * 16, 1),
    )  # fmt: skip
    return Discriminator(net, in_shape, init)


def _pow2_stages(kind: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """(channels, number of stride-2 stages between 4x4 and the full size)."""
    if not is_pow2_square(shape):
        raise shape_error(
            kind, "dcgan64", "square images with a power-of-2 side >= 16", shape
        )
    return shape[0], shape[1].bit_length() - 3  # 64 -> 4 stages: 4, 8, 16, 32, 64


@GENERATORS.register(
    "dcgan64", "Radford et al.: deconv 4x4 stack, BN, ReLU, tanh; 64x64"
)
def dcgan64_generator(
    *,
    z_dim: int,
    out_shape: tuple[int, ...],
    width: int = 64,
    init: InitScheme = "normal02",
) -> Generator:
    """DCGAN (Radford et al. 2015, PyTorch tutorial): z -> 4x4x8w -> 4w -> 2w -> w -> C.

    Sizes other than 64 add or drop a stage (32x32: 4x4x4w -> 2w -> w -> C).
    Convolutions have no bias, as in the tutorial.
    """
    c, stages = _pow2_stages("generator", out_shape)
    check_settings("generator", "dcgan64", width=width)
    ch = width * 2 ** (stages - 1)
    layers: list[nn.Module] = [
        nn.Unflatten(1, (z_dim, 1, 1)),
        nn.ConvTranspose2d(z_dim, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(),
    ]  # fmt: skip
    for _ in range(stages - 1):
        layers += [
            nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ch // 2),
            nn.ReLU(),
        ]
        ch //= 2
    layers += [nn.ConvTranspose2d(ch, c, 4, 2, 1, bias=False), nn.Tanh()]
    return Generator(nn.Sequential(*layers), out_shape, (-1.0, 1.0), init)


@DISCRIMINATORS.register(
    "dcgan64", "Radford et al.: conv 4x4 stack, BN, LeakyReLU(0.2); 64x64"
)
def dcgan64_discriminator(
    *,
    in_shape: tuple[int, ...],
    width: int = 64,
    batchnorm: bool = True,
    init: InitScheme = "normal02",
) -> Discriminator:
    """DCGAN: conv C -> w (no BN) -> 2w -> 4w -> 8w (BN, LeakyReLU 0.2) -> conv 4x4 to 1.

    The tutorial ends with a sigmoid and BCE; the sigmoid is dropped because the loss
    folds it in (BCE with logits).
    """
    c, stages = _pow2_stages("discriminator", in_shape)
    check_settings("discriminator", "dcgan64", width=width)
    ch = width
    layers: list[nn.Module] = [nn.Conv2d(c, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
    for _ in range(stages - 1):
        layers += [
            nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),
            _bn(ch * 2, batchnorm),
            nn.LeakyReLU(0.2),
        ]
        ch *= 2
    layers += [nn.Conv2d(ch, 1, 4, 1, 0, bias=False)]
    return Discriminator(nn.Sequential(*layers), in_shape, init)


def _side16(kind: str, name: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """(channels, side) of a square (C, S, S) shape with S divisible by 16."""
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] % 16 or shape[0] < 1:
        raise shape_error(kind, name, "square images with a side divisible by 16 (e.g. 32x32)", shape)
    return shape[0], shape[1]


# PyTorch-GAN writes BatchNorm2d(c, 0.8): the second positional argument is eps, not momentum, so those
# layers normalise by sqrt(var + 0.8). Kept (bn_eps) because it is what everybody who copies the file trains.
_PYTORCH_GAN_EPS = 0.8


@GENERATORS.register(
    "dcgan-pytorch-gan", "PyTorch-GAN dcgan.py: fc + 2x (upsample, conv 3x3, BN eps 0.8, LeakyReLU 0.2), tanh; 32x32"
)
def dcgan_pytorch_gan_generator(
    *,
    z_dim: int,
    out_shape: tuple[int, ...],
    width: int = 64,
    bn_eps: float = _PYTORCH_GAN_EPS,
    init: InitScheme = "normal02-conv",
) -> Generator:
    """PyTorch-GAN's DCGAN generator: fc to 2w x S/4 x S/4, BN, upsample x2, conv 3x3 2w, BN(eps), LeakyReLU
    0.2, upsample x2, conv 3x3 w, BN(eps), LeakyReLU 0.2, conv 3x3 C, tanh (w = 64: 128 and 64 channels).

    Upsampling is nearest-neighbour (nn.Upsample's default). The fast path computes each upsample + conv
    pair as four 2x2 convolutions on the small input (gankit.subpixel), the same function from the same
    weights.
    """
    c, side = _side16("generator", "dcgan-pytorch-gan", out_shape)
    check_settings("generator", "dcgan-pytorch-gan", width=width)
    if not bn_eps > 0:
        raise ConfigError(f"generator 'dcgan-pytorch-gan' setting 'bn_eps' must be > 0, got {bn_eps}")
    w, s4 = width, side // 4
    net = nn.Sequential(
        nn.Linear(z_dim, 2 * w * s4 * s4), nn.Unflatten(1, (2 * w, s4, s4)),
        nn.BatchNorm2d(2 * w),
        nn.Upsample(scale_factor=2), nn.Conv2d(2 * w, 2 * w, 3, 1, 1),
        nn.BatchNorm2d(2 * w, eps=bn_eps), nn.LeakyReLU(0.2),
        nn.Upsample(scale_factor=2), nn.Conv2d(2 * w, w, 3, 1, 1),
        nn.BatchNorm2d(w, eps=bn_eps), nn.LeakyReLU(0.2),
        nn.Conv2d(w, c, 3, 1, 1), nn.Tanh(),
    )  # fmt: skip
    return Generator(net, out_shape, (-1.0, 1.0), init)


@DISCRIMINATORS.register(
    "dcgan-pytorch-gan", "PyTorch-GAN dcgan.py: 4x (conv 3x3 s2, LeakyReLU 0.2, Dropout2d 0.25, BN eps 0.8); 32x32"
)
def dcgan_pytorch_gan_discriminator(
    *,
    in_shape: tuple[int, ...],
    width: int = 16,
    dropout: float = 0.25,
    bn_eps: float = _PYTORCH_GAN_EPS,
    batchnorm: bool = True,
    init: InitScheme = "normal02-conv",
) -> Discriminator:
    """PyTorch-GAN's DCGAN discriminator: 4 blocks of conv 3x3 stride 2 (w, 2w, 4w, 8w channels; w = 16),
    LeakyReLU 0.2, Dropout2d, BN(eps) on all but the first; fc to 1.

    The file ends with a sigmoid and nn.BCELoss; the sigmoid is dropped because the loss folds it in (BCE
    with logits: the same function, numerically safer).
    """
    c, side = _side16("discriminator", "dcgan-pytorch-gan", in_shape)
    check_settings("discriminator", "dcgan-pytorch-gan", width=width, dropout=dropout)
    if not bn_eps > 0:
        raise ConfigError(f"discriminator 'dcgan-pytorch-gan' setting 'bn_eps' must be > 0, got {bn_eps}")
    layers: list[nn.Module] = []
    ch_in = c
    for i in range(4):
        ch = width * 2**i
        layers += [nn.Conv2d(ch_in, ch, 3, 2, 1), nn.LeakyReLU(0.2), nn.Dropout2d(dropout)]
        if i > 0:
            layers.append(_bn(ch, batchnorm, eps=bn_eps))
        ch_in = ch
    layers += [nn.Flatten(), nn.Linear(ch_in * (side // 16) ** 2, 1)]
    return Discriminator(nn.Sequential(*layers), in_shape, init)
