"""ELU forward + backward: torch's F.elu, the where/exp/clamp formula left to autograd, and gankit's ELU
(gankit.models.layers: that forward, the gradient from the output in one aten.elu_backward kernel, F.elu itself
below 4,096 elements), at the toy presets' layer shapes.

    python benchmarks/elu_speed.py [--iters 1000] [--threads 1] [--no-write]

Each contender runs `--iters` forward + backward passes per shape (a random upstream gradient), in turn, three
times; the median per shape is reported. Writes the "ELU" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn.functional as F
from results_md import command, machine, replace_section, timed

from gankit.models.layers import ELU

SHAPES = [(1, 50), (500, 50), (512, 128), (256, 256)]  # gan-1d's D and G, post 004's toys, grid-sized layers


def formula(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0, x, torch.exp(torch.clamp(x, max=0.0)) - 1.0)


CONTENDERS = {"F.elu (expm1)": F.elu, "formula, autograd's backward": formula, "gankit ELU": ELU()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = ["| shape | " + " | ".join(f"{n} (us)" for n in CONTENDERS) + " | gankit vs formula | gankit vs F.elu |",
            "|---|" + "---|" * (len(CONTENDERS) + 2)]
    for shape in SHAPES:
        x = torch.randn(shape, requires_grad=True)
        upstream = torch.randn(shape)
        times: dict[str, list[float]] = {n: [] for n in CONTENDERS}
        for _ in range(3):
            for name, fn in CONTENDERS.items():
                def step(fn=fn, x=x, upstream=upstream) -> None:
                    fn(x).backward(upstream)

                for _ in range(20):
                    step()
                times[name].append(timed(step, args.iters, lambda: None))
        med = {n: statistics.median(t) * 1e6 for n, t in times.items()}
        ours, form, elu = med["gankit ELU"], med["formula, autograd's backward"], med["F.elu (expm1)"]
        rows.append(f"| {shape[0]}x{shape[1]} | " + " | ".join(f"{v:.1f}" for v in med.values())
                    + f" | {form / ours:.2f}x | {elu / ours:.2f}x |")
    how = (f"Command: `{command()}`; threads {torch.get_num_threads()}, {args.iters} forward + backward passes per "
           "contender and shape, three interleaved repeats, medians.")
    body = "\n".join([f"Machine: {machine()}.", how, "", *rows])
    print(body)
    if not args.no_write:
        replace_section("## ELU (forward + backward)", body)


if __name__ == "__main__":
    main()
