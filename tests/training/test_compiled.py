"""The speed settings: compiled models train to finite values; the allocator tuning and device setup are safe."""

import math
import os
import subprocess
import sys

import pytest
import torch
from resuming import resume_beside_uninterrupted, train_steps

import gankit
from gankit.config import resolve_config
from gankit.errors import ConfigError
from gankit.store.checkpoint import load_checkpoint
from gankit.training import fastpath
from gankit.training.capability import AUTO_COMPILE_STEPS
from gankit.training.trainer import Trainer


def test_inductor_cache_is_keyed_by_torch_version_and_cpu_isa(monkeypatch):
    path = fastpath.inductor_cache_dir()
    assert torch.backends.cpu.get_cpu_capability().lower() in path.name
    assert torch.__version__.split("+")[0] in path.name
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.delenv("TORCHINDUCTOR_FORCE_DISABLE_CACHES", raising=False)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())  # as importing torchvision leaves it
    fastpath.use_inductor_cache()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(path)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/elsewhere")  # the user's choice stays
    fastpath.use_inductor_cache()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/elsewhere"


def test_allocator_tuning_and_cpu_device_setup_are_harmless():
    fastpath.tune_allocator()  # True under glibc; either way training still works
    fastpath.configure_device(torch.device("cpu"))
    assert torch.ones(9_000_000).sum().item() == 9_000_000


def test_a_run_that_leaves_threads_to_pytorch_does_not_inherit_the_last_runs_pin(tmp_path, monkeypatch):
    monkeypatch.setattr(fastpath, "_THREADS_BEFORE", [])  # as in a fresh process (an earlier test's pin may stand)
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # the process's own count (not 1, whatever the machine)
    try:
        small = ["data.points_per_mode=8", "train.batch_size=16", "runtime.device=cpu"]
        Trainer(resolve_config("gan-1d", ["train.batch_size=16"]), tmp_path / "a", progress=False)
        assert torch.get_num_threads() == 1  # gan-1d pins one thread
        Trainer(resolve_config("grid25-fast", small), tmp_path / "b", progress=False)
        assert torch.get_num_threads() == 3  # grid25-fast leaves it to PyTorch: the count before the pin
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not torch.set_flush_denormal(False), reason="no FTZ/DAZ on this CPU (not x86 with SSE3)")
def test_a_cpu_trainer_flushes_denormals_unless_told_not_to(tmp_path):
    tiny = torch.tensor([1e-39])  # below float32's smallest normal (1.18e-38): a denormal
    small = ["data.points_per_mode=8", "train.batch_size=16", "runtime.device=cpu"]
    try:
        Trainer(resolve_config("grid25-fast", small), tmp_path / "a", progress=False)
        assert (tiny * 1.5).item() == 0.0  # grid25-fast's dead units' Adam moments: zero, not slow denormals
        Trainer(resolve_config("grid25-fast", [*small, "runtime.flush_denormal=false"]), tmp_path / "b", progress=False)
        assert (tiny * 1.5).item() == pytest.approx(1.5e-39)  # the opt-out gives IEEE behaviour back
    finally:
        torch.set_flush_denormal(False)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_compiled_step_matches_eager_stays_finite_and_resumes_bit_identically(precision, tmp_path, monkeypatch):
    # perf notes: a stale inductor cache built for another ISA gave NaN losses silently
    monkeypatch.setenv("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")
    small = ["data.points_per_mode=40", "train.batch_size=64", "train.steps=6", "train.d_steps=2", "log.every=3",
             "log.eval_every=0", "log.sample_every=100", "train.g_ema=0.9", f"runtime.precision={precision}"]
    eager = gankit.train("wgan-grid25", out=tmp_path / "eager", progress=False, overrides=small)
    run = gankit.train("wgan-grid25", out=tmp_path / "step", progress=False, overrides=[*small, "runtime.compile=step"])
    rows = [r for r in run.history if "loss_d" in r]
    assert [r["step"] for r in rows] == [3, 6]
    assert all(math.isfinite(r[k]) for r in rows for k in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d"))
    want = [[r[k] for k in ("loss_d", "loss_g", "d_real", "d_fake", "lr_d")] for r in eager.history if "loss_d" in r]
    got = [[r[k] for k in ("loss_d", "loss_g", "d_real", "d_fake", "lr_d")] for r in rows]
    a, b = (load_checkpoint(r.path / "checkpoints" / "last.pt") for r in (eager, run))
    if precision == "fp32":
        torch.testing.assert_close(torch.tensor(got), torch.tensor(want), rtol=1e-4, atol=1e-6)
        for part in ("generator", "generator_ema", "discriminator"):  # same keys, values to float tolerance
            torch.testing.assert_close(b[part], a[part], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(b["opt_d"]["state"], a["opt_d"]["state"], rtol=1e-4, atol=1e-6)
        kernel = ("fused", "foreach")  # eager steps fused Adam, the step foreach's arithmetic: else the same groups
        assert [{k: v for k, v in g.items() if k not in kernel} for g in b["opt_d"]["param_groups"]] == \
            [{k: v for k, v in g.items() if k not in kernel} for g in a["opt_d"]["param_groups"]]
    else:
        # bf16: inductor rounds to bf16 at other points than eager (fused ops), so the two drift apart as two
        # bf16 runs do. Steps 1-3's means are still ~20x closer than fp32's are to bf16's (measured: 6e-5 vs
        # 1.1e-3 in loss_d and d_real), so a forward pass without autocast on either side fails the first row.
        torch.testing.assert_close(torch.tensor(got[0]), torch.tensor(want[0]), rtol=0.05, atol=2e-4)
        torch.testing.assert_close(torch.tensor(got), torch.tensor(want), rtol=0.1, atol=1e-3)
        for part in ("generator", "generator_ema", "discriminator"):  # fp32 master weights within a few lr steps
            assert all(v.dtype == torch.float32 for v in b[part].values())
            torch.testing.assert_close(b[part], a[part], rtol=0, atol=5e-4)
        moments = [v for s in b["opt_d"]["state"].values() for k, v in s.items() if k != "step"]
        assert moments and all(v.dtype == torch.float32 and v.isfinite().all() for v in moments)
        assert [s["step"] for s in b["opt_d"]["state"].values()] == [s["step"] for s in a["opt_d"]["state"].values()]
    assert b["sched_g"] == a["sched_g"]

    # resume: the compiled step continues from a loaded state exactly as it ran on (same kernels)
    trainer = Trainer(resolve_config("wgan-grid25", [*small, "runtime.compile=step"]), tmp_path / "t", progress=False)
    _, after, again = resume_beside_uninterrupted(trainer, 2, 3)
    for part in ("generator", "generator_ema", "discriminator", "opt_g", "opt_d", "log_sums"):
        torch.testing.assert_close(again[part], after[part], rtol=0, atol=0)
    assert all(p.dtype == torch.float32 for m in (trainer.G, trainer.D, trainer.G_ema) for p in m.parameters())


@pytest.mark.slow
def test_compiled_step_applies_a_lazy_r1_when_due_as_the_eager_run_does(tmp_path, monkeypatch, capsys):
    # grid25-fast's R1 every 4th step: one compiled graph with the penalty, one without (an int the graph is
    # specialised on), each taken at the steps the eager run takes it
    monkeypatch.setenv("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")
    small = ["data.points_per_mode=40", "train.batch_size=64", "train.steps=7", "log.every=7", "log.eval_every=0",
             "log.sample_every=100", "generator.hidden=32", "discriminator.hidden=32", "reg.r1.every=3",
             "reg.r1.weight=10"]
    runs = {}
    for name, extra in {"eager": [], "step": ["runtime.compile=step"], "none": ["reg.r1.weight=0"]}.items():
        run = gankit.train("grid25-fast", out=tmp_path / name, progress=False, overrides=[*small, *extra])
        runs[name] = load_checkpoint(run.path / "checkpoints" / "last.pt")["discriminator"]
    torch.testing.assert_close(runs["step"], runs["eager"], rtol=1e-4, atol=2e-5)
    assert max((runs["none"][k] - runs["eager"][k]).abs().max().item() for k in runs["eager"]) > 1e-3  # R1 acted
    said = capsys.readouterr().out  # each graph's compile stalls the bar: both say so, once
    assert said.count("compiling the training step") == 1
    assert said.count("compiling the step's graph for its other set of lazy penalties (2 of 2)") == 1
    trainer = Trainer(resolve_config("grid25-fast", [*small, "runtime.compile=step"]), tmp_path / "t", progress=False)
    assert trainer.compiled_step.first_alike == [0, 1, 1]  # steps 0, 3, 6: R1's graph; the others: the plain one


@pytest.mark.slow
def test_a_short_last_batch_recompiles_the_step_and_matches_eager(tmp_path, monkeypatch):
    # the step drops dynamo's guards on its config and models (compiled.call_guards), not those on its arguments:
    # an epoch's last batch of 40 (1,000 points, batches of 64, drop_last false) must take a graph of its own
    monkeypatch.setenv("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")
    from torch._dynamo.utils import counters

    small = ["data.points_per_mode=40", "train.batch_size=64", "train.drop_last=false", "train.steps=17",
             "log.every=17", "log.eval_every=0", "log.sample_every=100", "generator.hidden=32", "discriminator.hidden=32"]
    counters.clear()
    runs = {name: gankit.train("wgan-grid25", out=tmp_path / name, progress=False, overrides=[*small, *extra])
            for name, extra in {"eager": [], "step": ["runtime.compile=step"]}.items()}
    assert counters["stats"]["unique_graphs"] == 2  # batches of 64 and the one of 40 (step 16)
    a, b = (load_checkpoint(r.path / "checkpoints" / "last.pt") for r in (runs["eager"], runs["step"]))
    for part in ("generator", "discriminator"):
        torch.testing.assert_close(b[part], a[part], rtol=1e-4, atol=1e-6)


def test_the_step_keeps_the_guards_on_its_arguments_and_global_state():
    from types import SimpleNamespace as Entry

    from gankit.training.compiled import call_guards

    names = {"real": True, "dp[0]": True, "step": True, "": True,  # arguments, grad mode and autocast
             "self.t.config.train.d_steps": False, "dict(type(self.t.G).__mro__[1].__dict__)['named_parameters']": False,
             "L['self'].t.objective.real_label": False, "__import__('torch').sort": False, "self_made": True}
    kept = call_guards([Entry(name=n, is_global=False) for n in names])
    assert dict(zip(names, kept)) == names
    assert call_guards([Entry(name="G['functional_call']", is_global=True)]) == [False]


@pytest.mark.slow
def test_random_draws_inside_the_compiled_step_resume_bit_for_bit(tmp_path, monkeypatch):
    # DiffAugment draws in the graph: torch's global stream (inductor's fallback_random), which checkpoints keep
    monkeypatch.setenv("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")
    digits = ["data.name=digits", "data.pixel_range=[-1.0,1.0]", "generator.name=mlp-elu", "generator.output=tanh",
              "discriminator.name=mlp-elu", "latent.dim=8", "generator.hidden=16", "discriminator.hidden=16",
              "train.batch_size=32", "log.eval_every=0", "runtime.threads=1", "runtime.device=cpu",
              "augment.name=diffaugment", "runtime.compile=step"]
    trainer = Trainer(resolve_config("gan-mlp-mnist", digits), tmp_path / "t", progress=False)
    saved, after, again = resume_beside_uninterrupted(trainer, 2, 3)
    for part in ("generator", "discriminator", "opt_d", "log_sums"):
        torch.testing.assert_close(again[part], after[part], rtol=0, atol=0)
    trainer.load_state(saved)
    torch.rand(1)  # one draw off torch's stream: the graph's augmentation then draws other numbers
    train_steps(trainer, 3)
    moved = trainer.state()["discriminator"]
    assert any(not torch.equal(moved[k], after["discriminator"][k]) for k in moved)


def test_auto_compiles_input_gradient_penalties_from_a_threshold_per_compiled_graph(tmp_path):
    # R1 every 4th compiles two graphs (with and without its term): twice the steps to repay them
    def trainer(preset, *extra):
        return Trainer(resolve_config(preset, list(extra)), tmp_path / f"{preset}{len(extra)}", progress=False)

    assert trainer("wgan-gp-grid25").compile == "step"  # 10,000 steps, one graph
    assert trainer("grid25-fast").compile == "step"  # 10,000 steps, two graphs
    ring = trainer("ring8-fast")  # 7,000 steps
    assert ring.compile is False
    assert f"7,000 < {2 * AUTO_COMPILE_STEPS:,} steps: 2 compiled graphs" in ring.compile_why
    assert trainer("ring8-fast", "reg.r1.every=1").compile == "step"  # R1 every step: one graph
    assert trainer("ring8-fast", "reg.r1.weight=0").compile == "step"


@pytest.mark.slow
# `auto` compiles these and gan-grid25 / wgan-grid25-noclip (preset_paths.py), whose parts these five cover: the sorted
# batch and G's ramped average, clipping, Coulomb's potential, a lazy R1, the gradient penalty
@pytest.mark.parametrize("preset", ["gan-1d", "wgan-grid25", "coulomb-grid25", "grid25-fast", "wgan-gp-grid25"])
def test_each_compiled_preset_is_one_graph_without_a_break(preset, tmp_path, monkeypatch):
    # a graph break leaves the rest of the iteration eager, silently: R1's and GP's input gradient did (a functorch
    # query dynamo cannot trace), and they measured 1.1x / 0.81x the eager step where one graph runs 1.4x / 1.3x
    monkeypatch.setenv("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")
    from torch._dynamo.utils import counters

    small = ["train.batch_size=32", "runtime.compile=step"]
    if preset != "gan-1d":
        small += ["data.points_per_mode=8", "generator.hidden=16", "discriminator.hidden=16"]
    counters.clear()
    trainer = Trainer(resolve_config(preset, small), tmp_path / preset, progress=False)
    train_steps(trainer, 2)
    assert not counters["graph_break"]
    assert counters["stats"]["unique_graphs"] == len(set(trainer.compiled_step.first_alike))  # R1 every 4th: 2


def test_compiled_step_refuses_what_it_cannot_train(tmp_path):
    config = resolve_config("wgan-grid25", ["runtime.compile=step", "train.skip_nonfinite=true"])
    with pytest.raises(ConfigError, match="runtime.compile: step"):
        Trainer(config, tmp_path / "run", progress=False)


@pytest.mark.slow
def test_the_compiled_step_and_ensembles_show_d_the_sorted_batch_as_the_eager_run_does(tmp_path, monkeypatch):
    # gan-1d's D sees the whole batch, sorted (train.d_input): one place (Iteration.augmented) for every path
    from gankit.scale.ensemble import train_ensemble

    monkeypatch.setenv("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")
    small = ["train.batch_size=32", "train.steps=4", "log.every=2", "log.eval_every=0", "log.sample_every=100",
             "generator.hidden=8", "discriminator.hidden=8", "train.g_ema=0.9"]
    eager = gankit.train("gan-1d", out=tmp_path / "eager", progress=False, overrides=small)
    step = gankit.train("gan-1d", out=tmp_path / "step", progress=False, overrides=[*small, "runtime.compile=step"])
    members = train_ensemble([resolve_config("gan-1d", [*small, f"seed={s}"]) for s in (0, 3)], tmp_path / "ens")
    want = load_checkpoint(eager.path / "checkpoints" / "last.pt")
    assert want["discriminator"]["net.1.weight"].shape[1] == 32  # D's first layer reads the 32 sorted values
    for run_dir in (step.path, members[0]):
        got = load_checkpoint(run_dir / "checkpoints" / "last.pt")
        for part in ("generator", "generator_ema", "discriminator"):
            torch.testing.assert_close(got[part], want[part], rtol=1e-4, atol=1e-6, msg=f"{run_dir.name} {part}")


def test_auto_compiles_long_mlp_runs_where_a_compiler_exists_and_says_why_not_elsewhere(tmp_path, monkeypatch):
    import shutil

    def trainer(preset, *overrides):
        return Trainer(resolve_config(preset, list(overrides)), tmp_path / "t", progress=False)

    if shutil.which("g++") or shutil.which("c++") or shutil.which("clang++"):
        t = trainer("gan-1d")  # 20,000 steps, MLPs, Adam: the compiled step, built (not yet compiled)
        assert t.compile == "step" and t.compiled_step is not None and "compiled once" in t.compile_why
        # the README's short WGAN (50 epochs: 9,750 steps) took 99.7 s eager, 65.8 s compiled on a fresh machine
        assert trainer("wgan-grid25", "train.epochs=50").compile == "step"
        assert trainer("wgan-grid25", "train.minutes=1").compile == "step"
    # 15 s: compiled on a new machine it trained 47 and 511 steps (the compile took most of it), eager 1,297-1,406
    quick = trainer("wgan-grid25", "train.minutes=0.25")
    assert quick.compile is False and "short budget (train.minutes 0.25 < 30 s)" in quick.compile_why
    short = trainer("gan-1d", f"train.steps={AUTO_COMPILE_STEPS - 1}")
    assert short.compile is False and short.compiled_step is None and "short run" in short.compile_why
    assert short.opt_g.param_groups[0]["fused"] is True  # eager runs step fused Adam
    conv = trainer("dcgan-mnist-pytorch-gan", "data.name=digits", "data.size=32")
    assert conv.compile is False and "the compiled step cannot train train.fakes: reuse" in conv.compile_why
    assert trainer("gan-1d", "runtime.compile=false").compile is False
    monkeypatch.setenv("PATH", str(tmp_path))  # no compiler anywhere on it
    monkeypatch.delenv("CXX", raising=False)
    none = trainer("gan-1d")
    assert none.compile is False and "no C++ compiler" in none.compile_why


def test_each_config_trained_in_one_process_gets_its_compiled_graph_and_seeds_share_one(tmp_path):
    # Dynamo keeps at most `recompile_limit` (8) graphs on one code object: the 9th differently set trainer of a
    # process (a sweep's trials) ran uncompiled, 6x slower. With the limit at 1, the second betas would have.
    from torch._dynamo.utils import counters

    settings = [("optim.d.betas=[0.5,0.999]", 0), ("optim.d.betas=[0.6,0.999]", 0), ("optim.d.betas=[0.6,0.999]", 1)]
    codes = []
    with torch._dynamo.config.patch(recompile_limit=1):
        counters.clear()
        for k, (betas, seed) in enumerate(settings):
            trainer = Trainer(resolve_config("gan-1d", ["train.batch_size=16", "runtime.compile=step", betas,
                                                        f"seed={seed}"]), tmp_path / str(k), progress=False)
            train_steps(trainer, 2)
            codes.append(trainer.compiled_step.fn._torchdynamo_orig_callable.__code__)
    assert counters["frames"]["ok"] == counters["frames"]["total"] == 2  # one graph per betas, none left uncompiled
    assert codes[0] is not codes[1] and codes[1] is codes[2]  # another seed of a config reuses its graph


def test_compiled_models_of_many_shapes_in_one_process_all_compile(tmp_path):
    # runtime.compile: true compiles G and D (Module.compile's way): every module shares torch's call code, so
    # with the limit at 2 the second config's models ran uncompiled (4 of 6 frames compiled)
    from torch._dynamo.utils import counters

    with torch._dynamo.config.patch(recompile_limit=2):
        counters.clear()
        for hidden in (16, 24, 32):
            trainer = Trainer(resolve_config("wgan-grid25", [
                "runtime.compile=true", f"generator.hidden={hidden}", f"discriminator.hidden={hidden}",
                "train.batch_size=32", "data.points_per_mode=8"]), tmp_path / str(hidden), progress=False)
            train_steps(trainer, 2)
    assert counters["frames"]["total"] >= 6 and counters["frames"]["ok"] == counters["frames"]["total"]


def test_a_first_compiled_run_on_a_fresh_machine_leaves_the_temp_directory_empty(tmp_path, fresh_machine_env):
    # inductor's precompiled header for the step's C++ was 144 MB under $TMPDIR/torchinductor_USER, one per set of
    # compiler flags, and cost a first run ~5 s; a fresh inductor cache makes this run compile its step for real
    done = subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "gan-1d", "--no-progress", "--out",
                           str(tmp_path / "run"), "--set", "train.steps=20", "--set", "runtime.compile=step", "--set",
                           "log.eval_every=0"], env=fresh_machine_env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert any((tmp_path / "inductor").rglob("*.so"))  # the step was compiled here, not found in a cache
    assert not list((tmp_path / "tmp").iterdir())
