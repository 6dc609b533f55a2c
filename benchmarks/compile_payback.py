"""When the compiled step repays its compile: each MLP preset's step eager and compiled, and what compiling
costs a process on a fresh machine and on one whose inductor cache holds the step; the run length from which
the compiled run finishes first, both ways.

    python benchmarks/compile_payback.py [--presets gan-1d,wgan-grid25,...] [--seconds 3] [--no-write]

`runtime.compile: auto` compiles a run of at least `capability.AUTO_COMPILE_STEPS` steps; this is the
measurement that number rests on. Each contender runs in a process of its own, as `gankit train` would: a
Trainer (`runtime.compile=false` or `step`, evaluation off), its first iterations (the compile: one per graph, a
lazy penalty has two), then iterations for `--seconds`. "Fresh machine": an empty inductor cache and temp directory; "warm": a second process on the
same ones. The compile's cost is the compiled process's set-up and first iteration less the eager one's; it
repays after cost / (eager ms - compiled ms) steps. Writes the "compile payback" section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_md import command, machine, replace_section, stepper, timed

from gankit.parts.game import first_alike

SECTION = "## compile payback (the run length from which the compiled step finishes first)"
PRESETS = ["gan-1d", "wgan-grid25", "gan-grid25", "coulomb-grid25", "wgan-grid25-noclip", "grid25-fast", "ring8-fast",
           "wgan-gp-grid25"]


def child(preset: str, compile_: str, seconds: float, work: str) -> None:
    """In a process of its own: set-up + the first iterations (one per compiled graph: a lazy penalty's period,
    R1 every 4th: 4), then ms per iteration; one JSON line."""
    start = time.perf_counter()
    trainer, step = stepper(preset, [f"runtime.compile={compile_}"], work)
    for _ in range(len(first_alike(trainer.one_iteration.penalties))):  # the lazy penalties' period
        step()
    first = time.perf_counter() - start
    iters = max(50, int(seconds / timed(step, 10)))  # those 10 also warm the allocator's first buffers
    print(json.dumps({"first": first, "ms": timed(step, iters) * 1e3, "iters": iters}))


def run(preset: str, compile_: str, seconds: float, env: dict[str, str], work: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", preset, compile_, str(seconds), str(work)], env=env,
                         capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(preset: str, seconds: float, root: Path) -> str:
    machine_dirs = root / preset
    (machine_dirs / "tmp").mkdir(parents=True)
    env = {**os.environ, "TMPDIR": str(machine_dirs / "tmp"), "TORCHINDUCTOR_CACHE_DIR": str(machine_dirs / "inductor")}
    env.pop("TORCHINDUCTOR_FORCE_DISABLE_CACHES", None)
    eager = run(preset, "false", seconds, env, machine_dirs / "eager")
    fresh = run(preset, "step", seconds, env, machine_dirs / "fresh")
    warm = run(preset, "step", seconds, env, machine_dirs / "warm")
    compiled_ms = (fresh["ms"] + warm["ms"]) / 2
    saved = eager["ms"] - compiled_ms
    costs = [fresh["first"] - eager["first"], warm["first"] - eager["first"]]
    repays = [f"{c / saved * 1e3:,.0f}" if saved > 0 else "never" for c in costs]
    print(f"{preset}: eager {eager['ms']:.2f} ms, compiled {compiled_ms:.2f} ms; compile {costs[0]:.1f} s fresh, "
          f"{costs[1]:.1f} s warm; repays after {repays[0]} / {repays[1]} steps", flush=True)
    return (f"| {preset} | {eager['ms']:.2f} | {compiled_ms:.2f} | {costs[0]:.1f} | {costs[1]:.1f} | {repays[0]} | "
            f"{repays[1]} |")


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of steps timed per process")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from gankit.training.capability import AUTO_COMPILE_STEPS

    rows = [("| preset | eager ms / step | compiled ms / step | compile s, fresh machine | compile s, warm cache | "
            "compiled first after (fresh) steps | compiled first after (warm) steps |"), "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as root:
        rows += [measure(p, args.seconds, Path(root)) for p in args.presets.split(",") if p]
    body = "\n".join([
        f"Machine: {machine()}.",
        (f"Command: `{command()}`; each contender a process of its own (the preset's own threads); compiled ms: the "
        f"mean of the fresh and warm processes'. `runtime.compile: auto` compiles from {AUTO_COMPILE_STEPS:,} steps."),
        "", *rows,
    ])
    print(body)
    if not args.no_write:
        replace_section(SECTION, body)


if __name__ == "__main__":
    main()
