"""Post 004's 2-D toy GAN: the classic PyTorch loop against gankit's trainer, side by side in one process.

    python benchmarks/toy_speed.py [--iters 100] [--repeats 5] [--threads 2] [--no-compile] [--gpu] [--no-write]

The classic loop is written here for the comparison, as such loops are commonly written: nn.Sequential of
Linear + nn.ELU (3x128, G 4 -> 2, D 2 -> 1), the data as one tensor shuffled every epoch, WGAN losses, Adam
(lr 1e-4, betas (0.5, 0.999), eps 1e-7) with a LambdaLR Keras decay, D's weights clipped to +-0.1 parameter by
parameter after every D step, and both losses read with `.item()` every step. gankit runs the `wgan-grid25`
preset's Trainer.iteration() (logging, pictures and evaluation are outside the timed loop for both): eager
(the defaults) and with `runtime.compile: true`.

The contenders take turns: every repeat times `--iters` iterations of each in turn, warm-up (and compilation)
excluded; the reported time is the median over repeats and the ratio is the median of the per-repeat ratios,
so both sides see the same load on a shared machine. Writes the "toy speed" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

os.environ.setdefault("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")  # perf notes: a stale ISA cache gave NaNs

import torch
from results_md import command, machine, replace_section, timed
from torch import nn

from gankit.run import resolve_config
from gankit.trainer import Trainer

SECTION = "## toy speed (wgan-grid25, 3x128 ELU MLPs, batch 512)"


def classic_step(data: torch.Tensor, device: torch.device) -> Callable[[], None]:
    torch.manual_seed(0)

    def mlp(n_in: int, n_out: int) -> nn.Module:
        return nn.Sequential(nn.Linear(n_in, 128), nn.ELU(), nn.Linear(128, 128), nn.ELU(),
                             nn.Linear(128, 128), nn.ELU(), nn.Linear(128, n_out)).to(device)

    G, D = mlp(4, 2), mlp(2, 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.999), eps=1e-7)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.999), eps=1e-7)
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, lambda t: 1 / (1 + 1e-5 * t))
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, lambda t: 1 / (1 + 1e-5 * t))
    batch, steps_per_epoch = 512, len(data) // 512
    state = {"i": 0, "perm": torch.randperm(len(data), device=device)}
    log = []

    def step() -> None:
        i = state["i"] % steps_per_epoch
        if i == 0:
            state["perm"] = torch.randperm(len(data), device=device)
        state["i"] += 1
        real = data[state["perm"][i * batch:(i + 1) * batch]]
        fake = G(torch.rand(batch, 4, device=device) * 2 - 1).detach()
        loss_d = D(fake).mean() - D(real).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        sched_d.step()
        for p in D.parameters():
            p.data.clamp_(-0.1, 0.1)
        loss_g = -D(G(torch.rand(batch, 4, device=device) * 2 - 1)).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        sched_g.step()
        log.append((loss_d.item(), loss_g.item()))

    return step


def gankit_step(overrides: list[str], work: str) -> tuple[Callable[[], None], Trainer]:
    trainer = Trainer(resolve_config("wgan-grid25", overrides), os.path.join(work, "run"), progress=False)

    def step() -> None:
        trainer.iteration()
        trainer.step += 1

    return step, trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: PyTorch's choice)")
    parser.add_argument("--no-compile", action="store_true", help="leave out the runtime.compile contender")
    parser.add_argument("--gpu", action="store_true", help="run every contender on CUDA")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.gpu else "cpu")
    sync = torch.cuda.synchronize if args.gpu else (lambda: None)
    base = ["log.eval_every=0", f"runtime.device={device.type}"]
    if args.threads:
        base.append(f"runtime.threads={args.threads}")

    with tempfile.TemporaryDirectory() as work:
        eager, trainer = gankit_step(base, os.path.join(work, "a"))
        contenders = {"classic": classic_step(trainer.batcher.examples, device), "gankit": eager}
        if not args.no_compile:
            contenders["gankit compiled"], _ = gankit_step([*base, "runtime.compile=true"], os.path.join(work, "b"))
        compile_s = {}
        for name, step in contenders.items():
            start = time.perf_counter()
            for _ in range(args.warmup):
                step()
            sync()
            compile_s[name] = time.perf_counter() - start
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.repeats):
            for name, step in contenders.items():
                times[name].append(timed(step, args.iters, sync))

    classic = times["classic"]
    rows = ["| loop | ms / iteration (median) | it/s | ratio vs classic (median of per-repeat ratios) | warm-up s |",
            "|---|---|---|---|---|"]
    for name, ts in times.items():
        ratio = statistics.median(c / t for c, t in zip(classic, ts))
        med = statistics.median(ts)
        rows.append(f"| {name} | {med * 1e3:.2f} | {1 / med:.0f} | {ratio:.2f}x | {compile_s[name]:.1f} |")
    full = statistics.median(times[list(times)[-1]]) * 195_000 / 60
    body = "\n".join([
        f"Machine: {machine()}.",
        (f"Command: `{command()}`; threads {torch.get_num_threads()}, device {device.type}, {args.iters} "
         f"iterations x {args.repeats} interleaved repeats, {args.warmup} warm-up iterations (compilation there)."),
        "",
        *rows,
        "",
        f"Post 004's 195,000 iterations at the last row's rate: ~{full:.0f} min (training steps only).",
    ])
    print(body)
    if not args.no_write:
        replace_section(SECTION, body)


if __name__ == "__main__":
    main()
