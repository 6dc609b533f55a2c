"""The conv fast path: sub-pixel upsampling is the same function as upsample + conv, channels_last changes no
loss beyond float rounding, bf16 keeps fp32 master weights, and PyTorch-GAN's DCGAN parts build and train; the
compile helpers' threads leave Python's import machinery alone."""

import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from gankit.config import resolve_config
from gankit.data import build_data
from gankit.errors import ConfigError
from gankit.models import build_discriminator, build_generator
from gankit.models.subpixel import SubpixelConv2d, use_subpixel_
from gankit.training.trainer import Trainer

# fp32: on CPUs with native bf16, `runtime.precision: auto` trains conv GANs in bf16, whose rounding differs by layout
SMALL = ["data.limit=128", "train.batch_size=16", "runtime.device=cpu", "log.every=1", "runtime.precision=fp32"]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_subpixel_conv_equals_upsample_then_conv_in_outputs_and_gradients(channels_last, bias):
    torch.manual_seed(0)  # in float64, so float rounding cannot hide a wrong tap: the same function exactly
    conv = nn.Conv2d(6, 5, 3, 1, 1, bias=bias).double()
    layout = torch.channels_last if channels_last else torch.contiguous_format
    conv.to(memory_format=layout)
    x = torch.randn(3, 6, 5, 7, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_()
    ref = conv(nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
    out = SubpixelConv2d.from_conv(conv)(x)
    assert out.shape == ref.shape == (3, 5, 10, 14)
    assert out.is_contiguous(memory_format=layout)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    params = [x, conv.weight] + ([conv.bias] if bias else [])
    up = torch.randn_like(ref)
    for got, want in zip(torch.autograd.grad(out, params, up), torch.autograd.grad(ref, params, up)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_use_subpixel_keeps_the_parameters_and_state_dict_and_the_generators_function():
    torch.manual_seed(0)
    G = build_generator("dcgan-pytorch-gan", {}, 100, (1, 32, 32)).eval()
    keys, z = list(G.state_dict()), torch.randn(8, 100)
    before, params = G(z), list(G.parameters())
    assert use_subpixel_(G) == 2
    assert not any(isinstance(m, nn.Upsample) for m in G.modules())
    assert sum(isinstance(m, SubpixelConv2d) for m in G.modules()) == 2
    assert list(G.state_dict()) == keys  # checkpoints stay those of the plain model
    assert all(a is b for a, b in zip(G.parameters(), params))
    torch.testing.assert_close(G(z), before, rtol=1e-5, atol=1e-5)


def test_pytorch_gan_dcgan_parts_are_the_files_architecture():
    G = build_generator("dcgan-pytorch-gan", {}, 100, (1, 32, 32))
    D = build_discriminator("dcgan-pytorch-gan", {}, (1, 32, 32))
    # dcgan.py's parameter counts at 32x32, latent 100, one channel
    assert sum(p.numel() for p in G.parameters()) == 1_049_985
    assert sum(p.numel() for p in D.parameters()) == 98_113
    eps = sorted({m.eps for m in G.modules() if isinstance(m, nn.BatchNorm2d)})
    assert eps == [1e-5, 0.8]  # BatchNorm2d(c, 0.8) is eps = 0.8, kept
    assert [m.eps for m in D.modules() if isinstance(m, nn.BatchNorm2d)] == [0.8, 0.8, 0.8]
    assert sum(isinstance(m, nn.Dropout2d) for m in D.modules()) == 4
    assert G(torch.randn(2, 100)).shape == (2, 1, 32, 32) and D(torch.randn(2, 1, 32, 32)).shape == (2,)
    with pytest.raises(ConfigError, match="divisible by 16"):
        build_generator("dcgan-pytorch-gan", {}, 100, (1, 28, 28))


def test_mnist_resizes_once_at_load():
    data = build_data("mnist", {"size": 32, "limit": 10})
    assert data.shape == (1, 32, 32) and data.data.dtype == torch.uint8
    with pytest.raises(ConfigError, match="size"):
        build_data("mnist", {"size": 4})


def _losses(trainer: Trainer, steps: int) -> list[list[float]]:
    rows = []
    for _ in range(steps):
        trainer.iteration()
        trainer.step += 1
        rows.append((trainer.sums / trainer.sums_count).tolist())
        trainer.sums.zero_()
        trainer.sums_count = 0
    return rows


# Dropout off: oneDNN gives the two layouts' forward passes equal to ~1e-8, but Adam's first updates are
# nearly sign(gradient), which turns rounding in near-zero gradients (many, under Dropout2d) into lr-sized steps.
@pytest.mark.parametrize("preset, extra", [("dcgan-mnist-pytorch-gan", ["discriminator.dropout=0"]), ("lsgan-mnist", [])])
def test_channels_last_gives_the_losses_of_nchw(preset, extra, tmp_path):
    fast = Trainer(resolve_config(preset, SMALL + extra), tmp_path / "fast", progress=False)
    assert fast.channels_last
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in fast.G.parameters() if p.dim() == 4)
    plain = Trainer(resolve_config(preset, SMALL + extra), tmp_path / "plain", progress=False)
    for model in (plain.G, plain.D):
        model.to(memory_format=torch.contiguous_format)
    plain.channels_last = False
    a, b = torch.tensor(_losses(fast, 4)), torch.tensor(_losses(plain, 4))
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a[0], b[0], rtol=1e-5, atol=1e-6)  # one update: float rounding only
    # later steps: GAN training amplifies rounding (~1e-3 after 4 steps of batch 16); a wrong layout is O(1)
    torch.testing.assert_close(a, b, rtol=2e-2, atol=1e-3)


def test_subpixel_setting_off_trains_the_upsample_model_to_the_same_losses(tmp_path):
    sets = [*SMALL, "discriminator.dropout=0"]  # see above
    fast = Trainer(resolve_config("dcgan-mnist-pytorch-gan", sets), tmp_path / "fast", progress=False)
    plain = Trainer(resolve_config("dcgan-mnist-pytorch-gan", [*sets, "runtime.subpixel=false"]), tmp_path / "p",
                    progress=False)
    assert any(isinstance(m, nn.Upsample) for m in plain.G.modules())
    assert not any(isinstance(m, nn.Upsample) for m in fast.G.modules())
    a, b = torch.tensor(_losses(fast, 3)), torch.tensor(_losses(plain, 3))
    torch.testing.assert_close(a[0], b[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a, b, rtol=2e-2, atol=1e-3)


@pytest.mark.parametrize("preset", ["dcgan-mnist-pytorch-gan", "lsgan-mnist"])
def test_a_bf16_step_keeps_finite_fp32_master_weights(preset, tmp_path):
    trainer = Trainer(resolve_config(preset, [*SMALL, "runtime.precision=bf16"]), tmp_path / "run", progress=False)
    before = [p.detach().clone() for p in trainer.G.parameters()]
    assert trainer.critic(trainer.batcher.batch(0, torch.Generator().manual_seed(0))).dtype == torch.float32
    rows = _losses(trainer, 2)
    assert all(math.isfinite(v) for row in rows for v in row)
    for model in (trainer.G, trainer.D):
        for p in model.parameters():
            assert p.dtype == torch.float32 and torch.isfinite(p).all()
    assert any(not torch.equal(a, p) for a, p in zip(before, trainer.G.parameters()))  # it did train


def test_eager_runs_train_with_fused_adam_and_the_compiled_step_keeps_foreach(tmp_path):
    conv = Trainer(resolve_config("dcgan-mnist-pytorch-gan", SMALL), tmp_path / "conv", progress=False)
    assert all(g["fused"] and not g["foreach"] for opt in (conv.opt_g, conv.opt_d) for g in opt.param_groups)
    _losses(conv, 1)
    assert all(torch.isfinite(p).all() for p in conv.G.parameters())
    mlp = Trainer(resolve_config("gan-1d", ["runtime.device=cpu", "runtime.compile=false"]), tmp_path / "mlp", progress=False)
    assert not mlp.channels_last
    assert all(g["fused"] and not g["foreach"] for opt in (mlp.opt_g, mlp.opt_d) for g in opt.param_groups)
    step = Trainer(resolve_config("wgan-grid25", ["runtime.device=cpu", "runtime.compile=step"]), tmp_path / "step",
                   progress=False)  # its functional Adam is foreach's arithmetic: the optimisers say so
    assert all(g["foreach"] and not g["fused"] for opt in (step.opt_g, step.opt_d) for g in opt.param_groups)


def test_an_adam_that_has_stepped_with_foreach_continues_fused_on_the_same_path():
    # The CUDA graph replays fused Adam only; a run resumed from a compiled-step checkpoint brings foreach Adam
    # with its step count on the CPU. Switched after 3 steps, it must go on as foreach would have.
    from gankit.training.fastpath import fuse_adam_

    torch.manual_seed(0)
    nets = [nn.Linear(5, 3), nn.Linear(5, 3)]
    nets[1].load_state_dict(nets[0].state_dict())
    opts = [torch.optim.Adam(n.parameters(), lr=1e-2, foreach=True) for n in nets]
    x = torch.randn(16, 5)
    for i in range(8):
        if i == 3:
            fuse_adam_(opts[1])  # not without stepped=True: it has state
            assert not opts[1].param_groups[0]["fused"]
            fuse_adam_(opts[1], stepped=True)
        for net, opt in zip(nets, opts, strict=True):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    group, state = opts[1].param_groups[0], opts[1].state[nets[1].weight]
    assert group["fused"] and not group["foreach"] and state["step"].item() == 8
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("preset", ["dcgan-mnist-pytorch-gan", "lsgan-mnist"])
def test_every_conv_of_the_fast_path_sees_channels_last_input(preset, tmp_path):
    # A generator's linear layer reshaped to a feature map is NCHW; left so, every conv with channels_last
    # weights copies its whole input to NHWC first (the fast path's hook converts it once, at the first conv).
    trainer = Trainer(resolve_config(preset, SMALL), tmp_path / "run", progress=False)
    seen = []
    for model in (trainer.G, trainer.D):
        for layer in model.modules():
            if isinstance(layer, nn.Conv2d):
                layer.register_forward_pre_hook(
                    lambda _m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    trainer.critic(trainer.G(trainer.noise(4)))
    assert seen and all(seen)


@pytest.mark.parametrize("preset", ["dcgan-mnist-pytorch-gan", "lsgan-mnist"])
def test_element_wise_layers_get_their_gradient_in_their_inputs_layout(preset, tmp_path):
    # A LeakyReLU or batch-norm backward whose gradient and saved input differ in memory layout runs a strided
    # kernel ~30x slower; the fast path's layout changes (Unflatten, Flatten, conv inputs) hand gradients back
    # in the layout each layer saw. Checked on every such layer of G and D, through a G update's backward.
    trainer = Trainer(resolve_config(preset, SMALL), tmp_path / "run", progress=False)
    pairs = []
    for model in (trainer.G, trainer.D):
        for layer in model.modules():
            if isinstance(layer, (nn.LeakyReLU, nn.ReLU, nn.BatchNorm2d)):
                layer.register_forward_hook(lambda m, args, out: setattr(m, "_nhwc", _nhwc(args[0])))
                layer.register_full_backward_hook(
                    lambda m, grad_in, grad_out: pairs.append((m._nhwc, _nhwc(grad_out[0]))))
    trainer.critic(trainer.G(trainer.noise(4))).float().sum().backward()
    assert len(pairs) >= 4 and any(nhwc for nhwc, _ in pairs)
    assert all(seen == grad for seen, grad in pairs), pairs


def _nhwc(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


_WATCH_IMPORT_LISTS = """
import sys, threading, time
touched = []
class Watched(list):
    def _note(self):
        if threading.current_thread() is not threading.main_thread():
            touched.append(threading.current_thread().name)
    def insert(self, i, x): self._note(); super().insert(i, x)
    def append(self, x): self._note(); super().append(x)
    def remove(self, x): self._note(); super().remove(x)
    def pop(self, *a): self._note(); return super().pop(*a)
sys.meta_path, sys.path_hooks, sys.path = Watched(sys.meta_path), Watched(sys.path_hooks), Watched(sys.path)
from gankit.training import fastpath
fastpath.use_inductor_cache()
fastpath.prefetch_inductor_keys()
fastpath.probe_cpu_isa_early()
for t in threading.enumerate():
    if t.name == "gankit-isa-probe":
        t.join(timeout=300)
from torch._inductor import codecache
codecache.triton_key(), codecache.torch_key()  # the prefetch thread's answers: its work is done
print("TOUCHED", touched)
"""


def test_the_compile_helper_threads_leave_the_import_machinery_alone(fresh_machine_env):
    # setuptools' distutils shim, first imported on the ISA probe's thread, inserted and removed a finder in
    # sys.meta_path while the main thread imported: that import skipped a finder and failed (once, in CI)
    done = subprocess.run([sys.executable, "-c", _WATCH_IMPORT_LISTS], env=fresh_machine_env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "TOUCHED []" in done.stdout, done.stdout


_FIRST_ISA_ONLY = """
import os, platform, sys
from torch._inductor import config, cpu_vec_isa
from gankit.training import fastpath
full = cpu_vec_isa.valid_vec_isa_list
config.cpp.simdlen = 256  # a user's choice of width: the shortcut stands aside
assert not fastpath._probe_first_isa_only(cpu_vec_isa) and cpu_vec_isa.valid_vec_isa_list is full
config.cpp.simdlen = None
took = fastpath._probe_first_isa_only(cpu_vec_isa)
print("TOOK", took, platform.machine())
if took:
    picked = cpu_vec_isa.pick_vec_isa()
    checked = full()  # torch's own list, every ISA built and loaded
    print("PICKED", str(picked), "TORCH", str(checked[0]), "ALL", [str(isa) for isa in checked])
    os.environ["ATEN_CPU_CAPABILITY"] = "avx2"  # names another ISA: torch's whole list answers again
    print("AVX2", str(cpu_vec_isa.pick_vec_isa()))
"""


def test_the_isa_probe_checks_only_the_isa_inductor_picks_and_picks_the_same(fresh_machine_env):
    # inductor built a test library for every ISA the CPU reports (7 s of gan-1d's first run on a Zen 5, ~2 s of
    # it waited for); the shortcut checks the first alone and must leave inductor's choice as torch makes it
    env = {k: v for k, v in fresh_machine_env.items() if k != "ATEN_CPU_CAPABILITY"}
    done = subprocess.run([sys.executable, "-c", _FIRST_ISA_ONLY], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    if "TOOK False" in done.stdout:
        assert "x86_64" not in done.stdout, done.stdout  # where the shortcut applies, it must be taken
        pytest.skip("the shortcut applies to Linux x86-64 only")
    picked = done.stdout.split("PICKED ")[1].split(" TORCH ")[0]
    torch_pick = done.stdout.split(" TORCH ")[1].split(" ALL ")[0]
    assert picked == torch_pick, done.stdout
    if "avx2" in done.stdout.split(" ALL ")[1].split("\n")[0]:
        assert "AVX2 avx2" in done.stdout, done.stdout
