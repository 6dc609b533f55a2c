"""Post 004's 2-D toy GAN: the classic PyTorch loop against gankit's trainer, side by side, plus peak memory.

    python benchmarks/toy_speed.py --threads 1 --variants avx2,tcmalloc,avx2+tcmalloc --memory
    python benchmarks/toy_speed.py [--iters 200] [--repeats 5] [--warmup 20] [--threads N] [--with-compile] [--isolate]
                                   [--variants V,...] [--memory] [--gpu] [--no-write]

The classic loop is written here for the comparison, as such loops are commonly written: nn.Sequential of
Linear + nn.ELU (3x128, G 4 -> 2, D 2 -> 1), the data as one tensor shuffled every epoch, WGAN losses, Adam
(lr 1e-4, betas (0.5, 0.999), eps 1e-7) with a LambdaLR Keras decay, D's weights clipped to +-0.1 parameter by
parameter after every D step, and both losses read with `.item()` every step. gankit runs the `wgan-grid25`
preset's Trainer.iteration() (logging, pictures and evaluation are outside the timed loop for both): eager
(`runtime.compile: false`), `runtime.compile: step` (the whole iteration compiled, gankit.training.compiled; what
the default, `auto`, takes for this preset), the same with
`runtime.precision: bf16` (opt-in; its quality at equal steps is in RESULTS.md) and, with
--with-compile, `runtime.compile: true` (G and D compiled separately).

The contenders take turns: every repeat times `--iters` iterations of each in turn, warm-up (and compilation)
excluded; the reported time is the median over repeats and the ratio is the median of the per-repeat ratios,
so all sides see the same load on a shared machine. classic, gankit and gankit step run in this process.
`--variants` adds the compiled step in worker processes started with ATEN_CPU_CAPABILITY=avx2 (it must be set
before torch is imported) and/or LD_PRELOAD=libtcmalloc_minimal.so.4 (Debian `libtcmalloc-minimal4`); they
take their turns in the same interleaved repeats. `--memory` runs classic, gankit and gankit step each in a
fresh process for --iters iterations after its warm-up and reports its peak RSS (ru_maxrss: Python, torch,
the data and the models included). Writes the "toy speed" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

os.environ.setdefault("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")  # perf notes: a stale ISA cache gave NaNs

import torch
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

from gankit.config import resolve_config, settings
from gankit.data import build_data
from gankit.training.trainer import Trainer

SECTION = "## toy speed (wgan-grid25, 3x128 ELU MLPs, batch 512)"
GANKIT = {"gankit": ["runtime.compile=false", "runtime.precision=fp32"], "gankit compiled": ["runtime.compile=true", "runtime.precision=fp32"],
          "gankit step": ["runtime.compile=step", "runtime.precision=fp32"],
          "gankit step bf16": ["runtime.compile=step", "runtime.precision=bf16"]}
ENV = {"avx2": {"ATEN_CPU_CAPABILITY": "avx2"}, "tcmalloc": {"LD_PRELOAD": "libtcmalloc_minimal.so.4"}}


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


def make_step(name: str, base: list[str], work: str, device: torch.device) -> Callable[[], None]:
    if name == "classic":
        cfg = resolve_config("wgan-grid25", base)
        return classic_step(build_data(cfg.data["name"], settings(cfg.data)).data.to(device), device)
    trainer = Trainer(resolve_config("wgan-grid25", [*base, *GANKIT[name]]), os.path.join(work, name), progress=False)
    return trainer_step(trainer)


class Worker:
    """One contender in a process of its own (its own environment), timed on request: `run(n)` -> s/iter."""

    def __init__(self, name: str, env: dict[str, str], args: argparse.Namespace) -> None:
        cmd = [sys.executable, __file__, "--worker", name, "--warmup", str(args.warmup)]
        cmd += ["--threads", str(args.threads)] if args.threads else []
        cmd += ["--gpu"] if args.gpu else []
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, **env})
        self.warmup_s = float(self._read())  # after its warm-up (compilation included)

    def _read(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"worker {self.proc.args[3]} stopped (exit {self.proc.wait()})")
        return line

    def run(self, iters: int) -> float:
        self.proc.stdin.write(f"{iters}\n")
        self.proc.stdin.flush()
        return float(self._read())

    def close(self) -> int:
        """Ends the worker; its peak RSS in MiB."""
        self.proc.stdin.close()
        _, status, usage = os.wait4(self.proc.pid, 0)
        if status:
            raise SystemExit(f"worker {self.proc.args[3]} failed ({status})")
        return usage.ru_maxrss / 1024


def serve(name: str, args: argparse.Namespace, base: list[str], device: torch.device, sync: Callable) -> None:
    """--worker: warm up, say how long it took, then time `n` iterations per line read from stdin."""
    out = sys.stdout  # the protocol's channel; anything else the trainer prints goes to stderr
    with tempfile.TemporaryDirectory() as work, contextlib.redirect_stdout(sys.stderr):
        step = make_step(name, base, work, device)
        start = time.perf_counter()
        for _ in range(args.warmup):
            step()
        sync()
        print(time.perf_counter() - start, file=out, flush=True)
        for line in sys.stdin:
            print(timed(step, int(line), sync), file=out, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: PyTorch's choice)")
    parser.add_argument("--with-compile", action="store_true", help="add runtime.compile=true (G, D compiled)")
    parser.add_argument("--variants", default="", help="compiled step in workers: avx2, tcmalloc, avx2+tcmalloc")
    parser.add_argument("--memory", action="store_true", help="peak RSS of classic, gankit, gankit step")
    parser.add_argument("--isolate", action="store_true", help="every contender in its own process")
    parser.add_argument("--gpu", action="store_true", help="run every contender on CUDA")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    add_choice_arguments(parser)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.gpu else "cpu")
    sync = torch.cuda.synchronize if args.gpu else (lambda: None)
    base = ["log.eval_every=0", f"runtime.device={device.type}"]
    if args.threads:
        base.append(f"runtime.threads={args.threads}")
    if args.worker:
        return serve(args.worker, args, base, device, sync)
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if any(part not in ENV for part in v.split("+")):
            raise SystemExit(f"unknown variant '{v}': use avx2, tcmalloc or avx2+tcmalloc")
    if any("tcmalloc" in v for v in variants) and not ctypes.util.find_library("tcmalloc_minimal"):
        raise SystemExit("no libtcmalloc_minimal.so.4 here (Debian: apt-get install libtcmalloc-minimal4)")

    names = choose(["classic", "gankit", *(["gankit compiled"] if args.with_compile else []), "gankit step",
                    "gankit step bf16"], args, device)
    with tempfile.TemporaryDirectory() as work:
        # --isolate: every contender in a process of its own (one loop's allocations and thread pool state
        # cannot slow another's); they still take turns, repeat by repeat
        local = {} if args.isolate else {name: make_step(name, base, work, device) for name in names}
        warmup_s = {}
        for name, step in local.items():
            start = time.perf_counter()
            for _ in range(args.warmup):
                step()
            sync()
            warmup_s[name] = time.perf_counter() - start
        workers = {name: Worker(name, {}, args) for name in names} if args.isolate else {}
        for v in variants:
            env = {k: val for part in v.split("+") for k, val in ENV[part].items()}
            workers[f"gankit step, {v.replace('+', ' + ')} (own process)"] = Worker("gankit step", env, args)
        warmup_s.update({name: w.warmup_s for name, w in workers.items()})
        times: dict[str, list[float]] = {name: [] for name in [*local, *workers]}
        for _ in range(args.repeats):
            for name, step in local.items():
                times[name].append(timed(step, args.iters, sync))
            for name, w in workers.items():
                times[name].append(w.run(args.iters))
        for w in workers.values():
            w.close()
        memory = {}
        if args.memory:  # one fresh process each, one after another
            for name in ("classic", "gankit", "gankit step"):
                w = Worker(name, {}, args)
                w.run(args.iters)
                memory[name] = w.close()

    classic = times.get("classic")  # absent when --only/--skip left it out: no ratios then
    rows = ["| loop | ms / iteration (median) | it/s | ratio vs classic (median of per-repeat ratios) | warm-up s |",
            "|---|---|---|---|---|"]
    for name, ts in times.items():
        ratio = f"{statistics.median(c / t for c, t in zip(classic, ts)):.2f}x" if classic else "-"
        med = statistics.median(ts)
        rows.append(f"| {name} | {med * 1e3:.2f} | {1 / med:.0f} | {ratio} | {warmup_s[name]:.1f} |")
    best = min(times, key=lambda n: statistics.median(times[n]))
    full = statistics.median(times[best]) * 195_000 / 60
    lines = [
        f"Machine: {machine()}.",
        (f"Command: `{command()}`; threads {torch.get_num_threads()}, device {device.type}, {args.iters} "
         f"iterations x {args.repeats} interleaved repeats, {args.warmup} warm-up iterations (compilation there)."),
        "",
        *rows,
        "",
        f"Post 004's 195,000 iterations at the fastest row's rate ({best}): ~{full:.1f} min (training steps only).",
    ]
    if memory:
        lines += ["", (f"Peak memory (ru_maxrss of a fresh process: Python, torch, data, models, {args.warmup} + "
                       f"{args.iters} iterations):"), "",
                  "| loop | peak RSS MiB | vs classic |", "|---|---|---|"]
        lines += [f"| {name} | {mib:.0f} | {mib / memory['classic']:.2f}x |" for name, mib in memory.items()]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        replace_section(SECTION, body)


if __name__ == "__main__":
    main()
