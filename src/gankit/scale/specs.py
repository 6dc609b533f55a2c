"""Sweep specs: a sweep written down once and shipped with gankit (`gankit sweep --spec NAME`).

A spec is a YAML file in `gankit/presets/sweeps/` (its file name is its name). It names a base preset, settings
for every trial (`set`), and an explicit list of trials, each with its own settings and a label (what the
post reported for that setting, shown beside gankit's verdict in the comparison), which a `--grid` cannot say
when the trials differ in several settings at once. The spec only plans the trials: `gankit.scale.sweep` builds,
trains (resume included) and compares them as it does a grid.

    name: post004                     # must equal the file name
    description: one line
    preset: wgan-grid25
    set: [train.epochs=80]            # every trial (the command line's --set comes after)
    out: sweeps/post004               # default --out
    ensemble: true                    # false: train the trials one after another, never stacked
    label: the post                   # title of the labels' column
    metrics: [high_quality]           # columns beside the data's headline metric
    trials:
      - {name: 1-lr1e-4, label: failed, set: [optim.d.lr=1e-4]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from gankit.errors import ConfigError, unknown_choice

FOLDER = "sweeps"  # under gankit/presets
KEYS = {"name", "description", "post", "preset", "set", "out", "ensemble", "label", "metrics", "trials"}
TRIAL_KEYS = {"name", "label", "set"}


@dataclass(frozen=True)
class SpecTrial:
    name: str
    overrides: tuple[str, ...]
    label: str


@dataclass(frozen=True)
class Spec:
    name: str
    description: str
    preset: str
    overrides: tuple[str, ...]  # for every trial, before the command line's --set
    trials: tuple[SpecTrial, ...]
    out: str
    ensemble: bool
    label_title: str
    metrics: tuple[str, ...]


def _folder() -> Any:
    return resources.files("gankit.presets").joinpath(FOLDER)


def spec_names() -> list[str]:
    folder = _folder()
    if not folder.is_dir():
        return []
    return sorted(f.name[: -len(".yaml")] for f in folder.iterdir() if f.name.endswith(".yaml"))


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
        raise ConfigError(f"{where} must be a list of 'key=value' texts, got {value!r}")
    return tuple(value)


def load_spec(name: str) -> Spec:
    """The spec called `name`; one-line ConfigError for an unknown name or a malformed file."""
    names = spec_names()
    if name not in names:
        raise unknown_choice("sweep spec", name, names)
    raw = yaml.safe_load(_folder().joinpath(f"{name}.yaml").read_text())
    where = f"sweep spec '{name}'"
    if not isinstance(raw, dict) or raw.get("name") != name:
        raise ConfigError(f"{where}: a mapping whose 'name' is '{name}' (the file name)")
    if unknown := sorted(set(raw) - KEYS):
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (valid: {', '.join(sorted(KEYS))})")
    if not isinstance(raw.get("preset"), str):
        raise ConfigError(f"{where}: 'preset' names the base preset")
    trials, seen = [], set()
    for k, item in enumerate(raw.get("trials") or []):
        if not isinstance(item, dict) or set(item) - TRIAL_KEYS or not isinstance(item.get("name"), str):
            raise ConfigError(f"{where}: trial {k + 1} must be {{name: ..., label: ..., set: [key=value, ...]}}")
        trial_name = item["name"]
        if not re.fullmatch(r"[A-Za-z0-9._+-]{1,100}", trial_name) or trial_name in seen:
            raise ConfigError(f"{where}: trial name '{trial_name}' is repeated or not a plain directory name")
        seen.add(trial_name)
        trials.append(SpecTrial(trial_name, _strings(item.get("set"), f"{where} trial {trial_name} 'set'"),
                                str(item.get("label", ""))))
    if not trials:
        raise ConfigError(f"{where}: no trials")
    metrics = raw.get("metrics") or []
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ConfigError(f"{where}: 'metrics' must be a list of metric names")
    return Spec(name, str(raw.get("description", "")), raw["preset"], _strings(raw.get("set"), f"{where} 'set'"),
                tuple(trials), str(raw.get("out") or f"sweeps/{name}"), bool(raw.get("ensemble", True)),
                str(raw.get("label") or "label"), tuple(metrics))
