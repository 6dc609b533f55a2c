"""Weight initialisation schemes, applied to a whole module tree after it is built.

- ``default``: leave PyTorch's own initialisation (posts 000 and 002 rely on it).
- ``normal02``: DCGAN (Radford et al. 2015; post 001): conv/linear weights N(0, 0.02),
  biases 0, batch-norm scale N(1, 0.02) and shift 0.
- ``normal02-conv``: eriklindernoren/PyTorch-GAN's `weights_init_normal`: conv weights N(0, 0.02) (their biases
  and every linear layer keep PyTorch's init), batch-norm scale N(1, 0.02) and shift 0.
- ``glorot``: the Keras default (posts 003 and 004): Glorot-uniform weights, zero biases,
  batch-norm scale 1 and shift 0.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

from gankit.errors import unknown_choice

InitScheme = Literal["default", "normal02", "normal02-conv", "glorot"]
SCHEMES: tuple[str, ...] = ("default", "normal02", "normal02-conv", "glorot")

WEIGHTED_LAYERS = (  # layers with a weight matrix or kernel: what init schemes and spectral norm touch
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def init_weights(module: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise every linear, conv and batch-norm layer of `module` in place."""
    if scheme not in SCHEMES:
        raise unknown_choice("init scheme", scheme, SCHEMES)
    if scheme == "default":
        return module
    for layer in module.modules():
        if scheme == "normal02-conv":
            _init_conv_only(layer)
        elif isinstance(layer, WEIGHTED_LAYERS):
            if scheme == "normal02":
                nn.init.normal_(layer.weight, 0.0, 0.02)
            else:
                nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, _NORMS) and layer.affine:
            if scheme == "normal02":
                nn.init.normal_(layer.weight, 1.0, 0.02)
            else:
                nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)
    return module


def _init_conv_only(layer: nn.Module) -> None:
    # PyTorch-GAN matches class names containing "Conv" / "BatchNorm": conv weights only, BN scale and shift.
    if isinstance(layer, WEIGHTED_LAYERS) and not isinstance(layer, nn.Linear):
        nn.init.normal_(layer.weight, 0.0, 0.02)
    elif isinstance(layer, _NORMS) and layer.affine:
        nn.init.normal_(layer.weight, 1.0, 0.02)
        nn.init.zeros_(layer.bias)
