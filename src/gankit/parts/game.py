"""The game a config sets up: combinations of its loss-side parts and schedule that no training path can
train (a path's own limits are `gankit.training.capability`'s). Checked when a config is read."""

from __future__ import annotations

import math
from typing import Any

from gankit.errors import ConfigError
from gankit.parts.penalties import PENALTIES, Penalty


def penalties(config: Any) -> list[Penalty]:
    return [PENALTIES.build(name, settings) for name, settings in config.reg.items()]


def first_alike(pens: list[Penalty]) -> list[int]:
    """Which penalties with a term in D's loss are due repeats every lcm(every) steps (lazy regularisation): for
    each step of that period, the first step with the same set due. Its length is the period; its distinct values
    are the compiled step's graphs (R1 every 4th: [0, 1, 1, 1], two)."""
    pens = [p for p in pens if p.weight]
    due = [tuple(s % p.every == 0 for p in pens) for s in range(math.lcm(*(p.every for p in pens)))]
    return [due.index(d) for d in due]


def check_game(config: Any) -> None:
    """Combinations of parts and settings that no path trains."""
    t, pens = config.train, penalties(config)
    lipschitz = [n for n, p in zip(config.reg, pens) if p.constrains_lipschitz]
    if len(lipschitz) > 1:
        a, b = lipschitz[:2]
        raise ConfigError(f"reg.{a} and reg.{b} both constrain the critic: use one (set reg.{a}: null or reg.{b}: null)")
    if t.d_input != "sample":
        for name, p in zip(config.reg, pens):
            if type(p).d_loss is not Penalty.d_loss:
                raise ConfigError(f"reg.{name} needs per-sample D input: set train.d_input: sample")
        if config.augment["name"] != "none":
            raise ConfigError(f"augment '{config.augment['name']}' needs per-sample D input: set train.d_input: sample")
    if t.fakes == "reuse" and (t.d_steps != 1 or t.g_steps != 1 or t.d_input != "sample"):
        why = f"train.d_input '{t.d_input}'" if t.d_input != "sample" else f"train.d_steps {t.d_steps}, train.g_steps {t.g_steps}"
        raise ConfigError(f"train.fakes: reuse (G's update, then D's on the same fakes) needs train.d_steps=1, "
                          f"train.g_steps=1 and train.d_input=sample, got {why}: set those or train.fakes=fresh")
