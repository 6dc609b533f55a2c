"""Post 002's 1-D GAN (the README's first command, `gankit train --preset gan-1d`): the post's PyTorch loop
against gankit's trainer, side by side.

    python benchmarks/gan1d_speed.py [--iters 1000] [--repeats 5] [--warmup 50] [--threads 1] [--only/--skip ...]
                                     [--no-write]

The classic loop is written here as post 002 shows it (Dev Nag's "GANs in 50 lines"): G Linear-ELU-Linear-
Sigmoid-Linear and D Linear-ELU-Linear-ELU-Linear-Sigmoid (50 hidden, F.elu), nn.BCELoss against 0.95 / 0 /
0.95, Adam (lr 1e-3, betas (0.9, 0.999)), D's real and fake losses backpropagated one after the other, then
one G update; D sees the whole batch of 500 as one row through `preprocess`, here the sort gankit's preset uses
(train.d_input: sorted), so both loops do the same work. gankit runs the preset's Trainer.iteration() (logging,
pictures and evaluation outside the timed loop for both): eager (`runtime.compile: false`) and `runtime.compile:
step`, which `runtime.compile: auto`, the default, takes for this preset where a C++ compiler exists. The contenders take turns, repeat by repeat; times are medians, ratios medians of per-repeat ratios.
Writes the "gan-1d speed" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from results_md import (
    add_choice_arguments,
    choose,
    command,
    machine,
    replace_section,
    timed,
    trainer_step,
)
from torch import nn

from gankit.config import resolve_config
from gankit.training.trainer import Trainer

SECTION = "## gan-1d speed (post 002's 1-D GAN, 50 hidden, batch 500)"
GANKIT = {"gankit eager": ["runtime.compile=false"], "gankit step": ["runtime.compile=step"]}


class _G(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(1, 50), nn.Linear(50, 50), nn.Linear(50, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(F.sigmoid(self.fc2(F.elu(self.fc1(x)))))


class _D(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(n, 50), nn.Linear(50, 50), nn.Linear(50, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.sigmoid(self.fc3(F.elu(self.fc2(F.elu(self.fc1(x))))))


def classic_step(batch: int = 500) -> Callable[[], None]:
    torch.manual_seed(0)
    G, D = _G(), _D(batch)
    criterion = nn.BCELoss()
    d_optimizer = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.9, 0.999))
    g_optimizer = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.9, 0.999))

    def preprocess(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(1, -1).sort().values

    def step() -> None:
        D.zero_grad()
        d_real_decision = D(preprocess(torch.normal(4.0, 1.25, (1, batch))))
        criterion(d_real_decision, torch.ones(1, 1) * 0.95).backward()
        d_fake_data = G(torch.rand(batch, 1)).detach()
        d_fake_decision = D(preprocess(d_fake_data.t()))
        criterion(d_fake_decision, torch.zeros(1, 1)).backward()
        d_optimizer.step()
        G.zero_grad()
        dg_fake_decision = D(preprocess(G(torch.rand(batch, 1)).t()))
        criterion(dg_fake_decision, torch.ones(1, 1) * 0.95).backward()
        g_optimizer.step()

    return step


def make_step(name: str, base: list[str], work: str) -> Callable[[], None]:
    if name == "classic":
        return classic_step()
    trainer = Trainer(resolve_config("gan-1d", [*base, *GANKIT[name]]), f"{work}/{name.replace(' ', '_')}",
                      progress=False)
    return trainer_step(trainer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the preset's own: 1)")
    parser.add_argument("--no-write", action="store_true")
    add_choice_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = ["log.eval_every=0", f"runtime.threads={args.threads}"]
    names = choose(["classic", *GANKIT], args, torch.device("cpu"))

    def nothing() -> None:  # CPU only: nothing to synchronise
        pass

    with tempfile.TemporaryDirectory() as work:
        steps, warmup_s = {}, {}
        for name in names:
            steps[name] = make_step(name, base, work)
            start = time.perf_counter()
            for _ in range(args.warmup):  # the compiled step compiles here
                steps[name]()
            warmup_s[name] = time.perf_counter() - start
        times: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.repeats):
            for name, step in steps.items():
                times[name].append(timed(step, args.iters, nothing))
    rows = ["| loop | ms / iteration (median) | it/s | vs classic (median of per-repeat ratios) | warm-up s |",
            "|---|---|---|---|---|"]
    for name, ts in times.items():
        ratio = (f"{statistics.median(c / t for c, t in zip(times['classic'], ts)):.2f}x" if "classic" in times
                 else "-")  # --only/--skip left the classic loop out
        med = statistics.median(ts)
        rows.append(f"| {name} | {med * 1e3:.3f} | {1 / med:.0f} | {ratio} | {warmup_s[name]:.1f} |")
    body = "\n".join([
        f"Machine: {machine()}.",
        (f"Command: `{command()}`; threads {torch.get_num_threads()}, {args.iters} iterations x {args.repeats} "
         f"interleaved repeats, {args.warmup} warm-up iterations (compilation there, inductor's cache as found)."),
        "", *rows, "",
        "The preset trains 20,000 iterations: multiply a row's ms by 20 for its training seconds.",
    ])
    print(body)
    if not args.no_write:
        replace_section(SECTION, body)


if __name__ == "__main__":
    main()
