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

from gankit import __version__
from gankit.config import Config
from gankit.errors import RunDirError
from gankit.store import checkpoint

CONFIG = "config.yaml"
HISTORY = "history.jsonl"
LAST = "checkpoints/last.pt"
BEST = "checkpoints/best.pt"  # with log.eval_every: the checkpoint with the best headline metric so far
METRICS = "metrics.json"


def new_run_dir(name: str, out: str | Path | None, overwrite: bool) -> Path:
    """The directory for a new run (checked, not yet touched: `make_run_dir` creates it once the config has
    been validated). An explicit --out that exists is refused unless --overwrite; the default runs/<name> gets a
    numbered sibling instead, so a second run never touches the first."""
    if out is not None:
        path = Path(out)
        if _occupied(path):
            if not overwrite:
                raise RunDirError(
                    f"'{path}' already exists: use --resume {path} to continue it, --overwrite to replace it, "
                    "or --out for another directory"
                )
            if not (path / CONFIG).is_file() and path.is_dir():
                raise RunDirError(f"refusing to --overwrite '{path}': it is not a gankit run directory")
        return path
    base = Path("runs") / name
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _occupied(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


def ensemble_members(path: Path) -> list[Path]:
    """The member run directories of a `gankit train --ensemble` output (OUT/member_NN), in order; [] otherwise."""
    path = Path(path)
    return sorted(d for d in path.glob("member_*") if (d / CONFIG).is_file()) if path.is_dir() else []


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


def make_run_dir(path: Path) -> None:
    """Create a new run's directory; one `new_run_dir` allowed to --overwrite is removed first. Called only
    after everything was validated, so a bad setting never costs the run it would have replaced."""
    if _occupied(path):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    path.mkdir(parents=True, exist_ok=True)


def write_config(run_dir: Path, config: Config) -> None:
    record = config.to_dict()
    record["versions"] = {
        "gankit": __version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
    }
    _atomic_write_text(run_dir / CONFIG, yaml.safe_dump(record, sort_keys=False, default_flow_style=None))


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())  # whole on disk before it replaces the old file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    found = [p for sub in ("", "checkpoints", "samples") for p in (run_dir / sub).glob(".*tmp") if p.is_file()]
    for path in found:
        path.unlink()
    return found


def write_json(path: Path, data: dict[str, Any]) -> None:
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

    def truncate_after(self, step: int) -> None:
        """On resume, drop rows logged after the checkpoint (they will be logged again)."""
        rows = [r for r in read_history(self.path) if r.get("step", 0) <= step]
        _atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in rows))

    def append(self, row: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        with self.path.open("a") as handle:
            handle.write(json.dumps(clean) + "\n")
            handle.flush()


def read_history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut by a crash ends the readable history
    return rows


def open_run_dir(trainer: Any, *, resume: bool, write: bool = True, rewrite_config: bool = False) -> None:
    """Make `trainer`'s run directory ready, once the trainer (config, data, models) is built and checked.

    A new run: the directory is created (an --overwrite target removed only now) and its config written. A
    resumed one: the last checkpoint is loaded, then the temporary files and history rows a crash left past
    it are removed (and with `rewrite_config`, the config rewritten). `write=False` (torchrun ranks other than
    0) loads without touching the disk. One place for `gankit.train`, ensembles and sweeps.
    """
    run_dir = trainer.run_dir
    if not resume:
        if write:
            make_run_dir(run_dir)
            write_config(run_dir, trainer.config)
        return
    last = run_dir / LAST
    if last.is_file():
        trainer.load_state(checkpoint.load_checkpoint(last, map_location=trainer.device))
        if write and trainer.step >= trainer.total_steps:
            print(f"{run_dir} is complete at step {trainer.step:,}: to train on, raise train.steps or train.epochs "
                  "(--set)")
        elif write:
            print(f"resuming {run_dir} from step {trainer.step:,}")
    if write:
        if rewrite_config:
            write_config(run_dir, trainer.config)
        remove_partial_files(run_dir)
        trainer.history.truncate_after(trainer.step)
