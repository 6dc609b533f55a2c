"""`runtime.compile: step`: the GAN iteration (training/iteration.py, the same code the eager trainer runs)
traced with functional players into one compiled function (D updates, clipping, G update, Adam, G's
average), for small MLP GANs on the CPU, where a step is dominated by per-op overhead.

Measured on the 2-core Zen 5 CPUs (benchmarks/RESULTS.md "toy speed"): compiling G and D separately
(`runtime.compile: true`) leaves the backward passes, the optimisers and the clipping as dozens of eager
kernels; here the whole iteration is one inductor graph. The iteration is written functionally: gradients
through `torch.func.grad(functional_call)`, Adam as torch.optim.Adam's foreach code computes it, and the
parameters and the optimisers' moments updated in place, so the optimisers' and schedulers' state dicts,
checkpoints and resume are an eager run's (but for the kernel flag: eager runs step fused Adam). What stays on
the host: the real batch and the noise
(the trainer's own RNG streams, drawn in eager order), the learning rates and Adam's bias corrections (Python
floats from the schedulers, as eager Adam computes them), and the log sums. Random draws inside the graph
(WGAN-GP's interpolates, DiffAugment) are aten's from torch's global stream (inductor's `fallback_random`), as
eager's, and checkpoints keep that stream.

`runtime.precision: bf16` as the eager trainer runs it: G's and D's forward passes under autocast (the
trainer's device type, bfloat16), their outputs cast to fp32 before the losses; the master weights, the
gradients the update sees and Adam's moments stay fp32.

A compiled run equals the eager run to float tolerance, not bit for bit (inductor fuses and reorders the
arithmetic); a compiled run resumed from a checkpoint continues as the uninterrupted compiled run would.
"""

from __future__ import annotations

import dataclasses
import re
import types
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.func import functional_call, grad
from tqdm import tqdm

from gankit.parts.game import first_alike
from gankit.store import faults
from gankit.training import fastpath
from gankit.training.capability import check_path
from gankit.training.players import ema_decay


def _adam(params: list[Tensor], grads: list[Tensor], m: list[Tensor], v: list[Tensor], counts: list[Tensor],
          scal: Tensor, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    """torch.optim.Adam's foreach update in place; scal = (-lr / bias_correction1, bias_correction2 ** 0.5);
    `counts`: the optimiser state's step counts where the graph advances them (CPU; empty: the host does)."""
    beta1, beta2 = betas
    if counts:  # one fused kernel here, not two host foreach adds (~12 us each): gan-1d ~3% a step (Zen 5)
        torch._foreach_add_(counts, 1.0)
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


class FunctionalPlayers:
    """The players inside the compiled graph: G and D as functions of their parameter lists; an update is
    `torch.func.grad` of the loss and Adam in place, on the tensors the graph was handed."""

    def __init__(self, step: CompiledStep, params: dict[str, list[Tensor]], adam: dict[str, tuple[list[Tensor], ...]],
                 scalars: dict[str, Tensor], noise: list[Tensor], ema: list[Tensor], ema_weight: Tensor) -> None:
        self.s, self.params, self.adam, self.scalars = step, params, adam, scalars
        self.draws, self.ema, self.ema_weight = list(noise), ema, ema_weight
        self.done = {"d": 0, "g": 0}  # updates taken: the row of each player's Adam scalars
        self.grads: dict[str, tuple[Tensor, ...]] = {}

    def n_examples(self, real: Tensor) -> int:
        return len(real)

    def noise(self, n: int) -> Tensor:
        return self.draws.pop(0)  # drawn on the host in the eager order (CompiledStep.__call__)

    def G(self, z: Tensor) -> Tensor:
        return self.s.model("g", self.params["g"])(z)

    def mid_step(self) -> None:
        pass

    def update(self, who: str, loss: Callable[..., tuple[Tensor, ...]], *tensors: Tensor) -> tuple[Tensor, ...]:
        def of(params: list[Tensor]) -> tuple[Tensor, tuple[Tensor, ...]]:
            mine = {**self.params, who: params}
            value, *extras = loss(self.s.model("g", mine["g"]), self.s.model("d", mine["d"]), *tensors)
            return value, (value.detach(), *(e.detach() for e in extras))

        params = self.params[who]
        grads, out = grad(of, has_aux=True)(params)
        _adam(params, grads, *self.adam[who], self.scalars[who][self.done[who]], *self.s.hyper[who])
        self.done[who] += 1
        self.grads[who] = grads
        if who == "d":
            for penalty in self.s.t.penalties:
                penalty.after_d_update(params)
        elif self.ema:  # a constant unless it ramps up (train.g_ema_rampup: the host's players.ema_decay)
            train = self.s.t.config.train
            torch._foreach_lerp_(self.ema, params, self.ema_weight if train.g_ema_rampup else 1.0 - train.g_ema)
        return out


class CompiledStep:
    """The trainer's GAN iteration as one compiled call; `__call__` returns the logged values."""

    def __init__(self, trainer: Any) -> None:  # the Trainer (not imported: it imports this module)
        check_path("compiled", trainer.config, trainer.G, trainer.D, trainer.data.kind)
        self.t, self.announced = trainer, set()  # the graphs (lazy penalties' sets) said to compile
        # The graph is specialised on the first step alike (an int argument), so there is one compiled graph per
        # set of penalties due (R1 every 4th: two), not one per step.
        self.first_alike = first_alike(trainer.one_iteration.penalties)
        cfg = trainer.config
        self.names = {"g": [n for n, _ in trainer.G.named_parameters()], "d": [n for n, _ in trainer.D.named_parameters()]}
        for opt in (trainer.opt_g, trainer.opt_d):
            opt._opt_called = True  # the schedulers step with the compiled update (no "step before" warning)
            for p in opt.param_groups[0]["params"]:
                if not opt.state[p]:  # Adam's own lazy initialisation, so state dicts are an eager run's
                    opt.state[p] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(p),
                                    "exp_avg_sq": torch.zeros_like(p)}
        # the parameters, and detached views of them for the graph, listed once: loading a checkpoint copies
        # into them in place (Module.load_state_dict), and listing them every call cost ~0.1 ms (gan-1d: ~10%)
        models = (trainer.D, trainer.G, trainer.G_ema)
        self.weights = [(list(m.parameters()), [p.detach() for p in m.parameters()]) if m is not None else ([], [])
                        for m in models]
        self.hyper = {w: (tuple(cfg.optim[w]["betas"]), cfg.optim[w]["eps"], cfg.optim[w]["weight_decay"]) for w in "gd"}
        # G's average's weight this iteration (train.g_ema_rampup), refilled in place when it changes (no tensor
        # made a step); unread by the graph without a ramp-up
        self.ema_weight, self.ema_decay = torch.zeros((), device=trainer.device), None
        fastpath.use_inductor_cache()
        fastpath.prefetch_inductor_keys()
        if trainer.device.type == "cpu":
            fastpath.probe_cpu_isa_early()
        # torch 2.11's inductor asserted in its loop reordering on this graph for CUDA (H200, benchmarks/RESULTS.md
        # "GPU"); the CPU graph is left as measured
        options = {"loop_ordering_after_fusion": False} if trainer.device.type == "cuda" else {}
        options["fallback_random"] = True  # random draws in the graph (WGAN-GP's interpolates) as eager's
        if trainer.device.type == "cpu":
            # the graph's host code (buffers, kernel calls) as C++, not Python: gan-1d's step 0.80 -> 0.73 ms and its
            # first compile ~2 s shorter (one library, not one per kernel), the same numbers bit for bit (Zen 5)
            options["cpp_wrapper"] = True
            # no precompiled header: building it (~5 s, 150 MB in the temp directory, one per set of compiler flags)
            # cost a first run more than it saves (the README command on a fresh machine 39.8 -> 34.7 s, Zen 5 AVX-512)
            options["cpp_cache_precompile_headers"] = False
        if hasattr(torch.compiler, "skip_guard_on_globals_unsafe"):  # a torch that takes guard filters (2.14 here)
            options["guard_filter_fn"] = call_guards
        self.fn = torch.compile(types.MethodType(iteration_code(cfg), self), dynamic=False, options=options)

    def model(self, who: str, params: list[Tensor]) -> Callable[[Tensor], Tensor]:
        module = self.t.G if who == "g" else self.t.D
        weights = dict(zip(self.names[who], params))
        return lambda x: functional_call(module, weights, (x,))

    def _iteration(self, real: Tensor, noise: list[Tensor], sd: Tensor, sg: Tensor,
                   dp: list[Tensor], dm: list[Tensor], dv: list[Tensor], dc: list[Tensor],
                   gp: list[Tensor], gm: list[Tensor], gv: list[Tensor], gc: list[Tensor], ema: list[Tensor],
                   ema_weight: Tensor, step: int) -> tuple[Any, ...]:
        play = FunctionalPlayers(self, {"d": dp, "g": gp}, {"d": (dm, dv, dc), "g": (gm, gv, gc)}, {"d": sd, "g": sg},
                                 noise, ema, ema_weight)
        logged = self.t.one_iteration(play, real, step)
        return logged, play.grads["d"], play.grads["g"]

    def __call__(self, real: Tensor) -> Tensor:
        t, train = self.t, self.t.config.train
        step = self.first_alike[t.step % len(self.first_alike)]  # the graph for the lazy penalties due now
        if step not in self.announced:  # its first call compiles: the bar stands still meanwhile, so say why
            self.announced.add(step)
            tqdm.write("compiling the training step (runtime.compile: step): longest the first time on a machine "
                       "(gan-1d: ~10 s on a 2-core Zen 5), a few seconds once inductor's cache holds it" if
                       len(self.announced) == 1 else "compiling the step's graph for its other set of lazy penalties "
                       f"({len(self.announced)} of {len(set(self.first_alike))})")  # above the bar
        # The eager order of draws: D's noise for each D update, then G's for each G update
        noise = [t.noise(len(real)) for _ in range(train.d_steps)] + [t.noise(train.batch_size) for _ in range(train.g_steps)]
        sd, d_state = _schedule(t.opt_d, t.sched_d, train.d_steps, self.hyper["d"][0])
        sg, g_state = _schedule(t.opt_g, t.sched_g, train.g_steps, self.hyper["g"][0])
        (d, dp), (g, gp), (_, ema) = self.weights
        if train.g_ema_rampup and (decay := ema_decay(train, t.step)) != self.ema_decay:
            self.ema_weight.fill_(1.0 - decay)
            self.ema_decay = decay
        logged, d_grads, g_grads = self.fn(real, noise, sd, sg, dp, *d_state, gp, *g_state, ema, self.ema_weight, step)
        for p, grad_ in (*zip(d, d_grads), *zip(g, g_grads)):
            p.grad = grad_  # as an eager run leaves them: the last update's gradients (logged grad norms)
        faults.crash_point("kill_mid_step", t.step)  # tests only (GANKIT_FAULT)
        return logged


# a guard's source rooted at the step object (`self.t.config...`, `type(self.t.G)...`; `L['self']` in older torch)
_ON_SELF = re.compile(r"^(?:\w+\()*(?:L\[')?self\b")


def call_guards(entries: Sequence[Any]) -> list[bool]:
    """Which of dynamo's guards the compiled step keeps: those on the call's arguments (shapes, dtypes and
    strides of the batch, noise, parameters and Adam state; the lazy penalties' step) and on global state (grad
    mode, autocast). Dropped: those on what the trace reads through `self` (the config's settings, the models'
    structure and hooks) and on module globals (torch's and gankit's functions), fixed for the life of a
    CompiledStep, whose code object is its config's alone (`iteration_code`). Checking them cost more than the
    rest each call: gan-1d 62-63 -> 19 us of a 0.67 ms step, the toy's 110 -> 63 us (torch.profiler; AMD EPYC Zen 5,
    AVX-512, torch 2.14; docs/architecture.md). Torch's "Reducing Guard Overhead" page describes such filters and
    their assumption: the dropped state does not change."""
    return [not (e.is_global or _ON_SELF.match(e.name) or e.name.startswith("__import__(")) for e in entries]


# the iteration's code objects, one per config but for its seed (see iteration_code), while a CompiledStep holds one
_CODES: weakref.WeakValueDictionary[str, types.FunctionType] = weakref.WeakValueDictionary()


def iteration_code(config: Any) -> types.FunctionType:
    """`CompiledStep._iteration` with a code object of its own for this config (seeds share one). Dynamo keeps
    compiled graphs on the code object, at most 8 (`recompile_limit`): with one code for every config, the 9th
    differently set trainer in a process (a sweep's trials) ran uncompiled after a warning, 6x slower (gan-1d,
    4.4 against 0.72 ms a step, Zen 5). Seeds of one config still share their graphs (no recompile); a code
    and its graphs go when the last CompiledStep using them does."""
    key = repr(dataclasses.replace(config, seed=0))
    fn = _CODES.get(key)
    if fn is None:
        fn = _CODES[key] = fastpath.own_code(CompiledStep._iteration)
    return fn


def _schedule(opt: torch.optim.Optimizer, sched: Any, n: int, betas: tuple[float, float]
              ) -> tuple[Tensor, tuple[list[Tensor], list[Tensor], list[Tensor]]]:
    """The next `n` updates' Adam scalars, as eager Adam computes them (Python floats), and the state's moments
    and step counts (CPU: the graph advances the counts; CUDA: here, on the host tensors eager Adam keeps),
    stepping the scheduler as `n` optimizer.step() + scheduler.step() would."""
    group = opt.param_groups[0]
    states = [opt.state[p] for p in group["params"]]
    step = int(states[0]["step"].item())
    rows = []
    for j in range(1, n + 1):
        bc1, bc2 = 1 - betas[0] ** (step + j), 1 - betas[1] ** (step + j)
        rows.append((-(group["lr"] / bc1), bc2 ** 0.5))
        if sched is not None:
            sched.step()
    device = group["params"][0].device  # a host tensor handed to CUDA kernels failed their launch (H200)
    counts = [s["step"] for s in states]
    if device.type != "cpu":
        torch._foreach_add_(counts, float(n))
        counts = []
    adam = ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], counts)  # Adam's state the graph updates
    return torch.tensor(rows, dtype=torch.float32, device=device), adam
