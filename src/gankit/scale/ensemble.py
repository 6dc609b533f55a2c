"""Train K copies of a small GAN in one process: the GAN iteration (training/iteration.py) vmapped over members.

Each member is a full `Trainer` (its own config, run directory, data, RNG streams, models, optimisers), so
logging, pictures, checkpoints, evaluation and the verdict are the trainer's own, and every member's run
directory reads as if it had been trained alone (`Trainer.after_iteration`). Only the losses' forward and
backward passes are batched: `StackedPlayers` stacks the members' weights and runs each loss through
`torch.func.vmap(functional_call)`; each member's gradients are handed back to its own parameters, and its own
optimiser, scheduler, penalties (e.g. its clip value) and weight average step it. Members play one game
(objective, augmentation, kinds of penalty, n_critic, batch size, architecture, precision: the one capability
check says so) and may differ in seed, optimiser settings and penalty values; `gankit sweep` stacks the trials
that share a game (`capability.stack_key`).

Equality with a solo run: the same noise, batches, optimiser code and order of operations, but a stacked
(batched) matmul does not sum in the same order as a single one, so a member matches its solo run to float
tolerance, not bit for bit (tested over a few steps). Independence: a member's result does not depend on the
other members, bit for bit: member k trained beside 3, 1 or no other members ends with identical weights
(tested; each member's slice of a batched matmul or reduction is computed on its own).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from tqdm import tqdm

from gankit import limits
from gankit.config import Config, resolve_config
from gankit.errors import GankitError, RunDirError
from gankit.store import rundir
from gankit.store.rundir import open_run_dir
from gankit.training import fastpath
from gankit.training.capability import check_members, stacking_pays
from gankit.training.players import ema_decay, update_ema
from gankit.training.trainer import Trainer


def _stacked(modules: Sequence[nn.Module], grad: bool) -> dict[str, Tensor]:
    names = [n for n, _ in modules[0].named_parameters()]
    params = [dict(m.named_parameters()) for m in modules]
    return {n: torch.stack([p[n].detach() for p in params]).requires_grad_(grad) for n in names}


class StackedPlayers:
    """Every member at once: one loss vmapped over the stacked weights; each member's optimiser steps its own."""

    def __init__(self, members: Sequence[Trainer]) -> None:
        self.members = members
        self.base = {"g": members[0].G, "d": members[0].D}

    def n_examples(self, real: Tensor) -> int:
        return real.shape[1]  # (members, batch, ...)

    def noise(self, n: int) -> Tensor:
        return torch.stack([t.noise(n) for t in self.members])

    def G(self, z: Tensor) -> Tensor:
        params = _stacked([t.G for t in self.members], False)
        return vmap(lambda p, zi: functional_call(self.base["g"], p, (zi,)))(params, z)

    def mid_step(self) -> None:
        pass

    def update(self, who: str, loss: Callable[..., tuple[Tensor, ...]], *tensors: Tensor) -> tuple[Tensor, ...]:
        stacked = {w: _stacked([t.G if w == "g" else t.D for t in self.members], w == who) for w in ("g", "d")}

        def one(g: dict[str, Tensor], d: dict[str, Tensor], *xs: Tensor) -> tuple[Tensor, ...]:
            return loss(lambda z: functional_call(self.base["g"], g, (z,)),
                        lambda x: functional_call(self.base["d"], d, (x,)), *xs)

        out = vmap(one, randomness="different")(stacked["g"], stacked["d"], *tensors)
        out[0].sum().backward()  # members are independent: each gets its own loss's gradient
        for name, weights in stacked[who].items():
            for t, g in zip(self.members, weights.grad.unbind(0)):
                (t.G if who == "g" else t.D).get_parameter(name).grad = g
        for t in self.members:
            opt, sched = (t.opt_d, t.sched_d) if who == "d" else (t.opt_g, t.sched_g)
            opt.step()
            if sched is not None:
                sched.step()
            if who == "d":
                params = list(t.D.parameters())
                for penalty in t.penalties:
                    penalty.after_d_update(params)
            elif t.G_ema is not None:
                update_ema(t.G_ema, t.G, ema_decay(t.config.train, t.step))
        return tuple(o.detach() for o in out)


class Ensemble:
    def __init__(self, configs: Sequence[Config], run_dirs: Sequence[Path]) -> None:
        check_members(configs)
        self.members, said = [], set()
        for cfg, d in zip(configs, run_dirs):
            lines = io.StringIO()
            try:
                with contextlib.redirect_stdout(lines):  # K members' same data line said once
                    self.members.append(Trainer(cfg, d, progress=False, path="ensemble"))
            finally:  # (a member that fails to build still shows what it said)
                for line in lines.getvalue().splitlines():
                    if line not in said:
                        said.add(line)
                        print(line)
            self.members[-1].label = f"{Path(d).name}: "
        check_members(configs, [(t.G, t.D) for t in self.members])
        for t in self.members:  # K optimiser steps per update run one by one: the fused kernel is ~2.5x cheaper
            fastpath.fuse_adam_(t.opt_g, t.opt_d)

    def iteration(self, members: list[Trainer]) -> None:
        """One iteration of every member, as Trainer.iteration does it alone."""
        real = torch.stack([t.batcher.batch(t.step, t.data_rng) for t in members])
        logged = members[0].one_iteration(StackedPlayers(members), real, members[0].step)
        for t, row in zip(members, logged):
            t.sums += row
            t.sums_count += 1

    def train(self, progress: bool = False) -> None:
        """Train every member to its length; each member's bookkeeping is the trainer's own."""
        started = time.perf_counter()
        bar = tqdm(total=max(t.total_steps for t in self.members), initial=min(t.step for t in self.members),
                   unit="it", disable=not progress, dynamic_ncols=True, mininterval=0.5)
        for t in self.members:
            t.session_started = started  # the members' time budgets (train.minutes) run on one clock
            if t.step == 0:
                t.save_picture()
        live = [t for t in self.members if t.step < t.total_steps]
        while live:
            self.iteration(live)
            bar.update(1)
            for t in live:
                t.after_iteration(started, t.total_steps)
            done = [t for t in live if t.done]
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
    if out.exists() and not out.is_dir():
        raise RunDirError(f"'{out}' is a file: an ensemble's --out is a folder of member_NN runs; choose another --out")
    stray = sorted(p for p in out.iterdir() if not re.fullmatch(r"member_\d{2,}", p.name)) if out.is_dir() else []
    if stray:  # its members would sit among the user's files
        raise RunDirError(f"'{out}' holds '{stray[0]}', which is not an ensemble member: an ensemble's --out holds "
                          "its member_NN runs and nothing else; choose another --out")
    dirs = [rundir.new_run_dir(cfg.name, member_dir(out, k), overwrite) for k, cfg in enumerate(configs)]
    ensemble = Ensemble(configs, dirs)
    pays, why = stacking_pays(ensemble.members[0])
    if not pays:  # asked for, so trained as asked; said, since one after another would be faster
        print(f"note: {why}: `gankit sweep` with the same settings and --seeds {len(configs)} trains them one "
              "after another")
    for member in ensemble.members:  # an --overwrite target is removed only now, after every member was built
        open_run_dir(member, resume=False)
    ensemble.train(progress)
    return dirs


def seed_configs(config: Config, k: int) -> list[Config]:
    """K copies of `config` with seeds seed, seed+1, ..., seed+k-1."""
    from dataclasses import replace

    return [replace(config, seed=config.seed + i) for i in range(k)]


def cmd_train_ensemble(args: argparse.Namespace) -> int:
    """`gankit train --ensemble K`: K seeds of one config, OUT/member_00 .. member_K-1; exit 1 if any diverged."""
    if args.resume:
        raise GankitError("--ensemble trains new runs; continue one member alone with --resume OUT/member_NN")
    if not (args.preset or args.config):
        raise GankitError("say what to train: --preset NAME or --config FILE.yaml")
    if args.ensemble < 1:
        raise GankitError(f"--ensemble needs at least 1 member, got {args.ensemble}")
    config = resolve_config(args.preset or args.config, args.overrides)
    # members are built one by one: found out only minutes later otherwise
    limits.check_copies(config, args.ensemble, f"--ensemble {args.ensemble:,}")
    out = Path(args.out) if args.out else Path("runs") / f"{config.name}-x{args.ensemble}"
    dirs = train_ensemble(seed_configs(config, args.ensemble), out, args.overwrite, progress=not args.no_progress)
    print(f"runs: {dirs[0]}" + (f" .. {dirs[-1].name} ({len(dirs)} members)" if len(dirs) > 1 else " (1 member)"))
    histories = [rundir.read_history(d / rundir.HISTORY) for d in dirs]
    diverged = [h for h in histories if h and h[-1].get("event") == "diverged"]
    return 1 if diverged else 0
