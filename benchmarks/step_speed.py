"""Eager against the compiled whole step, preset by preset: the measurement behind `runtime.compile: auto`.

    python benchmarks/step_speed.py [--presets gan-1d,wgan-grid25,...] [--seconds 1.5] [--repeats 5]
                                    [--threads N] [--set KEY=VALUE ...] [--no-write]

For each MLP preset, two Trainers on the preset's own settings (`runtime.compile: false` and `step`) run
`Trainer.iteration()` in turns, repeat by repeat (logging, pictures and evaluation outside the timed loops for
both); times are medians, the ratio the median of per-repeat ratios. Each repeat runs as many iterations as
fill `--seconds` on the eager step (bounded time per preset). The warm-up column is the compiled step's first
calls (its compile, with inductor's cache as found). The last column is what `auto` (the default) takes for the
preset on this machine and why (`gankit info --preset NAME` says the same). Writes the "step speed" section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time

import torch
from results_md import preset_arguments, preset_table, side_by_side, stepper, timed

SECTION = "## step speed (eager vs the compiled whole step, each MLP preset)"
PRESETS = ["gan-1d", "wgan-grid25", "gan-grid25", "coulomb-grid25", "wgan-grid25-noclip", "grid25-fast",
           "ring8-fast", "wgan-gp-grid25"]


def measure(preset: str, args: argparse.Namespace, work: str, default_threads: int) -> str:
    threads = [*([f"runtime.threads={args.threads}"] if args.threads else []), *args.set]
    torch.set_num_threads(default_threads)  # a preset without runtime.threads runs on PyTorch's own number
    auto, _ = stepper(preset, threads, f"{work}/{preset}-auto")  # built, not run: what the default takes
    choice = "compiled" if auto.compile == "step" else "eager"
    _, eager = stepper(preset, [*threads, "runtime.compile=false"], f"{work}/{preset}-eager")
    _, step = stepper(preset, [*threads, "runtime.compile=step"], f"{work}/{preset}-step")
    start = time.perf_counter()
    for _ in range(8):  # the compiled step compiles here (one graph per set of lazy penalties due)
        step()
    warmup = time.perf_counter() - start
    for _ in range(8):
        eager()
    iters = max(10, int(args.seconds / timed(eager, 10)))
    e, s, ratio = side_by_side(eager, step, iters, args.repeats)
    print(f"{preset}: eager {e:.2f} ms, compiled {s:.2f} ms, {ratio:.2f}x; auto: {choice}", flush=True)
    return (f"| {preset} | {torch.get_num_threads()} | {iters} | {e:.2f} | {s:.2f} | {ratio:.2f}x | {warmup:.1f} | "
            f"{choice} ({auto.compile_why}) |")


def main() -> None:
    parser = preset_arguments(__doc__, PRESETS, 1.5, 5, "eager")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: each preset's own)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for every preset's runs (as gankit train --set), e.g. reg.gp=0")
    args = parser.parse_args()
    header = [("| preset | threads | iterations a repeat | eager ms / it | compiled ms / it | compiled vs eager | "
               "compile warm-up s | `auto` takes |"), "|---|---|---|---|---|---|---|---|"]
    preset_table(SECTION, header, measure, args)


if __name__ == "__main__":
    main()
