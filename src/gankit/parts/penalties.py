"""Ways to keep the discriminator (critic) Lipschitz: weight clipping, gradient penalty, spectral norm.

Plain functions; the trainer decides when to call them (clipping after each D step, the penalty added to
D's loss times its weight, spectral norm once when D is built).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from gankit.errors import ConfigError
from gankit.models.init import WEIGHTED_LAYERS


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
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grads,) = torch.autograd.grad(discriminator(x_hat).sum(), x_hat, create_graph=True)
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
