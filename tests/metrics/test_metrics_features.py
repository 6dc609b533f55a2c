"""Known answers for the feature-space metrics (gankit.metrics.features)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from gankit.metrics import features
from gankit.metrics.classes import confident_coverage, reference_shares
from gankit.metrics.features import (
    class_metrics,
    density_coverage,
    frechet_distance,
    frechet_from_stats,
    gaussian_stats,
    kernel_inception_distance,
    knn_sq_radii,
    prdc,
    precision_recall,
)


def _normal(seed: int, n: int, d: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d))


def _two_clusters(n: int = 400, d: int = 4) -> np.ndarray:
    """Two well-separated Gaussian clusters: rows [:n] around -20, rows [n:] around +20."""
    x = _normal(7, 2 * n, d)
    x[:n] -= 20.0
    x[n:] += 20.0
    return x


# ---------------------------------------------------------------------------------------------------------
# Frechet distance


def test_frechet_same_gaussian_is_near_zero():
    d = 8
    value = frechet_distance(_normal(0, 20000, d), _normal(1, 20000, d))
    assert 0.0 <= value < 0.02  # total variance is d = 8; the finite-sample bias is about 0.002


def test_frechet_mean_shift_gives_squared_norm():
    d = 8
    shift = np.full(d, 0.5)  # |shift|^2 = 2
    value = frechet_distance(_normal(0, 20000, d), _normal(1, 20000, d) + shift)
    assert value == pytest.approx(2.0, abs=0.15)


def test_frechet_scale_gives_closed_form():
    # N(0, I) vs N(0, 4I): d (1 + 4 - 2 sqrt(4)) = d.
    d = 8
    value = frechet_distance(_normal(0, 20000, d), 2.0 * _normal(1, 20000, d))
    assert value == pytest.approx(d, abs=0.3)


def _closed_form(mu1, a, mu2, b) -> float:
    """Frechet distance between Gaussians whose covariances share eigenvectors, eigenvalues a and b."""
    return float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))


def test_frechet_from_stats_exact_for_diagonal_covariances():
    rng = np.random.default_rng(3)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    a, b = rng.uniform(0.1, 5.0, 6), rng.uniform(0.1, 5.0, 6)
    a[0] = 0.0  # singular covariances with an exact root stay exact (no eps added)
    b[1] = 0.0
    value = frechet_from_stats(mu1, np.diag(a), mu2, np.diag(b))
    assert value == pytest.approx(_closed_form(mu1, a, mu2, b), abs=1e-6)


def test_frechet_from_stats_exact_for_rotated_commuting_covariances():
    rng = np.random.default_rng(4)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    a, b = rng.uniform(0.1, 5.0, 6), rng.uniform(0.1, 5.0, 6)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    assert frechet_from_stats(mu1, s1, mu2, s2) == pytest.approx(_closed_form(mu1, a, mu2, b), abs=1e-6)
    assert frechet_from_stats(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_equals_cached_stats_and_matches_np_cov():
    real, fake = _normal(0, 500, 5), _normal(1, 300, 5) * 1.5 + 0.2
    mu, sigma = gaussian_stats(real)
    np.testing.assert_allclose(mu, real.mean(axis=0))
    np.testing.assert_allclose(sigma, np.cov(real, rowvar=False), rtol=1e-12, atol=1e-12)
    assert frechet_distance(real, fake) == pytest.approx(frechet_from_stats(mu, sigma, *gaussian_stats(fake)))


def test_frechet_fewer_samples_than_features_is_finite():
    # Rank-deficient covariances: same covariance, mean shifted by 1 in 16 dims -> 16.
    x = _normal(0, 5, 16)
    assert frechet_distance(x, x[::-1] + 1.0) == pytest.approx(16.0, abs=1e-3)


def test_frechet_adds_eps_when_the_root_is_not_finite(monkeypatch):
    real_sqrtm = features._sqrtm
    calls = []

    def sqrtm_fails_once(a):
        calls.append(a)
        return np.full_like(a, np.inf) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(features, "_sqrtm", sqrtm_fails_once)
    mu, a, b = np.zeros(3), np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0])
    with pytest.warns(RuntimeWarning, match="adding 1e-06"):
        value = frechet_from_stats(mu, np.diag(a), mu, np.diag(b))
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], np.diag((a + 1e-6) * (b + 1e-6)))
    assert value == pytest.approx(_closed_form(mu, a, mu, b), abs=1e-5)


def test_frechet_rejects_non_covariance_with_large_imaginary_root():
    with pytest.raises(ValueError, match="imaginary component"):
        frechet_from_stats(np.zeros(3), np.eye(3), np.zeros(3), -np.eye(3))


def test_frechet_bad_input():
    with pytest.raises(ValueError, match="at least 2 real samples, got 1"):
        frechet_distance(np.zeros((1, 4)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="at least 2 fake samples"):
        frechet_distance(np.zeros((10, 4)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="4 features .* but fake has 3"):
        frechet_distance(np.zeros((10, 4)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="2-D array"):
        frechet_distance(np.zeros(10), np.zeros(10))
    with pytest.raises(ValueError, match="NaN or infinite"):
        frechet_distance(np.full((10, 4), np.nan), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="one size"):
        frechet_from_stats(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


# ---------------------------------------------------------------------------------------------------------
# KID


def _naive_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as the textbook double sums."""

    def k(a, b):
        return (a @ b / len(a) + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2.0 * xy


def test_kid_equals_textbook_mmd_when_subsets_hold_every_sample():
    x, y = _normal(0, 6, 3), _normal(1, 6, 3) + 0.3
    mean, std = kernel_inception_distance(x, y, subsets=4, subset_size=1000)
    # Each subset is a permutation of all 6 samples, and MMD^2 does not depend on the order.
    assert mean == pytest.approx(_naive_mmd2(x, y), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_same_distribution_near_zero_shifted_positive():
    real, fake = _normal(0, 2000, 16), _normal(1, 2000, 16)
    mean, _ = kernel_inception_distance(real, fake)
    assert abs(mean) < 0.01  # typically about 0.001 +- 0.002
    shifted_mean, shifted_std = kernel_inception_distance(real, fake + 0.5)
    assert shifted_mean > 0.5 and shifted_mean > 10 * shifted_std


def test_kid_is_reproducible_and_uses_the_smaller_set_size():
    real, fake = _normal(0, 50, 4), _normal(1, 30, 4)
    assert kernel_inception_distance(real, fake, seed=5) == kernel_inception_distance(real, fake, seed=5)
    mean, _ = kernel_inception_distance(real[:30], fake, subsets=3)  # subset size min(1000, 30, 30) = 30
    assert mean == pytest.approx(_naive_mmd2(real[:30], fake), rel=1e-12)


def test_kid_bad_input():
    with pytest.raises(ValueError, match="at least 2 fake samples"):
        kernel_inception_distance(np.zeros((10, 4)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="subsets"):
        kernel_inception_distance(np.zeros((10, 4)), np.zeros((10, 4)), subsets=0)
    with pytest.raises(ValueError, match="subset_size"):
        kernel_inception_distance(np.zeros((10, 4)), np.zeros((10, 4)), subset_size=1)


# ---------------------------------------------------------------------------------------------------------
# Precision / recall and density / coverage


def _naive_radii(x: np.ndarray, k: int) -> np.ndarray:
    return np.sort(cdist(x, x), axis=1)[:, k]  # column 0 is the point itself


def _naive_precision_recall(real, fake, k):
    d = cdist(fake, real)
    precision = (d <= _naive_radii(real, k)[None, :]).any(axis=1).mean()
    recall = (d <= _naive_radii(fake, k)[:, None]).any(axis=0).mean()
    return precision, recall


def _naive_density_coverage(real, fake, k):
    d = cdist(real, fake)
    radii = _naive_radii(real, k)
    return (d < radii[:, None]).sum() / (k * len(fake)), (d.min(axis=1) < radii).mean()


def test_precision_recall_hand_computed():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [10.0]])
    # k=1: real radii 1, so 0.5 is inside and 10 is not; the fake radius is 9.5, covering every real.
    assert precision_recall(real, fake, k=1) == (0.5, 1.0)


def test_density_coverage_hand_computed():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [10.0]])
    # k=1: 0.5 lies in the balls of 0 and 1 (radius 1), 10 in none: density 2 / (1 * 2), coverage 2 / 4.
    assert density_coverage(real, fake, k=1) == (1.0, 0.5)


@pytest.mark.parametrize("block_entries", [None, 100])
def test_knn_metrics_match_naive_reference(monkeypatch, block_entries):
    if block_entries is not None:  # many small blocks must give the same answer as one
        monkeypatch.setattr(features, "_BLOCK_ENTRIES", block_entries)
    real, fake = _normal(0, 300, 5), _normal(1, 200, 5) * 1.3 + 0.4
    for k in (1, 3, 5):
        assert precision_recall(real, fake, k) == pytest.approx(_naive_precision_recall(real, fake, k))
        assert density_coverage(real, fake, k) == pytest.approx(_naive_density_coverage(real, fake, k))


@pytest.mark.parametrize("block_entries", [None, 100])
def test_one_pass_prdc_and_shared_radii_match_the_separate_metrics(monkeypatch, block_entries):
    if block_entries is not None:
        monkeypatch.setattr(features, "_BLOCK_ENTRIES", block_entries)
    real, fake = _normal(2, 300, 5), _normal(3, 250, 5) * 1.2 - 0.3
    radii = features.knn_sq_radii(real, [3, 5, 1])
    for k in (1, 3, 5):
        assert radii[k] == pytest.approx(_naive_radii(real, k) ** 2)
        assert precision_recall(real, fake, k, real_radii=radii[k]) == precision_recall(real, fake, k)
        assert density_coverage(real, fake, k, real_radii=radii[k]) == density_coverage(real, fake, k)
    both = features.prdc(real, fake, k_pr=3, k_dc=5)
    assert (both["precision"], both["recall"]) == precision_recall(real, fake, 3)
    assert (both["density"], both["coverage"]) == density_coverage(real, fake, 5)
    assert features.prdc(real, fake, real_radii=radii) == both
    with pytest.raises(ValueError, match="one entry per real sample"):
        precision_recall(real, fake, 3, real_radii=radii[3][:-1])


def test_precision_recall_same_distribution():
    precision, recall = precision_recall(_normal(0, 2000, 4), _normal(1, 2000, 4), k=3)
    assert precision > 0.6 and recall > 0.6  # about 0.96 each in 4 dims


def test_precision_recall_half_of_two_clusters():
    real = _two_clusters()
    # Fakes are exactly the real samples of the first cluster: all faithful, half the diversity.
    assert precision_recall(real, real[:400], k=3) == (1.0, 0.5)


def test_precision_recall_far_away_fakes():
    real = _normal(0, 500, 4)
    assert precision_recall(real, _normal(1, 500, 4) + 1000.0, k=3) == (0.0, 0.0)


def test_density_coverage_same_distribution():
    density, coverage = density_coverage(_normal(0, 2000, 4), _normal(1, 2000, 4), k=5)
    assert 0.8 < density < 1.2
    assert coverage > 0.9  # expected 1 - 2^-k = 0.97 for equal set sizes


def test_density_coverage_collapsed_and_half_and_far():
    real = _normal(0, 1000, 4)
    _, coverage = density_coverage(real, np.repeat(real[:1], 500, axis=0), k=5)
    assert coverage < 0.05
    clusters = _two_clusters()
    assert density_coverage(clusters, clusters[:400], k=5)[1] == 0.5
    assert density_coverage(real, real + 1000.0, k=5) == (0.0, 0.0)


def test_knn_metrics_accept_float32():
    real, fake = _normal(0, 300, 5).astype(np.float32), _normal(1, 200, 5).astype(np.float32)
    for fn in (precision_recall, density_coverage, kernel_inception_distance, frechet_distance):
        assert fn(real, fake) == fn(real.astype(np.float64), fake.astype(np.float64))


def test_knn_metrics_too_few_samples():
    x = np.zeros((10, 4))
    with pytest.raises(ValueError, match="at least 4 real samples, got 3"):
        precision_recall(x[:3], x, k=3)
    with pytest.raises(ValueError, match="at least 4 fake samples, got 3"):
        precision_recall(x, x[:3], k=3)
    with pytest.raises(ValueError, match="at least 6 real samples, got 5"):
        density_coverage(x[:5], x, k=5)
    with pytest.raises(ValueError, match="at least 1 fake sample, got 0"):
        density_coverage(x, x[:0], k=5)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        precision_recall(x, x, k=0)


# ---------------------------------------------------------------------------------------------------------
# Class balance


def test_class_metrics_one_class():
    result = class_metrics(np.full(100, 3), num_classes=10)
    assert result["class_coverage"] == 0.1
    assert result["class_kl"] == math.log(10)
    assert result["class_histogram"] == [0, 0, 0, 100, 0, 0, 0, 0, 0, 0]


def test_class_metrics_uniform_and_half():
    result = class_metrics(np.repeat(np.arange(10), 7), num_classes=10)
    assert result["class_coverage"] == 1.0
    assert result["class_kl"] == 0.0
    assert result["class_histogram"] == [7] * 10
    half = class_metrics(np.array([0, 1, 0, 1]), num_classes=4)
    assert half["class_coverage"] == 0.5
    assert half["class_kl"] == pytest.approx(math.log(2))


def test_class_metrics_bad_input():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 9\]"):
        class_metrics(np.array([0, 10]), num_classes=10)
    with pytest.raises(ValueError, match="integers"):
        class_metrics(np.array([0.0, 1.0]), num_classes=10)
    with pytest.raises(ValueError, match="at least 1"):
        class_metrics(np.array([], dtype=int), num_classes=10)
    with pytest.raises(ValueError, match="num_classes"):
        class_metrics(np.array([0]), num_classes=0)


def test_class_coverage_holds_each_class_to_the_rate_real_data_is_confidently_predicted():
    # 1,000 samples, 4 classes. Real held-out images are confidently "class 3" only 5% of the time (a shirt on
    # Fashion-MNIST); the others 30%. With a fifth of that rate as the bar: class 3 needs ceil(0.2 * 1000 * 0.05)
    # = 10 confident samples, the others 60.
    predicted = np.repeat([0, 1, 2, 3], [300, 300, 300, 100])
    confidence = np.ones(1000)
    confidence[900:988] = 0.5  # 12 of the 100 class-3 samples confident
    real_pred = np.repeat([0, 1, 2, 3], [300, 300, 300, 100])
    real_conf = np.ones(1000)
    real_conf[900:950] = 0.5  # real: 50 of 100 class-3 images confident -> rate 0.05
    shares = reference_shares(real_pred, real_conf, 4)
    assert shares.tolist() == [0.3, 0.3, 0.3, 0.05]
    assert confident_coverage(predicted, confidence, 4, reference=shares)["class_coverage"] == 1.0
    # Held to 1/K instead (50 needed), class 3's 12 confident samples would read as a lost class.
    assert confident_coverage(predicted, confidence, 4)["class_coverage"] == 0.75
    confidence[988:991] = 0.5  # 9 confident: below real's fifth
    assert confident_coverage(predicted, confidence, 4, reference=shares)["class_coverage"] == 0.75


def _closed_ball_recall(real: np.ndarray, fake: np.ndarray, k: int) -> float:
    """Recall by its definition, with distances from coordinate differences (exactly 0 for duplicates)."""
    from scipy.spatial.distance import cdist

    fake_radii = np.sort(cdist(fake, fake, "sqeuclidean"), axis=1)[:, k]  # column 0 is the point itself
    return float((cdist(real, fake, "sqeuclidean") <= fake_radii[None, :]).any(axis=1).mean())


def test_exact_duplicates_are_at_distance_zero():
    # Issue 14: with |x|^2 + |y|^2 - 2 x.y a duplicate sat at ~1e-13, outside a closed ball of radius 0, and
    # recall on duplicated sets read 0.918 against its definition's 0.966. Every fake point here is repeated
    # 4 times (its 3rd neighbour is a copy: radius 0), and half of the reals are copies of fakes.
    rng = np.random.default_rng(0)
    base = 30.0 + rng.standard_normal((150, 64))  # far from 0: the matmul form cancels the most there
    fake = np.repeat(base, 4, axis=0)
    real = np.concatenate([base[:75], 30.0 + rng.standard_normal((75, 64))])
    _, recall = precision_recall(real, fake, k=3)
    assert recall == _closed_ball_recall(real, fake, 3) == 0.5
    radii = knn_sq_radii(fake, [3])[3]
    assert (radii == 0.0).all()
    assert prdc(real, fake)["recall"] == recall
