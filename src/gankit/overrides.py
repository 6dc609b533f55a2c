"""--set overrides: 'key.path=value' texts applied to a raw config dict (before it is validated)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import yaml

from gankit.configfile import yaml_data
from gankit.errors import ConfigError, UnknownSetting

__all__ = ["apply_overrides", "parse_override", "swap_hint"]


def parse_override(text: str) -> tuple[list[str], Any]:
    """'optim.d.lr=1e-4' -> (['optim','d','lr'], 0.0001). Values are YAML scalars/lists ('[0.5, 0.9]')."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value (e.g. --set optim.d.lr=1e-4), got '{text}'")
    try:  # under a config file's bounds: an alias bomb in a --set value is refused, not expanded
        value = yaml_data(raw, f"--set {key.strip()}") if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):
        value = _number_or_text(value)
    return key.strip().split("."), value


def _number_or_text(text: str) -> Any:
    # YAML 1.1 reads "1e-4" as text; users mean a number.
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str] | str) -> dict[str, Any]:
    """A copy of `raw` with each 'key.path=value' set (one text alone is one override, not its characters)."""
    raw = copy.deepcopy(raw)
    for text in [overrides] if isinstance(overrides, str) else overrides:
        path, value = parse_override(text)
        node = raw
        for key in path[:-1]:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text}: '{key}' is a value, not a section")
            node = child
        node[path[-1]] = value
    return raw


def _swapped(before: dict[str, Any], after: dict[str, Any], where: str = "") -> list[tuple[str, Any, Any]]:
    """(section, old name, new name) for every section whose part `name` the overrides changed."""
    found = []
    for key, value in after.items():
        old = before.get(key) if isinstance(before, dict) else None
        if isinstance(value, dict) and isinstance(old, dict):
            path = f"{where}{key}"
            if "name" in value and "name" in old and value["name"] != old["name"]:
                found.append((path, old["name"], value["name"]))
            found += _swapped(old, value, f"{path}.")
    return found


def swap_hint(err: ConfigError, before: dict[str, Any], after: dict[str, Any]) -> ConfigError:
    """`--set optim.g.name=sgd` keeps the section's other settings, made for the part it replaced: where one of
    them does not fit the new part, the error says whose it was and how to set the section whole."""
    if not isinstance(err, UnknownSetting):
        return err
    for where, old, new in _swapped(before, after):
        if err.section == where:
            return ConfigError(f"{err} ('{err.key}' was {old}'s: a --set of {where}.name keeps the section's other "
                               f"settings; set it whole instead, e.g. --set '{where}={{name: {new}}}')")
    return err
