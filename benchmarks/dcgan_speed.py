"""LSGAN on MNIST (post 000's conv G and D, batch 128): the classic PyTorch loop against gankit, in one process.

    python benchmarks/dcgan_speed.py [--iters 10] [--repeats 3] [--threads N] [--gpu] [--no-write]

The classic loop is written here as such loops commonly are: a torch Dataset of PIL images with a per-sample
torchvision transform (ToTensor), a shuffling DataLoader (batch 128, drop_last), the same G and D modules (built
from gankit's registry, so the architectures are identical), nn.MSELoss-style LSGAN losses (a, b, c) = (0, 1, 1),
Adam 2e-4 / (0.5, 0.999), and `.item()` on both losses every step. gankit runs the `lsgan-mnist` preset's
Trainer.iteration(): fp32 (the defaults) and `runtime.precision: bf16`.

The glibc allocator tuning gankit applies on CPU (gankit.fastpath.tune_allocator) is process-wide and cannot be
undone, so the classic loop is timed twice: first alone with glibc's defaults (before gankit starts), then
interleaved with gankit under the tuned allocator (a harder baseline). Ratios against both are reported.
Quality at equal steps is not checked here (see the report of issue 5). Writes the "conv speed" section.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image
from results_md import command, machine, replace_section, timed
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from gankit.data import build_data
from gankit.models import build_discriminator, build_generator
from gankit.run import resolve_config
from gankit.trainer import Trainer

SECTION = "## conv speed (lsgan-mnist, post 000's G and D, batch 128)"


class Digits(Dataset):
    def __init__(self, images: np.ndarray) -> None:
        self.images, self.transform = images, transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(Image.fromarray(self.images[i]))


def classic_step(device: torch.device) -> Callable[[], None]:
    torch.manual_seed(0)
    images = build_data("mnist", {}).data[:, 0].numpy()
    loader = DataLoader(Digits(images), batch_size=128, shuffle=True, drop_last=True)
    G = build_generator("lsgan", {}, 62, (1, 28, 28)).to(device)
    D = build_discriminator("lsgan", {}, (1, 28, 28)).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    mse = torch.nn.MSELoss()
    state = {"it": iter(loader)}
    log = []

    def step() -> None:
        try:
            real = next(state["it"])
        except StopIteration:
            state["it"] = iter(loader)
            real = next(state["it"])
        real = real.to(device)
        ones, zeros = torch.ones(128, device=device), torch.zeros(128, device=device)
        fake = G(torch.rand(128, 62, device=device))
        loss_d = 0.5 * mse(D(real), ones) + 0.5 * mse(D(fake.detach()), zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = 0.5 * mse(D(fake), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        log.append((loss_d.item(), loss_g.item()))

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.gpu else "cpu")
    sync = torch.cuda.synchronize if args.gpu else (lambda: None)

    classic = classic_step(device)
    for _ in range(args.warmup):
        classic()
    untuned = [timed(classic, args.iters, sync) for _ in range(args.repeats)]

    base = [f"runtime.device={device.type}", *([f"runtime.threads={args.threads}"] if args.threads else [])]
    contenders: dict[str, Callable[[], None]] = {"classic (tuned allocator)": classic}
    with tempfile.TemporaryDirectory() as work:
        for name, extra in (("gankit fp32", []), ("gankit bf16", ["runtime.precision=bf16"])):
            trainer = Trainer(resolve_config("lsgan-mnist", base + extra), os.path.join(work, name), progress=False)

            def step(t: Trainer = trainer) -> None:
                t.iteration()
                t.step += 1

            contenders[name] = step
        for step in contenders.values():
            for _ in range(args.warmup):
                step()
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.repeats):
            for name, step in contenders.items():
                times[name].append(timed(step, args.iters, sync))

    ref = statistics.median(untuned)
    tuned = times["classic (tuned allocator)"]
    rows = ["| loop | s / iteration (median) | vs classic, glibc defaults | vs classic, tuned allocator (per-repeat) |",
            "|---|---|---|---|",
            f"| classic (glibc defaults, timed first) | {ref:.3f} | 1.00x | - |"]
    for name, ts in times.items():
        med = statistics.median(ts)
        vs_tuned = statistics.median(c / t for c, t in zip(tuned, ts))
        rows.append(f"| {name} | {med:.3f} | {ref / med:.2f}x | {vs_tuned:.2f}x |")
    body = "\n".join([
        f"Machine: {machine()}.",
        (f"Command: `{command()}`; threads {torch.get_num_threads()}, device {device.type}, {args.iters} "
         f"iterations x {args.repeats} repeats, {args.warmup} warm-up iterations."),
        "",
        *rows,
    ])
    print(body)
    if not args.no_write:
        replace_section(SECTION, body)


if __name__ == "__main__":
    main()
