"""TensorBoard logging (`log.tensorboard: true` or `gankit train --tensorboard`), an optional extra.

Every history row goes to TensorBoard as scalars (training rows under `train/`, eval rows under `eval/`) and
every sample picture as an image, in RUN_DIR/tensorboard, so `tensorboard --logdir runs` shows all runs.
history.jsonl stays the record; TensorBoard is a view of it while training runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gankit.errors import GankitError
from gankit.store.layout import TENSORBOARD

NOT_SCALARS = {"step", "epoch", "time", "event"}
MISSING = ("log.tensorboard needs the tensorboard package: pip install 'gankit[tensorboard]' "
           "(or set log.tensorboard: false)")


def _summary_writer() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch raises ImportError itself when the tensorboard package is absent
        raise GankitError(MISSING) from None
    return SummaryWriter


class TensorBoard:
    """A SummaryWriter opened at the first write (the run directory exists by then)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.log_dir = Path(run_dir) / TENSORBOARD
        self._writer_class = _summary_writer()  # fails now, before training, when the package is missing
        self._writer: Any = None

    def _open(self, step: int) -> Any:
        if self._writer is None:
            # On resume, events logged after the checkpoint were logged again: purge_step drops the old ones.
            self._writer = self._writer_class(str(self.log_dir), purge_step=step if step > 0 else None)
        return self._writer

    def log(self, row: Mapping[str, Any]) -> None:
        """A history row as scalars: `train/<key>`, or `eval/<metric>` for an eval row."""
        step = row.get("step")
        if not isinstance(step, int):
            return
        writer = self._open(step)
        for key, value in row.items():
            if key == "eval" and isinstance(value, Mapping):
                for name, metric in value.items():
                    if _is_number(metric):
                        writer.add_scalar(f"eval/{name}", metric, step)
            elif key not in NOT_SCALARS and _is_number(value):
                writer.add_scalar(f"train/{key}", value, step)
        writer.flush()  # rows come every log.every steps: cheap, and a killed run loses nothing

    def picture(self, path: str | Path, step: int) -> None:
        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGB"))
        writer = self._open(step)
        writer.add_image("samples", pixels, step, dataformats="HWC")
        writer.flush()

    def mirror(self, history: Any) -> _Mirrored:
        """`history` whose appended rows also go to TensorBoard (training rows and eval rows alike)."""
        return _Mirrored(history, self)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class _Mirrored:
    def __init__(self, history: Any, board: TensorBoard) -> None:
        self._history, self._board = history, board

    def append(self, row: dict[str, Any]) -> None:
        self._history.append(row)
        self._board.log(row)

    def __getattr__(self, name: str) -> Any:  # truncate_after, path, ...: the history's own
        return getattr(self._history, name)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
