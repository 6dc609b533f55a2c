"""G's weight average and its ramp-up (train.g_ema, train.g_ema_rampup), on the eager and compiled paths."""

import math
from types import SimpleNamespace

import pytest
import torch

import gankit
from gankit.config import resolve_config
from gankit.errors import ConfigError
from gankit.store.checkpoint import load_checkpoint
from gankit.training.capability import check_path
from gankit.training.players import ema_decay
from gankit.training.trainer import Trainer

SMALL = ["train.batch_size=32", "train.steps=5", "log.every=5", "log.eval_every=0", "log.sample_every=100",
         "log.checkpoint_every=100", "generator.hidden=8", "discriminator.hidden=8", "train.d_input=sample",
         "train.g_ema=0.999", "train.g_ema_rampup=0"]


def test_the_ramped_decay_has_a_half_life_of_that_fraction_of_the_updates_so_far():
    train = SimpleNamespace(g_ema=0.999, g_ema_rampup=0.1, g_steps=1)
    assert ema_decay(train, 0) == 0.0  # the first update copies G
    assert ema_decay(train, 10) == pytest.approx(0.5)  # a half-life of 0.1 x 10 = 1 update
    assert ema_decay(train, 100) == pytest.approx(0.5 ** (1 / 10))
    assert ema_decay(train, 6_000) == pytest.approx(0.5 ** (1 / 600))  # still below 0.999's 692.8 updates
    assert ema_decay(train, 7_000) == 0.999 == ema_decay(train, 10**9)  # then g_ema's own
    assert ema_decay(SimpleNamespace(g_ema=0.999, g_ema_rampup=0.1, g_steps=2), 10) == pytest.approx(0.5 ** 0.5)
    assert ema_decay(SimpleNamespace(g_ema=0.999, g_ema_rampup=0.0, g_steps=1), 0) == 0.999  # off: the constant


def test_an_eager_run_averages_g_with_the_ramped_decays(tmp_path):
    trainer = Trainer(resolve_config("gan-1d", [*SMALL, "train.g_ema_rampup=0.5"]), tmp_path, progress=False)
    average = [p.detach().clone() for p in trainer.G.parameters()]
    for step in range(4):
        trainer.iteration()
        decay = ema_decay(trainer.config.train, step)
        average = [a * decay + p.detach() * (1 - decay) for a, p in zip(average, trainer.G.parameters())]
        if step == 0:  # the first update copied G: no trace of the initial weights
            assert all(torch.equal(e, p) for e, p in zip(trainer.G_ema.parameters(), trainer.G.parameters()))
        trainer.step += 1
    for mine, by_hand in zip(trainer.G_ema.parameters(), average):
        torch.testing.assert_close(mine, by_hand, rtol=1e-5, atol=1e-7)
    assert not all(torch.equal(e, p) for e, p in zip(trainer.G_ema.parameters(), trainer.G.parameters()))


@pytest.mark.slow
def test_the_compiled_step_ramps_the_average_as_the_eager_run_does(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")
    ramped = [*SMALL, "train.g_ema_rampup=0.5"]
    eager = gankit.train("gan-1d", out=tmp_path / "eager", progress=False, overrides=ramped)
    step = gankit.train("gan-1d", out=tmp_path / "step", progress=False, overrides=[*ramped, "runtime.compile=step"])
    plain = gankit.train("gan-1d", out=tmp_path / "plain", progress=False, overrides=SMALL)
    a, b, c = (load_checkpoint(r.path / "checkpoints" / "last.pt") for r in (eager, step, plain))
    torch.testing.assert_close(b["generator_ema"], a["generator_ema"], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(b["generator"], a["generator"], rtol=1e-4, atol=1e-6)
    # without the ramp-up, 5 updates at 0.999 leave the average within 0.5% of G's initial weights; with it,
    # the average is G's recent weights (the same seed: the same initial weights and the same G)
    first = Trainer(resolve_config("gan-1d", SMALL), tmp_path / "init", progress=False).G.state_dict()
    moved = {k: (a["generator"][k] - first[k]).abs().max().item() for k in first}
    for key, size in moved.items():
        assert (c["generator_ema"][key] - first[key]).abs().max().item() <= 0.006 * size + 1e-7
        assert (b["generator_ema"][key] - a["generator"][key]).abs().max().item() < 0.5 * size


def test_a_cuda_graph_cannot_hold_a_ramped_average_and_bad_values_are_refused():
    config = resolve_config("gan-1d", [*SMALL, "train.g_ema_rampup=0.1", "optim.g.decay=0", "optim.d.decay=0"])
    with pytest.raises(ConfigError, match=r"train\.g_ema_rampup \(the graph holds one decay"):
        check_path("graph", config)  # (no models given: the settings alone)
    check_path("compiled", config)  # the compiled step and an ensemble ramp it (tests above, test_ensemble.py)
    check_path("ensemble", config)
    assert resolve_config("gan-1d", ["train.g_ema=0"]).train.g_ema_rampup == 0.1  # no average: nothing to ramp
    with pytest.raises(ConfigError, match=r"train\.g_ema_rampup must be in \[0, 1\]"):
        resolve_config("gan-1d", ["train.g_ema_rampup=1.5"])
    assert math.isclose(resolve_config("gan-1d", ["train.g_ema_rampup=1"]).train.g_ema_rampup, 1.0)
