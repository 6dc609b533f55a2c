"""Faults a run must survive (docs/reliability.md): SIGKILL at any moment, signals, non-finite numbers, a full
disk, untrusted files; and weights out as safetensors."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

import gankit
from gankit.cli import main
from gankit.store import guard, rundir
from gankit.store.checkpoint import load_checkpoint

# gan-1d for 30 steps: pictures and checkpoints every 10 steps, evaluation (best.pt) every 15, a history row every 3.
CRASH = ["runtime.threads=1", "train.steps=30", "log.every=3", "log.sample_every=10", "log.checkpoint_every=10",
         "log.eval_every=15"]


def _sets(items):
    return [arg for item in items for arg in ("--set", item)]


def _train_cli(out: Path, settings: list[str]) -> list[str]:
    return [sys.executable, "-m", "gankit", "train", "--preset", "gan-1d", "--out", str(out), "--no-progress",
            *_sets(settings)]


def _state(run_dir: Path) -> dict:
    state = load_checkpoint(run_dir / rundir.LAST)
    return {f"{part}.{k}": v for part in ("generator", "generator_ema", "discriminator") for k, v in state[part].items()}


def _history(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "time"} for row in rundir.read_history(run_dir / rundir.HISTORY)]


def _partial_files(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.rglob(".*") if p.is_file() and p.name != guard.MARKER]  # the marker is no partial file


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return gankit.train("gan-1d", out=tmp_path_factory.mktemp("whole") / "run", overrides=CRASH, progress=False).path


# ---- crash at any moment ----------------------------------------------------------------------------------
@pytest.mark.parametrize("point, step, left", [
    ("kill_mid_step", 15, None),  # after the evaluation of step 15 wrote best.pt
    ("kill_during_checkpoint", 15, "checkpoints/.best.pt.*.tmp"),
    ("kill_during_checkpoint", 20, "checkpoints/.last.pt.*.tmp"),
    ("kill_during_picture", 20, "samples/.step_0000020.png.*.tmp"),
])
def test_a_run_killed_at_any_moment_resumes_to_the_uninterrupted_result_bit_for_bit(point, step, left, uninterrupted,
                                                                                     tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "GANKIT_FAULT": f"{point}:step={step}"}
    proc = subprocess.run(_train_cli(out, CRASH), check=False, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    # What the crash left: every checkpoint whole (the previous one kept), every picture whole.
    for path in (out / "checkpoints").glob("*.pt"):
        load_checkpoint(path)
    assert load_checkpoint(out / rundir.LAST)["step"] == 10
    for picture in (out / "samples").glob("*.png"):
        Image.open(picture).verify()
    if point == "kill_during_picture":
        assert not (out / "samples" / "step_0000020.png").exists()
    assert [p.relative_to(out) for p in _partial_files(out)] == sorted(p.relative_to(out) for p in out.glob(left or "-"))
    if left:  # the half-written file is a temporary one, never under its own name
        assert len(_partial_files(out)) == 1
    rows = rundir.read_history(out / rundir.HISTORY)
    assert rows[-1]["step"] > 10  # rows past the checkpoint, to be dropped on resume
    with (out / rundir.HISTORY).open("a") as handle:
        handle.write('{"step": 21, "loss_d": 0.69')  # and a line cut by the kill

    resumed = gankit.train(None, resume=out, progress=False)
    assert resumed.step == 30
    assert not _partial_files(out)
    whole, again = _state(uninterrupted), _state(out)
    assert whole.keys() == again.keys()
    assert all(torch.equal(whole[k], again[k]) for k in whole)
    assert _history(out) == _history(uninterrupted)
    assert json.loads((out / rundir.METRICS).read_text()) == json.loads((uninterrupted / rundir.METRICS).read_text())
    assert sorted(p.name for p in (out / "samples").iterdir()) == sorted(
        p.name for p in (uninterrupted / "samples").iterdir())


# ---- signals ----------------------------------------------------------------------------------------------
def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path):
    out = tmp_path / "run"
    settings = ["runtime.threads=1", "train.steps=1000000", "log.checkpoint_every=1000000", "log.eval_every=0"]
    proc = subprocess.Popen(_train_cli(out, settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 300
    while not (out / rundir.HISTORY).exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "SIGTERM" in err and "--resume" in err and "Traceback" not in err
    step = load_checkpoint(out / rundir.LAST)["step"]
    assert step > 0
    resumed = gankit.train(None, resume=out, overrides=[f"train.steps={step + 3}"], progress=False)
    assert resumed.step == step + 3


def test_a_second_ctrl_c_stops_at_once():
    from gankit.training.trainer import _signals_to_flag

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with _signals_to_flag() as caught:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100):  # Python runs the handler at its next check, a moment later
            if caught:
                break
            time.sleep(0.01)
        assert caught == [signal.SIGINT]  # the first Ctrl-C: the loop finishes the step and saves
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the second: out at once
            time.sleep(5)  # (interrupted long before this ends)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # handlers restored


def test_the_cli_turns_an_immediate_stop_into_exit_130_and_one_line(monkeypatch, capsys):
    import gankit.api

    def stopped(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gankit.api, "train", stopped)
    assert main(["train", "--preset", "gan-1d", "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err and "Traceback" not in err


# ---- numbers go bad ---------------------------------------------------------------------------------------
NONFINITE = ["runtime.threads=1", "train.steps=40", "log.every=5", "log.checkpoint_every=10", "log.eval_every=0"]


def _poison_d_scores(monkeypatch, value: float, steps: range) -> None:
    """D's scores in its own update become `value` at `steps` (G's updates are untouched)."""
    from gankit.training.players import EagerPlayers

    real_update = EagerPlayers.update

    def update(self, who, loss, *tensors):
        if who == "d" and self.t.step in steps:
            inner = loss
            loss = lambda G, D, *xs: inner(G, lambda x: D(x) * value, *xs)
        return real_update(self, who, loss, *tensors)

    monkeypatch.setattr(EagerPlayers, "update", update)


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_a_non_finite_loss_stops_the_run_diverged_and_keeps_the_last_finite_checkpoint(value, monkeypatch, tmp_path,
                                                                                        capsys):
    _poison_d_scores(monkeypatch, value, range(12, 10**9))
    out = tmp_path / "run"
    assert main(["train", "--preset", "gan-1d", "--out", str(out), "--no-progress", *_sets(NONFINITE)]) == 1
    printed = capsys.readouterr().out
    assert "verdict: diverged - non-finite loss by step 15" in printed
    assert rundir.read_history(out / rundir.HISTORY)[-1]["event"] == "diverged"
    state = load_checkpoint(out / rundir.LAST)
    assert state["step"] == 10 and all(torch.isfinite(v).all() for v in _state(out).values())
    assert json.loads((out / rundir.METRICS).read_text())["verdict"] == "diverged"


def test_non_finite_weights_stop_the_run_diverged(monkeypatch, tmp_path, capsys):
    from gankit.training.players import EagerPlayers

    real_update = EagerPlayers.update

    def update(self, who, loss, *tensors):
        out = real_update(self, who, loss, *tensors)
        if who == "g" and self.t.step == 12:
            with torch.no_grad():
                next(self.t.D.parameters()).view(-1)[0] = float("inf")
        return out

    monkeypatch.setattr(EagerPlayers, "update", update)
    run = gankit.train("gan-1d", out=tmp_path / "run", overrides=NONFINITE, progress=False)
    assert "verdict: diverged - non-finite" in capsys.readouterr().out
    last = [r for r in run.history if r.get("event") == "diverged"]
    assert last and last[0]["step"] == 15
    assert load_checkpoint(run.path / rundir.LAST)["step"] == 10


def test_skip_nonfinite_leaves_weights_and_optimiser_state_unchanged(tmp_path):
    from gankit.config import resolve_config
    from gankit.training.trainer import Trainer

    trainer = Trainer(resolve_config("gan-1d", ["train.skip_nonfinite=true", "runtime.threads=1"]), tmp_path / "run")
    real = trainer.batcher.batch(0, trainer.data_rng)
    step = trainer.one_iteration

    def d_update(scale: float = 1.0) -> None:
        fake = step.fake(trainer.G, trainer.noise(len(real)))
        trainer.players.update("d", lambda G, D, *xs: step.d_loss(G, lambda x: D(x) * scale, *xs), real, fake)

    d_update()  # one good update, so the optimiser has state to keep
    weights = {k: v.clone() for k, v in trainer.D.state_dict().items()}
    moments = [s["exp_avg"].clone() for s in trainer.opt_d.state.values()]
    lr = trainer.opt_d.param_groups[0]["lr"]
    d_update(float("nan"))  # D's scores, so its loss and gradients
    assert trainer.skipped == 1
    assert all(torch.equal(weights[k], v) for k, v in trainer.D.state_dict().items())
    assert all(torch.equal(a, s["exp_avg"]) for a, s in zip(moments, trainer.opt_d.state.values()))
    assert trainer.opt_d.param_groups[0]["lr"] == lr and all(s["step"] == 1 for s in trainer.opt_d.state.values())


def test_skip_nonfinite_skips_bad_steps_and_counts_them_in_the_history(monkeypatch, tmp_path, capsys):
    _poison_d_scores(monkeypatch, float("nan"), range(5, 8))
    run = gankit.train("gan-1d", out=tmp_path / "run", progress=False,
                       overrides=[*NONFINITE, "train.skip_nonfinite=true"])
    assert run.step == 40 and "diverged" not in capsys.readouterr().out
    rows = [r for r in run.history if "loss_d" in r]
    assert sum(r["skipped"] for r in rows) == 3 and rows[1]["skipped"] == 3  # steps 5-7, in the row of step 10
    assert all(r["loss_d"] is not None for r in rows)
    assert all(torch.isfinite(v).all() for v in _state(run.path).values())


# ---- disk full --------------------------------------------------------------------------------------------
def _enospc(path=None):
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


def _fail_checkpoint(monkeypatch):
    import gankit.store.checkpoint

    real_save = torch.save

    def save(state, handle, *args, **kwargs):
        if isinstance(state, dict) and state.get("step") == 20:
            handle.write(b"PK half a checkpoint")  # the disk fills up part way through
            raise _enospc()
        return real_save(state, handle, *args, **kwargs)

    monkeypatch.setattr(gankit.store.checkpoint.torch, "save", save)


def _fail_picture(monkeypatch):
    import gankit.training.snapshots

    real_plot = gankit.training.snapshots.plot_samples

    def plot(data, fake, path, *args, **kwargs):
        if "0000020" in Path(path).name:
            Path(path).write_bytes(b"\x89PNG half")
            raise _enospc(str(path))
        return real_plot(data, fake, path, *args, **kwargs)

    monkeypatch.setattr(gankit.training.snapshots, "plot_samples", plot)


def _fail_history(monkeypatch):
    real_append = rundir.History.append

    def append(self, row):
        if row.get("step") == 20:
            raise _enospc()
        return real_append(self, row)

    monkeypatch.setattr(rundir.History, "append", append)


@pytest.mark.parametrize("inject", [_fail_checkpoint, _fail_picture, _fail_history], ids=["checkpoint", "picture",
                                                                                          "history"])
def test_a_full_disk_is_one_line_keeps_the_last_checkpoint_and_the_run_resumes(inject, monkeypatch, tmp_path, capsys):
    out = tmp_path / "run"
    settings = ["runtime.threads=1", "train.steps=30", "log.every=5", "log.sample_every=10", "log.checkpoint_every=10",
                "log.eval_every=0"]
    with monkeypatch.context() as patch:
        inject(patch)
        code = main(["train", "--preset", "gan-1d", "--out", str(out), "--no-progress", *_sets(settings)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "No space left on device" in err and "last checkpoint (step 10) is kept" in err
    assert f"gankit train --resume {out}" in err
    assert load_checkpoint(out / rundir.LAST)["step"] == 10
    assert not _partial_files(out)
    assert gankit.train(None, resume=out, progress=False).step == 30


# ---- data that is odd but usable ---------------------------------------------------------------------------
def test_a_folder_of_mixed_sizes_and_modes_is_resized_and_converted_and_corrupt_files_are_counted(tmp_path):
    from gankit.data import build_data

    folder = tmp_path / "pics"
    folder.mkdir()
    for i, (mode, size) in enumerate([("RGB", (40, 20)), ("L", (16, 64)), ("RGBA", (33, 33)), ("P", (100, 90)),
                                      ("I;16", (24, 24)), ("CMYK", (18, 30))]):
        Image.new(mode, size).save(folder / f"{i}.{'jpg' if mode == 'CMYK' else 'png'}")
    (folder / "cut.png").write_bytes((folder / "0.png").read_bytes()[:40])
    (folder / "text.jpg").write_text("not an image")
    for channels in (3, 1):
        data = build_data("folder", {"path": str(folder), "size": 16, "channels": channels})
        assert tuple(data.data.shape) == (6, channels, 16, 16) and data.data.dtype == torch.uint8
        assert "6 images" in data.origin and "2 unreadable files skipped" in data.origin


# ---- untrusted files --------------------------------------------------------------------------------------
class _Pwn:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return gankit.train("gan-1d", out=tmp_path_factory.mktemp("tiny") / "run", progress=False,
                        overrides=["runtime.threads=1", "train.steps=4", "log.eval_every=0"]).path


@pytest.mark.parametrize("command", [["sample"], ["eval"], ["export"], ["train", "--resume"]])
def test_a_checkpoint_carrying_code_is_refused_in_one_line_and_never_run(command, tiny_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    marker = tmp_path / "pwned"
    state = load_checkpoint(run / rundir.LAST)
    torch.save({**state, "generator": _Pwn(marker)}, run / rundir.LAST)
    assert main([*command, str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "posix.system" in err and "Traceback" not in err
    assert not marker.exists()


def test_a_config_with_a_python_tag_is_refused_in_one_line_and_never_run(tmp_path, capsys):
    marker = tmp_path / "pwned"
    config = tmp_path / "evil.yaml"
    config.write_text(f"name: evil\nseed: !!python/object/apply:os.system ['touch {marker}']\n")
    assert main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "!!python/object/apply:os.system" in err
    assert not marker.exists()


# ---- export to safetensors --------------------------------------------------------------------------------
@pytest.mark.parametrize("preset, settings", [
    ("gan-1d", ["train.steps=4"]),  # keeps a weight average: generator_ema.* too
    ("wgan-grid25", ["data.points_per_mode=20", "train.steps=3", "train.batch_size=50", "reg.spectral_norm=true",
                     "reg.clip=null"]),
])
def test_export_writes_safetensors_that_rebuild_the_generator(preset, settings, tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.torch import load_file

    from gankit.config import from_dict
    from gankit.config import settings as part_settings
    from gankit.models import build_generator
    from gankit.models.latent import sample_latent
    from gankit.store.export import load_generator

    run = gankit.train(preset, out=tmp_path / "run", progress=False,
                       overrides=[*settings, "runtime.threads=1", "log.eval_every=0"])
    target = tmp_path / "weights.safetensors"
    assert main(["export", str(run.path), "-o", str(target)]) == 0
    assert capsys.readouterr().out.strip().endswith(str(target))

    tensors = load_file(str(target))
    with safe_open(str(target), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["gankit_version"] == gankit.__version__ and meta["step"] == str(run.step)
    cfg = from_dict(json.loads(meta["config"]))
    assert cfg == run.config
    parts = {k.split(".")[0] for k in tensors}
    assert parts == ({"generator", "generator_ema", "discriminator"} if run.config.train.g_ema else
                     {"generator", "discriminator"})

    part = "generator_ema" if "generator_ema" in parts else "generator"
    G = build_generator(cfg.generator["name"], part_settings(cfg.generator), cfg.latent.dim,
                        tuple(json.loads(meta["generator_out_shape"])))
    G.load_state_dict({k[len(part) + 1:]: v for k, v in tensors.items() if k.startswith(part + ".")})
    z = torch.Generator().manual_seed(0)
    latent = sample_latent(100, cfg.latent.dim, cfg.latent.dist, z, torch.device("cpu"))
    with torch.no_grad():
        assert torch.equal(G.eval()(latent), run.generator(latent))
        assert torch.equal(load_generator(target)[0](latent), run.generator(latent))
    assert main(["export", str(run.path)]) == 0  # default: RUN_DIR/weights.safetensors
    assert (run.path / "weights.safetensors").is_file()


# ---- load -------------------------------------------------------------------------------------------------
def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="RSS is read from /proc (Linux)")
def test_memory_stays_flat_over_thousands_of_steps(monkeypatch, tmp_path):
    """The short version of benchmarks/memory_flat.py (100,000 steps, in benchmarks/RESULTS.md): RSS after step
    2,000 within 10% of RSS after step 500. Catches a per-step leak of ~50 KB or more (a kept autograd graph,
    tensors appended per step); smaller leaks need the long run."""
    from gankit.training.trainer import Trainer

    rss = {}
    real_log_row = Trainer.log_row

    def log_row(self, elapsed):
        row = real_log_row(self, elapsed)
        rss[self.step] = _rss_mib()
        return row

    monkeypatch.setattr(Trainer, "log_row", log_row)
    gankit.train("gan-1d", out=tmp_path / "run", progress=False, overrides=[
        "train.steps=2000", "generator.hidden=8", "discriminator.hidden=8", "train.batch_size=64", "log.every=100",
        "log.sample_every=2000", "log.checkpoint_every=1000", "log.eval_every=0", "runtime.threads=1"])
    assert abs(rss[2000] - rss[500]) / rss[500] < 0.10, rss
    rows = [r["step"] for r in rundir.read_history(tmp_path / "run" / rundir.HISTORY)]
    assert rows == list(range(100, 2001, 100))
