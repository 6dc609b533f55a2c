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
