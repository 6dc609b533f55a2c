"""The `gankit` command itself: its entry point and how it exits."""

import gc
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from gankit import cli


def test_the_command_exits_with_mains_code_after_freezing_the_heap(monkeypatch):
    monkeypatch.setattr(cli, "main", lambda: 2)
    thresholds = gc.get_threshold()
    try:
        with pytest.raises(SystemExit) as stop:
            cli.run()
        assert stop.value.code == 2
        assert gc.get_freeze_count() > 0  # the teardown skips collecting it (~1.5 s a command)
    finally:
        gc.unfreeze()  # the rest of the suite keeps a collected heap, collected at Python's own rates
        gc.set_threshold(*thresholds)


_COUNT_COLLECTIONS = """
import atexit, gc, sys
done = []
gc.callbacks.append(lambda phase, info: done.append(info["generation"]) if phase == "stop" else None)
atexit.register(lambda: print("COLLECTIONS", len(done), done.count(2)))
sys.argv = ["gankit", "info", "--preset", "gan-1d"]
from gankit.cli import run
run()
"""


def test_the_command_collects_its_long_lived_heap_in_few_passes(tmp_path):
    # Python's default rates (700, 10, 10) walked the objects torch's imports and compile leave for the whole
    # process again and again: 1,236 collections for `gankit info`, 9 full ones in a gan-1d first run's first 8 s
    done = subprocess.run([sys.executable, "-c", _COUNT_COLLECTIONS], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    collections, full = map(int, done.stdout.split("COLLECTIONS")[1].split())
    assert collections < 100 and full <= 2, done.stdout


def test_the_installed_command_and_python_m_gankit_both_go_through_run(tmp_path):
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "gankit"]
    assert script.value == "gankit.cli:run"
    done = subprocess.run([sys.executable, "-m", "gankit", "presets"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0 and "gan-1d" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "no-such-preset"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path, check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())

