"""The penalty axis: constraints and regularisers of the discriminator, one registered part each.

A penalty acts at up to three moments, which the training step calls for every part alike: once when D is
built (`on_build`: spectral norm), as a term of D's loss (`d_loss`, times `weight`; with `every: k` only every
k-th iteration, times k: StyleGAN2's lazy regularisation), and after each D update (`after_d_update`: weight
clipping, on the parameter tensors, so every path can hand it its own). A config names penalties under `reg`,
each with its settings (`reg: {gp: {weight: 10}}`), or its first setting alone (`reg: {gp: 10}`,
`--set reg.clip=0.01`); null or false (or a zero weight) leave it out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from gankit.errors import ConfigError
from gankit.models.init import WEIGHTED_LAYERS
from gankit.registry import Registry

PENALTIES = Registry("penalty")


class Penalty:
    """A constraint or regulariser of D; subclasses override the moments they act at."""

    weight: float = 0.0  # of the loss term (0: none)
    every: int = 1  # the loss term every k-th iteration, times k
    constrains_lipschitz: ClassVar[bool] = False  # a Lipschitz constraint: one per critic
    input_gradients: ClassVar[bool] = False  # its loss term differentiates D's input (a double backward)
    # Paths that cannot run it, with why (read by the one capability check, gankit.training.capability)
    unsupported: ClassVar[dict[str, str]] = {}

    def on_build(self, D: nn.Module) -> None:
        """Once, when D is built, before its optimiser."""

    def d_loss(self, D: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        """The unweighted term added to D's loss; `D` is the critic as the game sees it (after augmentation)."""
        raise NotImplementedError

    def after_d_update(self, params: list[Tensor]) -> None:
        """After each D update, on D's parameter tensors (in place: under torch.no_grad)."""


@dataclass
class Clip(Penalty):
    value: float = 0.01
    constrains_lipschitz = True

    @torch.no_grad()
    def after_d_update(self, params: list[Tensor]) -> None:
        if params:
            torch._foreach_clamp_min_(params, -self.value)
            torch._foreach_clamp_max_(params, self.value)


@PENALTIES.register("clip", "WGAN weight clipping: D's weights clamped to [-value, value] after each D update")
def clip(*, value: float = 0.01) -> Penalty:
    """Arjovsky et al. (2017); post 004 clips all of D's weights after every D step."""
    if value <= 0:
        raise ConfigError(f"reg.clip must be > 0 (or null for no clipping), got {value}")
    return Clip(value)


@dataclass
class GradientPenalty(Penalty):
    weight: float = 10.0
    center: float = 1.0
    every: int = 1
    constrains_lipschitz = True
    input_gradients = True
    # Its interpolates' random weights: vmapped, every member would draw from one stream, so a member's run
    # would depend on the ensemble's size
    unsupported: ClassVar[dict[str, str]] = {"ensemble": "reg.gp (its random interpolates would come from one "
                                             "stream for all members)"}

    def d_loss(self, D: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        return gradient_penalty(D, real, fake, center=self.center)


@PENALTIES.register("gp", "WGAN-GP: (||grad D(x_hat)|| - center)^2 on real/fake interpolates, times weight")
def gp(*, weight: float = 10.0, center: float = 1.0, every: int = 1) -> Penalty:
    """Gulrajani et al. (2017); center 0 is the zero-centred variant (Thanh-Tung et al. 2019)."""
    if weight < 0:
        raise ConfigError(f"reg.gp must be >= 0, got {weight}")
    _check_every("gp", every)
    return GradientPenalty(weight, center, every)


@dataclass
class SpectralNorm(Penalty):
    unsupported: ClassVar[dict[str, str]] = {"compiled": "spectral norm (its power-iteration buffers)",
                                             "ensemble": "spectral norm (its power-iteration buffers)"}

    def on_build(self, D: nn.Module) -> None:
        add_spectral_norm(D)


@PENALTIES.register("spectral-norm", "spectral normalisation of every D layer (Miyato et al. 2018)")
def spectral_norm_(*, on: bool = True) -> Penalty:
    """One power iteration per training forward pass; the largest singular value of each weight tends to 1."""
    return SpectralNorm()


@dataclass
class R1(Penalty):
    weight: float = 10.0
    every: int = 1
    input_gradients = True

    def d_loss(self, D: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * input_grad(D, real.detach()).pow(2).flatten(1).sum(1).mean()


@PENALTIES.register("r1", "R1: (weight/2) E||grad D(x)||^2 on real data; every: k applies it lazily (StyleGAN2)")
def r1(*, weight: float = 10.0, every: int = 1) -> Penalty:
    """Mescheder et al. (2018), "Which training methods for GANs do actually converge?": the gradient of D on
    real data pushed to zero, gamma/2 E||grad D(x)||^2; with `every: 16` every 16th iteration, times 16."""
    if weight < 0:
        raise ConfigError(f"reg.r1 weight must be >= 0, got {weight}")
    _check_every("r1", every)
    return R1(weight, every)


def input_grad(D: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The gradient of sum(D(x)) with respect to x, kept differentiable so a penalty on it trains D. Inside a
    torch.func transform (the compiled step's grad, an ensemble's vmap) torch.func.grad takes it, which nests
    in the outer one and which dynamo traces; eagerly, autograd.grad with create_graph (as measured before)."""
    # dynamo cannot trace the functorch query (it broke the compiled step's graph here, falling back to eager for
    # the rest of the iteration); the one traced caller is the compiled step, inside its torch.func.grad
    if torch.compiler.is_compiling() or torch._C._functorch.maybe_current_level() is not None:
        return torch.func.grad(lambda xs: D(xs).sum())(x)
    (grads,) = torch.autograd.grad(D(x.requires_grad_(True)).sum(), x, create_graph=True)
    return grads


def _check_every(name: str, every: int) -> None:
    if every < 1:
        raise ConfigError(f"reg.{name}.every must be at least 1 (apply it every k-th iteration), got {every}")


def build_penalties(reg: dict[str, dict]) -> list[Penalty]:
    """The penalties a resolved `reg` section names, in its order."""
    return [PENALTIES.build(name, settings) for name, settings in reg.items()]


@torch.no_grad()
def clip_weights_(module: nn.Module, clip: float) -> None:
    """Clamp every parameter of `module` to [-clip, clip] in place (WGAN, Arjovsky et al. 2017).

    Post 004 clips all of D's weights after every D step (`np.clip` over `get_weights()`). Only
    parameters are clipped, not buffers such as BatchNorm running statistics.
    """
    if clip <= 0:
        raise ConfigError(f"weight clip must be positive, got {clip}")
    params = [p for p in module.parameters()]
    if not params:
        return
    # One fused kernel per dtype/device group instead of one launch per tensor.
    torch._foreach_clamp_min_(params, -clip)
    torch._foreach_clamp_max_(params, clip)


def gradient_penalty(
    discriminator: nn.Module,
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
    center: float = 1.0,
) -> Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs"), unweighted.

    x_hat = alpha·real + (1 - alpha)·fake with one alpha ~ U[0, 1) per example; the penalty is
    mean_i (||dD(x_hat_i)/dx_hat_i||_2 - center)², the norm taken over all non-batch dims. The graph is
    kept (create_graph) so the penalty trains D; multiply by the weight (10 in the paper) outside.
    `generator` makes alpha reproducible; it must live on `real`'s device.
    """
    batch = real.shape[0]
    alpha_shape = (batch,) + (1,) * (real.dim() - 1)
    alpha = torch.rand(alpha_shape, generator=generator, device=real.device, dtype=real.dtype)
    # Detached so the penalty's gradient reaches D only, never G.
    grads = input_grad(discriminator, alpha * real.detach() + (1 - alpha) * fake.detach())
    norms = torch.linalg.vector_norm(grads.reshape(batch, -1), dim=1)
    return (norms - center).pow(2).mean()




def add_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every Linear/Conv/ConvTranspose weight, in place.

    Uses `torch.nn.utils.parametrizations.spectral_norm`: one power iteration per forward pass in train
    mode, so the largest singular value of each weight converges to 1 during training. Layers already
    parametrised are left alone, so calling this twice is harmless.
    """
    # Collect first: registering a parametrisation adds submodules while we iterate.
    layers = [m for m in module.modules() if isinstance(m, WEIGHTED_LAYERS)]
    for layer in layers:
        if not parametrize.is_parametrized(layer, "weight"):
            spectral_norm(layer)
    return module
