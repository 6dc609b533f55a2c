"""Optimisers, registered by name, with Keras-style learning-rate decay.

Each factory takes the parameters positionally (the builder injects them; being positional-only they
are never a user setting) and its settings by keyword. `decay` is Keras's: lr_t = lr / (1 + decay·t),
t the number of updates already made, as post 004 uses (`Adam(lr=1e-4, beta_1=0.5, decay=1e-5)`).
The factories validate it; `build_optimizer` turns it into a LambdaLR stepped after every update.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from gankit.errors import ConfigError
from gankit.registry import Registry

OPTIMIZERS = Registry("optimizer")

Params = Iterable[Any]  # tensors or param-group dicts


def _check(name: str, value: float, low: float, high: float | None = None, *, open_low: bool = False) -> None:
    bad = value <= low if open_low else value < low
    if high is not None:
        bad = bad or value >= high
    if bad:
        lo = "(" if open_low else "["
        hi = f"{high})" if high is not None else "inf)"
        raise ConfigError(f"optimizer setting '{name}' must be in {lo}{low}, {hi}, got {value}")


def _check_common(lr: float, eps: float | None, weight_decay: float, decay: float) -> None:
    _check("lr", lr, 0.0, open_low=True)
    if eps is not None:
        _check("eps", eps, 0.0, open_low=True)
    _check("weight_decay", weight_decay, 0.0)
    _check("decay", decay, 0.0)


@OPTIMIZERS.register("adam", "Adam (Kingma & Ba 2015); GAN default betas (0.5, 0.999) after DCGAN")
def adam(
    params: Params,
    /,
    *,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decay: float = 0.0,
) -> Optimizer:
    """Adam; lr 2e-4 and beta1 0.5 are Radford et al.'s DCGAN settings (posts 000, 001)."""
    _check_common(lr, eps, weight_decay, decay)
    for i, beta in enumerate(betas):
        _check(f"betas[{i}]", beta, 0.0, 1.0)
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=True)


@OPTIMIZERS.register("rmsprop", "RMSprop; WGAN's choice (lr 5e-5, Arjovsky et al. 2017)")
def rmsprop(
    params: Params,
    /,
    *,
    lr: float = 5e-5,
    alpha: float = 0.99,
    eps: float = 1e-8,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    decay: float = 0.0,
) -> Optimizer:
    """RMSprop; the WGAN paper uses it with lr 5e-5 because momentum-based optimisers destabilised clipping."""
    _check_common(lr, eps, weight_decay, decay)
    _check("alpha", alpha, 0.0, 1.0)
    _check("momentum", momentum, 0.0)
    return torch.optim.RMSprop(
        params, lr=lr, alpha=alpha, eps=eps, momentum=momentum, weight_decay=weight_decay, foreach=True
    )


@OPTIMIZERS.register("sgd", "stochastic gradient descent, optional (Nesterov) momentum")
def sgd(
    params: Params,
    /,
    *,
    lr: float = 1e-2,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    decay: float = 0.0,
) -> Optimizer:
    """Plain SGD."""
    _check_common(lr, None, weight_decay, decay)
    _check("momentum", momentum, 0.0)
    if nesterov and momentum <= 0:
        raise ConfigError("optimizer setting 'nesterov' needs momentum > 0")
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, foreach=True
    )


class KerasDecay:
    """LR factor 1 / (1 + decay·t) for LambdaLR, t = updates made so far.

    A class, not a lambda: LambdaLR's state_dict then stores its `__dict__` ({'decay': float}), which
    `torch.load(weights_only=True)` reads back; lambdas would be silently skipped.
    """

    def __init__(self, decay: float) -> None:
        self.decay = decay

    def __call__(self, t: int) -> float:
        return 1.0 / (1.0 + self.decay * t)


def build_optimizer(name: str, settings: dict[str, Any], params: Params) -> tuple[Optimizer, LambdaLR | None]:
    """The optimiser `name` with `settings` over `params`, plus a LambdaLR when decay > 0 (else None).

    Call `scheduler.step()` after each `optimizer.step()`: the first update uses lr, the (t+1)-th
    lr / (1 + decay·t), as in Keras. Both state dicts round-trip through torch.save/load(weights_only=True).
    """
    resolved = OPTIMIZERS.resolve(name, settings)
    optimizer = OPTIMIZERS.get(name)(params, **resolved)
    decay = resolved.get("decay", 0.0)
    scheduler = LambdaLR(optimizer, KerasDecay(decay)) if decay > 0 else None
    return optimizer, scheduler
