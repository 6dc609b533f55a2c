"""Train K copies of a small GAN in one process: the members' forward and backward passes run stacked.

Each member is a full `Trainer` (its own config, run directory, data, RNG streams, models, optimisers), so
logging, pictures, checkpoints, evaluation and the verdict are the trainer's own writers and every member's
run directory reads as if it had been trained alone. Only the models' forward and backward passes are
batched: the members' weights are stacked (`torch.func.stack_module_state`-style) and the model is called
through `torch.func.vmap(functional_call)`; each member's gradients are handed back to its own parameters
and its own optimiser, scheduler and weight clipping step it. Members may differ in seed, learning rates,
betas, Keras decay, clip value, loss, d_steps / g_steps (n_critic): in a round of D updates only the members
that still have one left take part.

Equality with a solo run: the same noise, batches, optimiser code and order of operations, but a stacked
(batched) matmul does not sum in the same order as a single one, so a member matches its solo run to float
tolerance, not bit for bit (tested over a few steps). Independence: a member's result does not depend on the
other members, bit for bit: member k trained beside 3, 1 or no other members ends with identical weights
(tested; each member's slice of a batched matmul or reduction is computed on its own).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, vmap
from tqdm import tqdm

from gankit.config import Config
from gankit.errors import ConfigError, GankitError
from gankit.parts.penalties import clip_weights_
from gankit.store import rundir
from gankit.training.trainer import LOGGED, Trainer


def _check(members: Sequence[Trainer]) -> None:
    first = members[0]
    for t in members:
        cfg = t.config
        if cfg.reg.gp > 0 or cfg.reg.spectral_norm or cfg.train.d_input != "sample":
            raise ConfigError("an ensemble trains without gradient penalty, spectral norm or a batch view of D")
        if cfg.train.skip_nonfinite:  # the stacked update has no per-member finite check
            raise ConfigError("an ensemble trains without train.skip_nonfinite: set it to false")
        if cfg.train.fakes != "fresh":  # the stacked rounds draw fresh fakes for D, then for G
            raise ConfigError(f"an ensemble trains with train.fakes: fresh, not {cfg.train.fakes}: set train.fakes=fresh")
        if any(True for _ in t.G.buffers()) or any(True for _ in t.D.buffers()):
            raise ConfigError("an ensemble needs models without buffers (no batch norm): use a toy MLP")
        if cfg.train.batch_size != first.config.train.batch_size:
            raise ConfigError("ensemble members must share train.batch_size")
        for a, b in ((t.G, first.G), (t.D, first.D)):
            if [p.shape for p in a.parameters()] != [p.shape for p in b.parameters()]:
                raise ConfigError("ensemble members must share the architectures (same layer shapes)")


def _stacked(modules: Sequence[nn.Module], grad: bool) -> dict[str, torch.Tensor]:
    names = [n for n, _ in modules[0].named_parameters()]
    params = [dict(m.named_parameters()) for m in modules]
    return {n: torch.stack([p[n].detach() for p in params]).requires_grad_(grad) for n in names}


def _call(base: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """All members' outputs: x (K, B, ...) -> (K, B, ...), one stacked pass."""
    return vmap(lambda p, xi: functional_call(base, p, (xi,)))(params, x)


def _hand_back(modules: Sequence[nn.Module], params: dict[str, torch.Tensor]) -> None:
    for name, stacked in params.items():
        for module, grad in zip(modules, stacked.grad.unbind(0)):
            module.get_parameter(name).grad = grad


def _step(trainer: Trainer, which: str) -> None:
    opt, sched = (trainer.opt_d, trainer.sched_d) if which == "d" else (trainer.opt_g, trainer.sched_g)
    opt.step()
    if sched is not None:
        sched.step()


class Ensemble:
    def __init__(self, configs: Sequence[Config], run_dirs: Sequence[Path]) -> None:
        self.members = [Trainer(cfg, d, progress=False) for cfg, d in zip(configs, run_dirs)]
        _check(self.members)

    def d_round(self, active: list[Trainer], reals: list[torch.Tensor]) -> list[tuple[torch.Tensor, ...]]:
        Gs, Ds = [t.G for t in active], [t.D for t in active]
        with torch.no_grad():
            z = torch.stack([t.noise(len(r)) for t, r in zip(active, reals)])
            fake = _call(Gs[0], _stacked(Gs, False), z)
        real = torch.stack(reals)
        params = _stacked(Ds, True)
        d_real, d_fake = _call(Ds[0], params, real).float(), _call(Ds[0], params, fake).float()
        losses = [t.objective.d_loss(d_real[k], d_fake[k], real[k], fake[k]) for k, t in enumerate(active)]
        torch.stack(losses).sum().backward()
        _hand_back(Ds, params)
        for t in active:
            _step(t, "d")
            if t.config.reg.clip is not None:
                clip_weights_(t.D, t.config.reg.clip)
        return [(loss.detach(), d_real[k].detach(), d_fake[k].detach()) for k, loss in enumerate(losses)]

    def g_round(self, active: list[Trainer]) -> list[torch.Tensor]:
        Gs, Ds = [t.G for t in active], [t.D for t in active]
        z = torch.stack([t.noise(t.config.train.batch_size) for t in active])
        params = _stacked(Gs, True)
        fake = _call(Gs[0], params, z).float()
        d_fake = _call(Ds[0], _stacked(Ds, False), fake).float()
        losses = [t.objective.g_loss(d_fake[k], fake[k]) for k, t in enumerate(active)]
        torch.stack(losses).sum().backward()
        _hand_back(Gs, params)
        for t in active:
            _step(t, "g")
            if t.G_ema is not None:
                t.update_ema()
        return [loss.detach() for loss in losses]

    def iteration(self, members: list[Trainer]) -> None:
        """One iteration of every member, as Trainer.iteration does it alone."""
        reals = {id(t): t.batcher.batch(t.step, t.data_rng) for t in members}
        d_out: dict[int, tuple[torch.Tensor, ...]] = {}
        for j in range(max(t.config.train.d_steps for t in members)):
            active = [t for t in members if t.config.train.d_steps > j]
            for t, out in zip(active, self.d_round(active, [reals[id(t)] for t in active])):
                d_out[id(t)] = out
        g_out: dict[int, torch.Tensor] = {}
        for j in range(max(t.config.train.g_steps for t in members)):
            active = [t for t in members if t.config.train.g_steps > j]
            for t, out in zip(active, self.g_round(active)):
                g_out[id(t)] = out
        for t in members:
            loss_d, d_real, d_fake = d_out[id(t)]
            prob = t.objective.prob
            t.sums += torch.stack([loss_d, g_out[id(t)], prob(d_real).mean(), prob(d_fake).mean()])
            t.sums_count += 1
        assert len(LOGGED) == 4

    def run(self, progress: bool = False) -> None:
        """Train every member to its length; each member's bookkeeping is the trainer's own."""
        started = time.perf_counter()
        bar = tqdm(total=max(t.total_steps for t in self.members), initial=min(t.step for t in self.members),
                   unit="it", disable=not progress, dynamic_ncols=True, mininterval=0.5)
        for t in self.members:
            if t.step == 0:
                t.save_picture()
        live = [t for t in self.members if t.step < t.total_steps]
        while live:
            self.iteration(live)
            bar.update(1)
            for t in live:
                t.step += 1
                log = t.config.log
                if t.step % log.every == 0 or t.step == t.total_steps:
                    t.log_row(time.perf_counter() - started)
                if log.eval_every and (t.step % log.eval_every == 0 or t.step == t.total_steps):
                    t.evaluate()
                last = t.step == t.total_steps or t.stop_reason is not None  # (a callback stopped it)
                if t.step % log.sample_every == 0 or last:
                    t.save_picture()
                if t.step % log.checkpoint_every == 0 or last:
                    t.save_checkpoint()
            done = [t for t in live if t.step >= t.total_steps or t.diverged_at is not None or t.stop_reason is not None]
            for t in done:
                t.finish()
            live = [t for t in live if t not in done]
        bar.close()


def member_dir(out: Path, k: int) -> Path:
    return Path(out) / f"member_{k:02d}"


def train_ensemble(configs: Sequence[Config], out: str | Path, overwrite: bool = False,
                   progress: bool = False) -> list[Path]:
    """Train the configs as one ensemble; member k's run directory is OUT/member_kk (a normal run directory)."""
    out = Path(out)
    dirs = [rundir.new_run_dir(cfg.name, member_dir(out, k), overwrite) for k, cfg in enumerate(configs)]
    from gankit.api import open_run_dir

    ensemble = Ensemble(configs, dirs)
    for member in ensemble.members:  # an --overwrite target is removed only now, after every member was built
        open_run_dir(member, resume=False)
    ensemble.run(progress)
    return dirs


def seed_configs(config: Config, k: int) -> list[Config]:
    """K copies of `config` with seeds seed, seed+1, ..., seed+k-1."""
    from dataclasses import replace

    return [replace(config, seed=config.seed + i) for i in range(k)]


def cmd_train_ensemble(args: argparse.Namespace) -> int:
    """`gankit train --ensemble K`: K seeds of one config, OUT/member_00 .. member_K-1; exit 1 if any diverged."""
    from gankit.api import resolve_config

    if args.resume:
        raise GankitError("--ensemble trains new runs; continue one member alone with --resume OUT/member_NN")
    if not (args.preset or args.config):
        raise GankitError("say what to train: --preset NAME or --config FILE.yaml")
    if args.ensemble < 1:
        raise GankitError(f"--ensemble needs at least 1 member, got {args.ensemble}")
    config = resolve_config(args.preset or args.config, args.overrides)
    out = Path(args.out) if args.out else Path("runs") / f"{config.name}-x{args.ensemble}"
    dirs = train_ensemble(seed_configs(config, args.ensemble), out, args.overwrite, progress=not args.no_progress)
    print(f"runs: {dirs[0]} .. {dirs[-1].name} ({len(dirs)} members)")
    histories = [rundir.read_history(d / rundir.HISTORY) for d in dirs]
    diverged = [h for h in histories if h and h[-1].get("event") == "diverged"]
    return 1 if diverged else 0
