"""A reader that leaves a gankit command's output early (gankit.console)."""

from __future__ import annotations

import os
import subprocess
import sys

from gankit.console import Unbroken


def test_a_reader_that_leaves_early_does_not_stop_the_training(tmp_path):
    # `gankit train ... | head -1`: the pipe breaks at gankit's next line; the run must still finish, quietly
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "train", "--preset", "gan-1d", "--out", str(out),
                             "--no-progress", "--set", "runtime.compile=false", "--set", "train.steps=300"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout.readline().startswith("data: ")
    proc.stdout.close()  # the reader is gone: every later line meets a broken pipe
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0, err
    assert "error" not in err and "Broken pipe" not in err and "Exception ignored" not in err
    assert (out / "metrics.json").is_file() and (out / "checkpoints" / "last.pt").is_file()


def test_a_broken_pipe_sends_the_rest_to_devnull():
    read, write = os.pipe()
    stream = Unbroken(os.fdopen(write, "w", buffering=1))
    os.close(read)
    assert stream.write("one line\n") == 9  # the pipe breaks here: no error, the text counted as written
    stream.write("and more\n")
    stream.flush()
    assert os.path.realpath(f"/proc/self/fd/{stream.fileno()}") == os.devnull
    stream.close()
