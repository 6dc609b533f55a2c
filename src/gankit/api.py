"""The Python API: `gankit.train(config)`, `gankit.load_run(path)` and the `Run` it returns (`gankit.run`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gankit import config as configs
from gankit.config import resolve_config
from gankit.run import Run, load_run
from gankit.training import session

__all__ = ["Run", "load_run", "train"]


def train(
    config: configs.Config | dict[str, Any] | str | Path,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    overwrite: bool = False,
    overrides: list[str] | tuple[str, ...] | str = (),
    progress: bool = True,
    stop_at: int | None = None,
    callbacks: Sequence[Callable[..., str | None]] = (),
    drop_damaged_history: bool = False,
) -> Run | None:
    """Train a GAN and return its Run (None on ranks other than 0 under torchrun: they write nothing).

    `config` is a Config, a dict, a YAML file or a preset name. With `resume`, the run directory's own
    config is used and training continues from its last checkpoint. `callbacks` are called with each eval row
    (`Trainer.callbacks`): one returning a reason stops the run there, cleanly, with its verdict.
    `drop_damaged_history` (with `resume`): damaged history.jsonl lines are moved to history.jsonl.damaged
    instead of stopping the resume.
    """
    cfg = None if resume is not None else resolve_config(config, overrides)
    run_dir = session.fit(cfg, out=out, resume=resume, overwrite=overwrite, overrides=overrides, progress=progress,
                          stop_at=stop_at, callbacks=callbacks, drop_damaged_history=drop_damaged_history)
    return Run(run_dir) if run_dir is not None else None
