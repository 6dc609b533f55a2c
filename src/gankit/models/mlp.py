"""Fully connected architectures: any data shape (examples are flattened).

- ``mlp-1d``: post 002a ("GANs in 50 lines of code", 1-D Gaussian).
- ``mlp-mnist``: post 002b (the same post's MNIST MLPs, with dropout and tanh).
- ``mlp-elu``: post 004's small ELU MLPs for 2-D points, and a generic toy MLP.
"""

from typing import Literal

from torch import nn

from gankit.errors import ConfigError
from gankit.models.base import (
    DISCRIMINATORS,
    GENERATORS,
    Discriminator,
    Generator,
    check_settings,
    numel,
)
from gankit.models.init import InitScheme
from gankit.models.layers import ELU, Scale

_ACTIVATIONS = {
    "elu": ELU,
    "relu": nn.ReLU,
    # Keras' LeakyReLU default slope is 0.3; 0.2 is the usual GAN choice.
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
}
_OUTPUTS = {
    "linear": (nn.Identity, None),
    "tanh": (nn.Tanh, (-1.0, 1.0)),
    "sigmoid": (nn.Sigmoid, (0.0, 1.0)),
}


@GENERATORS.register("mlp-1d", "post 002a: 2 hidden layers (ELU, sigmoid), linear out")
def mlp_1d_generator(
    *,
    z_dim: int,
    out_shape: tuple[int, ...],
    hidden: int = 50,
    init: InitScheme = "default",
    scale: float = 1.0,
    shift: float = 0.0,
) -> Generator:
    """Post 002a (GANs in 50 lines): Linear -> ELU -> Linear -> Sigmoid -> Linear.

    `scale` and `shift` place the linear output at the data's spread and centre (x * scale + shift, fixed):
    a fresh G emits ~0, and Adam at 1e-3 took ~3,000 of gan-1d's iterations to carry it to the target's mean 4
    before the shape could be learnt (docs/presets.md)."""
    check_settings("generator", "mlp-1d", hidden=hidden)
    if not scale > 0:
        raise ConfigError(f"generator 'mlp-1d' setting 'scale' must be > 0, got {scale}")
    net = nn.Sequential(
        nn.Linear(z_dim, hidden),
        ELU(),
        nn.Linear(hidden, hidden),
        nn.Sigmoid(),
        nn.Linear(hidden, numel(out_shape)),
        *([Scale(scale, shift)] if (scale, shift) != (1.0, 0.0) else []),
    )
    return Generator(net, out_shape, None, init)


@DISCRIMINATORS.register("mlp-1d", "post 002a: 2 hidden ELU layers")
def mlp_1d_discriminator(
    *,
    in_shape: tuple[int, ...],
    hidden: int = 50,
    init: InitScheme = "default",
) -> Discriminator:
    """Post 002a: Linear -> ELU -> Linear -> ELU -> Linear.

    `in_shape` may be one sample (1,), a whole sorted batch (N,) or its moments (4,):
    whatever it is, it is flattened. The post ends with a sigmoid and trains with BCE;
    the sigmoid is dropped here because the loss folds it in (BCE with logits).
    """
    check_settings("discriminator", "mlp-1d", hidden=hidden)
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(numel(in_shape), hidden),
        ELU(),
        nn.Linear(hidden, hidden),
        ELU(),
        nn.Linear(hidden, 1),
    )
    return Discriminator(net, in_shape, init)


# Post 002b uses F.dropout, which is on even at sampling time; nn.Dropout is off in
# eval mode, so samples drawn for pictures and metrics are deterministic given z.
@GENERATORS.register("mlp-mnist", "post 002b: 2 hidden ReLU+dropout layers, tanh out")
def mlp_mnist_generator(
    *,
    z_dim: int,
    out_shape: tuple[int, ...],
    hidden: int = 256,
    dropout: float = 0.2,
    init: InitScheme = "default",
) -> Generator:
    """Post 002b: (Linear -> ReLU -> Dropout) x 2 -> Linear -> tanh."""
    check_settings("generator", "mlp-mnist", hidden=hidden, dropout=dropout)
    net = nn.Sequential(
        nn.Linear(z_dim, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, numel(out_shape)),
        nn.Tanh(),
    )
    return Generator(net, out_shape, (-1.0, 1.0), init)


@DISCRIMINATORS.register("mlp-mnist", "post 002b: 2 hidden ReLU+dropout layers")
def mlp_mnist_discriminator(
    *,
    in_shape: tuple[int, ...],
    hidden: int = 256,
    dropout: float = 0.2,
    init: InitScheme = "default",
) -> Discriminator:
    """Post 002b: flatten -> (Linear -> ReLU -> Dropout) x 2 -> Linear.

    The post ends with a sigmoid and BCE; the sigmoid is dropped (BCE with logits).
    """
    check_settings("discriminator", "mlp-mnist", hidden=hidden, dropout=dropout)
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(numel(in_shape), hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, 1),
    )
    return Discriminator(net, in_shape, init)


Activation = Literal["elu", "relu", "leaky_relu"]


def _stack(n_in: int, hidden: int, depth: int, activation: str) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [
            nn.Linear(n_in if i == 0 else hidden, hidden),
            _ACTIVATIONS[activation](),
        ]
    return layers


@GENERATORS.register("mlp-elu", "post 004 / toy MLP: depth x (Linear+ELU), linear out")
def mlp_elu_generator(
    *,
    z_dim: int,
    out_shape: tuple[int, ...],
    hidden: int = 128,
    depth: int = 3,
    activation: Activation = "elu",
    output: Literal["linear", "tanh", "sigmoid"] = "linear",
    scale: float = 1.0,
    init: InitScheme = "glorot",
) -> Generator:
    """Post 004 (WGAN on 25 Gaussians, Keras): z -> [Linear(hidden) + ELU] x depth -> Linear.

    `output` adds a final tanh or sigmoid (e.g. for images); the post's is linear. `scale` multiplies a
    linear output by a fixed factor, about the data's standard deviation (2.83 for the 5x5 grid): the
    reference WGAN-GP toy code divides its data by that instead; either way G need not grow its last
    layer from ~0.1 to the data's spread one Adam step at a time.
    """
    check_settings("generator", "mlp-elu", hidden=hidden, depth=depth)
    if not scale > 0:
        raise ConfigError(f"generator 'mlp-elu' setting 'scale' must be > 0, got {scale}")
    if scale != 1.0 and output != "linear":
        raise ConfigError(f"generator 'mlp-elu': scale {scale} multiplies a linear output; output '{output}' "
                          f"already fixes the range: drop one of them")
    last, output_range = _OUTPUTS[output]
    net = nn.Sequential(
        *_stack(z_dim, hidden, depth, activation),
        nn.Linear(hidden, numel(out_shape)),
        last() if scale == 1.0 else Scale(scale),
    )
    return Generator(net, out_shape, output_range, init)


@DISCRIMINATORS.register("mlp-elu", "post 004 / toy MLP: depth x (Linear+ELU)")
def mlp_elu_discriminator(
    *,
    in_shape: tuple[int, ...],
    hidden: int = 128,
    depth: int = 3,
    activation: Activation = "elu",
    init: InitScheme = "glorot",
) -> Discriminator:
    """Post 004: x -> [Linear(hidden) + ELU] x depth -> Linear(1), a raw critic score.

    The post's standard-GAN comparison ends D with a sigmoid and BCE; here the sigmoid
    is always dropped (the cross-entropy objective uses BCE with logits).
    """
    check_settings("discriminator", "mlp-elu", hidden=hidden, depth=depth)
    net = nn.Sequential(
        nn.Flatten(),
        *_stack(numel(in_shape), hidden, depth, activation),
        nn.Linear(hidden, 1),
    )
    return Discriminator(net, in_shape, init)
