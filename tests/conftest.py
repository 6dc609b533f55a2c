import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """Every test runs in its own directory, so default runs/ folders never collide or litter the repo."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "no-data-here"))
