"""runtime.precision auto, the emulated-bf16 and too-many-threads warnings, on either kind of machine (the CPU flags are set here),
and `gankit info`."""

import pytest
import torch

from gankit import machine
from gankit.cli import main
from gankit.config import resolve_config

CPU = torch.device("cpu")


@pytest.fixture
def flags(monkeypatch):
    def set_flags(*names):
        monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset(names))
    return set_flags


def test_auto_is_fp32_where_bf16_is_emulated_and_bf16_for_conv_gans_where_it_is_native(flags):
    flags("avx2", "fma")
    assert machine.resolve_precision("auto", CPU, conv=True)[0] == "fp32"
    assert machine.cpu_isa() == "AVX2"
    flags("avx2", "avx512f", "avx512_bf16")
    assert machine.resolve_precision("auto", CPU, conv=True)[0] == "bf16"
    assert machine.resolve_precision("auto", CPU, conv=False)[0] == "fp32"  # MLPs: a verdict changed in bf16
    assert machine.cpu_isa() == "AVX-512 + bf16"
    assert machine.resolve_precision("fp32", CPU, conv=True) == ("fp32", "asked for")


def test_auto_is_fp32_on_a_gpu_with_native_bf16_where_bf16_measured_slower(monkeypatch):
    monkeypatch.setattr(machine, "native_bf16", lambda device: True)  # an H200: compute capability 9.0
    gpu = torch.device("cuda")
    precision, why = machine.resolve_precision("auto", gpu, conv=True)
    assert precision == "fp32" and "H200" in why  # the MNIST DCGANs ran 0.86-0.89x in bf16 there
    assert machine.resolve_precision("bf16", gpu, conv=True) == ("bf16", "asked for")  # still the user's choice


def test_an_explicit_bf16_on_emulating_hardware_warns_in_one_line_before_training(flags, tmp_path, capsys):
    from gankit.training.trainer import Trainer

    flags("avx2")
    config = resolve_config("gan-grid25", ["data.points_per_mode=8", "train.batch_size=32", "runtime.precision=bf16"])
    trainer = Trainer(config, tmp_path / "run", progress=False)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "no native bf16" in err[0] and "runtime.precision=auto" in err[0]
    assert trainer.bf16  # asked for: it still runs in bf16, slowly, having said so
    flags("avx512f", "avx512_bf16")
    Trainer(config, tmp_path / "run2", progress=False)
    assert "no native bf16" not in capsys.readouterr().err


def test_more_threads_than_cores_warns_in_one_line_before_training(monkeypatch, tmp_path, capsys):
    from gankit.training.trainer import Trainer

    monkeypatch.setattr(machine, "usable_cores", lambda: 2)
    base = ["data.points_per_mode=8", "train.batch_size=32"]
    Trainer(resolve_config("gan-grid25", [*base, "runtime.threads=64"]), tmp_path / "run", progress=False)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "runtime.threads 64 is more than the 2 CPU cores" in err[0], err
    assert "runtime.threads=2" in err[0]
    for threads in ("2", "null"):  # as many as the cores, or PyTorch's own choice: nothing to say
        Trainer(resolve_config("gan-grid25", [*base, f"runtime.threads={threads}"]), tmp_path / threads,
                progress=False)
        assert "warning" not in capsys.readouterr().err


def test_gankit_info_names_the_machine_and_a_presets_fast_paths(capsys):
    assert main(["info", "--preset", "gan-grid25", "--set", "data.points_per_mode=8", "--set",
                 "train.batch_size=32"]) == 0
    out = capsys.readouterr().out
    assert f"isa: {machine.cpu_isa()}" in out and "native bf16 on the CPU" in out and "torch " in out
    assert "gan-grid25 on cpu" in out and "precision: fp32" in out and "conv fast path: no" in out


def test_gankit_info_describes_every_way_runtime_compile_can_resolve():
    """`auto` resolves to one of the other values; each must have words in `gankit info` (a new mode, e.g. the
    CUDA graph, once broke `gankit info` on a GPU with a KeyError)."""
    import typing

    from gankit.catalog import COMPILED
    from gankit.config import RuntimeConfig

    modes = set(typing.get_args(typing.get_type_hints(RuntimeConfig)["compile"])) - {"auto"}
    assert modes == set(COMPILED)
