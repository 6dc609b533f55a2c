"""Offline metrics for the toy data: a 1-D Gaussian (post 002) and 2-D mixtures of Gaussians (grid25, ring8).

| function | what | protocol |
|---|---|---|
| `metrics_1d` | mean, std, KS statistic and p-value, Wasserstein-1 against the target N(mean, std) | post 002 reports mean and std; KS / W1 are the sample-based distances |
| `metrics_mixture` | modes captured, % high-quality samples, reverse KL over modes, W1, MMD^2 | PacGAN (Lin et al. 2018, arXiv 1712.04086), section on 2D-ring / 2D-grid, after VEEGAN (Srivastava et al. 2017) |

Both take numpy arrays or torch tensors (moved to the CPU) and return plain Python numbers, so the result
can go straight into JSON. Random choices (the default reference sample, subsampling) come from
`numpy.random.default_rng(seed)`, so the same inputs and seed always give the same numbers.

The metric keys are the constants below (`KEYS_1D`, `MIXTURE_KEYS`): the metric registry declares them and the
verdict rules (`metrics/diagnosis.py`) read them, so a key is renamed here only. `DEFAULT_N` is how many
generator samples to evaluate for data that declares no `default_n` (`gankit.data.DataTraits`).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial.distance import cdist, pdist

# How many generator samples to evaluate: PacGAN draws 2,500 samples for the 2-D mixtures; 10,000 1-D samples
# make the KS statistic's sampling noise (~1/sqrt(n)) about 0.01. (The toy data parts declare the same.)
DEFAULT_N: dict[str, int] = {"1d": 10_000, "2d": 2_500}

# Metric keys. 1-D:
MEAN, STD, MEAN_ERROR, STD_ERROR = "mean", "std", "mean_error", "std_error"
KS, KS_PVALUE, W1, NONFINITE = "ks", "ks_pvalue", "w1", "nonfinite"
# The noise of KS and W1 at the evaluated size: their mean and std over FLOOR_DRAWS exact draws of the target,
# each as many samples as were evaluated (the verdict's bands, `metrics/verdict_rules.py`); NUM_SAMPLES: that size.
KS_FLOOR, KS_FLOOR_STD, W1_FLOOR, W1_FLOOR_STD = "ks_floor", "ks_floor_std", "w1_floor", "w1_floor_std"
NUM_SAMPLES = "num_samples"
KEYS_1D = (MEAN, STD, MEAN_ERROR, STD_ERROR, KS, KS_PVALUE, W1, NONFINITE,
           KS_FLOOR, KS_FLOOR_STD, W1_FLOOR, W1_FLOOR_STD, NUM_SAMPLES)
# Draws of the target behind the 1-D floors: 50 x 10,000 samples take about 0.2 s; the floors' own error is then
# about 1/sqrt(50) = 14% of their std.
FLOOR_DRAWS = 50
# 2-D mixtures (W1 and NONFINITE as above):
MODES, MODES_TOTAL, HIGH_QUALITY, REVERSE_KL = "modes", "modes_total", "high_quality", "reverse_kl"
MODE_COUNTS, TOP2_SHARE, MMD = "mode_counts", "top2_share", "mmd"
# PacGAN's raw count (a mode with one high-quality sample is captured), kept for comparison with papers, and the
# number of high-quality samples a mode needs to count in `modes`.
MODES_PACGAN, MODE_MIN_COUNT = "modes_pacgan", "mode_min_count"
MIXTURE_KEYS = (MODES, MODES_TOTAL, HIGH_QUALITY, REVERSE_KL, MODE_COUNTS, TOP2_SHARE, W1, MMD, NONFINITE,
                MODES_PACGAN, MODE_MIN_COUNT)

# Default cap on points per set for the 2-D W1 (exact optimal transport, n x n costs) and the MMD (n x n kernel matrices):
# PacGAN's sample size.
MAX_POINTS = 2_500

# A sample is high quality when it lies within this many standard deviations of its nearest mode (PacGAN).
QUALITY_STDS = 3.0
# A mode counts as captured when its high-quality samples reach this fraction of its fair share of ALL samples
# (n / K): 20 of 2,500 for 25 modes. PacGAN's "one sample" rule let uniform noise over the square capture 17-25
# of 25 modes with 1.3% high quality (issue 14); a true mixture puts n / K in every mode, 5x this.
MODE_MIN_SHARE = 0.2


def _to_numpy(x: Any) -> np.ndarray:
    """A float64 numpy array from a numpy array, a list or a torch tensor (on any device, with or without grad)."""
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch here
        x = x.detach().cpu()
    return np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------------------------------------------------
# 1-D Gaussian


def _as_1d(x: Any, name: str) -> np.ndarray:
    """Samples of shape (N,) or (N, 1) as a flat float64 array."""
    a = _to_numpy(x)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"metrics_1d: {name} must have shape (N,) or (N, 1), got {a.shape}")
    return a


def w1_to_normal(x: np.ndarray, mean: float, std: float) -> float:
    """Exact Wasserstein-1 between the empirical distribution of `x` and N(mean, std^2) itself (not a sample of it).

    W1 = integral |F_n(t) - Phi(t)| dt. Between consecutive points of {samples} U {Phi^-1(i/n)} the sign of
    F_n - Phi is constant, so each piece is |F_n (b - a) - (G(b) - G(a))| with G(t) = t Phi(t) + phi(t) the
    antiderivative of Phi; the two tails add G(z_1) and G(z_n) - z_n. A one-sample distance has about half the
    variance of one against a reference sample (no noise from the reference).
    """
    z = np.sort((x - mean) / std)
    n = len(z)
    quantiles = stats.norm.ppf(np.arange(1, n) / n)
    pts = np.sort(np.concatenate([z, quantiles]))
    fn = np.searchsorted(z, pts[:-1], side="right") / n
    anti = pts * stats.norm.cdf(pts) + stats.norm.pdf(pts)
    inner = np.abs(fn * np.diff(pts) - np.diff(anti)).sum()
    return float(std * (inner + anti[0] + anti[-1] - pts[-1]))


def _distances_1d(x: np.ndarray, ref: np.ndarray | None, mean: float, std: float) -> tuple[float, float, float]:
    """(KS statistic, its p-value, W1): against the exact target when `ref` is None, else two-sample."""
    if ref is None:
        ks = stats.kstest(x, "norm", args=(mean, std))
        return float(ks.statistic), float(ks.pvalue), w1_to_normal(x, mean, std)
    ks = stats.ks_2samp(x, ref)
    return float(ks.statistic), float(ks.pvalue), float(stats.wasserstein_distance(x, ref))


def floors_1d(n: int, mean: float, std: float, reference_size: int | None = None, seed: int = 0) -> dict[str, float]:
    """KS and W1 of exact draws of the target, FLOOR_DRAWS times at size `n`: their mean (the floor) and std.

    What a perfect generator scores at this sample size: both shrink like 1/sqrt(n) (W1 ~ 1.3 std/sqrt(n),
    KS ~ 0.87/sqrt(n)), so the verdict compares a run with real draws of its own size. With `reference_size`
    the draws are compared two-sample with a fresh reference draw of that size, as the metrics then are.
    Remembered per arguments (a run evaluates the same size every time: 0.3 s each for gan-1d otherwise)."""
    return dict(_floors_1d(int(n), float(mean), float(std), reference_size, int(seed)))


@functools.lru_cache(maxsize=64)
def _floors_1d(n: int, mean: float, std: float, reference_size: int | None, seed: int) -> tuple[tuple[str, float], ...]:
    rng = np.random.default_rng([seed, 2])
    ks, w1 = [], []
    for _ in range(FLOOR_DRAWS):
        draw = rng.normal(mean, std, n)
        ref = None if reference_size is None else rng.normal(mean, std, reference_size)
        k, _, w = _distances_1d(draw, ref, mean, std)
        ks.append(k)
        w1.append(w)
    return ((KS_FLOOR, float(np.mean(ks))), (KS_FLOOR_STD, float(np.std(ks))),
            (W1_FLOOR, float(np.mean(w1))), (W1_FLOOR_STD, float(np.std(w1))))


def metrics_1d(
    samples: Any,
    target_mean: float,
    target_std: float,
    reference: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """How close 1-D generator samples are to the target N(target_mean, target_std).

    Post 002 judges its GAN by the mean and std of G's samples; those miss the shape of the distribution,
    so two distances are added, against the exact target distribution (or two-sample against `reference`,
    when given):

    - `ks`, `ks_pvalue`: Kolmogorov-Smirnov statistic (largest gap between the samples' empirical CDF and the
      target's, `scipy.stats.kstest`; `ks_2samp` with a reference) and its p-value;
    - `w1`: Wasserstein-1 distance in the data's units (`w1_to_normal`; `scipy.stats.wasserstein_distance`
      with a reference): a sample shifted by c from the reference is at distance exactly |c|;
    - `ks_floor`, `w1_floor` and their `_std`: the same distances of exact draws of the target at the same
      size (`floors_1d`): the noise a perfect generator shows, which the `converged` rule allows.

    Returns also `mean`, `std` (population std, ddof=0), `mean_error` = |mean - target_mean|,
    `std_error` = |std - target_std|, `num_samples` (finite samples) and `nonfinite` (the number of NaN / inf
    samples, which are left out of everything else; when no sample is finite every metric is NaN). `seed`
    draws the floors' target samples.
    """
    x = _as_1d(samples, "samples")
    finite = np.isfinite(x)
    nonfinite = int(x.size - finite.sum())
    x = x[finite]
    nan = float("nan")
    if x.size == 0:
        # Nothing to measure: NaN metrics rather than an exception, so a diverged run can still be logged.
        return {**dict.fromkeys(KEYS_1D, nan), NONFINITE: nonfinite, NUM_SAMPLES: 0}

    ref = None
    if reference is not None:
        ref = _as_1d(reference, "reference")
        if ref.size == 0 or not np.isfinite(ref).all():
            raise ValueError("metrics_1d: reference must be a non-empty array of finite values")

    mean = float(x.mean())
    std = float(x.std())
    ks, ks_p, w1 = _distances_1d(x, ref, float(target_mean), float(target_std))
    floors = floors_1d(x.size, float(target_mean), float(target_std), None if ref is None else ref.size, seed)
    return {
        MEAN: mean,
        STD: std,
        MEAN_ERROR: abs(mean - float(target_mean)),
        STD_ERROR: abs(std - float(target_std)),
        KS: ks,
        KS_PVALUE: ks_p,
        W1: w1,
        NONFINITE: nonfinite,
        **floors,
        NUM_SAMPLES: int(x.size),
    }


# ---------------------------------------------------------------------------------------------------------
# 2-D mixtures of Gaussians


def _as_points(x: Any, name: str) -> np.ndarray:
    a = _to_numpy(x)
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"metrics_mixture: {name} must have shape (N, D), got {a.shape}")
    return a


def sample_mixture(modes: Any, std: float, n: int, seed: int = 0) -> np.ndarray:
    """`n` points from the equal-weight mixture of N(mode, std^2 I): the default reference of `metrics_mixture`.

    Modes are picked uniformly and stratified (each mode gets n // K points, the remainder goes to distinct
    modes chosen at random), as gankit's grid25/ring8 data hold the same number of points per mode; this also
    takes the reference's own multinomial noise out of W1 and MMD. Rows are shuffled.
    """
    centres = _as_points(modes, "modes")
    k = len(centres)
    rng = np.random.default_rng(seed)
    counts = np.full(k, n // k)
    counts[rng.choice(k, n % k, replace=False)] += 1
    which = rng.permutation(np.repeat(np.arange(k), counts))
    return centres[which] + std * rng.standard_normal((n, centres.shape[1]))


def _w1_exact(x: np.ndarray, y: np.ndarray) -> float:
    """Exact Wasserstein-1 between two point sets with uniform weights: POT's network simplex (`ot.emd2`,
    Bonneel et al. 2011) on the Euclidean cost matrix.

    It replaces an optimal assignment (`scipy.optimize.linear_sum_assignment`), equally exact for equal sizes
    but 40-45 s on 2,500 samples sitting on one or two points, where the augmenting paths get long; the
    network simplex takes 1-2 s on any 2,500 x 2,500 problem, milliseconds on collapsed samples (docs/metrics.md).
    """
    import ot  # POT; imported here so importing gankit.metrics stays light

    # Equal points merged into one atom carrying their mass: the same transport problem, and a collapsed
    # generator's 2,500 samples on two points become a 2 x 2,500 problem.
    # (Sorted points make the simplex slower on spread-out sets, so sets without repeats keep their order.)
    x, a = _atoms(x)
    y, b = _atoms(y)
    return float(ot.emd2(a, b, cdist(x, y), numItermax=10_000_000))


def _atoms(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct points, their share of the mass) of a uniform point set."""
    unique, counts = np.unique(x, axis=0, return_counts=True)
    if len(unique) == len(x):
        return x, np.full(len(x), 1.0 / len(x))
    return unique, counts / len(x)


def _mmd2_rbf(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """Unbiased squared MMD (Gretton et al. 2012, eq. 3) with k(a, b) = exp(-|a - b|^2 / (2 bandwidth^2)).

    Within-set sums leave out the diagonal, so the estimate is unbiased and can be slightly negative when the
    two sets come from the same distribution.
    """
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        return float("nan")
    gamma = 1.0 / (2.0 * bandwidth**2)
    kxx = np.exp(-gamma * cdist(x, x, "sqeuclidean"))
    kyy = np.exp(-gamma * cdist(y, y, "sqeuclidean"))
    kxy = np.exp(-gamma * cdist(x, y, "sqeuclidean"))
    # The diagonals are exactly 1 (distance 0).
    sxx = (kxx.sum() - m) / (m * (m - 1))
    syy = (kyy.sum() - n) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def metrics_mixture(
    samples: Any,
    modes: Any,
    std: float,
    reference: np.ndarray | None = None,
    seed: int = 0,
    *,
    max_points: int = MAX_POINTS,
) -> dict[str, Any]:
    """Mode coverage and sample quality of 2-D generator samples against a mixture of Gaussians.

    The protocol of PacGAN (Lin et al. 2018, arXiv 1712.04086; section on 2D-ring and 2D-grid, taken from
    VEEGAN), as its released code computes it:

    - each sample is assigned to its nearest mode (Euclidean; the modes share one isotropic `std`, so this is
      also the nearest in Mahalanobis distance, which PacGAN's code uses);
    - a sample is *high quality* when its distance to that mode is below 3 * `std`;
    - a mode is *captured* (`modes`) when its high-quality samples reach a fifth of its fair share of all
      samples (`mode_min_count` = ceil(0.2 n / K), 20 of 2,500 for K = 25); PacGAN's own count, a mode with at
      least one high-quality sample, is `modes_pacgan` (noise scattered over the plane reaches most modes that
      way);
    - the reverse KL is KL(p || u) = sum_k p_k log(p_k K) = log K - H(p), where p is the histogram of the
      high-quality samples over the K modes and u uniform (PacGAN normalises its coverage histogram over
      high-quality samples only). Empty modes contribute 0 (0 log 0 = 0): that is the reverse direction's
      point, it measures how far the sample histogram is from uniform and stays finite under mode collapse
      (all samples in one mode gives log K, the maximum). With no high-quality sample p does not exist and
      `reverse_kl` is NaN.

    Returned keys:

    - `modes` (int): modes captured; `modes_pacgan` (int): PacGAN's count; `mode_min_count`; `modes_total`: K;
    - `high_quality` (float, 0..100): percentage of all samples (non-finite ones included) that are high quality;
    - `reverse_kl` (float, nats), as above;
    - `mode_counts` (list of K ints): high-quality samples per mode, in the order of `modes`;
    - `top2_share` (float, 0..1): fraction of the high-quality samples in the two fullest modes (mode-collapse
      evidence; NaN with no high-quality sample);
    - `w1` (float): exact Wasserstein-1 between the finite samples and a reference sample, both cut to the same
      size m <= 2,500 by deterministic random subsampling (seed), computed exactly by POT's `ot.emd2`;
    - `mmd` (float): unbiased squared MMD between the same (at most 2,500-point) subsets, Gaussian RBF kernel
      whose bandwidth is the median pairwise distance within the reference subset;
    - `nonfinite` (int): samples with a NaN / inf coordinate; they are never high quality and are left out of
      W1 and MMD (NaN when no sample is finite).

    The reference is `reference` when given, otherwise `sample_mixture(modes, std, n_finite, seed)`.
    `max_points` (default 2,500) caps both subsets; W1 at m = 2,500 takes about 1 s (docs/metrics.md), so a quick
    in-training check may pass a smaller cap.
    """
    x = _as_points(samples, "samples")
    centres = _as_points(modes, "modes")
    if x.shape[1] != centres.shape[1]:
        raise ValueError(f"metrics_mixture: samples have {x.shape[1]} coordinates but modes have {centres.shape[1]}")
    if not np.isfinite(centres).all():
        raise ValueError("metrics_mixture: modes must be finite")
    if int(max_points) != max_points or max_points < 1:
        raise ValueError(f"metrics_mixture: max_points must be a positive integer, got {max_points}")
    if not std > 0:
        raise ValueError(f"metrics_mixture: std must be positive, got {std}")
    k = len(centres)
    n = len(x)

    finite = np.isfinite(x).all(axis=1)
    nonfinite = int(n - finite.sum())
    xf = x[finite]

    # Nearest mode and the distance to it; N x K distances are small (2,500 x 25).
    if len(xf):
        dist = cdist(xf, centres)
        nearest = dist.argmin(axis=1)
        good = dist[np.arange(len(xf)), nearest] < QUALITY_STDS * std
        counts = np.bincount(nearest[good], minlength=k)
    else:
        counts = np.zeros(k, dtype=np.int64)
    n_good = int(counts.sum())

    if n_good:
        p = counts / n_good
        nz = p > 0  # 0 log 0 = 0
        reverse_kl = float(np.sum(p[nz] * np.log(p[nz] * k)))
        top2_share = float(np.sort(counts)[::-1][:2].sum() / n_good)
    else:
        reverse_kl = top2_share = float("nan")

    w1 = mmd = float("nan")
    if len(xf):
        if reference is None:
            ref = sample_mixture(centres, std, len(xf), seed=seed)
        else:
            ref = _as_points(reference, "reference")
            if ref.shape[1] != x.shape[1] or len(ref) == 0 or not np.isfinite(ref).all():
                raise ValueError("metrics_mixture: reference must be finite points with the samples' dimension")
        # Random subsets of at most MAX_POINTS each (a permutation prefix, so any shorter prefix is random too),
        # from a stream of its own so the default reference is exactly sample_mixture(modes, std, n, seed).
        rng = np.random.default_rng([seed, 1])
        xs = xf[rng.permutation(len(xf))[: int(max_points)]]
        ys = ref[rng.permutation(len(ref))[: int(max_points)]]
        m = min(len(xs), len(ys))
        w1 = _w1_exact(xs[:m], ys[:m])
        if len(ys) >= 2:
            bandwidth = float(np.median(pdist(ys)))
            if bandwidth > 0:  # a reference collapsed onto one point has no scale to measure with
                mmd = _mmd2_rbf(xs, ys, bandwidth)

    min_count = max(1, math.ceil(MODE_MIN_SHARE * n / k))
    return {
        MODES: int((counts >= min_count).sum()),
        MODES_PACGAN: int((counts > 0).sum()),
        MODE_MIN_COUNT: min_count,
        MODES_TOTAL: k,
        HIGH_QUALITY: 100.0 * n_good / n if n else float("nan"),
        REVERSE_KL: reverse_kl,
        MODE_COUNTS: [int(c) for c in counts],
        TOP2_SHARE: top2_share,
        W1: w1,
        MMD: mmd,
        NONFINITE: nonfinite,
    }
