"""Known answers for the toy-data metrics (gankit.metrics.toy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from gankit.data.toy import grid25, ring8
from gankit.metrics.toy import (
    DEFAULT_N,
    floors_1d,
    metrics_1d,
    metrics_mixture,
    sample_mixture,
    w1_to_normal,
)

MEAN, STD = 4.0, 1.25
GRID_STD = 0.05
RING_STD = 0.02


def _grid_modes() -> np.ndarray:
    """5 x 5 grid, spacing 2, centred at 0: centres at -4, -2, 0, 2, 4 on both axes."""
    axis = (np.arange(5) - 2) * 2.0
    return np.array([[x, y] for y in axis for x in axis])


def _ring_modes(k: int = 8, radius: float = 2.0) -> np.ndarray:
    angles = np.arange(k) * 2 * np.pi / k
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _draw(modes: np.ndarray, std: float, per_mode: int, seed: int) -> np.ndarray:
    """`per_mode` points from N(mode, std^2 I) around every mode (as gankit's toy data hold them), shuffled."""
    rng = np.random.default_rng(seed)
    points = np.repeat(modes, per_mode, axis=0) + std * rng.standard_normal((len(modes) * per_mode, 2))
    return points[rng.permutation(len(points))]


# ---------------------------------------------------------------------------------------------------------
# 1-D Gaussian


def test_1d_target_sample_is_close():
    x = np.random.default_rng(1).normal(MEAN, STD, 10_000)
    m = metrics_1d(x, MEAN, STD)
    assert abs(m["mean"] - MEAN) < 0.05 and abs(m["std"] - STD) < 0.05
    assert m["mean_error"] == pytest.approx(abs(m["mean"] - MEAN))
    assert m["std_error"] == pytest.approx(abs(m["std"] - STD))
    assert m["ks"] < 0.03 and m["ks_pvalue"] > 0.01
    assert m["w1"] < 0.05
    assert m["nonfinite"] == 0


def test_1d_wrong_gaussian_is_far():
    x = np.random.default_rng(2).normal(3.5, 1.15, 10_000)
    m = metrics_1d(x, MEAN, STD)
    assert m["w1"] > 0.4 and m["ks"] > 0.1 and m["ks_pvalue"] < 1e-6
    assert m["mean_error"] > 0.4


def test_1d_shift_by_one_has_w1_exactly_one():
    ref = np.random.default_rng(3).normal(MEAN, STD, 5_000)
    m = metrics_1d(ref + 1.0, MEAN, STD, reference=ref)
    assert abs(m["w1"] - 1.0) < 1e-9
    assert metrics_1d(ref, MEAN, STD, reference=ref)["ks"] == 0.0


def test_1d_nonfinite_samples_are_counted_and_left_out():
    x = np.random.default_rng(4).normal(MEAN, STD, 1_000)
    bad = x.copy()
    bad[:10] = np.nan
    bad[10:15] = np.inf
    m = metrics_1d(bad, MEAN, STD)
    assert m["nonfinite"] == 15
    assert m["mean"] == pytest.approx(x[15:].mean())
    assert math.isfinite(m["w1"]) and math.isfinite(m["ks"])

    none = metrics_1d(np.full(7, np.nan), MEAN, STD)
    assert none["nonfinite"] == 7
    assert all(math.isnan(v) for k, v in none.items() if k not in ("nonfinite", "num_samples"))


def test_1d_w1_to_the_exact_normal():
    # A sample shifted by c from a large draw of the target is at W1 about |c|; the target's own quantiles
    # (midpoints) are at W1 ~ 0 from it; the one-sample KS is scipy's kstest.
    quantiles = stats.norm.ppf((np.arange(20_000) + 0.5) / 20_000, MEAN, STD)
    assert w1_to_normal(quantiles, MEAN, STD) < 1e-3
    assert w1_to_normal(quantiles + 0.3, MEAN, STD) == pytest.approx(0.3, abs=1e-3)
    # W1 between N(0, 1) and N(0, s) is |1 - s| E|Z| = |1 - s| sqrt(2 / pi).
    wide = stats.norm.ppf((np.arange(20_000) + 0.5) / 20_000, MEAN, 1.3)
    assert w1_to_normal(wide, MEAN, STD) == pytest.approx(0.05 * math.sqrt(2 / math.pi), rel=0.02)


def test_1d_floors_shrink_like_one_over_sqrt_n():
    small, large = floors_1d(1_000, MEAN, STD), floors_1d(10_000, MEAN, STD)
    # W1 of exact draws ~ 1.25-1.3 std / sqrt(n), KS ~ 0.87 / sqrt(n) (measured; docs/metrics.md).
    assert small["w1_floor"] == pytest.approx(1.27 * STD / math.sqrt(1_000), rel=0.15)
    assert large["w1_floor"] == pytest.approx(1.27 * STD / math.sqrt(10_000), rel=0.15)
    assert large["ks_floor"] == pytest.approx(0.87 / math.sqrt(10_000), rel=0.15)


def test_1d_torch_column_and_determinism():
    x = np.random.default_rng(5).normal(MEAN, STD, 2_000)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True).reshape(-1, 1)
    assert metrics_1d(t, MEAN, STD, seed=7) == metrics_1d(x, MEAN, STD, seed=7)
    # The seed draws the floors' target samples only: KS and W1 are against the exact target.
    assert metrics_1d(x, MEAN, STD, seed=7)["w1_floor"] != metrics_1d(x, MEAN, STD, seed=8)["w1_floor"]
    assert metrics_1d(x, MEAN, STD, seed=7)["ks"] == metrics_1d(x, MEAN, STD, seed=8)["ks"]
    with pytest.raises(ValueError, match="shape"):
        metrics_1d(np.zeros((10, 2)), MEAN, STD)


# ---------------------------------------------------------------------------------------------------------
# 2-D mixtures: the PacGAN protocol


def test_true_grid_mixture_captures_every_mode():
    modes = _grid_modes()
    x = _draw(modes, GRID_STD, 100, seed=10)  # 2,500 samples, PacGAN's count
    m = metrics_mixture(x, modes, GRID_STD)
    assert m["modes"] == 25 and m["modes_total"] == 25
    # P(chi_2 < 9) = 1 - exp(-4.5) = 98.9%.
    assert 97.0 < m["high_quality"] <= 100.0
    assert sum(m["mode_counts"]) == round(m["high_quality"] * len(x) / 100)
    assert m["reverse_kl"] < 0.05
    assert m["top2_share"] < 0.1
    assert abs(m["mmd"]) < 0.01
    assert m["w1"] < 0.1
    assert m["nonfinite"] == 0


def test_three_modes_reverse_kl_is_log_25_over_3():
    modes = _grid_modes()
    x = _draw(modes[:3], GRID_STD, 334, seed=11)
    m = metrics_mixture(x, modes, GRID_STD)
    assert m["modes"] == 3
    assert m["mode_counts"][3:] == [0] * 22 and min(m["mode_counts"][:3]) > 300
    # Uniform over 3 modes against uniform over 25: sum 1/3 log((1/3) / (1/25)) = log(25/3).
    assert m["reverse_kl"] == pytest.approx(math.log(25 / 3), abs=0.01)
    assert m["top2_share"] >= 2 / 3 - 0.02
    same = metrics_mixture(_draw(modes, GRID_STD, 40, seed=12), modes, GRID_STD)
    assert m["mmd"] > 0.1 and m["mmd"] > 20 * abs(same["mmd"])


def test_one_mode_reverse_kl_is_log_k():
    modes = _grid_modes()
    x = _draw(modes[7:8], GRID_STD, 300, seed=13)
    m = metrics_mixture(x, modes, GRID_STD)
    assert m["modes"] == 1 and m["mode_counts"][7] == sum(m["mode_counts"])
    assert m["reverse_kl"] == pytest.approx(math.log(25))
    assert m["top2_share"] == 1.0


def test_samples_between_modes_are_not_high_quality():
    modes = _grid_modes()
    rng = np.random.default_rng(14)
    angle = rng.uniform(0, 2 * np.pi, 1_000)
    x = np.repeat(modes, 40, axis=0) + 0.5 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    m = metrics_mixture(x, modes, GRID_STD)  # 0.5 = 10 std from the nearest mode, 40 samples around each
    assert m["high_quality"] == 0.0 and m["modes"] == 0
    assert m["mode_counts"] == [0] * 25
    assert math.isnan(m["reverse_kl"]) and math.isnan(m["top2_share"])
    assert 0.35 < m["w1"] < 0.55  # about 0.5, less where a reference point's noise leans towards a sample
    # Against the mode centres themselves, 40 each, every sample travels exactly 0.5.
    exact = metrics_mixture(x, modes, GRID_STD, reference=np.repeat(modes, 40, axis=0))
    assert exact["w1"] == pytest.approx(0.5, abs=1e-9)


def test_w1_same_mixture_is_small_and_a_shift_is_its_length():
    modes = _grid_modes()
    ref = _draw(modes, GRID_STD, 100, seed=15)
    x = _draw(modes, GRID_STD, 100, seed=16)
    assert metrics_mixture(x, modes, GRID_STD, reference=ref)["w1"] < 0.2
    shifted = metrics_mixture(x[:1_000] + [1.0, 0.0], modes, GRID_STD, reference=ref[:1_000])
    assert shifted["w1"] >= 0.9 and shifted["modes"] == 0


def test_w1_is_exact_optimal_transport():
    # Points on a line: the 2-D optimal transport equals the 1-D W1, which has a closed form.
    rng = np.random.default_rng(17)
    a, b = rng.normal(0, 1, 300), rng.normal(0.7, 2, 300)
    x = np.stack([a, np.zeros_like(a)], axis=1)
    y = np.stack([b, np.zeros_like(b)], axis=1)
    m = metrics_mixture(x, [[0.0, 0.0]], 1.0, reference=y)
    assert m["w1"] == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)
    # A set against itself translated by (0, 1), rows in another order: W1 is exactly the translation's length
    # (the mean difference bounds it below, moving every point by (0, 1) attains it), whatever the row order.
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [-3.0, 2.0]])
    moved = metrics_mixture(pts, [[0.0, 0.0]], 1.0, reference=pts[::-1] + [0.0, 1.0])
    assert moved["w1"] == pytest.approx(1.0, abs=1e-12)


def test_ring_of_eight_modes():
    modes = _ring_modes()
    m = metrics_mixture(_draw(modes, RING_STD, 125, seed=18), modes, RING_STD)
    assert m["modes"] == 8 and m["modes_total"] == 8
    assert m["high_quality"] > 97 and m["reverse_kl"] < 0.05 and abs(m["mmd"]) < 0.01

    two = metrics_mixture(_draw(modes[[0, 4]], RING_STD, 300, seed=19), modes, RING_STD)
    assert two["modes"] == 2 and two["top2_share"] == 1.0
    assert two["reverse_kl"] == pytest.approx(math.log(8 / 2), abs=0.01)


def test_nonfinite_samples_are_never_high_quality():
    modes = _grid_modes()
    x = _draw(modes, GRID_STD, 40, seed=20)
    x[:100, 0] = np.nan
    x[100:110, 1] = -np.inf
    m = metrics_mixture(x, modes, GRID_STD)
    assert m["nonfinite"] == 110
    assert m["high_quality"] <= 100 * 890 / 1_000
    assert m["modes"] == 25 and math.isfinite(m["w1"]) and math.isfinite(m["mmd"])

    none = metrics_mixture(np.full((5, 2), np.nan), modes, GRID_STD)
    assert none["nonfinite"] == 5 and none["modes"] == 0 and none["high_quality"] == 0.0
    assert math.isnan(none["w1"]) and math.isnan(none["mmd"])


def test_default_reference_and_inputs():
    modes = _grid_modes()
    x = _draw(modes, GRID_STD, 20, seed=21)
    base = metrics_mixture(x, modes, GRID_STD, seed=3)
    # The default reference is sample_mixture(modes, std, n, seed), equal weights.
    ref = sample_mixture(modes, GRID_STD, len(x), seed=3)
    assert np.bincount(np.linalg.norm(ref[:, None] - modes[None], axis=2).argmin(1)).tolist() == [20] * 25
    assert metrics_mixture(x, modes, GRID_STD, reference=ref, seed=3) == base
    # Torch tensors (with grad) and lists of modes, as DataSource.info holds them.
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    assert metrics_mixture(t, modes.tolist(), GRID_STD, seed=3) == base
    assert metrics_mixture(x, modes, GRID_STD, seed=4)["w1"] != base["w1"]
    with pytest.raises(ValueError, match="coordinates"):
        metrics_mixture(np.zeros((4, 3)), modes, GRID_STD)


@pytest.mark.parametrize("factory", [grid25, ring8])
def test_gankit_toy_data_scores_as_real(factory):
    source = factory(points_per_mode=60)
    m = metrics_mixture(source.data, source.info["modes"], source.info["std"])
    assert m["modes"] == m["modes_total"] == len(source.info["modes"])
    assert m["high_quality"] > 97 and m["reverse_kl"] < 0.05


def test_defaults():
    assert DEFAULT_N == {"1d": 10_000, "2d": 2_500}


def test_w1_on_collapsed_samples_is_exact():
    # All 2,500 samples on one point: every unit of mass travels from it, so W1 is the mean distance of the
    # reference points to it. On two points with half the mass each, and the reference on the same two points
    # split 3:1, a quarter of the mass moves the distance between them. (Issue 14: 40-45 s with the assignment.)
    modes = np.array([[0.0, 0.0], [4.0, 3.0]])
    ref = sample_mixture(modes, 0.05, 2_500, seed=0)
    one = metrics_mixture(np.zeros((2_500, 2)), modes, 0.05, reference=ref)
    assert one["w1"] == pytest.approx(np.linalg.norm(ref, axis=1).mean(), rel=1e-9)
    two = np.repeat(modes, 1_250, axis=0)
    split = np.concatenate([np.repeat(modes[:1], 1_875, axis=0), np.repeat(modes[1:], 625, axis=0)])
    assert metrics_mixture(two, modes, 0.05, reference=split)["w1"] == pytest.approx(0.25 * 5.0, rel=1e-9)


def test_floors_1d_are_remembered_and_a_caller_cannot_change_them():
    from gankit.metrics.toy import KS_FLOOR, floors_1d

    first = floors_1d(500, 4.0, 1.25)
    first[KS_FLOOR] = -1.0  # a caller's copy: the remembered floors stay as computed
    again = floors_1d(500, 4.0, 1.25)
    assert again[KS_FLOOR] > 0 and again == floors_1d(500, 4, 1.25)
    assert floors_1d(2000, 4.0, 1.25)[KS_FLOOR] < again[KS_FLOOR]  # the floor shrinks with the sample size
