"""report.html and compare.html in a real browser: headless Chromium renders them with no console message.

Chromium's `--enable-logging=stderr` writes every console message, uncaught exceptions and Content-Security-
Policy refusals (a page that tried to load anything from outside) as a `:CONSOLE` line; our pages log nothing,
so any such line fails the test. `--dump-dom` returns the DOM after the scripts ran, `--screenshot` a picture
kept under test-artifacts/browser/ (git-ignored; the path is printed). Skipped, saying why, only where no
Chromium is installed (Debian: apt-get install -y chromium; .ci/run installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from gankit.view.compare import compare, write_html
from gankit.view.report import write_report

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM = next((found for found in map(shutil.which, NAMES) if found), None)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not found (Debian: apt-get install -y chromium)"
)


def render(page: Path, shot: Path, profile: Path, size: tuple[int, int] = (1280, 2400)) -> tuple[str, list[str]]:
    """(DOM after the page's scripts ran, console lines) for `page`; a screenshot written to `shot`."""
    profile.mkdir(parents=True, exist_ok=True)  # a new empty profile: no state from another run
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
               f"--screenshot={shot}", "--dump-dom", page.resolve().as_uri()]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return done.stdout, console


def _check_screenshot(shot: Path, capsys) -> None:
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.width == 1280
        px = np.asarray(image.convert("RGB"))
    assert px.std() > 10 and len(np.unique(px.reshape(-1, 3), axis=0)) > 50  # text and pictures, not blank
    with capsys.disabled():
        print(f"\nscreenshot: {shot}")


def test_a_page_with_errors_is_caught(tmp_path):
    """The check can fail: an uncaught exception, console.error and a blocked outside load are all seen."""
    pages = {
        "uncaught": "<script>undefinedThing.call();</script>",
        "console": "<script>console.error('boom');</script>",
        "outside": '<img src="https://example.invalid/x.png" alt="x">',
        "clean": "<p>fine</p><script>document.body.dataset.ran = '1';</script>",
    }
    csp = "default-src 'none'; img-src data:; script-src 'unsafe-inline'"
    found = {}
    for name, body in pages.items():
        page = tmp_path / f"{name}.html"
        page.write_text(f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{csp}">'
                        f"<title>{name}</title></head><body>{body}</body></html>")
        found[name] = render(page, tmp_path / f"{name}.png", tmp_path / f"profile-{name}", size=(400, 300))
    assert any("Uncaught" in line for line in found["uncaught"][1])
    assert any("boom" in line for line in found["console"][1])
    assert any("Content Security Policy" in line for line in found["outside"][1])
    assert found["clean"][1] == [] and 'data-ran="1"' in found["clean"][0]


@pytest.mark.parametrize("kind", ["2d", "image"])
def test_report_renders_without_console_messages(tiny_runs, tmp_path, kind, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_runs[kind], run)
    page = write_report(run)
    dom, console = render(page, ARTIFACTS / f"report-{kind}.png", tmp_path / "profile")
    assert console == []
    for section in ("summary", "metrics", "config", "curves", "animation", "samples"):
        assert f'id="{section}"' in dom
    _check_screenshot(ARTIFACTS / f"report-{kind}.png", capsys)


def test_compare_renders_and_sorts_by_a_clicked_column(tiny_runs, tmp_path, capsys):
    runs = []
    for i, lr in enumerate([1e-3, 1e-2, 1e-4]):
        run = tmp_path / f"run{i}"
        shutil.copytree(tiny_runs["2d"], run)
        config = yaml.safe_load((run / "config.yaml").read_text())
        config["name"], config["optim"]["d"]["lr"] = f"grid-{i}", lr
        (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        runs.append(run)
    page = write_html(compare(runs), tmp_path / "compare.html")
    dom, console = render(page, ARTIFACTS / "compare.png", tmp_path / "profile", size=(1280, 1000))
    assert console == [] and 'data-sort-ready="1"' in dom
    _check_screenshot(ARTIFACTS / "compare.png", capsys)

    # Click the lr header twice, as a user would, and record the row order after each click.
    probe = """<script>
    function order() { return Array.from(document.querySelectorAll("#compare tbody tr"))
        .map(function (r) { return r.cells[0].querySelector("b").textContent; }).join(","); }
    var th = Array.from(document.querySelectorAll("#compare th")).find(function (h) {
        return h.textContent.indexOf("optim.d.lr") === 0; });
    th.click(); document.body.dataset.up = order();
    th.click(); document.body.dataset.down = order();
    </script></body>"""
    clicked = tmp_path / "clicked.html"
    clicked.write_text(page.read_text().replace("</body>", probe))
    dom, console = render(clicked, tmp_path / "clicked.png", tmp_path / "profile2", size=(800, 600))
    assert console == []
    assert re.search(r'data-up="grid-2,grid-0,grid-1"', dom)
    assert re.search(r'data-down="grid-1,grid-0,grid-2"', dom)
