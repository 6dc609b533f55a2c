"""The run directory: the contract every command shares (see docs/architecture.md)."""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml

from gankit import __version__, machine
from gankit.config import Config
from gankit.errors import RunDirError
from gankit.store import checkpoint, guard

# The run's names (store/layout.py), also read as rundir.CONFIG, rundir.LAST, ... by the commands.
from gankit.store.layout import (  # noqa: F401
    BEST,
    CHECKPOINTS,
    CONFIG,
    HISTORY,
    LAST,
    METRICS,
    SAMPLES,
    TENSORBOARD,
)

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


_OVERWRITE_OK: set[str] = set()  # paths new_run_dir allowed to --overwrite (make_run_dir clears only these)


def new_run_dir(name: str, out: str | Path | None, overwrite: bool) -> Path:
    """The directory for a new run (checked, not yet touched: `make_run_dir` creates it once the config has
    been validated). An explicit --out that exists is refused unless --overwrite, and --overwrite removes only
    a run gankit made (guard.check_overwritable); the default runs/<name> gets a numbered sibling instead, so a
    second run never touches the first."""
    if out is not None:
        path = Path(out)
        if _occupied(path):
            if not overwrite and not path.is_symlink() and (path / CONFIG).is_file():
                raise RunDirError(
                    f"'{path}' already exists: use --resume {path} to continue it, --overwrite to replace it, "
                    "or --out for another directory"
                )
            if not overwrite:  # neither --resume nor --overwrite would take it: say so, not offer them
                what = ("a symbolic link" if path.is_symlink() else "a file" if path.is_file()
                        else "a folder that is not a gankit run")
                raise RunDirError(f"'{path}' already exists and is {what}: choose another --out (gankit writes only "
                                  "into run directories it made)")
            guard.check_overwritable(path)
            _OVERWRITE_OK.add(str(path.absolute()))
        return path
    base = Path("runs") / name
    path, n = base, 1
    while path.exists() or path.is_symlink():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _occupied(path: Path) -> bool:
    return path.is_symlink() or path.is_file() or (path.is_dir() and any(path.iterdir()))


def ensemble_members(path: Path) -> list[Path]:
    """The member run directories of a `gankit train --ensemble` output (OUT/member_NN), in order; [] otherwise."""
    path = Path(path)
    return sorted(d for d in path.glob("member_*") if (d / CONFIG).is_file()) if path.is_dir() else []


def runs_within(path: Path) -> list[Path]:
    """The run directories directly inside a folder that is not itself a run (an ensemble's output, a sweep's,
    runs/), in order; [] otherwise."""
    path = Path(path)
    if not path.is_dir() or (path / CONFIG).exists():
        return []
    return sorted(d for d in path.iterdir() if d.is_dir() and (d / CONFIG).is_file())


def not_a_run(path: Path, what: str = "") -> RunDirError:
    """The one-line error for a path that is not a run directory, saying what it is instead."""
    path = Path(path)
    if not path.exists():
        return RunDirError(f"'{path}' does not exist: give the path of a run directory (runs/<name>)")
    members = ensemble_members(path)
    if members:
        return RunDirError(f"'{path}' is an ensemble of {len(members)} runs: give its members, e.g. "
                           f"'{members[0]}' (or '{path}/member_*')")
    return RunDirError(f"'{path}' is not a gankit run directory (no {CONFIG}){what}")


def make_run_dir(path: Path) -> str:
    """Create a new run's directory, take its write lock and mark it; its run id. One `new_run_dir` allowed
    to --overwrite is emptied first, under the lock (so a run being written is never removed), and only if it
    is still a run gankit made. Called only after everything was validated, so a bad setting never costs the
    run it would have replaced."""
    path.mkdir(parents=True, exist_ok=True)
    guard.lock_run(path)
    if any(path.iterdir()):
        if str(path.absolute()) not in _OVERWRITE_OK:  # appeared since it was checked: another run's now
            guard.unlock_run(path)
            raise RunDirError(f"'{path}' was filled by another process meanwhile: use --resume {path} to continue "
                              "it, or --out for another directory")
        guard.check_overwritable(path)
        for child in path.iterdir():  # the contents, not the directory: its lock stays held
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    _OVERWRITE_OK.discard(str(path.absolute()))
    run_id = guard.new_run_id()
    guard.write_marker(path, run_id)
    return run_id


def write_config(run_dir: Path, config: Config, run_id: str | None = None) -> None:
    record = config.to_dict()
    record["versions"] = {
        "gankit": __version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
    }
    facts = machine.facts()  # where it ran, so a figure or a verdict can be read beside its machine
    record["machine"] = {k: facts[k] for k in ("cpu", "cpu_isa", "cpu_native_bf16", "cores", "gpus")}
    if run_id is not None:
        record["run_id"] = run_id  # the same id as the run's .gankit-run marker: what --overwrite checks
    _atomic_write_text(run_dir / CONFIG, yaml.safe_dump(record, sort_keys=False, default_flow_style=None))


def _atomic_write_text(path: Path, text: str) -> None:
    with guard.replacing(path) as tmp:
        tmp.write_text(text)


def fsync_path(path: Path) -> None:
    """Flush a file written by someone else's code (a picture, the appended history) to the disk."""
    if path.is_file():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_partial_files(run_dir: Path) -> list[Path]:
    """Temporary files a crash left behind (`.NAME.*tmp` beside config.yaml, checkpoints and pictures): none
    is ever read, and the next write makes a new one. Called on resume."""
    found = [p for sub in ("", CHECKPOINTS, SAMPLES) for p in (run_dir / sub).glob(".*tmp") if p.is_file()]
    for path in found:
        path.unlink()
    return found


def write_json(path: Path, data: dict[str, Any]) -> None:
    guard.refuse_link(path.parent, path)
    _atomic_write_text(path, json.dumps(data, indent=2, allow_nan=True) + "\n")


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    """metrics.json of a run directory; None when it is missing or damaged (the run reads as not evaluated)."""
    try:
        found = json.loads((Path(run_dir) / METRICS).read_text())
    except (OSError, ValueError):  # ValueError: bad JSON or bad UTF-8
        return None
    return found if isinstance(found, dict) else None


class History:
    """history.jsonl: one JSON object per logged step, appended and flushed as training goes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def truncate_after(self, step: int, drop_damaged: bool = False) -> None:
        """On resume, drop rows logged after the checkpoint (they will be logged again). A damaged line before
        the last one is refused in one line (RunDirError), unless `drop_damaged`: then it is moved, as it was,
        to history.jsonl.damaged and every valid row is kept. A last line cut by a crash is dropped."""
        if not self.path.is_file():
            return
        rows, damaged = parse_history(self.path.read_text(errors="replace"))
        last_line = len(self.path.read_text(errors="replace").splitlines())
        inner = [(n, text) for n, text in damaged if n != last_line]
        if inner and not drop_damaged:
            n, text = inner[0]
            more = f" (and {len(inner) - 1} more)" if len(inner) > 1 else ""
            raise RunDirError(f"'{self.path}' line {n} is damaged{more} ({text[:40]!r}), with {len(rows):,} valid rows "
                              f"around it: fix the line, or resume with --drop-damaged-history to move it to "
                              f"{self.path.name}.damaged and keep every valid row")
        if inner:
            with self.path.with_name(self.path.name + ".damaged").open("a") as handle:
                handle.write("".join(f"{n}: {text}\n" for n, text in inner))
        kept = [r for r in rows if r.get("step", 0) <= step]
        _atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def append(self, row: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        try:  # O_NOFOLLOW: a history.jsonl that is a link is never followed out of the run
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o644)
        except OSError as err:
            if self.path.is_symlink():
                guard.refuse_link(self.path.parent, self.path)
            raise OSError(err.errno, err.strerror, str(self.path)) from None
        try:
            with os.fdopen(fd, "a") as handle:
                handle.write(json.dumps(clean) + "\n")
                handle.flush()
        except OSError as err:  # a full disk fails here, not at the open: name the file in the one line
            raise OSError(err.errno, err.strerror, str(self.path)) from None


def parse_history(text: str) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """(valid rows, [(line number, text)] of damaged lines): a damaged line (not JSON, or no whole step number)
    never hides the rows after it."""
    rows, damaged = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        step = row.get("step") if isinstance(row, dict) else None
        if isinstance(step, int) and not isinstance(step, bool) and step >= 0:  # every row gankit writes has one
            rows.append(row)
        else:
            damaged.append((n, line))
    return rows, damaged


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every valid row (readers: report, compare, the verdict); damaged lines are skipped, never the rows
    after them."""
    if not path.is_file():
        return []
    try:
        return parse_history(path.read_text(errors="replace"))[0]
    except OSError:
        return []


def open_run_dir(trainer: Any, *, resume: bool, write: bool = True, rewrite_config: bool = False,
                 drop_damaged_history: bool = False) -> None:
    """Make `trainer`'s run directory ready, once the trainer (config, data, models) is built and checked.

    A new run: the directory is created (an --overwrite target emptied only now), locked, marked and its
    config written. A resumed one: locked, then the newest loadable checkpoint is loaded, then the temporary
    files and history rows a crash left past it are removed (and with `rewrite_config`, the config
    rewritten). `write=False` (torchrun ranks other than 0) loads without touching the disk. The write lock
    is held until `release(trainer)` (session.fit) or the process ends. One place for `gankit.train`,
    ensembles and sweeps.
    """
    run_dir = trainer.run_dir
    if not resume:
        if write:
            trainer.run_id = make_run_dir(run_dir)
            write_config(run_dir, trainer.config, trainer.run_id)
        return
    if write:
        guard.lock_run(run_dir)
        for part in (HISTORY, METRICS, CHECKPOINTS, SAMPLES, TENSORBOARD):
            guard.refuse_link(run_dir, run_dir / part)
    trainer.run_id = guard.read_marker(run_dir)
    state = checkpoint.load_latest(run_dir, map_location=trainer.device, say=checkpoint.warn if write else None)
    if state is not None:
        trainer.load_state(state)
        if write and trainer.step >= trainer.total_steps:
            print(f"{run_dir} is complete at step {trainer.step:,}: to train on, raise train.steps or train.epochs "
                  "(--set)")
        elif write:
            print(f"resuming {run_dir} from step {trainer.step:,}")
    elif write:  # killed before its first checkpoint: say so, the lost steps are trained again
        print(f"{run_dir} has no checkpoint yet (stopped before the first one): restarting it from step 0")
    if write:
        trainer.history.truncate_after(trainer.step, drop_damaged=drop_damaged_history)
        if rewrite_config:
            write_config(run_dir, trainer.config, trainer.run_id)
        remove_partial_files(run_dir)


def release(trainer: Any) -> None:
    """Give up the run directory's write lock (the end of a training session)."""
    guard.unlock_run(trainer.run_dir)
