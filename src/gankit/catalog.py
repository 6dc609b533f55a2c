"""`gankit parts`: every registered part of every axis, its one-line description and its settings with their
defaults, and the config key that picks it: what a user reads to compose a config."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from gankit.errors import unknown_choice
from gankit.registry import Registry


@dataclass(frozen=True)
class Axis:
    name: str
    key: str  # how a config picks a part: `loss: {name: hinge}`, `reg: {r1: {...}}`
    registry: Registry | None
    injected: tuple[str, ...] = ()  # settings the builder fills in (shapes), not the user


def axes() -> list[Axis]:
    from gankit.data import DATA
    from gankit.models import DISCRIMINATORS, GENERATORS
    from gankit.parts.augment import AUGMENTATIONS
    from gankit.parts.objectives import OBJECTIVES
    from gankit.parts.optim import OPTIMIZERS
    from gankit.parts.penalties import PENALTIES

    return [
        Axis("data", "data: {name: NAME, ...}", DATA),
        Axis("generator", "generator: {name: NAME, ...}", GENERATORS, ("z_dim", "out_shape")),
        Axis("discriminator", "discriminator: {name: NAME, ...}", DISCRIMINATORS, ("in_shape",)),
        Axis("objective", "loss: {name: NAME, ...}", OBJECTIVES),
        Axis("penalty", "reg: {NAME: {...}}  (or reg.NAME=VALUE: its first setting)", PENALTIES),
        Axis("augment", "augment: {name: NAME, ...}", AUGMENTATIONS),
        Axis("optimizer", "optim: {g: {name: NAME, ...}, d: {...}}", OPTIMIZERS, ("params",)),
        Axis("metric", "computed for the data that declares it (`gankit eval`)", None),
    ]


def _settings(axis: Axis, name: str) -> str:
    params = axis.registry.parameters(name, axis.injected)
    shown = [f"{p.name}={p.default!r}" if p.default is not inspect.Parameter.empty else f"{p.name} (required)"
             for p in params.values()]
    return ", ".join(shown) or "(no settings)"


def describe(only: str | None = None) -> str:
    """The catalogue as text; `only` narrows it to one axis (a one-line error names the axes otherwise)."""
    known = {a.name: a for a in axes()}
    if only is not None and only not in known:
        raise unknown_choice("axis", only, known)
    lines: list[str] = []
    for axis in known.values():
        if only is not None and axis.name != only:
            continue
        lines.append(f"{axis.name}  ({axis.key})")
        if axis.registry is None:
            from gankit.metrics.registry import list_metrics

            for metric in list_metrics():
                lines.append(f"  {metric.name:<18} {metric.summary}")
                lines.append(f"  {'':<18} data kinds: {', '.join(metric.kinds)}; gives {', '.join(metric.keys)}")
        else:
            for name in axis.registry.names():
                lines.append(f"  {name:<18} {axis.registry.summary(name)}")
                lines.append(f"  {'':<18} {_settings(axis, name)}")
        lines.append("")
    return "\n".join(lines).rstrip()


def machine_lines() -> list[str]:
    """`gankit info`: the machine as the figures name it."""
    from gankit.machine import facts

    f = facts()
    return [
        f"cpu: {f['cpu']} ({f['cores']} cores; torch uses {f['torch_threads']} threads)",
        f"isa: {f['cpu_isa']}; torch CPU kernels: {f['torch_cpu_capability']}",
        f"native bf16 on the CPU: {'yes' if f['cpu_native_bf16'] else 'no (emulated: keep fp32)'}",
        f"gpus: {', '.join(f['gpus']) or 'none'}",
        f"torch {f['torch']} (CUDA build {f['cuda_build'] or 'none'}), python {f['python']}",
    ]


# What `gankit info` says for each way runtime.compile can resolve (capability.resolve_compile)
COMPILED = {"step": "the whole iteration compiled", "graph": "the eager step replayed as a CUDA graph",
            True: "G and D compiled", False: "eager"}


def fast_paths(preset: str, overrides: list[str]) -> list[str]:
    """Which fast paths `preset` takes on this machine and why: the trainer itself is built (in a scratch
    directory, nothing trained or written), so this is what `gankit train` would do."""
    import tempfile

    from gankit.config import resolve_config
    from gankit.training.trainer import Trainer

    cfg = resolve_config(preset, overrides)
    with tempfile.TemporaryDirectory() as scratch:
        t = Trainer(cfg, scratch, progress=False)
    cpu = t.device.type == "cpu"
    compiled = COMPILED[t.compile]
    flush = ("yes (Adam's moments of dead units slow x86's foreach kernels otherwise; runtime.flush_denormal)"
             if cfg.runtime.flush_denormal else "no (runtime.flush_denormal: false)")
    return [
        f"{preset} on {t.device}:",
        f"  precision: {t.precision} ({t.precision_why}; runtime.precision: {cfg.runtime.precision})",
        f"  conv fast path: {'channels_last + fused Adam' if t.channels_last else 'no (not a conv GAN)'}"
        + (f"; sub-pixel upsampling {'on' if cfg.runtime.subpixel else 'off'}" if t.channels_last else ""),
        f"  compile: {compiled} ({t.compile_why}; runtime.compile: {cfg.runtime.compile})",
        f"  allocator tuning (mallopt): {'on' if cpu else 'not on CUDA'}",
        f"  denormals flushed to zero: {flush if cpu else 'not on CUDA'}",
    ]
