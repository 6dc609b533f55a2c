"""The speed settings: compiled models train to finite values; the allocator tuning and device setup are safe."""

import math

import pytest
import torch

import gankit
from gankit import fastpath
from gankit.checkpoint import load_checkpoint


def test_inductor_cache_is_keyed_by_torch_version_and_cpu_isa():
    path = fastpath.inductor_cache_dir()
    assert torch.backends.cpu.get_cpu_capability().lower() in path.name
    assert torch.__version__.split("+")[0] in path.name


def test_allocator_tuning_and_cpu_device_setup_are_harmless():
    fastpath.tune_allocator()  # True under glibc; either way training still works
    fastpath.configure_device(torch.device("cpu"))
    assert torch.ones(9_000_000).sum().item() == 9_000_000


@pytest.mark.slow
def test_compiled_toy_run_trains_to_finite_values(tmp_path, monkeypatch):
    # perf notes: a stale inductor cache built for another ISA gave NaN losses silently
    monkeypatch.setenv("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")
    run = gankit.train("wgan-grid25", out=tmp_path / "run", progress=False, overrides=[
        "data.points_per_mode=40", "train.batch_size=64", "train.steps=6", "log.every=3", "log.eval_every=0",
        "log.sample_every=100", "runtime.compile=true"])
    rows = [r for r in run.history if "loss_d" in r]
    assert [r["step"] for r in rows] == [3, 6]
    assert all(math.isfinite(r[k]) for r in rows for k in ("loss_d", "loss_g", "d_real", "d_fake"))
    state = load_checkpoint(run.path / "checkpoints" / "last.pt")
    assert not any(k.startswith("_orig_mod") for k in state["generator"])  # checkpoints as an eager run's
    assert all(torch.isfinite(v).all() for v in state["discriminator"].values())
