"""Every preset: the path its defaults take on this machine against fp32 eager as built, side by side.

    python benchmarks/preset_paths.py [--presets gan-1d,lsgan-mnist,...] [--seconds 2] [--repeats 3] [--no-write]

Issue 16 asks that every preset take the fastest correct path without a flag and that no path run silently
slower than fp32 eager; this is that check, one row a preset. Two Trainers on the preset's own settings: its
defaults (what `gankit train --preset NAME` runs here: `runtime.compile`, `precision` and `subpixel` as the
preset leaves them, `auto` resolved for this machine and the preset's full length) and fp32 eager as built
(`runtime.compile=false runtime.precision=fp32 runtime.subpixel=false`). They run `Trainer.iteration()` in turns,
repeat by repeat (logging, pictures and evaluation outside the timed loops); each repeat times as many
iterations as fill `--seconds` on the plain one (at least 2); times are medians, the ratio the median of per-repeat
ratios. The defaults' first iterations (a compile, bf16's first kernels) are timed apart as their warm-up.
dcgan64-folder trains on a folder of the user's images: skipped, with a line. Writes the "preset paths" section
of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from results_md import preset_arguments, preset_table, side_by_side, stepper, timed

from gankit.presets import preset_names

SECTION = "## preset paths (each preset's default path against fp32 eager as built)"
PLAIN = ["runtime.compile=false", "runtime.precision=fp32", "runtime.subpixel=false"]
NEEDS_INPUT = {"dcgan64-folder": "trains on a folder of the user's images (data.path)"}


def measure(preset: str, args: argparse.Namespace, work: str, default_threads: int) -> str:
    if preset in NEEDS_INPUT:
        print(f"{preset}: skipped, it {NEEDS_INPUT[preset]}", flush=True)
        return f"| {preset} | skipped: it {NEEDS_INPUT[preset]} | | | | | | |"
    torch.set_num_threads(default_threads)  # a preset without runtime.threads runs on PyTorch's own number
    default, fast = stepper(preset, [], f"{work}/{preset}-default")
    built, plain = stepper(preset, PLAIN, f"{work}/{preset}-plain")
    takes = (f"compile {default.compile}, {default.precision}"
             + (f", sub-pixel {'on' if default.config.runtime.subpixel else 'off'}" if default.channels_last else ""))
    if _path(default) == _path(built):
        takes += " (= fp32 eager: the same path twice)"
    start = time.perf_counter()
    for _ in range(3):  # a compile, bf16's first kernels, the allocator's first buffers
        fast()
    warmup = time.perf_counter() - start
    plain()
    iters = max(2, int(args.seconds / timed(plain, 2)))
    p, d, ratio = side_by_side(plain, fast, iters, args.repeats)
    print(f"{preset}: fp32 eager {p:.2f} ms, default {d:.2f} ms ({takes}), {ratio:.2f}x", flush=True)
    return f"| {preset} | {takes} | {torch.get_num_threads()} | {iters} | {p:.2f} | {d:.2f} | {ratio:.2f}x | {warmup:.1f} |"


def _path(trainer: Any) -> tuple[Any, ...]:
    """What a Trainer resolved its runtime settings to: compile, precision, sub-pixel convs in use."""
    return trainer.compile, trainer.precision, bool(trainer.channels_last and trainer.config.runtime.subpixel)


def main() -> None:
    args = preset_arguments(__doc__, preset_names(), 2.0, 3, "fp32 eager").parse_args()
    header = [("| preset | the defaults take | threads | iterations a repeat | fp32 eager ms / it | default ms / it | "
               "default vs fp32 eager | default's warm-up s |"), "|---|---|---|---|---|---|---|---|"]
    preset_table(SECTION, header, measure, args)


if __name__ == "__main__":
    main()
