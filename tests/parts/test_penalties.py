import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from gankit.errors import ConfigError
from gankit.parts.penalties import add_spectral_norm, clip_weights_, gradient_penalty


def linear_critic(w: list[float]) -> nn.Module:
    """D(x) = w·flatten(x) + 1, returning shape (B,)."""
    layer = nn.Linear(len(w), 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([w]))
        layer.bias.fill_(1.0)
    return nn.Sequential(nn.Flatten(), layer, nn.Flatten(0))


def test_clip_bounds_every_parameter():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ELU(), nn.Linear(8, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(10)
        model[0].weight[0, 0] = 0.05  # inside the box: untouched
    clip_weights_(model, 0.1)
    for p in model.parameters():
        assert (p.abs() <= 0.1).all()  # compared in float32, the parameters' dtype
    assert model[0].weight[0, 0].item() == pytest.approx(0.05)
    assert (model[2].weight.abs() == 0.1).any()
    with pytest.raises(ConfigError):
        clip_weights_(model, 0.0)


def test_gradient_penalty_of_linear_critic_is_exact():
    # dD/dx = w everywhere, so ||grad|| = ||w|| = 5 and the penalty is (5 - 1)² = 16.
    critic = linear_critic([3.0, 4.0, 0.0, 0.0])
    real = torch.randn(6, 1, 2, 2)
    fake = torch.randn(6, 1, 2, 2)
    penalty = gradient_penalty(critic, real, fake)
    assert penalty.item() == pytest.approx(16.0, rel=1e-6)
    # create_graph: the penalty trains D. d/dw (||w|| - 1)² = 2 (||w|| - 1) w / ||w||.
    penalty.backward()
    assert torch.allclose(critic[1].weight.grad, torch.tensor([[4.8, 6.4, 0.0, 0.0]]))
    assert gradient_penalty(critic, real, fake, center=0.0).item() == pytest.approx(25.0, rel=1e-6)


def test_gradient_penalty_zero_for_unit_norm_critic():
    critic = linear_critic([0.6, 0.0, 0.8, 0.0])
    penalty = gradient_penalty(critic, torch.randn(5, 4), torch.randn(5, 4))
    assert penalty.item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_interpolates_per_example():
    # D(x) = sum(x²): grad = 2 x_hat, so each norm is 2 ||x_hat_i||, with x_hat built from the same alphas.
    class Square(nn.Module):
        def forward(self, x):
            return x.pow(2).flatten(1).sum(1)

    real = torch.randn(4, 3, dtype=torch.float64)
    fake = torch.randn(4, 3, dtype=torch.float64)
    penalty = gradient_penalty(Square(), real, fake, generator=torch.Generator().manual_seed(7))
    alpha = torch.rand((4, 1), generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    x_hat = alpha * real + (1 - alpha) * fake
    expected = ((2 * x_hat.norm(dim=1) - 1) ** 2).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-12)


def test_gradient_penalty_does_not_reach_the_generator():
    g_weight = nn.Parameter(torch.ones(1))
    fake = torch.randn(4, 2) * g_weight
    critic = linear_critic([1.0, 2.0])
    gradient_penalty(critic, torch.randn(4, 2), fake).backward()
    assert g_weight.grad is None
    assert critic[1].weight.grad is not None


def test_spectral_norm_makes_largest_singular_value_one():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4), nn.Unflatten(1, (1, 2, 2)),
        nn.Conv2d(1, 3, 3, padding=1), nn.ConvTranspose2d(3, 2, 2),
    )
    with torch.no_grad():
        model[0].weight.mul_(5.0)
    assert torch.linalg.matrix_norm(model[0].weight, ord=2) > 2.0
    assert add_spectral_norm(model) is model
    add_spectral_norm(model)  # idempotent: no second parametrisation
    for i in (0, 2, 4, 5):
        assert parametrize.is_parametrized(model[i], "weight")
        assert len(model[i].parametrizations.weight) == 1
    model.train()
    for _ in range(5):  # one power iteration per forward pass
        model(torch.randn(8, 6))
    for i in (0, 2):
        sigma = torch.linalg.matrix_norm(model[i].weight.detach(), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=1e-3)


def test_r1_of_a_linear_critic_is_half_the_squared_weight_norm():
    from gankit.parts.penalties import PENALTIES

    # dD/dx = w for every real example: R1 = ½·||w||² = ½·25 whatever the batch
    critic = linear_critic([3.0, 4.0, 0.0, 0.0])
    r1 = PENALTIES.build("r1", {"weight": 10.0, "every": 4})
    value = r1.d_loss(critic, torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2))
    assert value.item() == pytest.approx(12.5)
    assert (r1.weight, r1.every) == (10.0, 4)


def test_r1_trains_d_towards_flat_real_gradients():
    from gankit.parts.penalties import PENALTIES

    critic = linear_critic([3.0, 4.0, 0.0, 0.0])
    PENALTIES.build("r1", {}).d_loss(critic, torch.randn(5, 1, 2, 2), None).backward()
    grad = critic[1].weight.grad
    assert torch.allclose(grad, torch.tensor([[3.0, 4.0, 0.0, 0.0]]))  # d(½||w||²)/dw = w: towards zero


def test_lazy_r1_is_applied_every_kth_iteration_times_k(monkeypatch, tmp_path):
    from gankit.config import resolve_config
    from gankit.parts import penalties
    from gankit.training.trainer import Trainer

    calls = []
    real_loss = penalties.R1.d_loss
    monkeypatch.setattr(penalties.R1, "d_loss", lambda self, *a: calls.append(1) or real_loss(self, *a))
    trainer = Trainer(resolve_config("gan-grid25", ["data.points_per_mode=8", "train.batch_size=32",
                                                    "reg.r1.every=4", "reg.r1.weight=2"]), tmp_path / "run")
    for _ in range(8):
        trainer.iteration()
        trainer.step += 1
    assert len(calls) == 2  # iterations 0 and 4


def test_bad_r1_settings_are_one_line():
    from gankit.config import resolve_config

    with pytest.raises(ConfigError, match="reg.r1.every must be at least 1"):
        resolve_config("gan-grid25", ["reg.r1.every=0"])
    with pytest.raises(ConfigError, match="reg.r1 weight must be >= 0"):
        resolve_config("gan-grid25", ["reg.r1=-1"])
