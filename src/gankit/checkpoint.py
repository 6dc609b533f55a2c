"""Checkpoints that survive crashes and carry no code.

Written to a temporary file in the same directory, fsynced, then renamed over the old one: a crash at any
moment leaves either the previous checkpoint or the new one, never half of one. Loaded with
`torch.load(weights_only=True)`, which refuses pickled callables.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from gankit.errors import RunDirError

FORMAT = 1


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    # The rename itself is only durable once the directory entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"checkpoint '{path}' not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise RunDirError(
            f"refusing to load checkpoint '{path}': it carries objects other than weights (possibly code): "
            f"{str(err).splitlines()[0][:160]}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise RunDirError(f"checkpoint '{path}' is unreadable or truncated ({str(err).splitlines()[0][:120]})") from None
    if not isinstance(state, dict) or "format" not in state:
        raise RunDirError(f"'{path}' is not a gankit checkpoint")
    if state["format"] > FORMAT:
        raise RunDirError(f"checkpoint '{path}' was written by a newer gankit (format {state['format']}): upgrade gankit")
    return state
