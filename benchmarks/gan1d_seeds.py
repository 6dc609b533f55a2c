"""The gan-1d figure: 10 seeds of the preset at its default budget, each timed, 10,000 samples measured.

    python benchmarks/gan1d_seeds.py [--seeds 10] [--out /tmp/gan1d-seeds]

Prints one line per seed (mean, std, wall time) and how many reach |mean-4| < 0.05 and |std-1.25| < 0.05.
Wall time covers building and training (not Python's start-up), in this process, one seed after another.
"""

import argparse
import time

import gankit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", default="/tmp/gan1d-seeds")
    args = parser.parse_args()
    passed = 0
    for seed in range(args.seeds):
        started = time.perf_counter()
        run = gankit.train("gan-1d", out=f"{args.out}/seed{seed}", overwrite=True, progress=False,
                           overrides=[f"seed={seed}"])
        seconds = time.perf_counter() - started
        x = run.sample(10_000, seed=1000 + seed)
        mean, std = x.mean().item(), x.std().item()
        ok = abs(mean - 4) < 0.05 and abs(std - 1.25) < 0.05
        passed += ok
        print(f"seed {seed}: mean {mean:.3f}  std {std:.3f}  {seconds:5.1f} s  {'ok' if ok else 'MISSED'}", flush=True)
    print(f"{passed}/{args.seeds} seeds within 0.05 of mean 4 and std 1.25")


if __name__ == "__main__":
    main()
