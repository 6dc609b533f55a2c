"""Memory over a long run: the resident set size (RSS) of a 100,000-step training run stays flat.

    python benchmarks/memory_flat.py [--steps 100000] [--out /tmp/gankit-memory] [--results benchmarks/RESULTS.md]

Trains gan-1d with tiny models (8 hidden units, batch 64: the step is all framework overhead, so anything that
grows per step would show) for `--steps` iterations, a history row every 100 steps, a checkpoint every
10,000, pictures at the start and the end. RSS is read from /proc/self/statm at every history row. Prints
RSS after step 1,000 (start: the allocator and the first history rows warmed up), after 10,000 and at the
end, the largest seen, and whether the end is within 10% of the start; checks that history.jsonl has one row
per 100 steps in order. Writes its section of benchmarks/RESULTS.md (only the section under its own heading;
other sections are left as they are).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from pathlib import Path

import torch

import gankit
from gankit.store import rundir
from gankit.training.trainer import Trainer

HEADING = "## Memory over a long run (benchmarks/memory_flat.py)"
HEADING_ALL_ON = "## Memory over a long run, every feature on (benchmarks/memory_flat.py --all-on)"
EVERY = 100


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_name() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    found = re.search(r"model name\s*:\s*(.+)", text)
    return found.group(1).strip() if found else "unknown CPU"


ALL_ON = ["log.sample_every=1000", "log.eval_every=2000", "log.tensorboard=true"]  # issue 17: every feature on


def measure(steps: int, out: Path, all_on: bool = False) -> tuple[list[tuple[int, float]], float]:
    """[(step, RSS MiB) at each history row] and the wall time of the run."""
    samples: list[tuple[int, float]] = []
    real_log_row = Trainer.log_row

    def log_row(self: Trainer, elapsed: float) -> dict:
        row = real_log_row(self, elapsed)
        samples.append((self.step, rss_mib()))
        return row

    Trainer.log_row = log_row  # type: ignore[method-assign]
    started = time.perf_counter()
    try:
        gankit.train("gan-1d", out=out, overwrite=True, progress=False, overrides=[
            f"train.steps={steps}", "generator.hidden=8", "discriminator.hidden=8", "train.batch_size=64",
            f"log.every={EVERY}", f"log.sample_every={steps}", "log.checkpoint_every=10000", "log.eval_every=0",
            "runtime.threads=1", *(ALL_ON if all_on else []),
        ])
    finally:
        Trainer.log_row = real_log_row  # type: ignore[method-assign]
    return samples, time.perf_counter() - started


def at(samples: list[tuple[int, float]], step: int) -> float:
    return next(rss for s, rss in samples if s >= step)


def write_section(results: Path, body: str, heading: str = HEADING) -> None:
    """Replace this script's section of RESULTS.md (from its heading to the next '## ' heading), or append it."""
    text = results.read_text() if results.is_file() else "# Benchmark results\n"
    section = f"{heading}\n\n{body.strip()}\n"
    if heading in text:
        head, rest = text.split(heading, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1:] if nxt >= 0 else ""
        text = f"{head}{section}" + (f"\n{tail}" if tail else "")
    else:
        text = text.rstrip("\n") + f"\n\n{section}"
    results.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--out", default="/tmp/gankit-memory")
    parser.add_argument("--results", default=str(Path(__file__).with_name("RESULTS.md")))
    parser.add_argument("--all-on", action="store_true",
                        help="pictures every 1,000 steps, evaluation every 2,000, TensorBoard on (issue 17's case)")
    args = parser.parse_args()
    out = Path(args.out)
    samples, seconds = measure(args.steps, out, args.all_on)

    rows = [r for r in rundir.read_history(out / rundir.HISTORY) if "loss_d" in r]
    consistent = [r["step"] for r in rows] == list(range(EVERY, args.steps + 1, EVERY))
    start, end = at(samples, 1_000), samples[-1][1]
    growth = (end - start) / start
    flat = abs(growth) < 0.10
    settled = at(samples, 10_000) if args.steps >= 10_000 else start
    late = (end - settled) / settled  # issue 17: within 2% from step 10,000 to the end
    peak = max(r for _, r in samples)
    middle = f"after step 10,000: {at(samples, 10_000):.1f} MiB; " if args.steps >= 10_000 else ""
    machine = f"{cpu_name()}, {os.cpu_count()} cores (shared with other jobs), Python {platform.python_version()}"
    lines = [
        f"- machine: {machine}, torch {torch.__version__}",
        (f"- command: `python benchmarks/memory_flat.py --steps {args.steps}{' --all-on' if args.all_on else ''}` "
         f"(gan-1d, 8 hidden units, batch 64, one thread, a history row every {EVERY} steps, a checkpoint every "
         f"10,000{'; pictures every 1,000, evaluation every 2,000, TensorBoard' if args.all_on else ''})"),
        (f"- RSS after step 1,000 (start): {start:.1f} MiB; {middle}at step {samples[-1][0]:,} (end): {end:.1f} MiB; "
         f"largest seen: {peak:.1f} MiB"),
        (f"- growth start to end: {growth:+.2%} ({'flat: within 10%' if flat else 'NOT within 10%'}); from step "
         f"10,000 to the end: {late:+.2%} ({'within 2%' if abs(late) <= 0.02 else 'NOT within 2%'})"),
        (f"- history.jsonl: {len(rows):,} rows, steps {EVERY} to {args.steps:,} in order: "
         f"{'consistent' if consistent else 'INCONSISTENT'}"),
        f"- wall time: {seconds:,.0f} s ({seconds / args.steps * 1e3:.2f} ms per step, on a loaded machine)",
    ]
    print("\n".join(lines))
    write_section(Path(args.results), "\n".join(lines), HEADING_ALL_ON if args.all_on else HEADING)
    sys.exit(0 if flat and consistent else 1)


if __name__ == "__main__":
    main()
