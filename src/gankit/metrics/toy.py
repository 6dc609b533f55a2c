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

from typing import Any

import numpy as np
from scipy import stats
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist, pdist

# How many generator samples to evaluate: PacGAN draws 2,500 samples for the 2-D mixtures; 10,000 1-D samples
# make the KS statistic's sampling noise (~1/sqrt(n)) about 0.01. (The toy data parts declare the same.)
DEFAULT_N: dict[str, int] = {"1d": 10_000, "2d": 2_500}

# Metric keys. 1-D:
MEAN, STD, MEAN_ERROR, STD_ERROR = "mean", "std", "mean_error", "std_error"
KS, KS_PVALUE, W1, NONFINITE = "ks", "ks_pvalue", "w1", "nonfinite"
KEYS_1D = (MEAN, STD, MEAN_ERROR, STD_ERROR, KS, KS_PVALUE, W1, NONFINITE)
# 2-D mixtures (W1 and NONFINITE as above):
MODES, MODES_TOTAL, HIGH_QUALITY, REVERSE_KL = "modes", "modes_total", "high_quality", "reverse_kl"
MODE_COUNTS, TOP2_SHARE, MMD = "mode_counts", "top2_share", "mmd"
MIXTURE_KEYS = (MODES, MODES_TOTAL, HIGH_QUALITY, REVERSE_KL, MODE_COUNTS, TOP2_SHARE, W1, MMD, NONFINITE)

# Default cap on points per set for the 2-D W1 (an O(n^3) assignment) and the MMD (n x n kernel matrices):
# PacGAN's sample size.
MAX_POINTS = 2_500

# A sample is high quality when it lies within this many standard deviations of its nearest mode (PacGAN).
QUALITY_STDS = 3.0


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


def metrics_1d(
    samples: Any,
    target_mean: float,
    target_std: float,
    reference: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """How close 1-D generator samples are to the target N(target_mean, target_std).

    Post 002 judges its GAN by the mean and std of G's samples; those miss the shape of the distribution,
    so two sample-based distances to a reference sample are added:

    - `ks`, `ks_pvalue`: two-sample Kolmogorov-Smirnov statistic (largest gap between the two empirical
      CDFs) and its p-value (`scipy.stats.ks_2samp`);
    - `w1`: Wasserstein-1 distance between the two empirical distributions (`scipy.stats.wasserstein_distance`),
      in the data's units: a sample shifted by c from the reference is at distance exactly |c|.

    The reference is `reference` when given, otherwise as many draws from N(target_mean, target_std) as
    there are finite samples, from `numpy.random.default_rng(seed)`.

    Returns `mean`, `std` (population std, ddof=0), `mean_error` = |mean - target_mean|,
    `std_error` = |std - target_std|, `ks`, `ks_pvalue`, `w1` and `nonfinite` (the number of NaN / inf samples,
    which are left out of everything else; when no sample is finite every metric is NaN).
    """
    x = _as_1d(samples, "samples")
    finite = np.isfinite(x)
    nonfinite = int(x.size - finite.sum())
    x = x[finite]
    nan = float("nan")
    if x.size == 0:
        # Nothing to measure: NaN metrics rather than an exception, so a diverged run can still be logged.
        return {**dict.fromkeys(KEYS_1D, nan), NONFINITE: nonfinite}

    if reference is None:
        ref = np.random.default_rng(seed).normal(target_mean, target_std, size=x.size)
    else:
        ref = _as_1d(reference, "reference")
        if ref.size == 0 or not np.isfinite(ref).all():
            raise ValueError("metrics_1d: reference must be a non-empty array of finite values")

    mean = float(x.mean())
    std = float(x.std())
    ks = stats.ks_2samp(x, ref)
    return {
        MEAN: mean,
        STD: std,
        MEAN_ERROR: abs(mean - float(target_mean)),
        STD_ERROR: abs(std - float(target_std)),
        KS: float(ks.statistic),
        KS_PVALUE: float(ks.pvalue),
        W1: float(stats.wasserstein_distance(x, ref)),
        NONFINITE: nonfinite,
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
    """Exact Wasserstein-1 between two equal-size point sets with uniform weights.

    The optimal transport plan between two uniform empirical measures of equal size is a permutation
    (Birkhoff-von Neumann: the extreme points of the transport polytope are permutation matrices), so the
    optimal assignment on the Euclidean cost matrix gives the exact W1: the mean matched distance.
    """
    cost = cdist(x, y)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


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
    - a mode is *captured* when it holds at least one high-quality sample;
    - the reverse KL is KL(p || u) = sum_k p_k log(p_k K) = log K - H(p), where p is the histogram of the
      high-quality samples over the K modes and u uniform (PacGAN normalises its coverage histogram over
      high-quality samples only). Empty modes contribute 0 (0 log 0 = 0): that is the reverse direction's
      point, it measures how far the sample histogram is from uniform and stays finite under mode collapse
      (all samples in one mode gives log K, the maximum). With no high-quality sample p does not exist and
      `reverse_kl` is NaN.

    Returned keys:

    - `modes` (int): modes captured; `modes_total` (int): K;
    - `high_quality` (float, 0..100): percentage of all samples (non-finite ones included) that are high quality;
    - `reverse_kl` (float, nats), as above;
    - `mode_counts` (list of K ints): high-quality samples per mode, in the order of `modes`;
    - `top2_share` (float, 0..1): fraction of the high-quality samples in the two fullest modes (mode-collapse
      evidence; NaN with no high-quality sample);
    - `w1` (float): exact Wasserstein-1 between the finite samples and a reference sample, both cut to the same
      size m <= 2,500 by deterministic random subsampling (seed), computed by optimal assignment;
    - `mmd` (float): unbiased squared MMD between the same (at most 2,500-point) subsets, Gaussian RBF kernel
      whose bandwidth is the median pairwise distance within the reference subset;
    - `nonfinite` (int): samples with a NaN / inf coordinate; they are never high quality and are left out of
      W1 and MMD (NaN when no sample is finite).

    The reference is `reference` when given, otherwise `sample_mixture(modes, std, n_finite, seed)`.
    `max_points` (default 2,500) caps both subsets; the assignment is O(m^3) in the worst case: about 1 s for
    m = 2,500 well-spread samples on one core, but 10-15 s when the samples sit on a few modes (the augmenting
    paths get long), so a quick in-training check may pass a smaller cap.
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

    return {
        MODES: int((counts > 0).sum()),
        MODES_TOTAL: k,
        HIGH_QUALITY: 100.0 * n_good / n if n else float("nan"),
        REVERSE_KL: reverse_kl,
        MODE_COUNTS: [int(c) for c in counts],
        TOP2_SHARE: top2_share,
        W1: w1,
        MMD: mmd,
        NONFINITE: nonfinite,
    }
