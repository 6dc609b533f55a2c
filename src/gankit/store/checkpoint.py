"""Checkpoints that survive crashes and carry no code.

Written to a temporary file in the same directory, fsynced, then renamed over the old one: a crash at any
moment leaves either the previous checkpoint or the new one, never half of one. Loaded with
`torch.load(weights_only=True)`, which refuses pickled callables.
"""

from __future__ import annotations

import errno
import os
import pickle
import pickletools
import re
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from gankit.errors import RunDirError
from gankit.store import faults, guard, layout

FORMAT = 1
TMP_SUFFIX = ".tmp"  # a temporary checkpoint a crash left behind ends so; rundir.remove_partial_files clears it


def save_checkpoint(state: dict[str, Any], path: str | Path, in_run: bool = True) -> Path:
    path = Path(path)
    if in_run and path.parent.is_symlink():  # checkpoints/ linked elsewhere: never written through
        guard.refuse_link(path.parent.parent, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            faults.crash_point("kill_during_checkpoint", state.get("step"), handle)  # tests only
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, guard.file_mode())  # as the run's other files, not mkstemp's 0600
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # disk full, read-only: the previous checkpoint is still whole
        Path(tmp).unlink(missing_ok=True)
        cause = _os_error(err)
        if cause is None:
            raise
        # name the checkpoint, not the temp
        raise OSError(cause.errno, cause.strerror or str(cause), str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _os_error(err: BaseException) -> OSError | None:
    """The OSError behind `err`: torch's zip writer turns a failed write (ENOSPC) into RuntimeError
    'unexpected pos ...', with the OSError as its context (or none at all, when its C++ side wrote)."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, OSError):
            return err
        if "unexpected pos" in str(err) or "file write failed" in str(err):
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # torch's own writer: short write = full
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


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
    """A checkpoint's state (tensors only). A run's last.pt that is empty or cut short falls back to the
    newest whole checkpoint beside it, with one warning line on stderr (`load_latest`), or is refused in one
    line when there is none."""
    path = Path(path)
    try:
        return _load_one(path, map_location)
    except Unreadable:
        if Path(path.parent.name, path.name) != Path(layout.LAST):
            raise
    return load_latest(path.parent.parent, map_location, say=warn)  # (not None: last.pt itself is there)


def save_to_cache(state: dict[str, Any], path: Path, what: str) -> None:
    """A cache entry (gankit's cache folder, not a run), saved as a checkpoint is; a cache that cannot be written
    (a read-only home, a full disk) costs one warning, not the result its work was for."""
    try:
        save_checkpoint(state, path, in_run=False)
    except OSError as err:
        warn(f"gankit: warning: cannot cache {what} in '{path.parent}' ({err.strerror or err}): it will be computed "
             "again next time; set GANKIT_CACHE to a writable folder")


def warn(line: str) -> None:
    """One warning line on stderr."""
    print(line, file=sys.stderr)


def _load_one(path: Path, map_location: str | torch.device) -> dict[str, Any]:
    if not path.is_file():
        raise RunDirError(f"checkpoint '{path}' not found")
    try:
        with warnings.catch_warnings():  # a raw pickle draws torch's protocol warning first: one line is ours
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's message is a page of advice ending in weights_only=False; name only what was refused.
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        name = found.group(1) if found else _foreign_global(path)
        what = f"'{name}'" if name else "objects other than tensors"
        raise RunDirError(
            f"refusing to load checkpoint '{path}': it carries {what}, which could run code; "
            "gankit loads tensors only and never runs code from a file"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, IndexError, KeyError) as err:
        raise Unreadable(f"checkpoint '{path}' is unreadable or truncated ({_reason(path, err)})") from None
    if not isinstance(state, dict) or "format" not in state:
        raise RunDirError(f"'{path}' is not a gankit checkpoint")
    if state["format"] > FORMAT:
        raise RunDirError(f"checkpoint '{path}' was written by a newer gankit (format {state['format']}): upgrade gankit")
    return state


def _foreign_global(path: Path) -> str | None:
    """The first callable a pickle names outside torch's own (read with pickletools, which runs nothing): what a
    refused checkpoint would have called. None when it names none or cannot be read."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                member = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                data = zf.read(member) if member else b""
        else:
            data = path.read_bytes()
        strings: list[str] = []
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                name = str(arg).replace(" ", ".")
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                name = f"{strings[-2]}.{strings[-1]}"
            else:
                if isinstance(arg, str):
                    strings.append(arg)
                continue
            if not name.startswith(("torch.", "collections.OrderedDict", "_codecs.encode")):
                return name
    except Exception:  # noqa: BLE001 - a damaged pickle: the refusal stands without the name
        return None
    return None


class Unreadable(RunDirError):
    """A checkpoint that cannot be read at all (empty, cut short, not a torch file): another may stand in."""


def _reason(path: Path, err: BaseException) -> str:
    try:
        if path.stat().st_size == 0:
            return "0 bytes"
    except OSError:
        pass
    lines = str(err).strip().splitlines()  # EOFError() has no message at all
    first = lines[0].split(". ")[0][:120] if lines else ""  # torch's first sentence; the rest is advice
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def candidates(run_dir: Path) -> list[Path]:
    """The checkpoints a run could continue from, the usual one first: last.pt, then step_N.pt (newest
    first), then best.pt."""
    run_dir = Path(run_dir)
    steps = sorted((run_dir / layout.CHECKPOINTS).glob("step_*.pt"), reverse=True)
    return [p for p in [run_dir / layout.LAST, *steps, run_dir / layout.BEST] if p.is_file()]


def load_latest(run_dir: str | Path, map_location: str | torch.device = "cpu",
                say: Any = None) -> dict[str, Any] | None:
    """The newest loadable checkpoint of a run (None when it has none). When last.pt is empty or cut short,
    the newest other whole one stands in and `say` (e.g. print) gets one line saying so; when none does, one
    line (RunDirError) refuses. A checkpoint that carries code is refused, never passed over."""
    found = candidates(Path(run_dir))
    if not found:
        return None
    damaged, states = [], []
    for path in found:
        if states and path.name.startswith("step_"):
            continue  # the newest whole step_N.pt is enough
        try:
            states.append((path, _load_one(path, map_location)))
        except Unreadable as err:
            damaged.append(err)
            continue
        if path.name == "last.pt":
            break
    if not states:
        more = f" (and {len(damaged) - 1} other checkpoint(s) there)" if len(damaged) > 1 else ""
        raise RunDirError(f"{damaged[0]}{more}, and no other checkpoint stands in: train the run again "
                          "(--overwrite), or restore the file")
    path, state = max(states, key=lambda item: item[1].get("step", -1))
    if damaged and say is not None:
        say(f"gankit: warning: {damaged[0]}: using '{path}' (step {state.get('step', 0):,}) instead")
    return state


def mismatch(err: Exception) -> str:
    """The first specific line of a `load_state_dict` error ('size mismatch for net.0.weight: ...'), short."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return (lines[1] if len(lines) > 1 else lines[0] if lines else "").rstrip(".")[:160]
