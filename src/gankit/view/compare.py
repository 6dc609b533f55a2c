"""`gankit compare RUN_DIR...`: post 004's table, written from run directories.

One row per run; as columns the settings that differ between the runs (the only ones worth reading), the
step reached, the headline metric of the data (`gankit.metrics.headline`), the verdict, and a thumbnail of
the run's final picture. Printed as a table in the terminal and written as a sortable HTML page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gankit.store import guard, rundir
from gankit.view.htmlpage import SORT_JS, esc, image_uri, img, page, verdict_badge
from gankit.view.marks import is_gankit_page
from gankit.view.summary import RunSummary, flat_settings, format_value, load_summary

# Settings that name, describe or place a run rather than change what it learns.
# Not settings a run learns from: names, records of where it ran (versions, machine, run_id), logging, threads
NOT_SETTINGS = ("name", "description", "post", "versions.", "machine.", "run_id", "log.", "runtime.threads")
THUMB = 200
MISSING = object()


@dataclass
class Comparison:
    runs: list[RunSummary]
    settings: list[str]  # dotted keys whose values differ between the runs
    values: list[dict[str, Any]]  # each run's flat settings
    metrics: list[tuple[str, str]]  # the headline metrics (name, 'min'/'max') of the runs' data kinds
    extra: list[str] = field(default_factory=list)  # more metrics.json values, as columns after the headline
    notes: list[str] | None = None  # one text per run (a sweep spec's label), as the last column
    note_title: str = "note"
    labels: list[str] = field(default_factory=list)  # what the "run" column calls each run (`run_labels`)

    def metric(self, run: RunSummary, name: str) -> float | None:
        return run.headline_value() if run.headline and run.headline[0] == name else None

    @staticmethod
    def value(run: RunSummary, name: str) -> Any:
        value = (run.metrics or {}).get(name)
        return value if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None


def run_labels(runs: Sequence[RunSummary]) -> list[str]:
    """Each run's name in the table: its config's name, unless another run shares it (two runs of one preset,
    a sweep's trials), then its directory's name, or its whole path where even those repeat."""
    for label in (lambda r: r.name, lambda r: r.path.name, lambda r: str(r.path)):
        names = [label(run) for run in runs]
        if len(set(names)) == len(names):
            return names
    return [str(run.path) for run in runs]


def _is_setting(key: str) -> bool:
    return not any(key == skip or (skip.endswith(".") and key.startswith(skip)) for skip in NOT_SETTINGS)


def compare(run_dirs: Sequence[str | Path], notes: Mapping[str, str] | None = None, note_title: str = "note",
            extra_metrics: Sequence[str] = ()) -> Comparison:
    """Read the runs and find what differs; rows are ordered best first when they share a headline metric.
    `notes`: a text per run directory name (a column titled `note_title`); `extra_metrics`: more columns."""
    # A folder of runs (an ensemble's or a sweep's output, runs/) stands for the runs in it.
    paths = [m for path in run_dirs for m in (rundir.runs_within(Path(path)) or [path])]
    first: dict[Path, str | Path] = {}
    for path in paths:  # each run once (`gankit compare runs runs/x`), where it first appears
        first.setdefault(Path(path).resolve(), path)
    paths = list(first.values())
    runs = [load_summary(path) for path in paths]
    values = [{k: v for k, v in flat_settings(r.config).items() if _is_setting(k)} for r in runs]
    keys: list[str] = []
    for flat in values:
        keys += [k for k in flat if k not in keys]
    differing = [k for k in keys if len({repr(flat.get(k, MISSING)) for flat in values}) > 1]
    metrics: list[tuple[str, str]] = []
    for run in runs:
        if run.headline is not None and run.headline not in metrics:
            metrics.append(run.headline)
    if len(metrics) == 1:  # best first by the headline and its tie-breaker, as checkpoints/best.pt; unranked last
        keys = [run.rank_key() for run in runs]
        order = sorted(range(len(runs)), key=lambda i: (keys[i] is None, [-v for v in keys[i] or ()]))
        runs, values = [runs[i] for i in order], [values[i] for i in order]
    texts = None if notes is None else [notes.get(run.path.name, "") for run in runs]
    extra = [m for m in extra_metrics if all(m != name for name, _ in metrics)]
    return Comparison(runs, differing, values, metrics, extra, texts, note_title, run_labels(runs))


def rows(c: Comparison) -> tuple[list[str], list[list[str]]]:
    """(header, rows) as texts: the terminal table and the page's columns."""
    header = ["run", *c.settings, "step", *(f"{m} ({'lower' if d == 'min' else 'higher'} better)" for m, d in c.metrics),
              *c.extra, "verdict", *([c.note_title] if c.notes is not None else [])]
    body = []
    for k, (run, flat) in enumerate(zip(c.runs, c.values)):
        cells = [c.labels[k], *(format_value(flat.get(key)) for key in c.settings), f"{run.step:,}"]
        cells += [format_value(c.metric(run, m)) for m, _ in c.metrics]
        cells += [format_value(c.value(run, m)) for m in c.extra]
        body.append([*cells, run.verdict, *([c.notes[k]] if c.notes is not None else [])])
    return header, body


def terminal_table(c: Comparison) -> str:
    header, body = rows(c)
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    paths = [f"  {label}: {run.path}" for label, run in zip(c.labels, c.runs)]
    return "\n".join(lines + ["", "run directories:", *paths])


def _num_cell(value: Any, text: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        key = repr(int(value)) if float(value).is_integer() else repr(float(value))
        return f'<td class="num" data-sort="{key}">{esc(text)}</td>'
    return f"<td>{esc(text)}</td>"


def write_html(c: Comparison, out: str | Path, owned: bool = False) -> Path:
    """The comparison as a self-contained page; click a column header to sort by it. `owned`: `out` is a file of
    a folder gankit made (a sweep's compare.html), replaced without looking for gankit's mark."""
    header, _ = rows(c)
    head = "".join(f"<th>{esc(h)}</th>" for h in header) + "<th class=\"nosort\">final picture</th>"
    body = []
    for k, (run, flat) in enumerate(zip(c.runs, c.values)):
        cells = [f"<td><b>{esc(c.labels[k])}</b><br><code>{esc(run.path)}</code></td>"]
        cells += [_num_cell(flat.get(k), format_value(flat.get(k))) for k in c.settings]
        cells.append(_num_cell(run.step, f"{run.step:,}"))
        cells += [_num_cell(c.metric(run, m), format_value(c.metric(run, m))) for m, _ in c.metrics]
        cells += [_num_cell(c.value(run, m), format_value(c.value(run, m))) for m in c.extra]
        cells.append(f'<td class="evidence">{verdict_badge(run.verdict)}'
                     f'<br><span class="note">{esc(run.evidence)}</span></td>')
        if c.notes is not None:
            cells.append(f"<td>{esc(c.notes[k])}</td>")
        picture = run.final_picture
        thumb = (img(image_uri(picture, width=2 * THUMB), f"{c.labels[k]} final picture", width=THUMB, css="thumb")
                 if picture else "-")
        cells.append(f"<td>{thumb}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    same = ("all runs share every setting" if not c.settings
            else f"{len(c.settings)} " + ("setting differs" if len(c.settings) == 1 else "settings differ"))
    intro = (f"<h1>gankit compare: {len(c.runs)} run{'s' if len(c.runs) != 1 else ''}</h1>\n"
             f'<p class="sub">{esc(same)} (names, logging and thread counts left out); click a column header '
             "to sort by it.</p>")
    table = (f'<table class="sortable" id="compare">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
             + "\n".join(body) + "\n</tbody>\n</table>")
    out = Path(out)
    if not owned:  # compare.html in the working directory may be the user's
        guard.check_output(out, is_gankit_page, "a page")
    with guard.replacing(out) as tmp:
        tmp.write_text(page("gankit compare", f"{intro}\n{table}", script=SORT_JS, wide=True), encoding="utf-8")
    return out
