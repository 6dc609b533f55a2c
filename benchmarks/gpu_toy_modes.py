"""The 2-D toy step on CUDA by way of launch: eager, the compiled whole step (inductor's default mode), the
same step with inductor's CUDA graphs (triton.cudagraphs: what mode="reduce-overhead" turns on), and the eager
step replayed as a CUDA graph (`runtime.compile: graph`), side by side.

    python benchmarks/gpu_toy_modes.py [--preset wgan-grid25] [--modes eager,step,step-cudagraphs,graph]
                                       [--set KEY=VALUE ...] [--iters 300] [--repeats 3]

A probe for issue 16 (CUDA graphs for the toy step): it prints s / iteration (median over interleaved repeats)
and each contender's G weights after the same iterations from the same seed, against eager's, so a mode that
is fast but wrong shows. Needs a CUDA GPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile

import torch
from results_md import timed

from gankit.config import resolve_config
from gankit.presets import load_preset
from gankit.training import compiled
from gankit.training.trainer import Trainer

MODES = {"eager": ("false", None), "step": ("step", None), "step-cudagraphs": ("step", "cudagraphs"),
         "graph": ("graph", None)}
NAMES = {"eager": "eager", "step": "compiled step", "step-cudagraphs": "compiled step + CUDA graphs",
         "graph": "eager step as a CUDA graph"}


def build(preset: str, compile_: str, mode: str | None, work: str, sets: list[str]) -> Trainer:
    config = resolve_config(load_preset(preset), ["runtime.device=cuda", f"runtime.compile={compile_}", *sets])
    trainer = Trainer(config, f"{work}/{compile_}-{mode}", progress=False)
    if mode is not None:
        step = trainer.compiled_step
        options = {"triton.cudagraphs": True, "loop_ordering_after_fusion": False}  # (mode and options exclude)
        step.fn = torch.compile(step._iteration, dynamic=False, options=options)
    return trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="wgan-grid25")
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--modes", default="eager,step,step-cudagraphs", help=f"of {', '.join(MODES)}")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA GPU visible")
    compiled.check_path = lambda *a, **k: None  # the probe that decides whether CUDA's refusal can be lifted
    with tempfile.TemporaryDirectory() as work:
        modes = ["eager", *(m for m in args.modes.split(",") if m != "eager")]  # eager: the reference
        contenders = {NAMES[m]: build(args.preset, *MODES[m], work, args.set) for m in modes}

        def stepper(t: Trainer):
            def step() -> None:
                t.iteration()
                t.step += 1
            return step

        steps = {name: stepper(t) for name, t in contenders.items()}
        for name, step in steps.items():
            try:
                timed(step, 20, torch.cuda.synchronize)  # warm-up and compilation
            except Exception as exc:  # noqa: BLE001 (a probe: say what broke, go on with the others)
                print(f"{name}: failed in warm-up: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
                steps[name] = None
        times: dict[str, list[float]] = {n: [] for n, s in steps.items() if s is not None}
        for _ in range(args.repeats):
            for name, ts in times.items():
                ts.append(timed(steps[name], args.iters, torch.cuda.synchronize))
        eager_g = [p.detach().float() for p in contenders["eager"].G.parameters()]
        print(f"{args.preset} on {torch.cuda.get_device_name()}, torch {torch.__version__}: "
              f"{args.iters} iterations x {args.repeats} interleaved repeats")
        print("| step | s / iteration | it/s | G max abs diff from eager (same iterations) |")
        print("|---|---|---|---|")
        for name, ts in times.items():
            g = [p.detach().float() for p in contenders[name].G.parameters()]
            diff = max((a - b).abs().max().item() for a, b in zip(g, eager_g))
            med = statistics.median(ts)
            print(f"| {name} | {med:.5f} | {1 / med:.0f} | {diff:.2e} |")


if __name__ == "__main__":
    main()
