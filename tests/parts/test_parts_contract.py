"""Every registered part of the loss-side axes (objective, penalty, augmentation) against one contract, the way
diffusers tests every scheduler against one common test: it builds from its defaults, its config round-trips,
it trains on the eager path and resumes bit for bit, and on the compiled step and in an ensemble it either
trains (equal to the eager run to float tolerance) or is refused in one line by the one capability check.
A new part is covered by registering it; nothing here names it."""

import os
import socket
import subprocess
import sys

import pytest
import torch

import gankit
from gankit.config import from_dict, resolve_config
from gankit.errors import ConfigError
from gankit.parts.augment import AUGMENTATIONS
from gankit.parts.objectives import OBJECTIVES
from gankit.parts.penalties import PENALTIES
from gankit.scale.ensemble import train_ensemble
from gankit.store import rundir
from gankit.store.checkpoint import load_checkpoint
from gankit.training.trainer import Trainer

TOY = ["data.points_per_mode=8", "train.batch_size=32", "generator.hidden=16", "discriminator.hidden=16",
       "log.every=2", "log.sample_every=100", "log.eval_every=0", "runtime.threads=1", "runtime.device=cpu"]
# Images (augmentations act on them): scikit-learn's 8x8 digits through toy MLPs
IMAGES = ["data.name=digits", "data.pixel_range=[-1.0,1.0]", "generator.name=mlp-elu", "generator.output=tanh",
          "discriminator.name=mlp-elu", "latent.dim=8", "generator.hidden=16", "discriminator.hidden=16",
          "train.batch_size=32", "log.every=2", "log.sample_every=100", "log.eval_every=0", "runtime.threads=1",
          "runtime.device=cpu", "log.n_samples=4"]

PARTS = ([("loss", n) for n in OBJECTIVES.names()] + [("reg", n) for n in PENALTIES.names()]
         + [("augment", n) for n in AUGMENTATIONS.names()])


def uses(axis: str, name: str, steps: int = 4) -> list[str]:
    """A tiny run whose config picks this part (the rest a plain GAN on the 5x5 grid, or digits for images)."""
    if axis == "augment":
        return [*IMAGES, f"augment.name={name}", f"train.steps={steps}", "log.checkpoint_every=2"]
    part = f"loss.name={name}" if axis == "loss" else f"reg.{name}=true"
    return [*TOY, f"train.steps={steps}", "log.checkpoint_every=2", part]


def preset(axis: str) -> str:
    return "gan-mlp-mnist" if axis == "augment" else "gan-grid25"


def config(axis: str, name: str, extra: list[str] = (), steps: int = 4):
    return resolve_config(preset(axis), [*uses(axis, name, steps), *extra])


def weights(run_dir, parts=("generator", "discriminator")) -> dict[str, torch.Tensor]:
    state = load_checkpoint(run_dir / rundir.LAST)
    return {f"{p}.{k}": v for p in parts for k, v in state[p].items()}


def same_run(a, b, what: str) -> None:
    """Two paths' runs agree to float tolerance: G's weights and the logged losses. (Not D's weights: a loss
    blind to a D parameter, e.g. the relativistic losses to D's last bias, leaves its gradient at rounding
    noise, which Adam scales up to full steps.)"""
    wa, wb = weights(a, ("generator",)), weights(b, ("generator",))
    for key in wa:
        torch.testing.assert_close(wb[key], wa[key], rtol=1e-4, atol=1e-5, msg=f"{what} {key}")
    rows = [[r["loss_d"], r["loss_g"]] for r in rundir.read_history(a / rundir.HISTORY) if "loss_d" in r]
    mine = [[r["loss_d"], r["loss_g"]] for r in rundir.read_history(b / rundir.HISTORY) if "loss_d" in r]
    torch.testing.assert_close(torch.tensor(mine), torch.tensor(rows), rtol=1e-4, atol=1e-5, msg=what)


def registry(axis: str):
    return {"loss": OBJECTIVES, "reg": PENALTIES, "augment": AUGMENTATIONS}[axis]


@pytest.mark.parametrize("axis, name", PARTS)
def test_builds_from_defaults_and_says_what_it_is(axis, name):
    part = registry(axis).build(name, {})
    assert registry(axis).summary(name)
    assert isinstance(part.unsupported, dict)


@pytest.mark.parametrize("axis, name", PARTS)
def test_config_round_trips_with_every_default_written(axis, name):
    cfg = config(axis, name)
    again = from_dict(cfg.to_dict())
    assert again.to_dict() == cfg.to_dict()
    section = cfg.reg[name] if axis == "reg" else getattr(cfg, axis)
    assert set(registry(axis).parameters(name)) <= set(section)  # every setting written out


@pytest.mark.parametrize("axis, name", PARTS)
def test_eager_trains_and_resumes_bit_for_bit(axis, name, tmp_path):
    cfg = config(axis, name)
    whole = gankit.train(cfg, out=tmp_path / "whole", progress=False)
    half = gankit.train(cfg, out=tmp_path / "half", progress=False, stop_at=2)
    assert half.step == 2
    resumed = gankit.train(None, resume=tmp_path / "half", progress=False)
    a, b = weights(whole.path), weights(resumed.path)
    assert all(torch.isfinite(v).all() for v in a.values())
    assert all(torch.equal(a[k], b[k]) for k in a), f"{axis} {name}: the resumed run differs"


def _refused_in_one_line(err: ConfigError, where: str) -> None:
    text = str(err)
    assert where in text and "\n" not in text


@pytest.mark.parametrize("axis, name", PARTS)
def test_ensemble_trains_each_member_as_alone_or_refuses_in_one_line(axis, name, tmp_path):
    configs = [config(axis, name, [f"seed={k}"], steps=2) for k in range(2)]
    try:
        dirs = train_ensemble(configs, tmp_path / "ens")
    except ConfigError as err:
        _refused_in_one_line(err, "an ensemble cannot train")
        assert not (tmp_path / "ens").exists()
        return
    for k, member in enumerate(dirs):
        solo = gankit.train(configs[k], out=tmp_path / f"solo{k}", progress=False)
        same_run(solo.path, member, f"{name} member {k}")


@pytest.mark.parametrize("axis, name", PARTS)
def test_compiled_step_equals_eager_or_refuses_in_one_line(axis, name, tmp_path):
    cfg = config(axis, name, ["runtime.compile=step"], steps=2)
    try:
        Trainer(cfg, tmp_path / "probe", progress=False)
    except ConfigError as err:
        _refused_in_one_line(err, "runtime.compile: step cannot train")
        return
    compiled = gankit.train(cfg, out=tmp_path / "compiled", progress=False)
    eager = gankit.train(config(axis, name, steps=2), out=tmp_path / "eager", progress=False)
    same_run(eager.path, compiled.path, name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# torchrun costs a two-process launch each: the parts that change what the step computes beyond the loss value
TORCHRUN = [(a, n) for a, n in PARTS if a != "loss" or OBJECTIVES.build(n, {}).g_sees_real]


@pytest.mark.slow
@pytest.mark.parametrize("axis, name", TORCHRUN)
def test_torchrun_two_ranks_train_it_or_refuse_in_one_line(axis, name, tmp_path):
    sets = uses(axis, name, steps=2)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "gankit", "train", "--no-progress", "--preset", preset(axis),
               "--out", str(tmp_path / "run"), *[a for s in sets for a in ("--set", s)]]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANKIT_DIST_TIMEOUT": "120"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode == 2:
        assert "torchrun (2 ranks) cannot train" in done.stderr
        return
    assert done.returncode == 0, done.stderr[-2000:]
    assert all(torch.isfinite(v).all() for v in weights(tmp_path / "run").values())
