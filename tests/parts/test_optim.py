import pytest
import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.parts.optim import OPTIMIZERS, build_optimizer


def test_registered_names_and_settings():
    assert OPTIMIZERS.names() == ["adam", "rmsprop", "sgd"]
    # The injected parameters are not a user setting; every default is written out.
    assert OPTIMIZERS.resolve("adam", {}) == {
        "lr": 2e-4, "betas": (0.5, 0.999), "eps": 1e-8, "weight_decay": 0.0, "decay": 0.0,
    }
    assert OPTIMIZERS.resolve("adam", {"betas": [0.9, 0.99]})["betas"] == (0.9, 0.99)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "sgd"])
def test_builds_foreach_optimizer_without_scheduler(name):
    p = nn.Parameter(torch.zeros(3))
    opt, sched = build_optimizer(name, {}, [p])
    assert isinstance(opt, torch.optim.Optimizer)
    assert opt.defaults["foreach"] is True
    assert sched is None


def test_keras_decay_exact_lrs():
    # SGD with a constant gradient of 1 moves p by exactly the lr used at each step.
    p = nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt, sched = build_optimizer("sgd", {"lr": 0.1, "decay": 0.5}, [p])
    used = []
    for _ in range(4):
        used.append(opt.param_groups[0]["lr"])
        p.grad = torch.ones_like(p)
        opt.step()
        sched.step()
    assert used == pytest.approx([0.1, 0.1 / 1.5, 0.1 / 2.0, 0.1 / 2.5], rel=1e-12)
    assert p.item() == pytest.approx(-sum(used), rel=1e-12)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 / 3.0, rel=1e-12)


def test_decay_state_round_trips_through_weights_only_load(tmp_path):
    def make():
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        opt, sched = build_optimizer("adam", {"lr": 1e-3, "decay": 0.25}, model.parameters())
        return model, opt, sched

    def step(model, opt, sched, x):
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()
        sched.step()

    xs = torch.randn(6, 4, 3)
    model, opt, sched = make()
    for x in xs[:3]:
        step(model, opt, sched, x)
    path = tmp_path / "state.pt"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, path)

    state = torch.load(path, weights_only=True)
    resumed, opt2, sched2 = make()
    resumed.load_state_dict(state["model"])
    opt2.load_state_dict(state["opt"])
    sched2.load_state_dict(state["sched"])
    assert opt2.param_groups[0]["lr"] == pytest.approx(1e-3 / (1 + 0.25 * 3), rel=1e-12)
    assert sched2.lr_lambdas[0].decay == 0.25
    for x in xs[3:]:
        step(model, opt, sched, x)
        step(resumed, opt2, sched2, x)
    assert opt2.param_groups[0]["lr"] == pytest.approx(1e-3 / (1 + 0.25 * 6), rel=1e-12)
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "name,settings",
    [
        ("adam", {"lr": 0.0}),
        ("adam", {"lr": -1e-3}),
        ("adam", {"betas": [1.0, 0.999]}),
        ("adam", {"betas": [0.5, -0.1]}),
        ("adam", {"betas": [0.5]}),
        ("adam", {"eps": 0.0}),
        ("adam", {"decay": -1e-5}),
        ("adam", {"weight_decay": -1.0}),
        ("adam", {"lrr": 1e-3}),
        ("rmsprop", {"alpha": 1.0}),
        ("rmsprop", {"momentum": -0.5}),
        ("sgd", {"nesterov": True}),
        ("sgd", {"lr": "fast"}),
        ("nadam", {}),
    ],
)
def test_bad_settings_are_config_errors(name, settings):
    with pytest.raises(ConfigError):
        build_optimizer(name, settings, [nn.Parameter(torch.zeros(1))])
