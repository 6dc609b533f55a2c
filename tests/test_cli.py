"""The `gankit` command itself: its entry point and how it exits."""

import gc
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from gankit import cli


def test_the_command_exits_with_mains_code_after_freezing_the_heap(monkeypatch):
    monkeypatch.setattr(cli, "main", lambda: 2)
    try:
        with pytest.raises(SystemExit) as stop:
            cli.run()
        assert stop.value.code == 2
        assert gc.get_freeze_count() > 0  # the teardown skips collecting it (~1.5 s a command)
    finally:
        gc.unfreeze()  # the rest of the suite keeps a collected heap


def test_the_installed_command_and_python_m_gankit_both_go_through_run(tmp_path):
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "gankit"]
    assert script.value == "gankit.cli:run"
    done = subprocess.run([sys.executable, "-m", "gankit", "presets"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0 and "gan-1d" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "no-such-preset"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path, check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())
