"""Shared by the training tests: a Trainer's iterations without the loop around them (no log rows, pictures or
checkpoints), and a run resumed from a saved state set beside the run that went on."""

from __future__ import annotations

import copy
from typing import Any


def train_steps(trainer: Any, n: int) -> None:
    for _ in range(n):
        trainer.iteration()
        trainer.step += 1


def resume_beside_uninterrupted(trainer: Any, first: int, then: int) -> tuple[dict, dict, dict]:
    """Train `first` iterations and save the state; train `then` more (the uninterrupted run); load the saved
    state and train `then` again (the resumed run). Returns (saved, uninterrupted, resumed) states."""
    train_steps(trainer, first)
    saved = copy.deepcopy(trainer.state())
    train_steps(trainer, then)
    after = copy.deepcopy(trainer.state())
    trainer.load_state(saved)
    train_steps(trainer, then)
    return saved, after, trainer.state()
