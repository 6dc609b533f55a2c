"""Every objective against numbers worked out by hand from its formula."""

import math

import pytest
import torch

from gankit.errors import ConfigError
from gankit.parts.objectives import OBJECTIVES

LOG2 = math.log(2.0)


def sp(x: float) -> float:
    """softplus written out: log(1 + e^x)."""
    return math.log(1.0 + math.exp(x))


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def build(name: str, **settings):
    return OBJECTIVES.build(name, settings)


def close(tensor: torch.Tensor, value: float) -> None:
    assert tensor.dim() == 0
    assert tensor.item() == pytest.approx(value, rel=1e-9, abs=1e-12)


NO_SAMPLES = torch.zeros(2, 1)  # the cross-entropy family ignores the samples


def test_registered_names():
    assert OBJECTIVES.names() == sorted(
        ["minimax", "non-saturating", "least-squares", "wasserstein", "hinge", "coulomb", "relativistic"]
    )
    for name in OBJECTIVES.names():
        assert OBJECTIVES.summary(name)


def test_minimax_d_and_g():
    obj = build("minimax")
    d_real, d_fake = t(0.0, 2.0), t(0.0, -1.0)
    # BCE(s, 1) = softplus(-s); BCE(s, 0) = softplus(s); each term is a mean over the batch.
    expected_d = (LOG2 + sp(-2.0)) / 2 + (LOG2 + sp(-1.0)) / 2
    close(obj.d_loss(d_real, d_fake, NO_SAMPLES, NO_SAMPLES), expected_d)
    # G minimises mean log(1 - sigmoid(s)) = -mean softplus(s).
    close(obj.g_loss(None, d_fake, NO_SAMPLES, NO_SAMPLES), -(LOG2 + sp(-1.0)) / 2)
    assert torch.allclose(obj.g_loss(None, d_fake, NO_SAMPLES, NO_SAMPLES), torch.log(1 - torch.sigmoid(d_fake)).mean())


def test_minimax_g_is_stable_for_large_scores():
    obj = build("minimax")
    loss = obj.g_loss(None, torch.tensor([100.0, -100.0]), NO_SAMPLES, NO_SAMPLES)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(-(100.0 + sp(-100.0)) / 2)


def test_non_saturating_g():
    obj = build("non-saturating")
    d_fake = t(0.0, -1.0)
    close(obj.g_loss(None, d_fake, NO_SAMPLES, NO_SAMPLES), (LOG2 + sp(1.0)) / 2)
    # Same discriminator loss as minimax.
    d_real = t(0.0, 2.0)
    close(obj.d_loss(d_real, d_fake, NO_SAMPLES, NO_SAMPLES), (LOG2 + sp(-2.0)) / 2 + (LOG2 + sp(-1.0)) / 2)


def test_non_saturating_gradient_does_not_vanish_where_minimax_does():
    # D confidently rejects a fake (score -10): minimax G's gradient ~ sigmoid(-10), NS G's ~ 1.
    s_mm = torch.tensor([-10.0], requires_grad=True)
    s_ns = torch.tensor([-10.0], requires_grad=True)
    build("minimax").g_loss(None, s_mm, NO_SAMPLES, NO_SAMPLES).backward()
    build("non-saturating").g_loss(None, s_ns, NO_SAMPLES, NO_SAMPLES).backward()
    assert abs(s_mm.grad.item()) < 1e-4
    assert abs(s_ns.grad.item()) > 0.99


def test_one_sided_label_smoothing():
    obj = build("non-saturating", real_label=0.95, g_label=0.95)
    d_real, d_fake = t(0.0, 2.0), t(0.0, -1.0)

    # BCE(s, y) = y softplus(-s) + (1 - y) softplus(s); at s = 0 it is log 2 for every y.
    def bce(s: float, y: float) -> float:
        return y * sp(-s) + (1 - y) * sp(s)

    expected_d = (LOG2 + bce(2.0, 0.95)) / 2 + (LOG2 + sp(-1.0)) / 2  # fakes keep label 0
    close(obj.d_loss(d_real, d_fake, NO_SAMPLES, NO_SAMPLES), expected_d)
    close(obj.g_loss(None, d_fake, NO_SAMPLES, NO_SAMPLES), (LOG2 + bce(-1.0, 0.95)) / 2)
    # With smoothing, D's real loss is minimal at sigmoid(s) = 0.95, not at s -> infinity.
    s = torch.tensor([math.log(0.95 / 0.05)], requires_grad=True)
    obj.d_loss(s, torch.tensor([-50.0]), NO_SAMPLES, NO_SAMPLES).backward()
    assert abs(s.grad.item()) < 1e-6


def test_cross_entropy_prob_is_sigmoid():
    obj = build("non-saturating")
    assert obj.score_name == "probability"
    assert torch.allclose(obj.prob(t(0.0, math.log(3.0))), t(0.5, 0.75))


@pytest.mark.parametrize(
    "settings",
    [{"real_label": 1.5}, {"fake_label": -0.1}, {"real_label": 0.3, "fake_label": 0.3}, {"g_label": 2.0}],
)
def test_bad_labels(settings):
    with pytest.raises(ConfigError):
        build("non-saturating", **settings)


def test_least_squares_default_abc():
    obj = build("least-squares")  # (a, b, c) = (0, 1, 1)
    d_real, d_fake = t(0.0, 2.0), t(0.0, -1.0)
    # ½·mean((0-1)², (2-1)²) + ½·mean((0-0)², (-1-0)²) = ½·1 + ½·½
    close(obj.d_loss(d_real, d_fake, NO_SAMPLES, NO_SAMPLES), 0.75)
    # ½·mean((0-1)², (-1-1)²) = ½·(1+4)/2
    close(obj.g_loss(None, d_fake, NO_SAMPLES, NO_SAMPLES), 1.25)
    assert obj.score_name == "score"
    assert torch.equal(obj.prob(d_fake), d_fake)


def test_least_squares_papers_other_choice():
    obj = build("least-squares", a=-1, b=1, c=0)  # YAML ints coerced to floats
    d_real, d_fake = t(0.0, 2.0), t(0.0, -1.0)
    # ½·mean(1, 1) + ½·mean((0+1)², (-1+1)²) = ½ + ¼
    close(obj.d_loss(d_real, d_fake, NO_SAMPLES, NO_SAMPLES), 0.75)
    # ½·mean(0², (-1)²)
    close(obj.g_loss(None, d_fake, NO_SAMPLES, NO_SAMPLES), 0.25)
    with pytest.raises(ConfigError):
        build("least-squares", a=1.0, b=1.0)


def test_wasserstein_signs():
    obj = build("wasserstein")
    d_real = t(1.0, 3.0).requires_grad_()
    d_fake = t(0.0, -2.0).requires_grad_()
    loss = obj.d_loss(d_real, d_fake, NO_SAMPLES, NO_SAMPLES)
    close(loss, -1.0 - 2.0)  # mean fake - mean real
    loss.backward()
    # Descending the critic's loss raises real scores and lowers fake ones.
    assert torch.equal(d_real.grad, t(-0.5, -0.5))
    assert torch.equal(d_fake.grad, t(0.5, 0.5))
    close(obj.g_loss(None, t(0.0, -2.0), NO_SAMPLES, NO_SAMPLES), 1.0)
    assert torch.equal(obj.prob(d_real.detach()), d_real.detach())


def test_hinge_margins():
    obj = build("hinge")
    d_real = t(1.0, 0.5, 2.0, -1.0)  # relu(1 - s): 0, 0.5, 0, 2
    d_fake = t(-1.0, -0.5, -3.0, 1.0)  # relu(1 + s): 0, 0.5, 0, 2
    close(obj.d_loss(d_real, d_fake, NO_SAMPLES, NO_SAMPLES), 2.5 / 4 + 2.5 / 4)
    # Exactly at or beyond the margins: zero loss.
    close(obj.d_loss(t(1.0, 5.0), t(-1.0, -5.0), NO_SAMPLES, NO_SAMPLES), 0.0)
    close(obj.g_loss(None, d_fake, NO_SAMPLES, NO_SAMPLES), -(-1.0 - 0.5 - 3.0 + 1.0) / 4)


# --- Coulomb -----------------------------------------------------------------------------------------


def plummer(r2: float, dim: float, eps: float) -> float:
    """k = 1 / (r² + eps²)^((dim-2)/2), from the paper's definition."""
    return 1.0 / (r2 + eps**2) ** ((dim - 2) / 2)


@pytest.mark.parametrize("dim,eps", [(3.0, 1.0), (4.0, 0.5)])
def test_coulomb_potential_of_two_charges(dim, eps):
    obj = build("coulomb", dim=dim, epsilon=eps)
    real = t(0.0, 0.0).reshape(1, 2)  # one positive charge at the origin
    fake = t(1.0, 0.0).reshape(1, 2)  # one negative charge at (1, 0)
    points = t(0.0, 0.0, 1.0, 0.0, 3.0, 4.0).reshape(3, 2)
    # target(a) = -Phi(a) = k(a, fake) - k(a, real)
    expected = t(
        plummer(1.0, dim, eps) - plummer(0.0, dim, eps),
        plummer(0.0, dim, eps) - plummer(1.0, dim, eps),
        plummer(4.0 + 16.0, dim, eps) - plummer(25.0, dim, eps),
    )
    assert torch.allclose(obj.potential(points, real, fake), expected, rtol=1e-12)
    assert obj.score_name == "potential"  # what the 2-D picture's colour bar says


def test_coulomb_d_loss_regresses_the_potential_at_real_and_fake_points():
    obj = build("coulomb")  # dim 3, eps 1: k = 1/sqrt(r² + 1)
    real = t(0.0).reshape(1, 1, 1)  # image-shaped samples are flattened
    fake = t(1.0).reshape(1, 1, 1)
    target_real = 1 / math.sqrt(2) - 1.0  # own charge included: k(0, 0) = 1
    target_fake = 1.0 - 1 / math.sqrt(2)
    d_real, d_fake = t(0.0), t(0.5)
    expected = 0.5 * ((0.0 - target_real) ** 2 + (0.5 - target_fake) ** 2) / 2
    close(obj.d_loss(d_real, d_fake, real, fake), expected)
    # A perfect D has zero loss.
    close(obj.d_loss(t(target_real), t(target_fake), real, fake), 0.0)
    close(obj.g_loss(None, t(0.25, 0.75), fake, fake), 0.5)


def test_coulomb_target_is_detached():
    obj = build("coulomb")
    real = torch.randn(4, 2)
    fake = torch.randn(4, 2, requires_grad=True)
    loss = obj.d_loss(torch.zeros(4), torch.zeros(4), real, fake)
    assert not loss.requires_grad  # only D's scores carry a graph


def test_coulomb_generator_moves_fake_towards_real():
    dim, eps = 3.0, 1.0
    obj = build("coulomb", dim=dim, epsilon=eps)
    real = torch.tensor([[0.0]], dtype=torch.float64)
    other_fake = torch.tensor([[2.0]], dtype=torch.float64)
    point = torch.tensor([[0.5]], dtype=torch.float64, requires_grad=True)
    fakes = torch.cat([point.detach(), other_fake])

    def perfect_d(a: torch.Tensor) -> torch.Tensor:
        # D equal to its regression target, written from the kernel (differentiable in a).
        def k(a, b):
            return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1).add(eps**2).pow(-(dim - 2) / 2)

        return k(a, fakes).mean(1) - k(a, real).mean(1)

    assert torch.allclose(perfect_d(point.detach()), obj.potential(point, real, fakes))
    loss = obj.g_loss(None, perfect_d(point), point, point)
    loss.backward()
    assert point.grad.item() > 0  # descent moves the fake at 0.5 towards the real charge at 0
    with torch.no_grad():
        moved = point - 0.1 * point.grad
    assert 0.0 < moved.item() < 0.5


@pytest.mark.parametrize("settings", [{"dim": 2.0}, {"dim": 1.0}, {"epsilon": 0.0}, {"epsilon": -1.0}])
def test_coulomb_bad_settings(settings):
    with pytest.raises(ConfigError):
        build("coulomb", **settings)


def test_unknown_setting_suggests_closest():
    with pytest.raises(ConfigError, match="real_label"):
        build("minimax", real_lable=0.9)


def test_relativistic_average_losses_computed_by_hand():
    d_real, d_fake = torch.tensor([2.0, 0.0], dtype=torch.float64), torch.tensor([-1.0, 1.0], dtype=torch.float64)
    ra = build("relativistic")
    # D: real minus mean fake = (2, 0), fake minus mean real = (-2, 0); BCE to 1 and to 0
    expected_d = (sp(-2.0) + sp(0.0)) / 2 + (sp(-2.0) + sp(0.0)) / 2
    close(ra.d_loss(d_real, d_fake, NO_SAMPLES, NO_SAMPLES), expected_d)
    # G: fake minus mean real = (-2, 0) towards 1, real minus mean fake = (2, 0) towards 0
    expected_g = (sp(2.0) + sp(0.0)) / 2 + (sp(2.0) + sp(0.0)) / 2
    close(ra.g_loss(d_real, d_fake, NO_SAMPLES, NO_SAMPLES), expected_g)
    ls = build("relativistic", form="least-squares")
    close(ls.d_loss(d_real, d_fake, NO_SAMPLES, NO_SAMPLES), ((1 + 1) / 2 + (1 + 1) / 2) / 2)  # (2-1)², (0-1)²; (-2+1)², (0+1)²
    close(ls.g_loss(d_real, d_fake, NO_SAMPLES, NO_SAMPLES), ((9 + 1) / 2 + (9 + 1) / 2) / 2)  # (-2-1)², (0-1)²; (2+1)², (0+1)²
    assert ra.g_sees_real  # the step computes D(x) in G's update for it


def test_relativistic_g_loss_moves_real_scores_too():
    d_real = torch.tensor([1.0, 2.0], requires_grad=True)
    build("relativistic").g_loss(d_real, torch.tensor([0.0, 0.5]), NO_SAMPLES, NO_SAMPLES).backward()
    assert d_real.grad.abs().sum() > 0  # unlike every other loss, G's gradient reaches it through D(x)


def test_d_targets_say_where_a_winning_d_goes():
    assert build("non-saturating", real_label=0.9).d_targets == (0.9, 0.0)
    assert build("minimax").d_targets == (1.0, 0.0)
    assert build("least-squares", a=-1.0, b=1.0, c=0.0).d_targets == (1.0, -1.0)
    for unbounded in ("wasserstein", "hinge", "coulomb", "relativistic"):
        assert build(unbounded).d_targets is None
