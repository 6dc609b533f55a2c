"""Fault injection for the crash tests: a process kills itself at one chosen point, to prove a run survives.

Off unless the environment variable is set (then one dictionary lookup per point passed):

    GANKIT_FAULT=<point>:step=<N>

kills the process with SIGKILL (no handler, no cleanup: what a power cut or the OOM killer does) at <point>
of step N. Points:

- `kill_mid_step`: in iteration N+1, after D's updates and before G's (`train.fakes: reuse`: after G's and before
  D's; the step counter still reads N);
- `kill_during_checkpoint`: in the first checkpoint write of step N, half of the temporary file written;
- `kill_during_picture`: writing the picture of step N, half of the temporary file written.

Used by tests/store/test_reliability.py; never set it otherwise.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import IO

ENV = "GANKIT_FAULT"


def crash_point(point: str, step: int | None, partial: IO[bytes] | Path | None = None) -> None:
    """Kill this process here if GANKIT_FAULT names this point and step; `partial` (an open file or a path)
    is cut to half its length first, as a write stopped midway leaves it."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    name, _, arg = spec.partition(":")
    if name != point or arg != f"step={step}":
        return
    if isinstance(partial, Path):
        with partial.open("r+b") as handle:
            _cut(handle)
    elif partial is not None:
        _cut(partial)
    os.kill(os.getpid(), signal.SIGKILL)


def _cut(handle: IO[bytes]) -> None:
    handle.flush()
    size = handle.seek(0, os.SEEK_END)
    handle.truncate(size // 2)
    handle.flush()
    os.fsync(handle.fileno())
