"""Ensembles: member k trains as the same config alone would, and its run directory reads like a solo run's."""

import json

import pytest
import torch

import gankit
from gankit.cli import main
from gankit.config import resolve_config
from gankit.errors import ConfigError
from gankit.scale.ensemble import train_ensemble
from gankit.store.checkpoint import load_checkpoint

SMALL = ["data.points_per_mode=20", "train.batch_size=64", "train.steps=6", "log.every=3", "log.sample_every=6",
         "log.checkpoint_every=6", "log.eval_every=0", "generator.hidden=32", "discriminator.hidden=32"]
VARIED = [  # seeds, learning rates, betas, clip values, Adam eps, weight averages (ramped up): one game (loss, n_critic)
    [],
    ["seed=5", "optim.d.lr=3e-4", "optim.g.betas=[0.9,0.99]"],
    ["seed=7", "reg.clip=0.05", "train.g_ema=0.9", "train.g_ema_rampup=0.5"],
    ["seed=9", "reg.clip=0.02", "optim.d.eps=1e-6"],
]


def _weights(run_dir):
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    return {**state["generator"], **{f"D.{k}": v for k, v in state["discriminator"].items()},
            **{f"EMA.{k}": v for k, v in state.get("generator_ema", {}).items()}}


def test_each_member_matches_its_solo_run_to_float_tolerance(tmp_path):
    configs = [resolve_config("wgan-grid25", SMALL + extra) for extra in VARIED]
    dirs = train_ensemble(configs, tmp_path / "ens")
    for k, (cfg, member) in enumerate(zip(configs, dirs)):
        solo = gankit.train(cfg, out=tmp_path / f"solo{k}", progress=False)
        a, b = _weights(solo.path), _weights(member)
        for key in a:  # batched matmuls sum in another order: equal to float tolerance, not bit for bit
            torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5, msg=f"member {k} {key}")
        rows = [[r["step"], r["loss_d"], r["loss_g"]] for r in solo.history if "loss_d" in r]
        mine = [[r["step"], r["loss_d"], r["loss_g"]] for r in gankit.load_run(member).history if "loss_d" in r]
        assert [r[0] for r in mine] == [r[0] for r in rows] == [3, 6]
        torch.testing.assert_close(torch.tensor(mine), torch.tensor(rows), rtol=1e-4, atol=1e-5)
        for name in ("config.yaml", "metrics.json", "samples/step_0000006.png"):
            assert (member / name).is_file(), name
        assert json.loads((member / "metrics.json").read_text())["verdict"]
        state = load_checkpoint(member / "checkpoints" / "last.pt")  # members step fused Adam (K steps an update),
        for opt in ("opt_g", "opt_d"):  # saved so that a member resumed alone keeps the kernel it trained with
            assert state[opt]["param_groups"][0]["fused"] is True, opt


@pytest.mark.parametrize("other, what", [("loss.name=hinge", "share loss"), ("train.d_steps=3", "train.d_steps"),
                                         ("runtime.precision=bf16", "runtime.precision")])
def test_ensemble_refuses_members_of_different_games_in_one_line(other, what, tmp_path):
    configs = [resolve_config("wgan-grid25", SMALL), resolve_config("wgan-grid25", [*SMALL, other])]
    with pytest.raises(ConfigError, match=what) as err:
        train_ensemble(configs, tmp_path / "ens")
    assert "\n" not in str(err.value) and not (tmp_path / "ens").exists()


def test_ensemble_runs_in_bf16_when_its_members_ask(tmp_path, monkeypatch):
    seen = []
    real_autocast = torch.autocast

    def spy(device_type, dtype=None, enabled=True, **kw):
        seen.append(enabled and dtype == torch.bfloat16)
        return real_autocast(device_type, dtype, enabled=enabled, **kw)

    monkeypatch.setattr(torch, "autocast", spy)
    configs = [resolve_config("wgan-grid25", [*SMALL, "train.steps=1", "runtime.precision=bf16", f"seed={k}"])
               for k in range(2)]
    train_ensemble(configs, tmp_path / "ens")
    assert seen and all(seen)  # every forward pass of the stacked iteration entered bf16 autocast


def test_ensemble_refuses_models_it_cannot_stack(tmp_path):
    configs = [resolve_config("wgan-grid25", SMALL), resolve_config("wgan-grid25", [*SMALL, "generator.hidden=16"])]
    with pytest.raises(ConfigError, match="architectures"):
        train_ensemble(configs, tmp_path / "ens")


def test_a_refused_ensemble_says_so_before_any_member_loads_its_data(tmp_path, capsys):
    # WGAN-GP's interpolates would come from one stream for all members: refused from the settings alone, so the
    # one line is all the user sees (each member used to print its "data: ..." line first)
    code = main(["train", "--preset", "wgan-gp-grid25", "--ensemble", "2", "--out", str(tmp_path / "ens"),
                 "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "an ensemble cannot train" in err
    assert not (tmp_path / "ens").exists()


def test_cli_ensemble_writes_one_run_directory_per_seed(tmp_path, capsys):
    out = tmp_path / "ens"
    code = main(["train", "--preset", "wgan-grid25", "--ensemble", "3", "--out", str(out), "--no-progress",
                 *[a for s in SMALL for a in ("--set", s)]])
    assert code == 0
    seeds = [gankit.load_run(out / f"member_{k:02d}").config.seed for k in range(3)]
    assert seeds == [0, 1, 2]
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("data: ") for line in lines) == 1  # the members' same data, said once
    verdicts = [line.split(":")[0] for line in lines if ": verdict: " in line]
    assert verdicts == ["member_00", "member_01", "member_02"]  # each verdict says whose it is


def test_a_member_does_not_depend_on_the_other_members_bit_for_bit(tmp_path):
    # Independence: member k's result is the same whoever trains beside it (here 4, 2 or no other members;
    # the members differ in seed, lr, betas, clip, n_critic and loss, so D rounds also change size).
    configs = [resolve_config("wgan-grid25", SMALL + extra) for extra in VARIED]
    four = train_ensemble(configs, tmp_path / "four")
    two = train_ensemble(configs[2:], tmp_path / "two")
    alone = train_ensemble(configs[3:], tmp_path / "alone")
    for k, others in ((2, [two[0]]), (3, [two[1], alone[0]])):
        mine = _weights(four[k])
        for other in others:
            theirs = _weights(other)
            assert all(torch.equal(mine[key], theirs[key]) for key in mine), f"member {k} vs {other}"


def test_an_ensemble_stops_every_member_at_its_time_budget(tmp_path):
    configs = [resolve_config("wgan-grid25", [*SMALL, "train.steps=1000000", "train.minutes=0.01", f"seed={k}"])
               for k in range(2)]
    for member in train_ensemble(configs, tmp_path / "ens"):
        written = json.loads((member / "metrics.json").read_text())
        assert "time budget" in written["stopped_early"] and written["verdict"]
        assert 0 < gankit.load_run(member).step < 1_000_000
