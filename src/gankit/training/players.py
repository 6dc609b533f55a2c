"""The eager path's players: G and D as modules, a loss turned into an update by backward and the optimiser.

Under torchrun, D's own update runs through D's DDP wrapper (its gradients are averaged over the ranks) and
G's through G's; in G's update D is the plain module with its weights frozen, so D's hooks and collectives
stay out of it. With `train.skip_nonfinite`, an update whose loss or gradients are non-finite is skipped
(weights, optimiser and scheduler untouched) and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from gankit.store import faults


class EagerPlayers:
    def __init__(self, trainer: Any) -> None:  # the Trainer (not imported: it imports this module)
        self.t = trainer

    def n_examples(self, real: Tensor) -> int:
        return len(real) * self.t.dist.world_size  # the global batch: every rank draws its noise

    def noise(self, n: int) -> Tensor:
        return self.t.noise(n)

    def G(self, z: Tensor) -> Tensor:
        return self.t.G(z)

    def mid_step(self) -> None:
        faults.crash_point("kill_mid_step", self.t.step)  # tests only (GANKIT_FAULT)

    def update(self, who: str, loss: Callable[..., tuple[Tensor, ...]], *tensors: Tensor) -> tuple[Tensor, ...]:
        t = self.t
        if who == "d":
            value, *extras = loss(t.G, t.D_train, *tensors)
            opt, sched = t.opt_d, t.sched_d
        else:
            t.D.requires_grad_(False)  # G's update needs gradients through D, not of D's weights
            value, *extras = loss(t.G_train, t.D, *tensors)
            opt, sched = t.opt_g, t.sched_g
        updated = step_optimizer(opt, sched, value, check_finite=t.skip_nonfinite)
        t.D.requires_grad_(True)
        t.skipped += not updated
        if updated and who == "d":
            params = list(t.D.parameters())
            for penalty in t.penalties:
                penalty.after_d_update(params)
        elif updated and t.G_ema is not None:
            update_ema(t.G_ema, t.G, ema_decay(t.config.train, t.step))
        return (value.detach(), *(e.detach() for e in extras))


def step_optimizer(optimizer: torch.optim.Optimizer, scheduler: Any, loss: Tensor, check_finite: bool = False) -> bool:
    """One optimiser update; with `check_finite` (train.skip_nonfinite), none when the loss or a gradient is
    non-finite: weights, optimiser and scheduler state stay as they were. False when skipped."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if check_finite and not _finite_loss_and_grads(loss, optimizer):
        optimizer.zero_grad(set_to_none=True)
        return False
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return True


def ema_decay(train: Any, step: int) -> float:
    """The decay of G's weight average in iteration `step` (from 0): `train.g_ema`, or with `train.g_ema_rampup` r
    the decay whose half-life is r x the G updates made before it while that is shorter (stylegan2-ada's
    ema_rampup; its first update copies G). Without it, the average holds G's initial weights at a weight of
    g_ema^t: gan-1d's 0.9995 still kept 37% of them after 2,000 iterations."""
    if not train.g_ema_rampup:
        return train.g_ema
    half_life = train.g_ema_rampup * step * train.g_steps  # in G updates
    return min(train.g_ema, 0.5 ** (1.0 / half_life)) if half_life > 0 else 0.0


@torch.no_grad()
def update_ema(ema: torch.nn.Module, live: torch.nn.Module, decay: float) -> None:
    """G's weight average one step on (train.g_ema); batch-norm statistics follow the live G."""
    torch._foreach_lerp_(list(ema.parameters()), list(live.parameters()), 1.0 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), live.buffers()):
        ema_buffer.copy_(buffer)


def _finite_loss_and_grads(loss: Tensor, optimizer: torch.optim.Optimizer) -> bool:
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    norms = [n.float() for n in torch._foreach_norm(grads)] if grads else []
    return bool(torch.isfinite(torch.stack([loss.detach().float().reshape(()), *norms])).all())  # the one sync
