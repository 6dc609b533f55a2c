"""`runtime.compile: step`: one whole training iteration (D updates, clipping, G update, Adam, G's average) as
one compiled function, for small MLP GANs on the CPU, where a step is dominated by per-op overhead.

Measured on the 2-core Zen 5 CPUs (benchmarks/RESULTS.md "toy speed"): compiling G and D separately
(`runtime.compile: true`) leaves the backward passes, the optimisers and the clipping as dozens of eager
kernels; here the whole iteration is one inductor graph. The iteration is written functionally: gradients
through `torch.func.grad(functional_call)`, Adam as torch.optim.Adam's foreach code computes it, and the
parameters and the optimisers' moments updated in place, so the optimisers' and schedulers' state dicts,
checkpoints and resume are exactly an eager run's. What stays on the host: the real batch and the noise
(the trainer's own RNG streams, drawn in eager order), the learning rates and Adam's bias corrections (Python
floats from the schedulers, as eager Adam computes them), and the log sums.

`runtime.precision: bf16` as the eager trainer runs it: G's and D's forward passes under autocast (the
trainer's device type, bfloat16), their outputs cast to fp32 before the losses; the master weights, the
gradients the update sees and Adam's moments stay fp32.

A compiled run equals the eager run to float tolerance, not bit for bit (inductor fuses and reorders the
arithmetic); a compiled run resumed from a checkpoint continues as the uninterrupted compiled run would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad

from gankit.errors import ConfigError
from gankit.training import fastpath

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer


def check_supported(trainer: Trainer) -> None:
    """One line naming what `runtime.compile: step` cannot train (the iteration is written for these)."""
    cfg = trainer.config
    why = None
    if cfg.reg.gp > 0 or cfg.reg.spectral_norm:
        why = "gradient penalty or spectral norm"
    elif cfg.train.d_input != "sample":
        why = f"train.d_input '{cfg.train.d_input}'"
    elif cfg.train.skip_nonfinite:
        why = "train.skip_nonfinite"
    elif cfg.train.fakes != "fresh":
        why = f"train.fakes: {cfg.train.fakes}"
    elif any(cfg.optim[w]["name"] != "adam" for w in ("g", "d")):
        why = "optimisers other than adam"
    elif any(True for m in (trainer.G, trainer.D) for _ in m.buffers()):
        why = "models with buffers (batch norm)"
    elif any(isinstance(x, nn.Dropout) for m in (trainer.G, trainer.D) for x in m.modules()):
        why = "models with dropout"
    if why is not None:
        raise ConfigError(f"runtime.compile: step trains MLP GANs with adam, without {why}: "
                          "use runtime.compile: true (G and D compiled separately) or false")


def _adam(params: list[Tensor], grads: list[Tensor], m: list[Tensor], v: list[Tensor], scal: Tensor,
          betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    """torch.optim.Adam's foreach update in place; scal = (-lr / bias_correction1, bias_correction2 ** 0.5)."""
    beta1, beta2 = betas
    if weight_decay:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_lerp_(m, grads, 1 - beta1)
    torch._foreach_mul_(v, beta2)
    torch._foreach_addcmul_(v, grads, grads, 1 - beta2)
    denom = torch._foreach_sqrt(v)
    torch._foreach_div_(denom, scal[1])
    torch._foreach_add_(denom, eps)
    steps = torch._foreach_div(m, denom)
    torch._foreach_mul_(steps, scal[0])
    torch._foreach_add_(params, steps)


class CompiledStep:
    """Trainer.iteration's work as one compiled call; `__call__` returns the four logged values."""

    def __init__(self, trainer: Trainer) -> None:
        check_supported(trainer)
        self.t = trainer
        cfg = trainer.config
        self.g_names = [n for n, _ in trainer.G.named_parameters()]
        self.d_names = [n for n, _ in trainer.D.named_parameters()]
        for opt in (trainer.opt_g, trainer.opt_d):
            opt._opt_called = True  # the schedulers step with the compiled update (no "step before" warning)
            for p in opt.param_groups[0]["params"]:
                if not opt.state[p]:  # Adam's own lazy initialisation, so state dicts are an eager run's
                    opt.state[p] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(p),
                                    "exp_avg_sq": torch.zeros_like(p)}
        og, od = (cfg.optim[w] for w in ("g", "d"))
        self.hyper_g = (tuple(og["betas"]), og["eps"], og["weight_decay"])
        self.hyper_d = (tuple(od["betas"]), od["eps"], od["weight_decay"])
        fastpath.use_inductor_cache()
        self.fn = torch.compile(self._iteration, dynamic=False)

    def _iteration(self, real: Tensor, zd: Tensor, zg: Tensor, sd: Tensor, sg: Tensor,
                   dp: list[Tensor], dm: list[Tensor], dv: list[Tensor],
                   gp: list[Tensor], gm: list[Tensor], gv: list[Tensor], ema: list[Tensor]) -> tuple[Any, ...]:
        t, obj, clip = self.t, self.t.objective, self.t.config.reg.clip
        G, D = t.G, t.D

        def g_out(params: list[Tensor], z: Tensor) -> Tensor:
            with t.autocast():  # the eager trainer's own context (runtime.precision)
                return functional_call(G, dict(zip(self.g_names, params)), (z,))

        def d_out(params: list[Tensor], x: Tensor) -> Tensor:
            with t.autocast():
                return functional_call(D, dict(zip(self.d_names, params)), (x,)).float()

        def d_loss(params: list[Tensor], real: Tensor, fake: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
            d_real, d_fake = d_out(params, real), d_out(params, fake)
            loss = obj.d_loss(d_real, d_fake, real, fake)
            return loss, (loss.detach(), d_real.detach(), d_fake.detach())

        def g_loss(params: list[Tensor], dparams: list[Tensor], z: Tensor) -> tuple[Tensor, Tensor]:
            fake = g_out(params, z).float()
            loss = obj.g_loss(d_out(dparams, fake), fake)
            return loss, loss.detach()

        for j in range(zd.shape[0]):
            fake = g_out(gp, zd[j]).detach().float()
            d_grads, (loss_d, d_real, d_fake) = grad(d_loss, has_aux=True)(dp, real, fake)
            _adam(dp, d_grads, dm, dv, sd[j], *self.hyper_d)
            if clip is not None:
                torch._foreach_clamp_min_(dp, -clip)
                torch._foreach_clamp_max_(dp, clip)
        for j in range(zg.shape[0]):
            g_grads, loss_g = grad(g_loss, has_aux=True)(gp, dp, zg[j])
            _adam(gp, g_grads, gm, gv, sg[j], *self.hyper_g)
            if ema:
                torch._foreach_lerp_(ema, gp, 1.0 - t.config.train.g_ema)
        prob = obj.prob
        logged = torch.stack([loss_d, loss_g, prob(d_real).mean(), prob(d_fake).mean()])
        return logged, d_grads, g_grads

    def __call__(self, real: Tensor) -> Tensor:
        t, train = self.t, self.t.config.train
        zd = torch.stack([t.noise(len(real)) for _ in range(train.d_steps)])  # the eager order of draws
        zg = torch.stack([t.noise(train.batch_size) for _ in range(train.g_steps)])
        sd, d_state = _schedule(t.opt_d, t.sched_d, train.d_steps, self.hyper_d[0])
        sg, g_state = _schedule(t.opt_g, t.sched_g, train.g_steps, self.hyper_g[0])
        dp, gp = [p.detach() for p in t.D.parameters()], [p.detach() for p in t.G.parameters()]
        ema = [p.detach() for p in t.G_ema.parameters()] if t.G_ema is not None else []
        logged, d_grads, g_grads = self.fn(real, zd, zg, sd, sg, dp, *d_state, gp, *g_state, ema)
        for p, g in zip(t.D.parameters(), d_grads):
            p.grad = g  # as an eager run leaves them: the last update's gradients (logged grad norms)
        for p, g in zip(t.G.parameters(), g_grads):
            p.grad = g
        return logged


def _schedule(opt: torch.optim.Optimizer, sched: Any, n: int, betas: tuple[float, float]
              ) -> tuple[Tensor, tuple[list[Tensor], list[Tensor]]]:
    """The next `n` updates' Adam scalars, as eager Adam computes them (Python floats), stepping the state's
    counts and the scheduler as `n` optimizer.step() + scheduler.step() would."""
    group = opt.param_groups[0]
    states = [opt.state[p] for p in group["params"]]
    step = int(states[0]["step"].item())
    rows = []
    for j in range(1, n + 1):
        bc1, bc2 = 1 - betas[0] ** (step + j), 1 - betas[1] ** (step + j)
        rows.append((-(group["lr"] / bc1), bc2 ** 0.5))
        if sched is not None:
            sched.step()
    torch._foreach_add_([s["step"] for s in states], float(n))
    return torch.tensor(rows, dtype=torch.float32), ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states])
