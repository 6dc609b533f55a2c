"""Denormals: a preset's step with `runtime.flush_denormal` on and off, side by side in one process.

    python benchmarks/denormals.py [--preset grid25-fast] [--steps 4000] [--chunk 500] [--threads 1] [--foreach]
                                   [--no-write]

Two trainers of the same config and seed take turns: each chunk of `--chunk` iterations runs one trainer with
this thread's flush-to-zero set as its config says, then the other, so both see the same load; the table gives
ms per iteration for each chunk position (training progress), the ratio per chunk, and whether the two runs'
G weights still agree (flushing changes only values below 1.2e-38). `--foreach` steps Adam with the foreach
kernels (eager MLP runs did until 2026-12-04; the compiled step and other optimisers still do) instead of the
fused kernel gankit's eager runs use. Writes the "denormals" section of benchmarks/RESULTS.md (one table per
kernel).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from results_md import command, machine, replace_section

from gankit.config import resolve_config
from gankit.training.trainer import Trainer

SECTION = "## denormals (runtime.flush_denormal, one preset's step, on and off side by side)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="grid25-fast")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--foreach", action="store_true", help="Adam's foreach kernels instead of fused")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    sets = [f"runtime.threads={args.threads}", "runtime.device=cpu"]
    with tempfile.TemporaryDirectory() as work:
        runs = {flag: Trainer(resolve_config(args.preset, [*sets, f"runtime.flush_denormal={str(flag).lower()}"]),
                              f"{work}/{flag}", progress=False) for flag in (True, False)}
        if args.foreach:  # before the first step, as fastpath.fuse_adam_ switches them the other way
            for group in (g for t in runs.values() for opt in (t.opt_g, t.opt_d) for g in opt.param_groups):
                group["fused"], group["foreach"] = False, True
        ms: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.steps // args.chunk):
            for flag, t in runs.items():
                torch.set_flush_denormal(flag)  # as its Trainer set it (the other Trainer was built after it)
                start = time.perf_counter()
                for _ in range(args.chunk):
                    t.iteration()
                    t.step += 1
                ms[flag].append((time.perf_counter() - start) * 1000 / args.chunk)
        diff = max((a - b).abs().max().item() for a, b in zip(runs[True].G.parameters(), runs[False].G.parameters()))
    rows = ["| iterations | flushed (ms / it) | IEEE denormals (ms / it) | IEEE / flushed |", "|---|---|---|---|"]
    for i, (a, b) in enumerate(zip(ms[True], ms[False])):
        rows.append(f"| {i * args.chunk + 1:,}-{(i + 1) * args.chunk:,} | {a:.2f} | {b:.2f} | {b / a:.2f}x |")
    total = sum(ms[False]) / sum(ms[True])
    body = "\n".join([
        f"Machine: {machine()}.",
        (f"Command: `{command()}`; preset {args.preset}, {args.threads} thread(s), chunks of {args.chunk} iterations "
        "taken in turn."),
        "",
        *rows,
        "",
        (f"Whole run: IEEE denormals {total:.2f}x the flushed time. G weights after {args.steps:,} iterations differ by "
        f"at most {diff:.2e} between the two (flushing changes values below 1.2e-38; the trajectories then drift "
        "apart as any rounding difference does in GAN training)."),
    ])
    print(body)
    if not args.no_write:
        replace_section(f"{SECTION}, {'foreach' if args.foreach else 'fused'} Adam", body)


if __name__ == "__main__":
    main()
