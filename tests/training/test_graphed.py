"""runtime.compile: graph (gankit.training.graphed): the eager step replayed as CUDA graphs trains as the eager
step does, resumes as it does, and is refused, in one line, where a graph cannot hold the step. The CUDA tests
run on a lent GPU (benchmarks/gpu_checks.sh); the refusals run everywhere."""

import shutil

import pytest
import torch
from resuming import resume_beside_uninterrupted

from gankit.config import resolve_config
from gankit.errors import ConfigError
from gankit.training import capability
from gankit.training.trainer import Trainer

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_auto_takes_the_graph_on_cuda_and_says_why_it_cannot_elsewhere():
    def resolve(preset, *sets, device="cuda", steps=100):
        cfg = resolve_config(preset, list(sets))
        return capability.resolve_compile(cfg, None, None, "image", torch.device(device), steps)

    assert resolve("dcgan-mnist-pytorch-gan")[0] == "graph"  # batch norm, dropout, fakes: reuse all replay
    assert resolve("mnist-fast")[0] == "graph"  # class-conditional, channels_last
    compile_, why = resolve("dcgan-mnist-pytorch-gan", "optim.d={name: rmsprop, lr: 5.0e-5}")
    assert compile_ is False and "optim.d rmsprop" in why
    compile_, why = resolve("dcgan-mnist-pytorch-gan", "optim.g.decay=1e-5")
    assert compile_ is False and "optim.g.decay" in why
    compile_, why = resolve("dcgan-mnist-pytorch-gan", "train.skip_nonfinite=true")
    assert compile_ is False and "skip_nonfinite" in why
    assert resolve("dcgan-mnist-pytorch-gan", "runtime.compile=false")[0] is False  # asked for: as asked
    # post 004's decay: no graph; a long MLP run then takes the compiled step, on CUDA as on the CPU
    compile_, why = resolve("wgan-grid25", steps=20_000)
    if shutil.which("g++") or shutil.which("c++"):
        assert compile_ == "step" and why.startswith("a CUDA graph cannot hold optim.g.decay; a long MLP run on the CUDA")


def test_a_graph_is_refused_off_cuda_in_one_line(tmp_path):
    cfg = resolve_config("grid25-fast", ["runtime.device=cpu", "runtime.compile=graph", "data.points_per_mode=40"])
    with pytest.raises(ConfigError, match=r"^runtime.compile: graph cannot train models off CUDA") as err:
        Trainer(cfg, tmp_path / "run", progress=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def _train(tmp_path, name, preset, steps, sets):
    cfg = resolve_config(preset, ["runtime.device=cuda", f"train.steps={steps}", "log.eval_every=0",
                                  "log.sample_every=1000", "log.checkpoint_every=1000", *sets])
    t = Trainer(cfg, tmp_path / name, progress=False)
    logged = []
    for _ in range(steps):
        before = t.sums.clone()
        t.iteration()
        logged.append((t.sums - before).cpu())
        t.step += 1
    return t, torch.stack(logged)


def _weights(t):
    return [p.detach().clone() for m in (t.G, t.D) for p in m.parameters()]


@cuda
@pytest.mark.parametrize("preset,sets", [
    ("dcgan-mnist-pytorch-gan", []),  # batch norm, dropout (torch's default stream), fakes: reuse
    ("mnist-fast", []),  # class-conditional, G's weight average, channels_last
    ("grid25-fast", ["data.points_per_mode=40", "optim.g.decay=0", "optim.d.decay=0"]),  # lazy R1 every 4th step: two graphs
])
def test_the_graph_trains_as_the_eager_step_does(tmp_path, preset, sets, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)  # the same kernels on both sides
    steps = 20  # grid25-fast: R1 is due at 0, 4, 8 (warm-up), captured at 12, replayed at 16
    eager, eager_logged = _train(tmp_path, "eager", preset, steps, ["runtime.compile=false", *sets])
    graph, graph_logged = _train(tmp_path, "graph", preset, steps, ["runtime.compile=graph", *sets])
    assert graph.compile == "graph" and len(graph.compiled_step.graphs) >= 1
    first = _weights(Trainer(resolve_config(preset, ["runtime.device=cuda", *sets]), tmp_path / "init",
                             progress=False))
    moved = max((a - b).abs().max().item() for a, b in zip(_weights(eager), first))
    diff = max((a - b).abs().max().item() for a, b in zip(_weights(eager), _weights(graph)))
    print(f"{preset}: graph vs eager max |dw| {diff:.2e}, weights moved {moved:.2e} in {steps} steps")
    assert moved > 1e-3, "the weights did not move: the comparison would say nothing"
    # the same kernels on both sides: equal but for the last bits (a noise or dropout stream drawn differently
    # would move every weight by about a learning rate a step, ~moved)
    assert diff < 2e-2 * moved, f"graph and eager weights differ by {diff:.2e} (moved {moved:.2e})"
    assert torch.allclose(eager_logged, graph_logged, rtol=1e-3, atol=1e-4)
    if preset == "grid25-fast":
        assert len(graph.compiled_step.graphs) == 2  # R1 due, and not due


@cuda
def test_a_graphed_run_resumes_as_the_uninterrupted_one(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    cfg = resolve_config("grid25-fast", ["runtime.device=cuda", "runtime.compile=graph", "data.points_per_mode=40",
                                        "optim.g.decay=0", "optim.d.decay=0"])
    trainer = Trainer(cfg, tmp_path / "t", progress=False)
    # 6 first: 3 warm-up steps, the graph of the R1 step and of the others; the loaded state brings new
    # optimiser state tensors, so the graphs that held the old ones must go
    _, after, again = resume_beside_uninterrupted(trainer, 6, 8)
    for part in ("generator", "generator_ema", "discriminator", "opt_g", "opt_d", "log_sums"):
        torch.testing.assert_close(again[part], after[part], rtol=0, atol=1e-6)
