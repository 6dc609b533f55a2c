"""Checkpoints that survive crashes and carry no code.

Written to a temporary file in the same directory, fsynced, then renamed over the old one: a crash at any
moment leaves either the previous checkpoint or the new one, never half of one. Loaded with
`torch.load(weights_only=True)`, which refuses pickled callables.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from gankit.errors import RunDirError
from gankit.store import faults

FORMAT = 1
TMP_SUFFIX = ".tmp"  # a temporary checkpoint a crash left behind ends so; rundir.remove_partial_files clears it


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            faults.crash_point("kill_during_checkpoint", state.get("step"), handle)  # tests only
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:  # disk full, read-only: the previous checkpoint is still whole
        Path(tmp).unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror or str(err), str(path)) from None  # name the checkpoint, not the temp
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
        # torch's message is a page of advice ending in weights_only=False; name only what was refused.
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = f"'{found.group(1)}'" if found else "objects other than tensors"
        raise RunDirError(
            f"refusing to load checkpoint '{path}': it carries {what}, which could run code; "
            "gankit loads tensors only and never runs code from a file"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        reason = str(err).splitlines()[0].split(". ")[0][:120]  # torch's first sentence; the rest is advice
        others = sorted(q.name for q in Path(path).parent.glob("*.pt") if q != Path(path))
        hint = f"; other checkpoints there: {', '.join(others)}" if others else ""
        raise RunDirError(f"checkpoint '{path}' is unreadable or truncated ({reason}){hint}") from None
    if not isinstance(state, dict) or "format" not in state:
        raise RunDirError(f"'{path}' is not a gankit checkpoint")
    if state["format"] > FORMAT:
        raise RunDirError(f"checkpoint '{path}' was written by a newer gankit (format {state['format']}): upgrade gankit")
    return state


def mismatch(err: Exception) -> str:
    """The first specific line of a `load_state_dict` error ('size mismatch for net.0.weight: ...'), short."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return (lines[1] if len(lines) > 1 else lines[0] if lines else "").rstrip(".")[:160]
