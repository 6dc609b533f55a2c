"""Pictures over training, curves, the GIF, interpolation, the HTML report, the comparison and TensorBoard."""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from gankit.cli import main
from gankit.view import curves
from gankit.view.animate import MAX_FRAMES, WIDTH, sample_pictures, spread
from gankit.view.compare import compare, terminal_table
from gankit.view.report import SECTIONS, write_report

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def _not_blank(px: np.ndarray, colours: int = 20) -> None:
    assert px.std() > 10
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > colours


def _copy(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


def _set_config(run: Path, **changes) -> None:
    path = run / "config.yaml"
    config = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        node = config
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _write_metrics(run: Path, **metrics) -> None:
    (run / "metrics.json").write_text(json.dumps(metrics))


class Page(HTMLParser):
    """Parses a whole page strictly: every non-void tag closed in order; collects ids, URLs and data: images."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.ids: list[str] = []
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()
        assert not self.stack, f"unclosed tags: {self.stack}"

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name == "id":
                self.ids.append(value)
            if name in ("src", "href", "action", "poster", "srcset", "data"):
                self.urls.append((tag, name, value or ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert tag not in VOID, f"</{tag}> closes a void element"
        assert self.stack and self.stack[-1] == tag, f"</{tag}> does not close <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)

    def images(self) -> list[Image.Image]:
        found = []
        for tag, _, url in self.urls:
            if tag == "img":
                header, payload = url.split(",", 1)
                assert header in ("data:image/png;base64", "data:image/gif;base64")
                found.append(Image.open(io.BytesIO(base64.b64decode(payload))))
        return found


def assert_self_contained(text: str, page: Page) -> None:
    """Nothing a browser would fetch: every URL a data: URI or an anchor, no external stylesheet or script."""
    for tag, name, url in page.urls:
        assert url.startswith(("data:", "#")), f"<{tag} {name}={url[:60]!r}> points outside the page"
    for bad in ("http://", "https://", "//cdn", "url(", "@import"):
        assert bad not in text
    assert not {"link", "iframe", "object", "embed", "base"} & set(page.tags)
    assert "<script src" not in text


# ---- pictures during training -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind, size",
    [("2d", ((620, 780), (560, 660))), ("1d", ((700, 700), (450, 450))), ("image", ((480, 520), (480, 540)))],
)
def test_training_pictures_are_valid_images_of_the_expected_size(tiny_runs, kind, size):
    pictures = sample_pictures(tiny_runs[kind])
    steps = [s for s, _ in pictures]
    assert steps[0] == 0 and steps[-1] == max(steps) and len(steps) >= 3  # every sample_every, and the end
    (wlo, whi), (hlo, hhi) = size
    for _, path in pictures:
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert wlo <= image.width <= whi and hlo <= image.height <= hhi, image.size
            _not_blank(_pixels(image), colours=2 if kind == "image" else 20)


def test_2d_picture_shows_the_critic_as_filled_contours(tiny_runs):
    _, last = sample_pictures(tiny_runs["2d"])[-1]
    px = _pixels(Image.open(last))
    reddish = (px[..., 0].astype(int) - px[..., 2] > 40).mean()
    bluish = (px[..., 2].astype(int) - px[..., 0] > 40).mean()
    green = ((px[..., 1].astype(int) - px[..., 0] > 60) & (px[..., 1].astype(int) - px[..., 2] > 40)).mean()
    assert reddish + bluish > 0.05  # the contour map covers the plane
    assert green > 0.0005  # G's samples drawn over it (a small cloud this early)


def test_sample_command_titles_the_picture_with_the_verdict(tiny_runs, tmp_path, capsys):
    run = _copy(tiny_runs["1d"], tmp_path / "run")
    _write_metrics(run, step=6, n=100, verdict="mode collapse", evidence="std 0.01", w1=3.0)
    out = tmp_path / "s.png"
    assert main(["sample", str(run), "-n", "500", "-o", str(out)]) == 0
    with Image.open(out) as image:
        assert image.size == (700, 450)
        _not_blank(_pixels(image))


# ---- curves, GIF, interpolation --------------------------------------------------------------------------
def _history(n: int = 120) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(1, n + 1):
        rows.append({"step": 10 * i, "epoch": i / 10, "loss_d": 1.3 + 0.1 * rng.standard_normal(),
                     "loss_g": 0.7 + 0.1 * rng.standard_normal(), "d_real": 0.6, "d_fake": 0.4,
                     "grad_norm_d": 10.0 / i, "grad_norm_g": None if i == 50 else 1.0, "lr_d": 1e-4, "lr_g": 1e-4,
                     "time": i * 0.1})
        if i % 20 == 0:
            rows.append({"step": 10 * i, "eval": {"n": 2500, "modes": i // 20, "w1": 3.0 / i, "nonfinite": 0,
                                                  "fid_floor": 1.0}})
    return rows


def test_curves_draw_every_series_and_every_changing_metric(tmp_path):
    history = _history()
    found = curves.series(history)
    assert {"loss_d", "grad_norm_g", "eval/w1", "eval/modes"} <= set(found)
    assert "eval/n" not in found and "time" not in found and "epoch" not in found
    assert math.isnan(found["grad_norm_g"][1][49])  # a null is a gap, not a dropped point
    titles = [p[0] for p in curves._panels(found, "probability", "modes")]
    assert titles[:4] == ["losses", "D's outputs", "gradient norms", "learning rates"]
    assert titles[4] == "modes (eval, headline)" and "w1 (eval)" in titles
    assert not any("nonfinite" in t or "floor" in t for t in titles)  # flat or reference series
    out = curves.plot_curves(history, tmp_path / "c.png", title="t", score_name="probability", headline="modes")
    with Image.open(out) as image:
        assert image.width == 1100 and image.height > 700
        _not_blank(_pixels(image))


def test_curves_without_history_still_write_a_picture(tmp_path):
    with Image.open(curves.plot_curves([], tmp_path / "c.png")) as image:
        assert image.width == 1100


def test_smooth_keeps_gaps_and_constants():
    values = np.array([1.0, 1.0, np.nan, 1.0, 1.0])
    out = curves.smooth(values, 3)
    assert np.isnan(out[2]) and np.allclose(out[[0, 1, 3, 4]], 1.0)


def test_spread_keeps_first_and_last():
    assert spread(list(range(100)), 5) == [0, 25, 50, 74, 99]
    assert spread([1, 2], 5) == [1, 2]


def test_interpolation_grid_for_an_image_run(tiny_runs, tmp_path, capsys):
    out = tmp_path / "walk.png"
    assert main(["sample", str(tiny_runs["image"]), "--interpolate", "-n", "3", "-o", str(out)]) == 0
    with Image.open(out) as image:
        assert image.width >= 480 and image.width > 2 * image.height  # 3 walks of 10
        _not_blank(_pixels(image), colours=2)


def test_interpolation_is_refused_for_points(tiny_runs, capsys):
    assert main(["sample", str(tiny_runs["2d"]), "--interpolate"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--interpolate" in err and len(err.splitlines()) == 1


# ---- the report ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["2d", "1d", "image"])
def test_report_has_every_section_and_is_self_contained(tiny_runs, tmp_path, kind):
    run = _copy(tiny_runs[kind], tmp_path / "run")
    _write_metrics(run, verdict="undertrained", evidence="3 of 25 modes covered", step=6, n=2500, modes=3, w1=1.5)
    out = write_report(run)
    assert out == run / "report.html"
    text = out.read_text()
    page = Page(text)
    for section in SECTIONS:
        assert page.ids.count(section) == 1, section
    assert_self_contained(text, page)
    shown = " ".join(page.text)
    assert "undertrained" in shown and "3 of 25 modes covered" in shown
    images = page.images()
    assert len(images) >= 4  # curves, animation, final picture, thumbnails
    for image in images:
        _not_blank(_pixels(image), colours=2)
    gif = Image.open(run / "samples.gif")
    n = len(sample_pictures(run))
    assert gif.n_frames == min(n, MAX_FRAMES) and gif.width == WIDTH and gif.info.get("loop") == 0
    sizes = set()
    for i in range(gif.n_frames):
        gif.seek(i)
        sizes.add(gif.size)
    assert len(sizes) == 1
    assert (run / "curves.png").is_file()


def test_report_without_metrics_says_not_evaluated_and_how_to_evaluate(tiny_runs, tmp_path, capsys):
    run = _copy(tiny_runs["2d"], tmp_path / "run")
    (run / "metrics.json").unlink(missing_ok=True)
    assert main(["report", str(run), "-o", str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    assert "gankit eval" in out
    shown = " ".join(Page((tmp_path / "r.html").read_text()).text)
    assert "not evaluated" in shown and f"gankit eval {run}" in shown


def test_report_of_a_run_with_no_pictures_or_history(tiny_runs, tmp_path):
    run = tmp_path / "empty"
    run.mkdir()
    shutil.copy(tiny_runs["2d"] / "config.yaml", run / "config.yaml")
    text = write_report(run).read_text()
    page = Page(text)
    assert all(page.ids.count(s) == 1 for s in SECTIONS)
    assert "No sample pictures yet" in text


def test_report_escapes_every_user_string(tiny_runs, tmp_path):
    run = _copy(tiny_runs["2d"], tmp_path / 'we<i>rd & "dir"')
    evil = '<script>alert("x")</script>'
    _set_config(run, name=evil, description=f"<b>bold</b> {evil}")
    _write_metrics(run, verdict=evil, evidence=evil, step=6, n=10, modes=1)
    text = write_report(run).read_text()
    Page(text)
    assert evil not in text and "<b>bold</b>" not in text and "<i>rd" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "we&lt;i&gt;rd &amp; &quot;dir&quot;" in text


def test_report_and_compare_reject_a_non_run(tmp_path, capsys):
    for args in (["report", str(tmp_path)], ["compare", str(tmp_path)]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert "not a gankit run directory" in err and len(err.splitlines()) == 1


# ---- the comparison --------------------------------------------------------------------------------------
def _three_runs(tiny_runs, tmp_path) -> list[Path]:
    runs = []
    for i, (lr, modes) in enumerate([(1e-4, 5), (1e-3, 20), (1e-2, None)]):
        run = _copy(tiny_runs["2d"], tmp_path / f"run{i}")
        _set_config(run, optim__d__lr=lr, name=f"grid-{i}")
        (run / "metrics.json").unlink(missing_ok=True)
        if modes is not None:
            _write_metrics(run, step=6, n=2500, verdict="undertrained", evidence=f"{modes} modes", modes=modes)
        runs.append(run)
    return runs


def test_compare_lists_differing_settings_headline_and_verdict(tiny_runs, tmp_path):
    table = compare(_three_runs(tiny_runs, tmp_path))
    assert table.settings == ["optim.d.lr"]  # names are not settings; everything else is equal
    assert table.metrics == [("modes", "max")]
    assert [r.name for r in table.runs] == ["grid-1", "grid-0", "grid-2"]  # best first, unevaluated last
    assert table.labels == ["grid-1", "grid-0", "grid-2"]  # distinct config names name the rows
    text = terminal_table(table)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["run", "optim.d.lr", "step"]
    assert "grid-1" in lines[2] and "0.001" in lines[2] and "20" in lines[2]
    assert "not evaluated" in lines[4]


def test_runs_of_one_name_are_told_apart_by_folder_then_by_path():
    from types import SimpleNamespace

    from gankit.view.compare import run_labels

    def runs(*paths: str, name: str = "grid25-fast"):
        return [SimpleNamespace(name=name, path=Path(p)) for p in paths]

    assert run_labels(runs("a/x", name="one") + runs("b/y", name="two")) == ["one", "two"]
    assert run_labels(runs("runs/lr-low", "runs/lr-high")) == ["lr-low", "lr-high"]
    assert run_labels(runs("ens1/member_00", "ens2/member_00")) == ["ens1/member_00", "ens2/member_00"]


def test_compare_command_writes_a_sortable_self_contained_page(tiny_runs, tmp_path, capsys):
    runs = _three_runs(tiny_runs, tmp_path)
    out = tmp_path / "cmp.html"
    assert main(["compare", *map(str, runs), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "optim.d.lr" in printed and str(out) in printed
    text = out.read_text()
    page = Page(text)
    assert_self_contained(text, page)
    assert 'class="sortable"' in text and "<script>" in text
    assert len(page.images()) == 3  # a thumbnail per run
    assert text.count("<tr>") == 4  # header and one row per run
    assert 'data-sort="0.001"' in text and 'data-sort="20"' in text


# ---- TensorBoard -----------------------------------------------------------------------------------------
TB_RUN = ["--preset", "gan-grid25", "--no-progress", "--set", "data.points_per_mode=20", "--set", "train.steps=4",
          "--set", "train.batch_size=32", "--set", "log.every=1", "--set", "log.sample_every=2",
          "--set", "runtime.threads=1"]


def test_tensorboard_gets_scalars_and_pictures(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert main(["train", *TB_RUN, "--out", str(out), "--tensorboard"]) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["log"]["tensorboard"] is True
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/loss_d", "train/loss_g", "train/d_real", "train/d_fake", "train/grad_norm_d", "train/lr_g"} <= set(
        tags["scalars"])
    assert [e.step for e in events.Scalars("train/loss_d")] == [1, 2, 3, 4]
    assert [e.step for e in events.Images("samples")] == [0, 2, 4]


def test_tensorboard_missing_is_one_line_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    out = tmp_path / "run"
    assert main(["train", *TB_RUN, "--out", str(out), "--tensorboard"]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install 'gankit[tensorboard]'" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_compare_takes_an_ensembles_folder_as_its_members(tiny_runs, tmp_path):
    # `gankit train --ensemble K --out OUT` writes OUT/member_NN run directories; `gankit compare runs/*` meets OUT.
    runs = _three_runs(tiny_runs, tmp_path)
    ensemble = tmp_path / "ens"
    ensemble.mkdir()
    for k, run in enumerate(runs[:2]):
        run.rename(ensemble / f"member_{k:02d}")
    table = compare([ensemble, runs[2]])
    assert sorted(r.name for r in table.runs) == ["grid-0", "grid-1", "grid-2"]


def test_compare_takes_a_folder_of_runs_and_each_run_once(tiny_runs, tmp_path, capsys):
    # a sweep's --out (sweep.json beside its trials) or runs/ itself: the runs directly inside it
    runs = _three_runs(tiny_runs, tmp_path / "sweep")
    (tmp_path / "sweep" / "sweep.json").write_text("{}")
    table = compare([tmp_path / "sweep", runs[0]])
    assert sorted(r.name for r in table.runs) == ["grid-0", "grid-1", "grid-2"]
    assert main(["compare", str(tmp_path / "sweep" / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_compare_shows_settings_not_the_records_of_where_each_run_ran(tmp_path, capsys):
    import gankit
    from gankit.view.compare import compare

    dirs = [gankit.train("gan-1d", out=tmp_path / f"r{k}", progress=False,
                         overrides=["train.steps=2", f"seed={k}", "log.every=1"]).path for k in range(2)]
    config = (dirs[0] / "config.yaml").read_text()
    assert "machine:" in config and "cpu_isa" in config and "run_id" in config  # recorded in the run
    table = compare(dirs)
    assert table.labels == ["r0", "r1"] or table.labels == ["r1", "r0"]  # one preset twice: named by folder
    assert "seed" in table.settings and not any(c.startswith(("machine", "run_id")) for c in table.settings)
