"""Presets: one YAML per seed system (and per extra recipe). The header comment of each names the post it
reproduces and every deliberate deviation from it."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from gankit.errors import unknown_choice


def preset_names() -> list[str]:
    files = resources.files(__name__).iterdir()
    return sorted(f.name[: -len(".yaml")] for f in files if f.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The raw config dict of a preset (validated later, with any --set overrides)."""
    if name not in preset_names():
        raise unknown_choice("preset", name, preset_names())
    text = resources.files(__name__).joinpath(f"{name}.yaml").read_text()
    return yaml.safe_load(text)


def preset_table() -> list[dict[str, str]]:
    """name, post, data and one line for each preset (what `gankit presets` prints)."""
    rows = []
    for name in preset_names():
        raw = load_preset(name)
        rows.append(
            {
                "name": name,
                "post": raw.get("post") or "(beyond the posts)",
                "data": raw.get("data", {}).get("name", "?"),
                "description": raw.get("description", ""),
            }
        )
    return rows
