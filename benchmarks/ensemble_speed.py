"""Wall time of a K-member wgan-grid25 ensemble's iteration against one member's, side by side in one process.

    python benchmarks/ensemble_speed.py --threads 1
    python benchmarks/ensemble_speed.py [--k 16] [--iters 30] [--repeats 3] [--threads N] [--gpu] [--no-write]

The references are one member trained alone: by gankit's fastest path for it (the `Trainer` with
`runtime.compile: step`, compilation in the warm-up), by the eager `Trainer` (the defaults), and by the classic
loop of benchmarks/toy_speed.py; the ensembles are `gankit.scale.ensemble.Ensemble` of 1 and K members (seeds
0..K-1). Each repeat times `--iters` iterations of each in turn after a warm-up; medians of the per-repeat
ratios. Writes the "ensemble speed" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from results_md import command, machine, replace_section, timed, trainer_step
from toy_speed import classic_step

from gankit.config import resolve_config
from gankit.scale.ensemble import Ensemble, seed_configs
from gankit.training.trainer import Trainer

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
    fast = resolve_config("wgan-grid25", ["log.eval_every=0", f"runtime.device={device}", "runtime.compile=step"])
    with tempfile.TemporaryDirectory() as work:
        solo = Trainer(config, Path(work, "solo"), progress=False)
        trainers = {"alone, eager": solo}
        if not args.gpu:  # the compiled step is a CPU path (refused on CUDA: training/capability.py)
            trainers["alone, compiled step"] = Trainer(fast, Path(work, "fast"), progress=False)
        steps = {name: trainer_step(t) for name, t in trainers.items()}
        steps["alone, classic loop"] = classic_step(solo.batcher.examples, torch.device(device))
        for k in (1, args.k):
            ens = Ensemble(seed_configs(config, k), [Path(work, f"{k}-{i}") for i in range(k)])
            steps[f"{k} as an ensemble"] = lambda ens=ens: ens.iteration(ens.members)
        for step in steps.values():  # warm-up (the compiled step compiles here)
            for _ in range(5):
                step()
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(args.repeats):
            for name, step in steps.items():
                times[name].append(timed(step, args.iters, sync))
    many = times[f"{args.k} as an ensemble"]

    def ratio(ref: str) -> float:
        return statistics.median(m / r for m, r in zip(many, times[ref]))

    rows = []
    for name, ts in times.items():
        members = args.k if name == f"{args.k} as an ensemble" else 1
        rows.append(f"| {name} | {statistics.median(ts) * 1e3:.1f} | {members / statistics.median(ts):.0f} |")
    body = "\n".join([
        f"Machine: {machine()}.",
        (f"Command: `{command()}`; threads {torch.get_num_threads()}, device {device}, {args.iters} iterations x "
         f"{args.repeats} interleaved repeats, 5 warm-up iterations each (compilation there)."),
        "",
        "| members | ms / iteration (median) | member-iterations / s |",
        "|---|---|---|",
        *rows,
        "",
        (f"Wall time of {args.k} members (target <= 2x one member alone): "
         + (f"{ratio('alone, compiled step'):.2f}x one member on gankit's fastest path (compiled step), "
            if "alone, compiled step" in times else "")
         + f"{ratio('alone, eager'):.2f}x one eager gankit member, "
         f"{ratio('alone, classic loop'):.2f}x one member of the classic loop (medians of per-repeat ratios)."),
    ])
    print(body)
    if not args.no_write:
        replace_section(SECTION, body)


if __name__ == "__main__":
    main()
