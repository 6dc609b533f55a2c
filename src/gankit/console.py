"""The standard streams of a gankit command, for a reader that may leave early (`gankit train ... | head -1`)."""

from __future__ import annotations

import os
import sys
from typing import Any


class Unbroken:
    """A standard stream that a reader may leave (`gankit train ... | head -1`): once its pipe breaks, the rest
    goes to /dev/null and the command carries on, instead of a training or a sweep stopping at its next line."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())  # what the buffer still holds is written there, harmlessly
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def keep_going_when_readers_leave() -> None:
    """stdout and stderr as `Unbroken` streams (the CLI's, and each sweep worker process's own)."""
    if not isinstance(sys.stdout, Unbroken):
        sys.stdout = Unbroken(sys.stdout)
    if not isinstance(sys.stderr, Unbroken):
        sys.stderr = Unbroken(sys.stderr)
