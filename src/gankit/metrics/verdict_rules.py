"""What each metric family's numbers say about a run: converged, collapsed, or how far off (`metrics/diagnosis.py`
puts these together with the loss-based rules into one verdict).

The rules read the metric keys through the constants of the family that produces them (`toy.MODES`,
`images.FID_LENET`, `stacked.MODE_KL`, ...), so renaming a key happens in its family's module only. Each
threshold says why it has its value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gankit.metrics import images, memorisation, stacked, toy

# 1-D: converged means indistinguishable from the target at the evaluated size N: mean and std within
# CONVERGED_1D_Z standard errors of the target's (std/sqrt(N), std/sqrt(2N) for a normal: 3 -> 0.27% of exact draws
# fail each), KS and W1 within CONVERGED_1D_FLOOR_Z of their floors' std above the floor (exact draws at N: their
# right tails are long, 4 keeps them in). At N = 10,000 and std 1.25 that is mean +-0.0375, std +-0.027,
# W1 <= ~0.039, KS <= ~0.017: N(4, 1.3) (std error 0.05) fails, exact draws pass (docs/metrics.md).
CONVERGED_1D_Z = 3.0
CONVERGED_1D_FLOOR_Z = 6.0
# 1-D: a generator whose spread is under half the target's covers well under half of its mass.
COLLAPSE_1D_STD_RATIO = 0.5
# 2-D: PacGAN's best grid25 numbers are ~91% high quality; true samples within 3 std score ~99%.
CONVERGED_2D_HIGH_QUALITY = 80.0
# 2-D: reverse KL of 0.1 nats to uniform over modes; the true mixture scores (K-1)/(2N), ~0.005 for 2,500 samples.
CONVERGED_2D_REVERSE_KL = 0.1
# 2-D and classes: at most 80% of the modes captured is collapse (5 of 25 modes lost, issue 14). With
# `modes` counting only modes holding a fifth of their fair share, a true mixture never loses one (each holds
# n / K, 5x the minimum), so a lost mode is not sampling noise.
COLLAPSE_MODES_FRACTION = 0.8
# 2-D: two modes holding half of the good samples is at least twice their fair share once there are 8+ modes.
COLLAPSE_TOP2_SHARE = 0.5
COLLAPSE_TOP2_MIN_MODES = 8
# 2-D: below 10% high quality, most samples are off every mode: the generator is not making data yet.
COLLAPSE_MIN_HIGH_QUALITY = 10.0
# Images: FID on the classifier's features within 3x the real-vs-real floor at the same N ("a few times the
# floor"), plus 3 of the floor's std (its noise between test subsets). Held-out real data scores 0.9-1.1x the
# floor at every N (calibration table in docs/metrics.md), so 3x is the room a generator gets, not noise.
CONVERGED_FID_FACTOR = 3.0
CONVERGED_FID_Z = 3.0
# Memorised: at least 10% of the samples closer to a training image than 99% of held-out real images are
# (`memorisation.copies`; held-out data scores ~1%, training images returned verbatim or with noise ~100%).
MEMORISED_COPIES = 0.10
# Images: classes covered at most 80% (8 of 10), as modes for 2-D.
COLLAPSE_CLASS_COVERAGE = 0.8
# Images: 0.5 nats of KL to uniform is about one class taking half the samples (10 classes).
COLLAPSE_CLASS_KL = 0.5
# Images: with precision below 0.3 most samples lie outside the real data's manifold: noise, not collapse.
COLLAPSE_MIN_PRECISION = 0.3
# Images: a collapsed G draws few classes, each recognisably (a one-class G is ~100% confident); when under 3/4 of
# the confident share real images get is confident, G does not draw digits yet and the few confident classes are
# the classifier's guesses (mnist-fast at step 259: 58% confident against 95%, 2 classes, varied digit-like blobs).
COLLAPSE_MIN_CONFIDENT_RATIO = 0.75
# Stacked MNIST (1,000 modes): judged against the real-vs-real floors (modes_floor, mode_kl_floor), since
# classifier errors and 26,000 samples keep even real data from a flat 1,000. Converged: 95% of the modes real
# data shows and a mode KL within 0.1 nats of real's (PacGAN's best runs sit ~0.07 above uniform).
CONVERGED_STACKED_MODES_FRACTION = 0.95
CONVERGED_STACKED_KL = 0.1
# Stacked MNIST collapse: at most 80% of the floor's modes (as 2-D and classes), or a mode KL more than log(1/0.8) nats
# above the floor: the histogram is as uneven as one with a fifth of the modes empty.
COLLAPSE_STACKED_KL = math.log(1 / 0.8)


def converged(kind: str, m: Mapping[str, Any], config: Any) -> tuple[str, str] | None:
    """('converged', evidence) when the samples match the target within the protocol's noise, else None."""
    if kind == "1d":
        return _converged_1d(m, config)
    if kind == "2d":
        modes, total, hq = num(m, toy.MODES), num(m, toy.MODES_TOTAL), num(m, toy.HIGH_QUALITY)
        rkl = num(m, toy.REVERSE_KL)
        if None in (modes, total, hq):
            return None
        if modes >= total and hq >= CONVERGED_2D_HIGH_QUALITY and (rkl is None or rkl <= CONVERGED_2D_REVERSE_KL):
            extra = f", reverse KL {g(rkl)}" if rkl is not None else ""
            return "converged", f"{int(modes)} of {int(total)} modes covered, {hq:.1f}% high-quality samples{extra}"
        return None
    if kind == "image" and stacked_numbers(m) is not None:
        modes, floor, kl, kl_floor = stacked_numbers(m)  # type: ignore[misc]
        if modes >= CONVERGED_STACKED_MODES_FRACTION * floor and kl <= kl_floor + CONVERGED_STACKED_KL:
            return "converged", f"{stacked_text(m)}: as many as real data shows"
        return None
    if kind == "image":
        fid, floor = num(m, images.FID_LENET), num(m, images.floor_key(images.FID_LENET))
        matched, coverage = num(m, images.FID_LENET_MATCHED), num(m, images.CLASS_COVERAGE)
        if None in (fid, floor, coverage):
            return None
        # At the floor's N (older metrics without fid_lenet_matched were computed at equal N, or not at all).
        at_n = matched if matched is not None else fid
        spread = num(m, images.FID_LENET_FLOOR_STD) or 0.0
        if at_n <= CONVERGED_FID_FACTOR * max(floor, 1e-12) + CONVERGED_FID_Z * spread and coverage >= 1.0:
            size = num(m, images.NUM_REAL_TEST)
            where = f" at N = {int(size):,}" if matched is not None and size is not None and at_n != fid else ""
            return "converged", (f"{images.FID_LENET} {g(at_n)}{where} ({ratio(at_n, floor)} the real-vs-real floor "
                                 f"{g(floor)}), every class produced")
    return None


def bands_1d(m: Mapping[str, Any], target_std: float) -> dict[str, float] | None:
    """The largest mean error, std error, KS and W1 that the `converged` rule accepts for these 1-D metrics
    (their sampling noise at the evaluated size); None without the sample count and floors."""
    n = num(m, toy.NUM_SAMPLES)
    floors = [num(m, k) for k in (toy.KS_FLOOR, toy.KS_FLOOR_STD, toy.W1_FLOOR, toy.W1_FLOOR_STD)]
    if n is None or n < 2 or None in floors:
        return None
    ks_floor, ks_std, w1_floor, w1_std = floors  # type: ignore[misc]
    return {
        toy.MEAN_ERROR: CONVERGED_1D_Z * target_std / math.sqrt(n),
        toy.STD_ERROR: CONVERGED_1D_Z * target_std / math.sqrt(2 * n),
        toy.KS: ks_floor + CONVERGED_1D_FLOOR_Z * ks_std,
        toy.W1: w1_floor + CONVERGED_1D_FLOOR_Z * w1_std,
    }


def _converged_1d(m: Mapping[str, Any], config: Any) -> tuple[str, str] | None:
    target_mean, target_std = target_1d(config)
    bands = bands_1d(m, target_std)
    found = {k: num(m, k) for k in (toy.MEAN_ERROR, toy.STD_ERROR, toy.KS, toy.W1)}
    if bands is None or None in found.values():
        return None
    if all(found[k] <= bands[k] for k in bands):  # type: ignore[operator]
        return "converged", (f"mean {g(m[toy.MEAN])} (target {g(target_mean)}), std {g(m[toy.STD])} "
                             f"(target {g(target_std)}), KS {g(found[toy.KS])} (<= {g(bands[toy.KS])}), "
                             f"W1 {g(found[toy.W1])} (<= {g(bands[toy.W1])}): within the noise of "
                             f"{int(num(m, toy.NUM_SAMPLES) or 0):,} exact draws")
    return None


def memorised(kind: str, m: Mapping[str, Any]) -> tuple[str, str] | None:
    """('memorised', evidence) when many samples are copies of training images (`metrics/memorisation.py`)."""
    copies = num(m, memorisation.COPIES)
    if kind != "image" or copies is None or copies < MEMORISED_COPIES:
        return None
    floor, z = num(m, memorisation.COPIES_FLOOR), num(m, memorisation.COPY_Z)
    return "memorised", (f"{100 * copies:.0f}% of the samples are copies of training images (closer to one than "
                         f"99% of held-out real images are; held-out data: {100 * (floor or 0):.0f}%)"
                         + (f", copy z {z:.1f}" if z is not None else ""))


def collapse(kind: str, m: Mapping[str, Any], config: Any) -> str | None:
    """The evidence sentence when metrics `m` show mode collapse, else None."""
    if kind == "1d":
        std = num(m, toy.STD)
        _, target_std = target_1d(config)
        if std is not None and std < COLLAPSE_1D_STD_RATIO * target_std:
            return f"std {g(std)} against the target's {g(target_std)} ({100 * std / target_std:.0f}%)"
        return None
    if kind == "2d":
        modes, total, hq = num(m, toy.MODES), num(m, toy.MODES_TOTAL), num(m, toy.HIGH_QUALITY)
        top2 = num(m, toy.TOP2_SHARE)
        if None in (modes, total, hq) or hq < COLLAPSE_MIN_HIGH_QUALITY:
            return None
        few = modes <= COLLAPSE_MODES_FRACTION * total
        crowded = top2 is not None and total >= COLLAPSE_TOP2_MIN_MODES and top2 >= COLLAPSE_TOP2_SHARE
        if few or crowded:
            # Two modes' share says something only when more than two are covered.
            share = f", {100 * top2:.0f}% of high-quality samples in 2 modes" if top2 is not None and modes > 2 else ""
            return f"{int(modes)} of {int(total)} modes covered{share}"
        return None
    if kind == "image" and stacked_numbers(m) is not None:
        modes, floor, kl, kl_floor = stacked_numbers(m)  # type: ignore[misc]
        if modes <= COLLAPSE_MODES_FRACTION * floor or kl > kl_floor + COLLAPSE_STACKED_KL:
            return stacked_text(m)
        return None
    if kind == "image":
        coverage, kl = num(m, images.CLASS_COVERAGE), num(m, images.CLASS_KL)
        precision = num(m, images.PRECISION)
        if coverage is None or (precision is not None and precision < COLLAPSE_MIN_PRECISION):
            return None
        if not _recognisable(m):
            return None
        if coverage <= COLLAPSE_CLASS_COVERAGE or (kl is not None and kl > COLLAPSE_CLASS_KL):
            floor = num(m, images.floor_key(images.CLASS_KL))
            kl_text = f", class KL {g(kl)} nats" + (f" (floor {g(floor)})" if floor is not None else "") if kl is not None else ""
            prec = f", precision {g(precision)}" if precision is not None else ""
            return f"{100 * coverage:.0f}% of the classes produced{kl_text}{prec}"
    return None


def _recognisable(m: Mapping[str, Any]) -> bool:
    """Whether the samples are classified as confidently as real images are (to COLLAPSE_MIN_CONFIDENT_RATIO)."""
    confident, floor = num(m, images.CONFIDENT_SHARE), num(m, images.floor_key(images.CONFIDENT_SHARE))
    return confident is None or not floor or confident >= COLLAPSE_MIN_CONFIDENT_RATIO * floor


def off_target(kind: str, m: Mapping[str, Any], config: Any, name: str) -> str:
    """How far the samples are from the target, in words (the 'undertrained' evidence); `name`: the headline."""
    if kind == "1d":
        _, target_std = target_1d(config)
        return (f"mean error {g(m.get(toy.MEAN_ERROR))}, std error {g(m.get(toy.STD_ERROR))} "
                f"(target std {g(target_std)}), KS {g(m.get(toy.KS))}")
    if kind == "2d":
        return (f"{int(num(m, toy.MODES) or 0)} of {int(num(m, toy.MODES_TOTAL) or 0)} modes covered, "
                f"{num(m, toy.HIGH_QUALITY) or 0:.1f}% high-quality samples")
    value, floor = num(m, name), num(m, images.floor_key(name))
    if name == stacked.MODES:  # Stacked MNIST: counts (1,000 would read 1e+03 as g)
        where = f"{int(value or 0):,} of {int(num(m, stacked.MODES_TOTAL) or 0):,} modes covered"
        where += f" (floor {int(floor):,})" if floor is not None else ""
    else:
        where = f"{name} {g(value)} (floor {g(floor)})"
    coverage = num(m, images.CLASS_COVERAGE)
    if coverage is not None:  # labelled datasets only (Stacked MNIST counts modes, a folder has no classes)
        where += f", {100 * coverage:.0f}% of the classes produced"
        if not _recognisable(m):
            where += (f" ({100 * num(m, images.CONFIDENT_SHARE):.0f}% of the samples classified confidently, real "
                      f"images {100 * num(m, images.floor_key(images.CONFIDENT_SHARE)):.0f}%: not yet recognisable)")
    return where


def target_value(name: str, m: Mapping[str, Any]) -> float:
    """What a perfect generator scores on a ranking metric (the gap a trend is measured against)."""
    if name == toy.MODES:  # the same key as stacked.MODES: every mode, of modes_total
        return num(m, toy.MODES_TOTAL) or 0.0
    return num(m, images.floor_key(name)) or 0.0  # w1, fid_lenet: their real-vs-real floors (0 without one)


def headline_noise(name: str, *rows: Mapping[str, Any]) -> float | None:
    """A lower bound on the std of the headline `name` between evaluations of one generator at the rows' sample
    size, where one is known; the largest over `rows`. W1 (1-D, against the exact target): the larger of exact
    draws' (`w1_floor_std`) and the sample mean's std/sqrt(N), which W1 follows once a shift dominates it (an
    off-target generator measured ~1.5x that: see diagnosis.IMPROVING_NOISE_Z). None for modes (counts) and
    fid_lenet (its floor's std is the test set's size, not the evaluation's)."""
    if name != toy.W1:
        return None
    found = [max(num(r, toy.W1_FLOOR_STD) or 0.0, (num(r, toy.STD) or 0.0) / math.sqrt(num(r, toy.NUM_SAMPLES) or 1.0))
             for r in rows if num(r, toy.NUM_SAMPLES)]
    return max(found) if found else None


def stacked_numbers(m: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    """(modes, modes_floor, mode_kl, mode_kl_floor) of a Stacked MNIST evaluation; None for other metrics."""
    keys = (stacked.MODES, stacked.MODES_FLOOR, stacked.MODE_KL, stacked.MODE_KL_FLOOR)
    found = tuple(num(m, k) for k in keys)
    return None if None in found else found  # type: ignore[return-value]


def stacked_text(m: Mapping[str, Any]) -> str:
    modes, floor, kl, kl_floor = stacked_numbers(m)  # type: ignore[misc]
    return (f"{int(modes):,} of {int(num(m, stacked.MODES_TOTAL) or 1000):,} modes covered (real data: {int(floor):,}), "
            f"mode KL {g(kl)} nats (real data: {g(kl_floor)})")


# ---- helpers -------------------------------------------------------------------------------------------
def num(row: Mapping[str, Any], key: str) -> float | None:
    """row[key] as a finite float, else None (missing, null, NaN, inf, not a number)."""
    value = row.get(key) if isinstance(row, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def g(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.3g}"
    return "n/a"


def ratio(value: float, floor: float) -> str:
    return f"{value / floor:.1f}x" if floor > 0 else "above"


def section(config: Any, name: str) -> dict[str, Any]:
    """Config section `name` as a dict (a Config object or a mapping; a bare string is its name)."""
    found = config.get(name) if isinstance(config, Mapping) else getattr(config, name, None)
    if isinstance(found, str):
        return {"name": found}
    return dict(found) if isinstance(found, Mapping) else {}


def target_1d(config: Any) -> tuple[float, float]:
    data = section(config, "data")
    return float(data.get("mean", 0.0)), float(data.get("std", 1.0))
