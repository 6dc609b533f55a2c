"""`gankit report RUN_DIR`: one self-contained HTML page that reads a run at a glance.

Top to bottom: the verdict and its evidence, the metrics (headline first), the config; the training curves;
the animation of the sample pictures; the final picture and the pictures over time. Pictures are inlined as
data: URIs (see `gankit.view.htmlpage`), so the page is one file that opens offline and can be mailed around.
The run directory also gets `curves.png` and `samples.gif`, the two pictures the page is built from.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

from gankit.errors import GankitError
from gankit.store.guard import check_output, refuse_link, replacing
from gankit.store.layout import ANIMATION, CURVES, REPORT
from gankit.view.animate import MAX_FRAMES, samples_gif, spread
from gankit.view.curves import plot_curves
from gankit.view.htmlpage import esc, image_uri, img, page, verdict_badge
from gankit.view.marks import is_gankit_page
from gankit.view.summary import NOT_EVALUATED, RunSummary, format_value, load_summary

SECTIONS = ("summary", "metrics", "config", "curves", "animation", "samples")
STRIP = 12  # pictures over time shown as thumbnails


def score_name(config: dict[str, Any]) -> str:
    """What D(x) and D(G(z)) are for the run's objective (a probability, a score, a potential)."""
    from gankit.parts.objectives import OBJECTIVES

    loss = config.get("loss")
    try:
        name = loss["name"] if isinstance(loss, dict) else str(loss)
        settings = {k: v for k, v in loss.items() if k != "name"} if isinstance(loss, dict) else {}
        return OBJECTIVES.build(name, settings).score_name
    except (GankitError, KeyError, TypeError, ValueError):  # an old or foreign config: the neutral word
        return "score"


def picture_title(run: RunSummary, what: str = "") -> str:
    """'<name> · <what> · step N · <verdict>': every picture says which run, when, and how it ended."""
    parts = [run.name] + ([what] if what else []) + [f"step {run.step:,}", f"verdict: {run.verdict}"]
    return " · ".join(parts)


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the run's report (default RUN_DIR/report.html); returns its path."""
    run = load_summary(run_dir)
    out = Path(out) if out is not None else run.path / REPORT
    check_output(out, is_gankit_page, "a page", own=run.path / REPORT)  # -o elsewhere: maybe a user's page
    for path in (out, run.path / CURVES, run.path / ANIMATION):  # a link planted in the run is never followed
        refuse_link(run.path, path)
    run.pictures = whole_pictures(run.pictures)
    # each file written beside its place, then renamed into it: a hard link planted in the run is replaced,
    # its target outside untouched
    with replacing(run.path / CURVES) as tmp:
        plot_curves(run.history, tmp, title=picture_title(run, "training curves"),
                    score_name=score_name(run.config), headline=run.headline[0] if run.headline else None)
    curves, animation = run.path / CURVES, None
    if run.pictures:
        with replacing(run.path / ANIMATION) as tmp:
            samples_gif([p for _, p in run.pictures], tmp)
        animation = run.path / ANIMATION
    body = "\n".join([
        _header(run),
        _summary(run),
        _metrics(run),
        _config(run),
        _section("curves", "Training curves", img(image_uri(curves), "training curves")),
        _animation(run, animation),
        _samples(run),
    ])
    out.parent.mkdir(parents=True, exist_ok=True)
    with replacing(out) as tmp:
        tmp.write_text(page(f"gankit report: {run.name}", body), encoding="utf-8")
    return out


def whole_pictures(pictures: list[tuple[int, Path]]) -> list[tuple[int, Path]]:
    """The pictures that open; a damaged one is skipped with one warning line naming it (stderr)."""
    from PIL import Image

    whole = []
    for step, path in pictures:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)  # a huge picture is skipped too
                with Image.open(path) as im:
                    im.load()  # decodes the whole picture: a truncated one fails here, not in the GIF
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning
                ) as err:  # PIL's errors for bad, cut or huge files
            reason = str(err).splitlines()[0][:80] if str(err) else type(err).__name__
            print(f"gankit: warning: skipping damaged picture '{path}' ({reason})", file=sys.stderr)
            continue
        whole.append((step, path))
    return whole


def _section(ident: str, heading: str, content: str) -> str:
    return f'<section id="{ident}">\n<h2>{esc(heading)}</h2>\n{content}\n</section>'


def _parts_line(config: dict[str, Any]) -> str:
    def name(key: str) -> str:
        part = config.get(key)
        return str(part.get("name") if isinstance(part, dict) else part or "-")

    optim = config.get("optim") if isinstance(config.get("optim"), dict) else {}
    opt = {who: (optim.get(who) or {}) for who in ("g", "d")}
    return (f"data {name('data')} · G {name('generator')} · D {name('discriminator')} · loss {name('loss')} · "
            f"optim G {opt['g'].get('name', '-')} lr {format_value(opt['g'].get('lr'))}, "
            f"D {opt['d'].get('name', '-')} lr {format_value(opt['d'].get('lr'))}")


def _header(run: RunSummary) -> str:
    config = run.config
    lines = [f"<h1>{esc(run.name)}</h1>"]
    if config.get("description"):
        lines.append(f'<p class="sub">{esc(config["description"])}</p>')
    post = f" · post {esc(config['post'])}" if config.get("post") else ""
    lines.append(f'<p class="sub">run directory <code>{esc(run.path)}</code> · step {run.step:,}{post}</p>')
    lines.append(f'<p class="sub">{esc(_parts_line(config))}</p>')
    return "<header>\n" + "\n".join(lines) + "\n</header>"


def _summary(run: RunSummary) -> str:
    if run.verdict == NOT_EVALUATED:
        return _section("summary", "Verdict", (
            f"<p>{verdict_badge(run.verdict)}</p>\n<p class=\"note\">This run has no verdict yet: "
            f"<code>gankit eval {esc(run.path)}</code> computes the metrics for its data and the verdict; "
            "then run <code>gankit report</code> again.</p>"))
    content = f"<p>{verdict_badge(run.verdict)} {esc(run.evidence)}</p>"
    if run.evaluated_step is not None and run.evaluated_step != run.step:
        content += (f'<p class="note">Evaluated at step {run.evaluated_step:,}; the run has since reached step '
                    f"{run.step:,} (<code>gankit eval {esc(run.path)}</code> brings it up to date).</p>")
    return _section("summary", "Verdict", content)


def _metrics(run: RunSummary) -> str:
    items = run.metric_items()
    if not items:
        return _section("metrics", "Metrics", f'<p class="note">{esc(NOT_EVALUATED)}.</p>')
    head = run.headline[0] if run.headline else None
    rows = []
    for key, value in items:
        cls = ' class="headline"' if key == head else ""
        note = f" (headline, {'lower' if run.headline[1] == 'min' else 'higher'} is better)" if key == head else ""
        rows.append(f'<tr{cls}><td>{esc(key)}{esc(note)}</td><td class="num">{esc(format_value(value))}</td></tr>')
    table = "<table>\n<thead><tr><th>metric</th><th>value</th></tr></thead>\n<tbody>\n" + "\n".join(rows)
    return _section("metrics", "Metrics", table + "\n</tbody>\n</table>")


def _config(run: RunSummary) -> str:
    from gankit.store.rundir import CONFIG

    try:
        text = (run.path / CONFIG).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = "(config.yaml could not be read)"
    return _section("config", "Config", f'<p class="note">{esc(CONFIG)}: every setting, defaults included; '
                                        f"<code>gankit train --config {esc(run.path / CONFIG)}</code> re-runs it.</p>"
                                        f"\n<pre>{esc(text)}</pre>")


def _animation(run: RunSummary, animation: Path | None) -> str:
    if animation is None:
        return _section("animation", "Samples over training (animation)",
                        '<p class="note">No sample pictures yet.</p>')
    shown = min(len(run.pictures), MAX_FRAMES)
    note = (f'<p class="note">{shown} of {len(run.pictures)} pictures, steps {run.pictures[0][0]:,} to '
            f"{run.pictures[-1][0]:,}; the same latent batch in every frame.</p>")
    return _section("animation", "Samples over training (animation)", note + img(image_uri(animation), "animation"))


def _samples(run: RunSummary) -> str:
    if not run.pictures:
        return _section("samples", "Sample pictures", '<p class="note">No sample pictures yet.</p>')
    step, final = run.pictures[-1]
    figures = []
    for s, path in spread(run.pictures, STRIP):
        figures.append(f"<figure>{img(image_uri(path, width=460), f'step {s:,}', width=230)}"
                       f"<figcaption>step {s:,}</figcaption></figure>")
    content = (f"<h3>Final picture (step {step:,})</h3>\n{img(image_uri(final), f'step {step:,}')}\n"
               f"<h3>Over time</h3>\n<div class=\"strip\">\n" + "\n".join(figures) + "\n</div>")
    return _section("samples", "Sample pictures", content)
