"""One Adam update of a preset's G and D: torch's foreach kernel (a solo eager toy run) against the fused one
(ensemble members and the conv fast path: `gankit.training.fastpath.fuse_adam_`), side by side in one process.

    python benchmarks/adam_kernels.py [--preset grid25-fast] [--iters 500] [--repeats 5] [--threads 1] [--no-write]

Each repeat times `--iters` updates of each kernel in turn (random gradients, the preset's Adam settings and
Keras decay scheduler); medians over the repeats. Writes the "Adam kernels" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch
from results_md import command, machine, replace_section, timed

from gankit.config import resolve_config
from gankit.models.base import build_discriminator, build_generator
from gankit.parts.optim import build_optimizer
from gankit.training.fastpath import fuse_adam_

SECTION = "## Adam kernels (foreach vs fused, one update of a preset's G and D)"


def _update(model: torch.nn.Module, part: dict, fused: bool) -> Callable[[], None]:
    settings = {k: v for k, v in part.items() if k != "name"}
    opt, sched = build_optimizer(part["name"], settings, model.parameters())
    if fused:
        fuse_adam_(opt)
    for p in model.parameters():
        p.grad = torch.randn_like(p)

    def step() -> None:
        opt.step()
        if sched is not None:
            sched.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="grid25-fast")
    parser.add_argument("--iters", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = resolve_config(args.preset, [])
    shape = (2,)  # the 2-D toys; other presets would need their data's shape
    G = build_generator(cfg.generator["name"], {k: v for k, v in cfg.generator.items() if k != "name"},
                        z_dim=cfg.latent.dim, out_shape=shape)
    D = build_discriminator(cfg.discriminator["name"],
                            {k: v for k, v in cfg.discriminator.items() if k != "name"}, in_shape=shape)
    steps = {f"{who} {kind}": _update(m, cfg.optim[who.lower()], kind == "fused")
             for who, m in (("G", G), ("D", D)) for kind in ("foreach", "fused")}
    for step in steps.values():
        for _ in range(20):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            times[name].append(timed(step, args.iters, lambda: None))
    ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    rows = [f"| {who} | {ms[f'{who} foreach']:.3f} | {ms[f'{who} fused']:.3f} | "
            f"{ms[f'{who} foreach'] / ms[f'{who} fused']:.2f}x |" for who in ("G", "D")]
    body = "\n".join([
        (f"Machine: {machine()}. Command: `{command()}`; {args.threads} thread(s), preset {args.preset}, "
         f"{args.iters} updates x {args.repeats} interleaved repeats, medians."),
        "",
        "| player | foreach ms/update | fused ms/update | fused speed-up |",
        "|---|---|---|---|",
        *rows,
    ])
    print(body)
    if not args.no_write:
        replace_section(SECTION, body)


if __name__ == "__main__":
    main()
