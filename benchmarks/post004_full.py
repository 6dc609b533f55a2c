"""Post 004's full experiment (wgan-grid25, 1,000 epochs = 195,000 iterations) with gankit's fastest settings:
wall time, peak memory, final metrics and verdict, as `gankit train` runs it (evaluation every 10 epochs,
pictures, checkpoints and all).

    python benchmarks/post004_full.py --threads 2 --isa avx2 --tcmalloc
    python benchmarks/post004_full.py [--threads N] [--compile step|true|false] [--precision fp32|bf16]
                                      [--isa avx2] [--tcmalloc]
                                      [--steps N] [--out DIR] [--no-write]

The run is a fresh `python -m gankit train --preset wgan-grid25` process (compilation, data, every writer
included in the wall time). --isa avx2 sets ATEN_CPU_CAPABILITY=avx2 and --tcmalloc
LD_PRELOAD=libtcmalloc_minimal.so.4 for it (the perf notes' fastest CPU setting). --steps shortens the run
for a try-out: the section then says so, and it is not the figure. Writes the "post 004's full experiment"
section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import ctypes.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_md import command, machine, replace_section

SECTION = "## post 004's full experiment (wgan-grid25, 195,000 iterations, `gankit train`)"
FULL = 195_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", default="step", choices=["step", "true", "false"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="runtime.precision")
    parser.add_argument("--isa", choices=["avx2"], default=None, help="ATEN_CPU_CAPABILITY for the run")
    parser.add_argument("--tcmalloc", action="store_true", help="LD_PRELOAD=libtcmalloc_minimal.so.4")
    parser.add_argument("--steps", type=int, default=None, help="shorten the run (a try-out, not the figure)")
    parser.add_argument("--out", default=None, help="run directory (default: a temporary one, removed)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.isa:
        env["ATEN_CPU_CAPABILITY"] = args.isa
    if args.tcmalloc:
        if not ctypes.util.find_library("tcmalloc_minimal"):
            raise SystemExit("no libtcmalloc_minimal.so.4 here (Debian: apt-get install libtcmalloc-minimal4)")
        env["LD_PRELOAD"] = "libtcmalloc_minimal.so.4"
    sets = [f"runtime.compile={args.compile}", f"runtime.threads={args.threads}", f"runtime.precision={args.precision}"]
    if args.steps:
        sets.append(f"train.steps={args.steps}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp, "wgan-grid25")
        cmd = [sys.executable, "-m", "gankit", "train", "--preset", "wgan-grid25", "--out", str(out), "--no-progress",
               "--overwrite", *[a for s in sets for a in ("--set", s)]]
        load_before = os.getloadavg()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        load_after = os.getloadavg()
        if status:
            raise SystemExit(f"the run failed (wait status {status}): {' '.join(cmd)}")
        found = json.loads((out / "metrics.json").read_text())
    steps = args.steps or FULL
    extra = " ".join(f"{k}={v}" for k, v in (("ATEN_CPU_CAPABILITY", args.isa),
                                              ("LD_PRELOAD", "libtcmalloc_minimal.so.4" if args.tcmalloc else None)) if v)
    shown = {k: v for k, v in found.items() if isinstance(v, (int, float)) and k not in ("step", "n")}
    body = "\n".join([
        (f"Machine: {machine()} (at the end); load average at the start {', '.join(f'{x:.2f}' for x in load_before)}, "
        f"at the end {', '.join(f'{x:.2f}' for x in load_after)}."),
        (f"Command: `{command()}`, which ran `{(extra + ' ') if extra else ''}gankit train --preset wgan-grid25 "
        f"{' '.join('--set ' + s for s in sets)}`."),
        "",
        f"- iterations: {steps:,}" + ("" if steps == FULL else " (shortened with --steps: a try-out, not the figure)"),
        (f"- wall time: {wall:.0f} s = {wall / 60:.1f} min ({wall / steps * 1e3:.2f} ms per iteration, compilation, "
        "evaluation every 10 epochs, pictures and checkpoints included); target < 10 min"),
        f"- peak RSS: {usage.ru_maxrss / 1024:.0f} MiB",
        f"- verdict: {found.get('verdict')} - {found.get('evidence')}",
        f"- final metrics (step {found.get('step'):,}): " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                              for k, v in shown.items()),
    ])
    print(body)
    if not args.no_write:
        replace_section(SECTION, body)


if __name__ == "__main__":
    main()
