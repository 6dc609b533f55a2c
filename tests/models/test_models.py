"""Generators and discriminators: shapes, output ranges, the posts' layer sizes, init, errors."""

from __future__ import annotations

import inspect
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.models import (
    DISCRIMINATORS,
    GENERATORS,
    build_discriminator,
    build_generator,
    init_weights,
)
from gankit.models.layers import ELU

# (architecture, one example's shape it fits, small settings to keep the test fast)
CASES = [
    ("lsgan", (1, 28, 28), {"hidden": 32, "width": 8}),
    ("lsgan", (3, 28, 28), {"hidden": 32, "width": 8}),
    ("dcgan-tf", (1, 28, 28), {"hidden": 32, "width": 8}),
    ("dcgan-keras", (1, 28, 28), {"width": 8}),
    ("dcgan-keras", (3, 28, 28), {"width": 8}),
    ("dcgan64", (3, 64, 64), {"width": 8}),
    ("dcgan64", (1, 32, 32), {"width": 8}),
    ("dcgan64", (3, 16, 16), {"width": 8}),
    ("dcgan-pytorch-gan", (1, 32, 32), {"width": 8}),
    ("dcgan-pytorch-gan", (3, 16, 16), {"width": 8}),
    ("dcgan-small", (1, 28, 28), {"width": 4}),
    ("dcgan-small", (3, 28, 28), {"width": 4}),
    ("mlp-1d", (1,), {}),
    ("mlp-mnist", (1, 28, 28), {"hidden": 32}),
    ("mlp-elu", (2,), {"hidden": 16}),
]
OUTPUT_RANGE = {
    "lsgan": (0.0, 1.0),
    "dcgan-tf": (-1.0, 1.0),
    "dcgan-keras": (-1.0, 1.0),
    "dcgan64": (-1.0, 1.0),
    "dcgan-pytorch-gan": (-1.0, 1.0),
    "dcgan-small": (-1.0, 1.0),
    "mlp-1d": None,
    "mlp-mnist": (-1.0, 1.0),
    "mlp-elu": None,
}
INJECTED_G = ("z_dim", "out_shape")
INJECTED_D = ("in_shape",)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def layers(module: nn.Module, kind: type) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, kind)]


def test_same_names_in_both_registries():
    assert GENERATORS.names() == DISCRIMINATORS.names()
    assert set(GENERATORS.names()) == set(OUTPUT_RANGE)


@pytest.mark.parametrize("registry", [GENERATORS, DISCRIMINATORS])
def test_factories_are_keyword_only_typed_and_defaulted(registry):
    injected = INJECTED_G if registry is GENERATORS else INJECTED_D
    for name in registry.names():
        sig = inspect.signature(registry.get(name))
        assert set(injected) <= set(sig.parameters), name
        for p in sig.parameters.values():
            assert p.kind is p.KEYWORD_ONLY, (name, p.name)
            assert p.annotation is not p.empty, (name, p.name)
            if p.name not in injected:
                assert p.default is not p.empty, (name, p.name)
        assert "init" in sig.parameters, name
        assert registry.summary(name), name


@pytest.mark.parametrize("name,shape,params", CASES)
def test_shapes_and_output_range(name, shape, params):
    torch.manual_seed(0)
    g = build_generator(name, params, z_dim=6, out_shape=shape)
    d = build_discriminator(name, params, in_shape=shape)
    assert g.output_range == OUTPUT_RANGE[name]
    z = torch.randn(4, 6) * 3  # wide inputs: the output activation must still hold
    x = g(z)
    assert x.shape == (4, *shape)
    assert d(x).shape == (4,)
    d(x).mean().backward()  # gradients flow back to G
    assert all(p.grad is not None for p in g.parameters())
    g.eval()
    d.eval()
    with torch.no_grad():
        x = g(z)
        assert d(x).shape == (4,)
    if g.output_range is not None:
        low, high = g.output_range
        assert low <= x.min().item() and x.max().item() <= high


def test_batch_of_two_trains():
    """BatchNorm1d in the first layers needs only two examples."""
    g = build_generator("lsgan", {"hidden": 16, "width": 4}, 5, (1, 28, 28))
    assert g(torch.rand(2, 5)).shape == (2, 1, 28, 28)


# ---- the posts' exact layers -------------------------------------------------------


def test_lsgan_post_000_layers():
    g = build_generator("lsgan", {}, z_dim=62, out_shape=(1, 28, 28))
    d = build_discriminator("lsgan", {}, in_shape=(1, 28, 28))
    conv1 = layers(d, nn.Conv2d)[0]
    assert n_params(conv1) == 1 * 64 * 4 * 4 + 64
    fc1 = layers(d, nn.Linear)[0]
    assert (fc1.in_features, fc1.out_features) == (128 * 7 * 7, 1024) == (6272, 1024)
    assert n_params(d) == (
        (1 * 64 * 16 + 64)
        + (64 * 128 * 16 + 128)
        + 2 * 128
        + (6272 * 1024 + 1024)
        + 2 * 1024
        + (1024 + 1)
    )
    assert n_params(g) == (
        (62 * 1024 + 1024)
        + 2 * 1024
        + (1024 * 6272 + 6272)
        + 2 * 6272
        + (128 * 64 * 16 + 64)
        + 2 * 64
        + (64 * 1 * 16 + 1)
    )
    assert [m.negative_slope for m in layers(g, nn.LeakyReLU)] == [0.01] * 3
    assert [m.negative_slope for m in layers(d, nn.LeakyReLU)] == [0.2] * 3
    assert isinstance(list(g.modules())[-1], nn.Sigmoid)
    assert isinstance(list(d.modules())[-1], nn.Linear)  # LSGAN: no output activation


def test_dcgan_tf_post_001_layers():
    g = build_generator("dcgan-tf", {}, z_dim=100, out_shape=(1, 28, 28))
    d = build_discriminator("dcgan-tf", {}, in_shape=(1, 28, 28))
    convt1, convt2 = layers(g, nn.ConvTranspose2d)
    assert n_params(convt1) == 5 * 5 * 64 * 128 + 64  # kernel [5, 5, 64, 128] + biases
    assert n_params(convt2) == 5 * 5 * 1 * 64 + 1
    # tf.nn.batch_normalization(..., None, None, 1e-5): no scale or shift to learn
    assert all(
        not bn.affine and bn.eps == 1e-5
        for bn in layers(g, nn.modules.batchnorm._BatchNorm)
    )
    assert n_params(g) == (100 * 1024 + 1024) + (1024 * 6272 + 6272) + 204864 + 1601
    conv1, conv2 = layers(d, nn.Conv2d)
    assert n_params(conv1) == 5 * 5 * 1 * 64 + 64
    assert n_params(conv2) == 5 * 5 * 64 * 128 + 128
    fc1, fc2 = layers(d, nn.Linear)
    assert (fc1.in_features, fc1.out_features, fc2.out_features) == (6272, 256, 1)
    assert layers(d, nn.Dropout)[0].p == 0.5
    assert [m.negative_slope for m in layers(d, nn.LeakyReLU)] == [0.01] * 3
    assert not layers(d, nn.Sigmoid)  # the logit: BCE-with-logits applies the sigmoid


def test_dcgan_keras_post_003_layers():
    g = build_generator("dcgan-keras", {}, z_dim=100, out_shape=(1, 28, 28))
    d = build_discriminator("dcgan-keras", {}, in_shape=(1, 28, 28))
    dense = layers(g, nn.Linear)[0]
    assert n_params(dense) == 100 * 256 * 7 * 7 + 256 * 7 * 7
    convts = layers(g, nn.ConvTranspose2d)
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convts] == [
        (256, 128, 2),
        (128, 64, 1),  # the prose's middle layer
        (64, 1, 2),
    ]
    assert n_params(convts[0]) == 3 * 3 * 256 * 128 + 128
    for bn in layers(g, nn.BatchNorm2d) + layers(d, nn.BatchNorm2d):
        assert (bn.momentum, bn.eps) == (0.01, 1e-3)  # Keras defaults 0.99 / 1e-3
    # Keras summary of the post's D (one BN per conv): 320 + 18496 + 128 + 73856 + 256 + 2049
    assert [n_params(c) for c in layers(d, nn.Conv2d)] == [320, 18496, 73856]
    assert n_params(d) == 95105
    x = torch.zeros(2, 1, 28, 28)
    assert d.net[:-2](x).shape == (2, 128, 4, 4)  # 'same': 28 -> 14 -> 7 -> 4


def test_dcgan64_matches_pytorch_tutorial():
    g = build_generator("dcgan64", {}, z_dim=100, out_shape=(3, 64, 64))
    d = build_discriminator("dcgan64", {}, in_shape=(3, 64, 64))
    assert n_params(g) == 3_576_704  # the tutorial's netG (nz=100, ngf=64, nc=3)
    assert n_params(d) == 2_765_568  # the tutorial's netD (ndf=64)
    assert len(layers(d, nn.BatchNorm2d)) == 3  # no BN on the first conv


def test_dcgan64_derives_stages_from_size():
    g32 = build_generator("dcgan64", {"width": 4}, z_dim=3, out_shape=(1, 32, 32))
    d32 = build_discriminator("dcgan64", {"width": 4}, in_shape=(1, 32, 32))
    assert [c.out_channels for c in layers(g32, nn.ConvTranspose2d)] == [16, 8, 4, 1]
    assert [c.out_channels for c in layers(d32, nn.Conv2d)] == [4, 8, 16, 1]
    g128 = build_generator("dcgan64", {"width": 2}, z_dim=3, out_shape=(1, 128, 128))
    assert g128(torch.randn(2, 3)).shape == (2, 1, 128, 128)


def test_mlp_1d_post_002a():
    g = build_generator("mlp-1d", {}, z_dim=1, out_shape=(1,))
    assert n_params(g) == (1 * 50 + 50) + (50 * 50 + 50) + (50 * 1 + 1)
    assert [type(m) for m in g.net] == [
        nn.Linear,
        ELU,
        nn.Linear,
        nn.Sigmoid,
        nn.Linear,
    ]
    for in_shape in [(1,), (100,), (4,)]:  # one sample, a sorted batch, its moments
        d = build_discriminator("mlp-1d", {}, in_shape=in_shape)
        assert n_params(d) == (in_shape[0] * 50 + 50) + (50 * 50 + 50) + 51
        assert d(torch.randn(3, *in_shape)).shape == (3,)
    assert not layers(d, nn.Sigmoid)  # dropped: BCE with logits


def test_mlp_mnist_post_002b():
    g = build_generator("mlp-mnist", {}, z_dim=100, out_shape=(1, 28, 28))
    d = build_discriminator("mlp-mnist", {}, in_shape=(1, 28, 28))
    assert n_params(g) == (100 * 256 + 256) + (256 * 256 + 256) + (256 * 784 + 784)
    assert n_params(d) == (784 * 256 + 256) + (256 * 256 + 256) + (256 + 1)
    assert [m.p for m in layers(g, nn.Dropout) + layers(d, nn.Dropout)] == [0.2] * 4
    g.eval()  # nn.Dropout is off at sampling time (the post's F.dropout was not)
    z = torch.rand(5, 100) * 2 - 1
    assert torch.equal(g(z), g(z))


def test_mlp_elu_post_004():
    g = build_generator("mlp-elu", {}, z_dim=4, out_shape=(2,))
    d = build_discriminator("mlp-elu", {}, in_shape=(2,))
    h = 128
    assert n_params(g) == (4 * h + h) + 2 * (h * h + h) + (h * 2 + 2)
    assert n_params(d) == (2 * h + h) + 2 * (h * h + h) + (h + 1)
    assert len(layers(g, ELU)) == len(layers(d, ELU)) == 3
    d = build_discriminator(
        "mlp-elu", {"depth": 1, "activation": "relu"}, in_shape=(2,)
    )
    assert len(layers(d, nn.Linear)) == 2 and len(layers(d, nn.ReLU)) == 1
    g = build_generator("mlp-elu", {"output": "tanh"}, z_dim=4, out_shape=(1, 8, 8))
    assert g.output_range == (-1.0, 1.0)
    assert g(torch.randn(3, 4)).shape == (3, 1, 8, 8)


def test_mlp_elu_scale_multiplies_the_linear_output_and_adds_no_weights():
    torch.manual_seed(0)
    plain = build_generator("mlp-elu", {}, z_dim=4, out_shape=(2,))
    scaled = build_generator("mlp-elu", {"scale": 2.5}, z_dim=4, out_shape=(2,))
    scaled.load_state_dict(plain.state_dict())  # same keys: a scale is not a weight
    z = torch.randn(6, 4)
    torch.testing.assert_close(scaled(z), 2.5 * plain(z))
    for bad, match in (({"scale": 0.0}, "'scale' must be > 0, got 0.0"), ({"scale": -1.0}, "must be > 0"),
                       ({"scale": 2.0, "output": "tanh"}, "output 'tanh' already fixes the range")):
        with pytest.raises(ConfigError, match=match):
            build_generator("mlp-elu", bad, z_dim=4, out_shape=(2,))


def test_discriminator_batchnorm_can_be_removed():
    for name, shape in [
        ("lsgan", (1, 28, 28)),
        ("dcgan-keras", (1, 28, 28)),
        ("dcgan64", (1, 16, 16)),
    ]:
        d = build_discriminator(name, {"batchnorm": False}, in_shape=shape)
        assert not layers(d, nn.modules.batchnorm._BatchNorm), name
        assert d(torch.randn(1, *shape)).shape == (1,)


# ---- initialisation ----------------------------------------------------------------


def test_normal02_init():
    torch.manual_seed(0)
    d = build_discriminator("dcgan64", {}, in_shape=(3, 64, 64))
    big = layers(d, nn.Conv2d)[3]  # 256 -> 512, 2M weights
    assert abs(big.weight.std().item() - 0.02) < 0.001
    assert abs(big.weight.mean().item()) < 0.001
    bn = layers(d, nn.BatchNorm2d)[-1]
    assert (
        abs(bn.weight.mean().item() - 1.0) < 0.01
        and 0.01 < bn.weight.std().item() < 0.03
    )
    assert torch.all(bn.bias == 0)
    g = build_generator("dcgan-tf", {}, z_dim=100, out_shape=(1, 28, 28))
    fc2 = layers(g, nn.Linear)[1]
    assert abs(fc2.weight.std().item() - 0.02) < 0.001
    for m in layers(g, nn.Linear) + layers(g, nn.ConvTranspose2d):
        assert torch.all(m.bias == 0)


def test_glorot_init():
    torch.manual_seed(0)
    g = build_generator("dcgan-keras", {}, z_dim=100, out_shape=(1, 28, 28))
    dense = layers(g, nn.Linear)[0]
    bound = math.sqrt(6 / (100 + 12544))
    assert dense.weight.abs().max().item() <= bound
    assert abs(dense.weight.std().item() - bound / math.sqrt(3)) < 0.02 * bound
    assert torch.all(dense.bias == 0)
    for m in layers(g, nn.ConvTranspose2d):
        assert torch.all(m.bias == 0)


def test_default_init_is_pytorchs():
    d = build_discriminator("lsgan", {}, in_shape=(1, 28, 28))
    assert d(torch.zeros(2, 1, 28, 28)).shape == (2,)
    assert layers(d, nn.Linear)[0].bias.abs().sum() > 0  # PyTorch's uniform biases
    other = build_discriminator("lsgan", {"init": "normal02"}, in_shape=(1, 28, 28))
    assert torch.all(layers(other, nn.Linear)[0].bias == 0)


def test_unknown_init_scheme():
    with pytest.raises(ConfigError, match="normal02"):
        init_weights(nn.Linear(2, 2), "normal2")
    with pytest.raises(ConfigError, match="normal02"):
        build_generator("mlp-elu", {"init": "normal2"}, z_dim=2, out_shape=(2,))


# ---- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,shape,words",
    [
        ("lsgan", (3, 64, 64), ["28x28 images", "is 3x64x64", "e.g. dcgan64"]),
        ("dcgan-tf", (2,), ["28x28 images", "has shape (2,)", "mlp-elu"]),
        ("dcgan-keras", (1, 32, 32), ["28x28", "1x32x32", "dcgan64"]),
        ("dcgan64", (1, 28, 28), ["power-of-2 side >= 16", "1x28x28", "lsgan"]),
        ("dcgan64", (3, 48, 48), ["3x48x48", "mlp-elu"]),
        ("dcgan64", (3, 8, 8), ["3x8x8"]),
        ("dcgan64", (3, 64, 32), ["3x64x32"]),
    ],
)
def test_wrong_shape_is_one_clear_line(name, shape, words):
    with pytest.raises(ConfigError) as g_err:
        build_generator(name, {}, z_dim=4, out_shape=shape)
    with pytest.raises(ConfigError) as d_err:
        build_discriminator(name, {}, in_shape=shape)
    g_message, d_message = str(g_err.value), str(d_err.value)
    assert g_message.startswith(f"generator '{name}' makes ")
    assert d_message.startswith(f"discriminator '{name}' takes ")
    for message in (g_message, d_message):
        assert "\n" not in message and "pick a model that fits" in message
        for word in words:
            assert word in message


def test_unknown_setting_suggests_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'width'"):
        build_generator("dcgan64", {"widht": 32}, z_dim=4, out_shape=(3, 64, 64))
    with pytest.raises(ConfigError, match="did you mean 'hidden'"):
        build_discriminator("mlp-1d", {"hiden": 10}, in_shape=(1,))
    with pytest.raises(ConfigError, match="did you mean 'dcgan64'"):
        build_generator("dcgan46", {}, z_dim=4, out_shape=(3, 64, 64))


@pytest.mark.parametrize(
    "name,params,match",
    [
        ("mlp-elu", {"hidden": 0}, "'hidden' must be at least 1"),
        ("mlp-elu", {"depth": 0}, "'depth' must be at least 1"),
        ("mlp-mnist", {"dropout": 1.0}, r"'dropout' must be in \[0, 1\)"),
        ("mlp-elu", {"activation": "tanh"}, "elu"),
        ("mlp-elu", {"hidden": "big"}, "whole number"),
    ],
)
def test_bad_values(name, params, match):
    with pytest.raises(ConfigError, match=match):
        build_discriminator(name, params, in_shape=(2,))


def test_resolved_settings_list_every_default():
    assert GENERATORS.resolve("lsgan", {}, INJECTED_G) == {
        "hidden": 1024,
        "width": 64,
        "init": "default",
    }
    assert DISCRIMINATORS.resolve("dcgan-tf", {"hidden": 128.0}, INJECTED_D) == {
        "hidden": 128,
        "width": 64,
        "dropout": 0.5,
        "init": "normal02",
    }


@pytest.mark.parametrize("n", [50, 10_001])  # F.elu below gankit.models.layers' size switch, the Function above
def test_fast_elu_matches_torch_elu_in_value_and_gradient(n):
    from gankit.models.layers import ELU

    x = torch.linspace(-20, 20, n, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ours = ELU()(x)
    (grad_ours,) = torch.autograd.grad(ours, x, upstream)
    ref = torch.nn.functional.elu(x)
    (grad_ref,) = torch.autograd.grad(ref, x, upstream)
    assert torch.allclose(ours, ref, atol=1e-12) and torch.allclose(grad_ours, grad_ref, atol=1e-12)


def test_fast_elu_gradient_under_vmap_and_func_grad_as_ensembles_and_the_compiled_step_take_it():
    from torch.func import grad, vmap

    from gankit.models.layers import ELU

    x = torch.randn(3, 64, 100, dtype=torch.float64)  # 3 members, 6,400 elements each: the Function's path

    def loss(fn):
        return lambda v: (fn(v) * torch.arange(100, dtype=torch.float64)).sum()

    ours = vmap(grad(loss(ELU())))(x)
    ref = vmap(grad(loss(torch.nn.functional.elu)))(x)
    assert torch.allclose(ours, ref, atol=1e-12)
    assert not torch.allclose(ours, torch.ones_like(ours))  # the negative half's gradient is exp(x), not 1


_ELU_WARM_START = """
import torch
from torch._dynamo.utils import counters
from gankit.models.layers import ELU
torch.manual_seed(0)
model, ref = torch.nn.Sequential(torch.nn.Linear(100, 100), ELU()), torch.nn.Sequential(torch.nn.Linear(100, 100), torch.nn.ELU())
ref.load_state_dict(model.state_dict())
x = torch.linspace(-3, 3, 6400).reshape(64, 100)  # 6,400 outputs: the Function's path in eager
def grads(m):  # as the compiled step takes them: torch.func.grad over detached parameters
    weights = {name: p.detach() for name, p in m.named_parameters()}
    return torch.func.grad(lambda w: (torch.func.functional_call(m, w, (x,)) ** 2).sum())(weights)
torch.testing.assert_close(list(torch.compile(grads, dynamic=False)(model).values()), list(grads(ref).values()))
print("AOT", dict(counters["aot_autograd"]))
"""


def test_fast_elu_in_a_compiled_graph_lets_a_warm_start_reuse_its_aot_trace(fresh_machine_env):
    # an autograd.Function in a graph made AOTAutograd's cache pass it by: every warm start of a compiled ELU
    # model redid its AOT trace (gan-1d's step: 2 of its 4 s); traced, ELU is its formula and the gradient matches
    runs = [subprocess.run([sys.executable, "-c", _ELU_WARM_START], env=fresh_machine_env, capture_output=True,
                           text=True, timeout=600, check=False) for _ in range(2)]
    assert all(run.returncode == 0 for run in runs), runs[-1].stderr
    assert "'autograd_cache_saved': 1" in runs[0].stdout, runs[0].stdout
    assert "'autograd_cache_hit': 1" in runs[1].stdout, runs[1].stdout


@pytest.mark.parametrize("name,shape,params", CASES)
def test_config_round_trips_and_state_dict_survives_a_rebuild(name, shape, params):
    """The axis contract (as tests/parts): settings resolve with every default written, and a model rebuilt
    from its resolved settings and loaded with a state dict computes what the original does."""
    for registry, injected in ((GENERATORS, INJECTED_G), (DISCRIMINATORS, INJECTED_D)):
        resolved = registry.resolve(name, params, injected)
        assert set(registry.parameters(name, injected)) == set(resolved)
    torch.manual_seed(1)
    g = build_generator(name, params, z_dim=6, out_shape=shape)
    d = build_discriminator(name, params, in_shape=shape)
    torch.manual_seed(2)
    g2 = build_generator(name, GENERATORS.resolve(name, params, INJECTED_G), z_dim=6, out_shape=shape)
    d2 = build_discriminator(name, DISCRIMINATORS.resolve(name, params, INJECTED_D), in_shape=shape)
    g2.load_state_dict(g.state_dict())
    d2.load_state_dict(d.state_dict())
    for m in (g, d, g2, d2):
        m.eval()
    z = torch.randn(3, 6)
    with torch.no_grad():
        assert torch.equal(g(z), g2(z))
        assert torch.equal(d(g(z)), d2(g(z)))


def test_mlp_1d_generator_scale_and_shift_place_a_fresh_output_at_the_data():
    torch.manual_seed(0)
    plain = build_generator("mlp-1d", z_dim=1, out_shape=(1,), params={"hidden": 8})
    torch.manual_seed(0)
    placed = build_generator("mlp-1d", z_dim=1, out_shape=(1,), params={"hidden": 8, "scale": 1.25, "shift": 4.0})
    z = torch.rand(100, 1)
    torch.testing.assert_close(placed(z), plain(z) * 1.25 + 4.0)
    assert placed.state_dict().keys() == plain.state_dict().keys()  # no parameters added: checkpoints unchanged
    with pytest.raises(ConfigError, match="'scale' must be > 0"):
        build_generator("mlp-1d", z_dim=1, out_shape=(1,), params={"scale": 0.0})
