"""`train.fakes: reuse`: G's update, then D's update on the same fakes, detached (PyTorch-GAN's dcgan.py order).

The dcgan-mnist-pytorch-gan preset trains with it; three of its iterations give the weights of dcgan.py's loop
written out by hand here. Bad combinations are one line; a reuse run resumes bit for bit; two torchrun ranks
compute what one process computes."""

import copy

import pytest
import torch
import torch.nn.functional as F
from resuming import train_steps
from test_distributed import TOY, _sets, _torchrun, _weights
from test_trainer import (
    test_resumed_run_ends_bit_identical_to_an_uninterrupted_one as resume_equals_whole,
)

import gankit
from gankit.cli import main
from gankit.config import resolve_config
from gankit.errors import ConfigError
from gankit.training.trainer import Trainer


def dcgan_py_loop(G, D, opt_g, opt_d, reals, noises):
    """PyTorch-GAN's implementations/dcgan/dcgan.py, per batch (with the preset's BCE: D's loss the sum of the
    two halves, on logits)."""
    for real, z in zip(reals, noises):
        gen_imgs = G(z)
        out = D(gen_imgs)
        g_loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()

        opt_d.zero_grad()  # also clears what g_loss.backward() left in D's gradients
        out_real, out_fake = D(real), D(gen_imgs.detach())
        real_loss = F.binary_cross_entropy_with_logits(out_real, torch.ones_like(out_real))
        fake_loss = F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake))
        d_loss = real_loss + fake_loss
        d_loss.backward()
        opt_d.step()


def test_the_pytorch_gan_preset_trains_as_dcgan_py_written_by_hand(tmp_path):
    cfg = resolve_config("dcgan-mnist-pytorch-gan", ["data.limit=192", "runtime.subpixel=false",
                                                       "runtime.precision=fp32", "runtime.device=cpu"])
    assert cfg.train.fakes == "reuse"  # the preset's own setting, not an override
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    G, D = copy.deepcopy(trainer.G), copy.deepcopy(trainer.D)  # the same initial weights, layout and hooks
    start = next(G.parameters()).detach().clone()
    fused = bool(trainer.opt_g.param_groups[0].get("fused"))  # the conv fast path's fused Adam kernel
    opt_g, opt_d = (torch.optim.Adam(m.parameters(), lr=cfg.optim[w]["lr"], betas=tuple(cfg.optim[w]["betas"]),
                                     fused=fused) for m, w in ((G, "g"), (D, "d")))

    reals, noises = [], []
    batch, noise = trainer.batcher.batch, trainer.noise
    trainer.batcher.batch = lambda *a: reals.append(batch(*a)) or reals[-1]
    trainer.noise = lambda n: noises.append(noise(n)) or noises[-1]
    torch.manual_seed(7)  # Dropout2d in D draws from the global stream: the same masks in both loops
    train_steps(trainer, 3)
    assert len(reals) == len(noises) == 3  # one draw of noise per iteration: one G forward
    assert all(len(z) == len(r) == 64 for z, r in zip(noises, reals))

    if trainer.channels_last:
        reals = [r.contiguous(memory_format=torch.channels_last) for r in reals]
    torch.manual_seed(7)
    dcgan_py_loop(G, D, opt_g, opt_d, reals, noises)
    for mine, theirs in ((trainer.G, G), (trainer.D, D)):
        want = theirs.state_dict()  # weights and batch-norm statistics
        for key, value in mine.state_dict().items():
            torch.testing.assert_close(value, want[key], rtol=1e-5, atol=1e-6, msg=key)
    assert not torch.equal(next(trainer.G.parameters()), start)  # it did train


def test_reuse_runs_g_forward_once_per_iteration_and_logs_the_four_values(tmp_path):
    sets = ["data.points_per_mode=20", "train.batch_size=64", "runtime.device=cpu", "log.eval_every=0"]
    calls = {}
    for fakes in ("fresh", "reuse"):
        trainer = Trainer(resolve_config("gan-grid25", [*sets, f"train.fakes={fakes}"]), tmp_path / fakes,
                          progress=False)
        count = []
        trainer.G.register_forward_hook(lambda *_, count=count: count.append(1))
        trainer.iteration()
        calls[fakes] = len(count)
        assert trainer.sums_count == 1 and torch.isfinite(trainer.sums).all() and len(trainer.sums) == 4
    assert calls == {"fresh": 2, "reuse": 1}


def test_reuse_keeps_ema_and_clipping_working(tmp_path):
    sets = ["data.points_per_mode=20", "train.batch_size=64", "runtime.device=cpu", "log.eval_every=0",
            "train.fakes=reuse", "train.g_ema=0.9", "reg.clip=0.01"]
    trainer = Trainer(resolve_config("wgan-grid25", sets), tmp_path / "run", progress=False)
    ema_before = [p.clone() for p in trainer.G_ema.parameters()]
    trainer.iteration()
    assert all(p.abs().max() <= 0.01 for p in trainer.D.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(ema_before, trainer.G_ema.parameters()))


def test_reuse_hands_gs_fakes_to_ds_update_and_its_gradient_penalty(monkeypatch, tmp_path):
    import gankit.parts.penalties as penalties_module

    sets = ["data.points_per_mode=20", "train.batch_size=64", "runtime.device=cpu", "log.eval_every=0",
            "train.fakes=reuse", "train.d_steps=1"]
    trainer = Trainer(resolve_config("wgan-gp-grid25", sets), tmp_path / "run", progress=False)
    made, penalised = [], []
    trainer.G.register_forward_hook(lambda _m, _a, out: made.append(out.detach().clone()))
    penalty = penalties_module.gradient_penalty
    monkeypatch.setattr(penalties_module, "gradient_penalty",
                        lambda D, real, fake, **kw: penalised.append(fake) or penalty(D, real, fake, **kw))
    trainer.iteration()
    assert len(made) == len(penalised) == 1
    assert torch.equal(penalised[0], made[0]) and not penalised[0].requires_grad  # G's fakes, detached
    assert torch.isfinite(trainer.sums).all()


def test_reuse_skips_a_non_finite_g_update_and_still_updates_d(monkeypatch, tmp_path):
    sets = ["data.points_per_mode=20", "train.batch_size=64", "runtime.device=cpu", "log.eval_every=0",
            "train.fakes=reuse", "train.skip_nonfinite=true"]
    trainer = Trainer(resolve_config("gan-grid25", sets), tmp_path / "run", progress=False)
    g_loss = trainer.objective.g_loss
    monkeypatch.setattr(type(trainer.objective), "g_loss", lambda self, *scores: g_loss(*scores) * float("nan"))
    g_before = [p.clone() for p in trainer.G.parameters()]
    d_before = [p.clone() for p in trainer.D.parameters()]
    trainer.iteration()
    assert trainer.skipped == 1 and trainer.sums_count == 0  # G's update skipped; the iteration is not logged
    assert all(torch.equal(a, b) for a, b in zip(g_before, trainer.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters()))


@pytest.mark.parametrize("bad, what", [("train.d_steps=2", "train.d_steps 2"), ("train.g_steps=3", "train.g_steps 3")])
def test_reuse_with_more_than_one_update_is_one_line_exit_2(bad, what, capsys, tmp_path):
    out = tmp_path / "run"
    code = main(["train", "--preset", "gan-grid25", "--out", str(out), "--no-progress",
                 *_sets(["train.fakes=reuse", bad])])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "train.fakes: reuse" in err and what in err and "train.fakes=fresh" in err
    assert not out.exists()


def test_reuse_refusals_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="train.d_input 'sorted'"):
        resolve_config("gan-1d", ["train.fakes=reuse"])  # D sees the whole batch at once
    with pytest.raises(ConfigError, match="did you mean 'reuse'"):
        resolve_config("gan-grid25", ["train.fakes=reuse2"])
    config = resolve_config("wgan-grid25", ["runtime.compile=step", "train.fakes=reuse"])
    with pytest.raises(ConfigError, match="runtime.compile: step cannot train train.fakes: reuse"):
        Trainer(config, tmp_path / "run", progress=False)
    from gankit.training.capability import check_members

    member = Trainer(resolve_config("wgan-grid25", ["train.fakes=reuse"]), tmp_path / "member", progress=False)
    with pytest.raises(ConfigError, match="an ensemble cannot train train.fakes: reuse"):
        check_members([member.config], [(member.G, member.D)])


@pytest.mark.parametrize("preset, settings", [
    ("gan-grid25", ["data.points_per_mode=20", "train.batch_size=64", "train.steps=14", "train.fakes=reuse"]),
    # weight clipping and G's average in the reuse order
    ("wgan-grid25", ["data.points_per_mode=20", "train.batch_size=64", "train.steps=14", "train.fakes=reuse",
                     "train.g_ema=0.9"]),
])
def test_a_reuse_run_resumes_bit_identical_to_an_uninterrupted_one(preset, settings, tmp_path):
    resume_equals_whole(preset, settings, tmp_path)


@pytest.mark.slow  # torchrun: 2 processes
def test_two_ranks_reusing_fakes_compute_what_one_process_computes(tmp_path):
    sets = [*TOY, "train.fakes=reuse"]
    proc = _torchrun(["--preset", "gan-grid25", "--out", str(tmp_path / "two"), *_sets(sets)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = gankit.train("gan-grid25", out=tmp_path / "one", overrides=sets, progress=False).path
    fresh = gankit.train("gan-grid25", out=tmp_path / "fresh", overrides=TOY, progress=False).path
    two, one, fresh = _weights(tmp_path / "two"), _weights(one), _weights(fresh)
    for key in one:  # each rank its slice of the noise and of the real batch; DDP averages the gradients
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
    assert any(not torch.allclose(one[k], fresh[k], rtol=1e-3, atol=1e-4) for k in one)  # reuse is another run
