"""How `gankit sweep --spec post004` should train its trials: ms per iteration of one trial by each path.

    OMP_NUM_THREADS=1 python benchmarks/post004_trials_speed.py [--iters 200] [--threads 1]

Times, on one thread by default: a trial alone on the eager trainer and on the compiled step
(`runtime.compile: step`), the n_critic 5 trial and the unclipped trial on the compiled step, and the six
n_critic-1 clipped trials stacked as one eager ensemble (`gankit.scale.ensemble`), each after 10 warm-up
iterations (the compiled step compiles there). Prints the figures; the spec's header and docs/presets.md quote them.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from results_md import machine, timed

from gankit.config import resolve_config
from gankit.scale.ensemble import Ensemble
from gankit.scale.specs import load_spec
from gankit.training.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = load_spec("post004")
    base = ["log.eval_every=0", f"runtime.threads={args.threads}"]
    trials = {t.name: list(t.overrides) for t in spec.trials}
    critic5, success, noclip = (next(n for n in trials if n.startswith(f"{k}-")) for k in "678")
    cases = {
        f"{success} alone, eager": trials[success],
        f"{success} alone, compiled step": [*trials[success], "runtime.compile=step"],
        f"{critic5} alone, compiled step": [*trials[critic5], "runtime.compile=step"],
        f"{noclip} alone, compiled step": [*trials[noclip], "runtime.compile=step"],
    }
    print(machine())
    with tempfile.TemporaryDirectory() as work:
        for k, (label, overrides) in enumerate(cases.items()):
            trainer = Trainer(resolve_config(spec.preset, [*base, *overrides]), Path(work, str(k)), progress=False)

            def step(t: Trainer = trainer) -> None:
                t.iteration()
                t.step += 1

            timed(step, 10, lambda: None)  # warm-up, compilation included
            print(f"{label}: {1000 * timed(step, args.iters, lambda: None):.2f} ms/it", flush=True)
        stackable = [o for name, o in trials.items() if name not in (critic5, noclip)]
        ensemble = Ensemble([resolve_config(spec.preset, [*base, *o]) for o in stackable],
                            [Path(work, f"e{i}") for i in range(len(stackable))])
        timed(lambda: ensemble.iteration(ensemble.members), 10, lambda: None)
        ms = 1000 * timed(lambda: ensemble.iteration(ensemble.members), args.iters, lambda: None)
        print(f"{len(stackable)} n_critic-1 clipped trials as one eager ensemble: {ms:.2f} ms/it "
              f"({ms / len(stackable):.2f} per trial)", flush=True)


if __name__ == "__main__":
    main()
