"""torchrun: two processes (gloo on the CPU) train one run with DistributedDataParallel (docs/scaling.md).

Every rank appends a hash of its weights after every step ($GANKIT_DIST_TRACE, gankit.training.distributed.trace_weights);
the tests compare the ranks step by step, check that rank 0 alone wrote one run directory, that a killed
torchrun job resumes to the uninterrupted result bit for bit, that two ranks compute what one process computes
with the same global batch, and that a failure on one rank stops every rank with one line.
"""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.cli import main
from gankit.errors import ConfigError
from gankit.store import rundir
from gankit.store.checkpoint import load_checkpoint
from gankit.training import distributed

# gan-grid25 (MLPs, no batch norm) for 6 steps: checkpoints every 3, a history row every 2; eval only at the end.
TOY = ["runtime.threads=1", "train.steps=6", "train.batch_size=64", "data.points_per_mode=50", "log.every=2",
       "log.sample_every=3", "log.checkpoint_every=3", "log.eval_every=0"]


def _sets(items):
    return [arg for item in items for arg in ("--set", item)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(args: list[str], cwd: Path, trace: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "gankit", "train", "--no-progress", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANKIT_DIST_TIMEOUT": "120", **env}
    env.pop(distributed.TRACE_ENV, None)
    if trace is not None:
        trace.mkdir(parents=True, exist_ok=True)
        env[distributed.TRACE_ENV] = str(trace)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def _traces(folder: Path) -> list[list[str]]:
    return [(folder / f"rank{r}.txt").read_text().splitlines() for r in (0, 1)]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(run_dir / rundir.LAST)
    return {f"{part}.{k}": v for part in ("generator", "discriminator") for k, v in state[part].items()}


def _history(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "time"} for row in rundir.read_history(run_dir / rundir.HISTORY)]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """An uninterrupted 2-rank run in a fresh folder, with no --out: the default runs/<name>, numbered."""
    cwd = tmp_path_factory.mktemp("torchrun")
    (cwd / "runs" / "gan-grid25").mkdir(parents=True)  # taken: rank 0 picks runs/gan-grid25-2 for every rank
    proc = _torchrun(["--preset", "gan-grid25", *_sets(TOY)], cwd, trace=cwd / "trace")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, proc


@pytest.mark.slow  # torchrun: 2 processes
def test_two_ranks_hold_the_same_weights_after_every_step_and_rank_0_alone_writes_one_run(toy):
    cwd, proc = toy
    rank0, rank1 = _traces(cwd / "trace")
    assert [line.split()[0] for line in rank0] == [str(s) for s in range(1, 7)]
    assert rank0 == rank1  # G, D (weights and spectral-norm vectors) identical on both ranks after each step
    assert len(set(rank0)) == 6  # and they changed every step

    # One run directory, written once: no second numbered directory, no file from rank 1 anywhere.
    assert sorted(p.name for p in (cwd / "runs").iterdir()) == ["gan-grid25", "gan-grid25-2"]
    assert not any((cwd / "runs" / "gan-grid25").iterdir())
    run = cwd / "runs" / "gan-grid25-2"
    assert _files(cwd) == sorted(["trace/rank0.txt", "trace/rank1.txt", *(f"runs/gan-grid25-2/{f}" for f in _files(run))])
    assert _files(run) == [".gankit-run", "checkpoints/last.pt", "config.yaml", "history.jsonl", "metrics.json",
                           "samples/step_0000000.png", "samples/step_0000003.png", "samples/step_0000006.png"]
    assert [row["step"] for row in _history(run)] == [2, 4, 6]  # each row once: rank 1 logged nothing
    assert [row["epoch"] for row in _history(run)] == [round(s / (1250 // 64), 4) for s in (2, 4, 6)]
    assert proc.stdout.count("run: runs/gan-grid25-2") == 1 and proc.stdout.count("verdict:") == 1


@pytest.mark.slow  # torchrun: 2 processes
def test_two_ranks_compute_what_one_process_computes_with_the_same_global_batch(toy, tmp_path):
    cwd, _ = toy
    single = gankit.train("gan-grid25", out=tmp_path / "one", overrides=TOY, progress=False).path
    two, one = _weights(cwd / "runs" / "gan-grid25-2"), _weights(single)
    assert two.keys() == one.keys()
    for key in one:  # each rank's half batch and half the noise; DDP averages the two halves' gradients
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
    for a, b in zip(_history(cwd / "runs" / "gan-grid25-2"), _history(single)):
        assert a["loss_d"] == pytest.approx(b["loss_d"], rel=1e-4) and a["d_real"] == pytest.approx(b["d_real"], rel=1e-4)


@pytest.mark.slow  # torchrun: 2 processes
def test_a_killed_torchrun_job_resumes_on_every_rank_to_the_uninterrupted_result_bit_for_bit(toy, tmp_path):
    cwd, _ = toy
    out = tmp_path / "run"
    # Both ranks die by SIGKILL in iteration 5 (after the checkpoint of step 3 and the history row of step 4).
    crashed = _torchrun(["--preset", "gan-grid25", "--out", str(out), *_sets(TOY)], tmp_path,
                        GANKIT_FAULT="kill_mid_step:step=4")
    assert crashed.returncode != 0
    assert load_checkpoint(out / rundir.LAST)["step"] == 3
    assert rundir.read_history(out / rundir.HISTORY)[-1]["step"] == 4  # dropped on resume

    resumed = _torchrun(["--resume", str(out)], tmp_path, trace=tmp_path / "trace")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("resuming") == 1
    rank0, rank1 = _traces(tmp_path / "trace")
    assert rank0 == rank1 == _traces(cwd / "trace")[0][3:]  # steps 4-6, on both ranks, as uninterrupted
    whole = cwd / "runs" / "gan-grid25-2"
    assert all(torch.equal(a, b) for a, b in zip(_weights(out).values(), _weights(whole).values()))
    assert _history(out) == _history(whole)
    assert _files(out) == _files(whole)


@pytest.mark.slow  # torchrun: 2 processes
def test_conv_gan_with_batch_norm_spectral_norm_and_weight_average_keeps_the_ranks_equal(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(16):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    settings = [f"data.path={folder}", "generator.width=4", "discriminator.width=4", "train.batch_size=8",
                "train.steps=3", "log.every=1", "log.sample_every=3", "log.checkpoint_every=3", "log.n_samples=4",
                "runtime.threads=1", "reg.spectral_norm=true", "train.g_ema=0.9"]
    proc = _torchrun(["--preset", "dcgan64-folder", "--out", "run", *_sets(settings)], tmp_path,
                     trace=tmp_path / "trace")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0, rank1 = _traces(tmp_path / "trace")
    assert rank0 == rank1 and len(rank0) == 3  # G, D, G's average equal; batch-norm statistics per rank (CPU)
    assert any("running_mean" in k for k in _weights(tmp_path / "run"))
    assert [row["step"] for row in _history(tmp_path / "run")] == [1, 2, 3]


@pytest.mark.slow  # torchrun: 2 processes, then one MNIST evaluation
def test_a_class_conditional_run_keeps_the_ranks_equal(tmp_path):
    settings = ["latent.classes=10", "data.limit=200", "train.batch_size=16", "train.steps=3", "train.minutes=null",
                "log.every=1", "log.sample_every=3", "log.checkpoint_every=3", "runtime.threads=1"]
    proc = _torchrun(["--preset", "mnist-fast", "--out", "run", *_sets(settings)], tmp_path, trace=tmp_path / "trace")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0, rank1 = _traces(tmp_path / "trace")
    assert rank0 == rank1 and len(rank0) == 3  # G (with its projection D's embedding beside D) equal on both ranks
    assert any(k.endswith("embed.weight") for k in _weights(tmp_path / "run"))
    assert [row["step"] for row in _history(tmp_path / "run") if "loss_d" in row] == [1, 2, 3]


@pytest.mark.slow  # torchrun: 2 processes
def test_a_failure_on_rank_0_stops_every_rank_with_one_line(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    proc = _torchrun(["--preset", "gan-grid25", "--out", "taken", *_sets(TOY)], tmp_path)
    assert proc.returncode != 0
    # One message per rank; the two processes share stderr, so their lines may land glued together.
    assert proc.stderr.count("gankit: error:") == 2, proc.stderr[-3000:]
    assert "gankit: error: 'taken' already exists" in proc.stderr
    assert "gankit: error: rank 0 failed: 'taken' already exists" in proc.stderr
    # Ranks exit 2 (a gankit error; a traceback would be 1). torchrun may stop the second rank by a signal once
    # the first has failed, after it printed its line, so only the first's exit code is certain.
    codes = re.findall(r"exitcode\s*: (-?\d+)", proc.stderr)
    assert "2" in codes and "1" not in codes, codes
    assert _files(tmp_path) == ["taken/file"]


def test_each_rank_reads_a_disjoint_slice_of_the_single_process_batch():
    from gankit.data import build_data
    from gankit.training.batching import Batcher

    data = build_data("grid25", {"points_per_mode": 10})
    common = {"drop_last": True, "sampling": "shuffle", "seed": 3, "device": torch.device("cpu")}
    whole = Batcher(data, 50, **common)
    ranks = [Batcher(data, 50, shard=distributed.Context(r, 2, r).shard, **common) for r in (0, 1)]
    for step in (0, 1, 7):
        assert torch.equal(torch.cat([b.batch(step, None) for b in ranks]), whole.batch(step, None))
    assert ranks[0].steps_per_epoch == whole.steps_per_epoch == 5  # epochs count global batches
    with pytest.raises(ConfigError, match="set train.drop_last=true"):  # 250 = 3 x 80 + 10
        Batcher(data, 80, shard=ranks[0].shard, **{**common, "drop_last": False})


@pytest.mark.parametrize("env, settings, expected", [
    ({distributed.BACKEND_ENV: "nccl"}, ["runtime.device=cpu"], "GANKIT_DIST_BACKEND=nccl needs CUDA GPUs"),
    ({distributed.BACKEND_ENV: "mpi"}, ["runtime.device=cpu"], "choose gloo or nccl"),
    ({}, ["train.batch_size=63"], "does not split into 2 equal parts"),
    ({}, ["train.skip_nonfinite=true"], "cannot train train.skip_nonfinite"),
    ({"RANK": "2"}, [], "do not fit together"),
    ({distributed.TIMEOUT_ENV: "soon"}, ["runtime.device=cpu"], "is not a number of seconds"),
])
def test_bad_torchrun_settings_are_one_line_before_any_rank_waits(env, settings, expected, monkeypatch, capsys):
    # A torchrun environment without torchrun: every check comes before the rendezvous, so nothing waits here.
    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": str(_free_port()), **env}.items():
        monkeypatch.setenv(name, value)
    code = main(["train", "--preset", "gan-grid25", "--no-progress", *_sets(["runtime.threads=1", *settings])])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and expected in err, err
    assert not Path("runs").exists()
    assert not torch.distributed.is_initialized()


def test_ensembles_refuse_torchrun(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "--preset", "gan-grid25", "--ensemble", "2"]) == 2
    assert "without torchrun" in capsys.readouterr().err


def test_shutdown_frees_a_process_group_that_ddp_holds_in_a_reference_cycle(tmp_path):
    # the CLI collects rarely and freezes the heap at exit: a group left to it aborted a rank's exit
    import gc
    import weakref

    dist = torch.distributed
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    was_enabled = gc.isenabled()
    gc.disable()  # no collection by chance before shutdown's own
    try:
        holder = {"ddp": torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))}
        holder["self"] = holder  # a cycle, as the trainer and its wrappers make
        alive = weakref.ref(holder["ddp"])
        del holder
        assert alive() is not None
        distributed.shutdown()
        assert not dist.is_initialized() and alive() is None
    finally:
        if was_enabled:
            gc.enable()
        if dist.is_initialized():
            dist.destroy_process_group()


def test_shutdown_of_a_failing_rank_frees_what_its_tracebacks_frames_hold():
    # a rank that fails raises through the trainer's frames: their locals would keep the trainer (and with it
    # DDP's process group) alive past shutdown, to the frozen heap at exit
    import gc
    import weakref

    class Trainer:
        def train(self) -> None:
            raise RuntimeError("a failure on this rank")

    def fit() -> BaseException:
        trainer = Trainer()
        trainer.cycle = trainer
        alive.append(weakref.ref(trainer))
        try:
            try:
                trainer.train()
            except RuntimeError as err:
                raise ValueError("reported") from err
        except ValueError as err:
            return err

    alive: list = []
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        failure = fit()
        gc.collect()
        assert alive[0]() is not None  # held by the traceback's frames (fit's and train's)
        distributed.shutdown(failure)
        assert alive[0]() is None
        assert "a failure on this rank" in str(failure.__cause__)  # the message itself is kept
    finally:
        if was_enabled:
            gc.enable()
