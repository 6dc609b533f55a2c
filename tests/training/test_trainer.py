"""End to end: every preset trains a few steps, runs resume bit for bit, pictures and checkpoints appear."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.cli import main
from gankit.presets import preset_names
from gankit.store.checkpoint import load_checkpoint

TINY = {  # a few steps of every preset on small data
    "lsgan-mnist": ["data.limit=300", "train.steps=3"],
    "dcgan-mnist-tf": ["data.limit=300", "train.steps=3"],
    "gan-mlp-mnist": ["data.limit=300", "train.steps=3"],
    "dcgan-mnist-keras": ["data.limit=300", "train.steps=3"],
    "dcgan-mnist-pytorch-gan": ["data.limit=300", "train.steps=3"],
    "gan-1d": ["train.steps=20"],
    "wgan-grid25": ["data.points_per_mode=100", "train.steps=20"],
    "wgan-grid25-noclip": ["data.points_per_mode=100", "train.steps=20"],
    "gan-grid25": ["data.points_per_mode=100", "train.steps=20"],
    "coulomb-grid25": ["data.points_per_mode=100", "train.steps=20"],
    "wgan-gp-grid25": ["data.points_per_mode=100", "train.steps=20"],
    "grid25-fast": ["data.points_per_mode=100", "train.steps=20"],
    "ring8-fast": ["data.points_per_mode=100", "train.steps=20"],
    "mnist-fast": ["data.limit=300", "log.eval_every=0", "train.steps=3"],
    "fashion-mnist-fast": ["data.limit=300", "log.eval_every=0", "train.steps=3"],
}
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
QUICK_LOG = ["log.every=2", "log.sample_every=10", "log.checkpoint_every=10"]


def _sets(items):
    return [arg for item in items for arg in ("--set", item)]


def make_folder(path: Path, n: int = 12, size: int = 40) -> Path:
    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size + i, 3), dtype=np.uint8)).save(path / f"{i}.png")
    return path


def test_every_preset_is_covered_here():
    assert set(TINY) | {"dcgan64-folder"} == set(preset_names())


@pytest.mark.parametrize("preset", sorted(TINY))
def test_preset_trains_a_few_steps_from_the_cli(preset, tmp_path, capsys):
    if preset.startswith("fashion") and not FASHION.is_file():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    out = tmp_path / "run"
    code = main(["train", "--preset", preset, "--out", str(out), "--no-progress", *_sets(TINY[preset] + QUICK_LOG)])
    assert code == 0
    assert f"run: {out}" in capsys.readouterr().out
    assert (out / "config.yaml").is_file()
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["step"] == int(TINY[preset][-1].split("=")[1])
    rows = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "eval" not in r]  # the toy presets also write eval rows (log.eval_every)
    assert rows and {"step", "loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "lr_g"} <= set(rows[-1])
    assert all(np.isfinite(r["loss_d"]) for r in rows)
    pictures = sorted((out / "samples").glob("*.png"))
    assert pictures[0].name == "step_0000000.png" and len(pictures) >= 2
    Image.open(pictures[-1]).verify()


def test_dcgan64_folder_preset_trains_on_an_image_folder(tmp_path):
    folder = make_folder(tmp_path / "pics", n=6)
    out = tmp_path / "run"
    code = main(["train", "--preset", "dcgan64-folder", "--out", str(out), "--no-progress",
                 *_sets([f"data.path={folder}", "data.size=32", "train.batch_size=4", "train.steps=2",
                         "generator.width=8", "discriminator.width=8"])])
    assert code == 0
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 2


def _final_weights(run_dir: Path) -> dict:
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    return {**state["generator"], **{f"D.{k}": v for k, v in state["discriminator"].items()}}


@pytest.mark.parametrize(
    "preset, settings",
    [
        # batch norm, dropout (global RNG), epochs of shuffled data crossing the resume point
        ("gan-mlp-mnist", ["data.limit=200", "train.batch_size=32", "train.steps=14"]),
        ("lsgan-mnist", ["data.limit=200", "train.batch_size=16", "train.steps=14"]),
        # the conv fast path: sub-pixel upsampling, channels_last, Dropout2d
        ("dcgan-mnist-pytorch-gan", ["data.limit=200", "train.batch_size=16", "train.steps=14"]),
        # class-conditional: the labels' planes ride with the shuffled batches; G's weight average
        ("mnist-fast", ["data.limit=200", "train.batch_size=16", "train.steps=14", "latent.classes=10",
                        "train.minutes=null"]),
        # Keras decay schedulers, weight clipping, 2-D data; a 1-D sampler with the sorted view
        ("wgan-grid25", ["data.points_per_mode=20", "train.batch_size=64", "train.steps=14"]),
        ("gan-1d", ["train.steps=14"]),
        # evaluation during training (its own latent batch, RNG streams untouched), best.pt across the cut
        ("gan-grid25", ["data.points_per_mode=20", "train.batch_size=64", "train.steps=14", "log.eval_every=4"]),
        ("gan-1d", ["train.steps=14", "log.eval_every=4"]),
    ],
)
def test_resumed_run_ends_bit_identical_to_an_uninterrupted_one(preset, settings, tmp_path):
    common = settings + ["log.every=3", "log.sample_every=5", "log.checkpoint_every=100"]
    whole = gankit.train(preset, out=tmp_path / "whole", overrides=common, progress=False)
    first = gankit.train(preset, out=tmp_path / "cut", overrides=common, progress=False, stop_at=8)
    assert first.step == 8
    resumed = gankit.train(None, resume=tmp_path / "cut", progress=False)
    assert resumed.step == whole.step == 14
    a, b = _final_weights(tmp_path / "whole"), _final_weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key

    def losses(run):
        return [(r["step"], r["loss_d"], r["loss_g"], r["d_real"], r["d_fake"]) for r in run.history if "loss_d" in r]

    assert losses(whole) == losses(resumed)
    evals = [r for r in whole.history if "eval" in r]
    assert evals == [r for r in resumed.history if "eval" in r]
    if "log.eval_every=4" in settings:  # eval rows at 4, 8 (the cut), 12, 14; the best value survives the resume
        assert [r["step"] for r in evals] == [4, 8, 12, 14]
        best = [load_checkpoint(p / "checkpoints" / "best.pt") for p in (whole.path, resumed.path)]
        assert best[0]["best"] == best[1]["best"] == load_checkpoint(resumed.path / "checkpoints" / "last.pt")["best"]
        assert all(torch.equal(best[0]["generator"][k], best[1]["generator"][k]) for k in best[0]["generator"])
    assert json.loads((whole.path / "metrics.json").read_text()) == json.loads((resumed.path / "metrics.json").read_text())


def test_existing_run_dir_is_never_overwritten_without_asking(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--preset", "gan-1d", "--out", str(out), "--no-progress", "--set", "train.steps=4"]
    assert main(args) == 0
    before = (out / "checkpoints" / "last.pt").read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--resume" in err and "Traceback" not in err
    assert (out / "checkpoints" / "last.pt").read_bytes() == before
    assert main([*args, "--overwrite"]) == 0


def test_default_run_dirs_are_numbered_not_overwritten():
    first = gankit.train("gan-1d", overrides=["train.steps=2"], progress=False)
    second = gankit.train("gan-1d", overrides=["train.steps=2"], progress=False)
    assert first.path == Path("runs/gan-1d") and second.path == Path("runs/gan-1d-2")


def test_a_runs_config_yaml_reruns_it(tmp_path):
    first = gankit.train("wgan-grid25", out=tmp_path / "a", progress=False,
                         overrides=["data.points_per_mode=20", "train.steps=5", "train.batch_size=50"])
    again = gankit.train(str(first.path / "config.yaml"), out=tmp_path / "b", progress=False)
    assert again.config == first.config
    a, b = _final_weights(first.path), _final_weights(again.path)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "preset, n, settings",
    [
        ("gan-1d", 500, ["train.steps=3"]),
        ("wgan-grid25", 300, ["data.points_per_mode=20", "train.steps=3", "train.batch_size=50"]),
        ("lsgan-mnist", 16, ["data.limit=200", "train.steps=2", "train.batch_size=16"]),
    ],
)
def test_sample_command_writes_the_picture_for_the_data_kind(preset, n, settings, tmp_path):
    run = gankit.train(preset, out=tmp_path / "run", overrides=settings, progress=False)
    png = tmp_path / "out.png"
    assert main(["sample", str(run.path), "-n", str(n), "-o", str(png)]) == 0
    with Image.open(png) as image:
        assert image.width >= 300
        assert np.asarray(image.convert("L")).std() > 5  # not blank
    x = run.sample(n)
    assert x.shape[0] == n and torch.isfinite(x).all()
    if run.data.kind == "image":
        assert x.min() >= 0 and x.max() <= 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--preset", "lsgan-mnsit"], "did you mean 'lsgan-mnist'"),
        (["train", "--preset", "gan-1d", "--set", "train.stepz=3"], "did you mean 'train.steps'"),
        (["train", "--preset", "gan-1d", "--set", "loss.name=hinj"], "did you mean 'hinge'"),
        (["train", "--preset", "gan-1d", "--set", "optim.g.lr=0"], "lr"),
        (["train", "--preset", "dcgan64-folder", "--set", "data.path=/no/such/folder"], "/no/such/folder"),
        (["train", "--config", "missing.yaml"], "not found"),
        (["train"], "--preset"),
        (["sample", "not-a-run"], "does not exist"),
        (["train", "--resume", "not-a-run"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert not Path("runs").exists()


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bogus"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_folder_with_a_corrupt_image_skips_it_and_says_so(tmp_path, capsys):
    folder = make_folder(tmp_path / "pics", n=5)
    (folder / "broken.png").write_bytes((folder / "0.png").read_bytes()[:60])
    (folder / "notes.jpg").write_text("not an image")
    run = gankit.train("dcgan64-folder", out=tmp_path / "run", progress=False,
                       overrides=[f"data.path={folder}", "data.size=16", "train.batch_size=2", "train.steps=1",
                                  "generator.width=4", "discriminator.width=4"])
    assert run.step == 1
    assert "2 unreadable" in capsys.readouterr().out


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "gankit", "train", "--preset", "gan-1d", "--out", str(out), "--no-progress",
           "--set", "train.steps=1000000", "--set", "log.checkpoint_every=1000000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 120
    while not (out / "history.jsonl").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    step = load_checkpoint(out / "checkpoints" / "last.pt")["step"]
    assert step > 0
    resumed = gankit.train(None, resume=out, overrides=[f"train.steps={step + 5}"], progress=False)
    assert resumed.step == step + 5


def test_a_non_finite_loss_stops_training_and_keeps_the_last_finite_checkpoint(tmp_path, monkeypatch, capsys):
    from gankit.training.players import EagerPlayers

    real_update = EagerPlayers.update

    def poisoned(self, who, loss, *tensors):  # from step 12 on, D's loss is NaN (as an exploding run's would be)
        if who == "d" and self.t.step >= 12:
            inner = loss
            loss = lambda *xs: (inner(*xs)[0] * float("nan"), *inner(*xs)[1:])
        return real_update(self, who, loss, *tensors)

    monkeypatch.setattr(EagerPlayers, "update", poisoned)
    run = gankit.train("gan-1d", out=tmp_path / "run", progress=False,
                       overrides=["train.steps=40", "log.every=5", "log.checkpoint_every=10"])
    printed = capsys.readouterr().out
    assert "diverged" in printed and "verdict: diverged - non-finite loss by step 15" in printed
    written = json.loads((run.path / "metrics.json").read_text())
    assert written["verdict"] == "diverged" and written["step"] == 10  # metrics of the last finite checkpoint
    rows = run.history
    assert rows[-1]["event"] == "diverged" and rows[-1]["step"] == 15
    state = load_checkpoint(run.path / "checkpoints" / "last.pt")
    assert state["step"] == 10
    assert all(torch.isfinite(v).all() for v in state["generator"].values())


def test_an_unwritable_output_path_is_one_line_exit_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["train", "--preset", "gan-1d", "--out", str(blocker / "run"), "--set", "train.steps=2",
                 "--no-progress"]) == 2
    run = gankit.train("gan-1d", out=tmp_path / "run", overrides=["train.steps=2"], progress=False)
    capsys.readouterr()
    assert main(["sample", str(run.path), "-o", str(blocker / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_resuming_a_complete_run_says_so_and_how_to_train_on(tmp_path, capsys):
    import gankit

    sets = ["train.steps=2", "log.every=1", "runtime.threads=1"]
    run = gankit.train("gan-1d", out=tmp_path / "run", overrides=sets, progress=False)
    capsys.readouterr()
    gankit.train(None, resume=run.path, progress=False)
    out = capsys.readouterr().out
    assert "is complete at step 2: to train on, raise train.steps" in out and "from step" not in out


def test_a_time_budget_stops_cleanly_with_a_verdict_and_counts_over_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--preset", "gan-1d", "--out", str(out), "--no-progress", "--minutes", "0.01",
                 "--set", "train.steps=1000000", "--set", "log.every=50"]) == 0
    printed = capsys.readouterr().out
    run = gankit.load_run(out)
    written = json.loads((out / "metrics.json").read_text())
    assert "time budget of 0.01 min" in written["stopped_early"] and written["verdict"]
    assert "verdict:" in printed
    stopped = [r for r in run.history if r.get("event") == "stopped"]
    assert len(stopped) == 1 and 0 < stopped[0]["step"] == run.step < 1_000_000  # the checkpoint is at the stop
    assert (out / "samples" / f"step_{run.step:07d}.png").is_file()
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["wall_seconds"] >= 0.6
    # Resumed with the budget spent: nothing trains, one line says how to go on
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert "was spent by step" in capsys.readouterr().out
    assert gankit.load_run(out).step == run.step
    # A larger budget continues from where it stopped (a few seconds more than the minutes already spent)
    more = state["wall_seconds"] / 60 + 0.05
    assert main(["train", "--resume", str(out), "--no-progress", "--minutes", f"{more:.4f}"]) == 0
    assert gankit.load_run(out).step > run.step


def test_a_time_budget_must_be_positive(capsys):
    assert main(["train", "--preset", "gan-1d", "--minutes", "0", "--no-progress"]) == 2
    assert "train.minutes must be a positive number of minutes" in capsys.readouterr().err
