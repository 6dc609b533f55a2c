"""Wall time of a K-member wgan-grid25 ensemble's iteration against one member's, side by side in one process.

    python benchmarks/ensemble_speed.py [--k 16] [--iters 30] [--repeats 3] [--threads N] [--gpu] [--no-write]

The reference is one member trained alone by the normal `Trainer` (seed 0, eager defaults); the ensembles are
`gankit.ensemble.Ensemble` of 1 and K members (seeds 0..K-1). Each repeat times `--iters` iterations of each in
turn after a warm-up; medians. Writes the "ensemble speed" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from results_md import command, machine, replace_section

from gankit.ensemble import Ensemble, seed_configs
from gankit.run import resolve_config
from gankit.trainer import Trainer

SECTION = "## ensemble speed (wgan-grid25, K members stacked)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if args.gpu else "cpu"
    sync = torch.cuda.synchronize if args.gpu else (lambda: None)
    config = resolve_config("wgan-grid25", ["log.eval_every=0", f"runtime.device={device}"])
    times: dict[int, list[float]] = {1: [], args.k: []}
    with tempfile.TemporaryDirectory() as work:
        ensembles = {k: Ensemble(seed_configs(config, k), [Path(work, f"{k}-{i}") for i in range(k)]) for k in times}
        solo = Trainer(config, Path(work, "solo"), progress=False)
        times[0] = []
        for k, ens in ensembles.items():
            for _ in range(3):
                ens.iteration(ens.members)
        for _ in range(args.repeats):
            sync()
            start = time.perf_counter()
            for _ in range(args.iters):
                solo.iteration()
            sync()
            times[0].append((time.perf_counter() - start) / args.iters)
            for k, ens in ensembles.items():
                sync()
                start = time.perf_counter()
                for _ in range(args.iters):
                    ens.iteration(ens.members)
                sync()
                times[k].append((time.perf_counter() - start) / args.iters)
    alone, one, many = (statistics.median(times[k]) for k in (0, 1, args.k))
    ratio = statistics.median(m / o for o, m in zip(times[0], times[args.k]))
    body = "\n".join([
        f"Machine: {machine()}.",
        (f"Command: `{command()}`; threads {torch.get_num_threads()}, device {device}, {args.iters} iterations x "
        f"{args.repeats} interleaved repeats."),
        "",
        "| members | ms / iteration (median) | member-iterations / s |",
        "|---|---|---|",
        f"| 1, trained alone (Trainer) | {alone * 1e3:.1f} | {1 / alone:.0f} |",
        f"| 1, as an ensemble | {one * 1e3:.1f} | {1 / one:.0f} |",
        f"| {args.k} | {many * 1e3:.1f} | {args.k / many:.0f} |",
        "",
        f"Wall time of {args.k} members / one member trained alone: {ratio:.2f}x (median of per-repeat ratios; target <= 2x).",
    ])
    print(body)
    if not args.no_write:
        replace_section(SECTION, body)


if __name__ == "__main__":
    main()
