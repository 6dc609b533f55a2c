"""Training curves from history.jsonl: losses, D's outputs, gradient norms, learning rates, every metric.

Each series is drawn twice, raw (thin, faint) and smoothed (an exponential moving average, thick), so the
trend shows through the noise of single log rows without hiding it. Eval rows (`{"step", "eval": {...}}`)
give one panel per metric that changes; other numeric keys a future trainer logs get a panel each.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gankit.view.marks import PNG as MARK

# (panel title, y label, [(history key, legend label), ...]) for the keys the trainer logs.
PANELS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("losses", "loss", (("loss_d", "D loss"), ("loss_g", "G loss"))),
    ("D's outputs", "{score}", (("d_real", "D(x)"), ("d_fake", "D(G(z))"))),
    ("gradient norms", "L2 norm", (("grad_norm_d", "D"), ("grad_norm_g", "G"))),
    ("learning rates", "learning rate", (("lr_d", "D"), ("lr_g", "G"))),
)
# Keys that are positions or bookkeeping, not quantities to plot.
NOT_CURVES = {"step", "epoch", "time", "event", "eval", "n", "max_points", "modes_total"}
MAX_PANELS = 16
DPI = 100
# Smoothing needs enough rows to be worth it: below this many per smoothing window, raw lines only.
MIN_WINDOW = 2.0
COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:purple")


def series(history: Iterable[Mapping[str, Any]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{key: (steps, values)} for every numeric quantity in the history; eval metrics as 'eval/<name>'.

    Nulls (non-finite values the trainer wrote as null) become NaN: a gap, not a dropped point."""
    found: dict[str, tuple[list[float], list[float]]] = {}

    def add(key: str, step: float, value: Any) -> None:
        if value is None:
            value = math.nan
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        steps, values = found.setdefault(key, ([], []))
        steps.append(step)
        values.append(float(value))

    for row in history:
        step = row.get("step")
        if isinstance(step, bool) or not isinstance(step, (int, float)):
            continue
        for key, value in row.items():
            if key in NOT_CURVES:
                continue
            add(key, step, value)
        if isinstance(row.get("eval"), Mapping):
            for key, value in row["eval"].items():
                if key not in NOT_CURVES:
                    add(f"eval/{key}", step, value)
    return {k: (np.asarray(s), np.asarray(v)) for k, (s, v) in found.items()}


def smooth(values: np.ndarray, window: float) -> np.ndarray:
    """Debiased exponential moving average over ~`window` points (TensorBoard's smoothing), NaN-aware."""
    if window <= 1 or len(values) < 3:
        return values.copy()
    decay = 1.0 - 1.0 / window
    out = np.empty_like(values)
    avg, weight = 0.0, 0.0
    for i, v in enumerate(values):
        if math.isfinite(v):
            avg = decay * avg + (1 - decay) * v
            weight = decay * weight + (1 - decay)
        out[i] = avg / weight if weight > 0 and math.isfinite(v) else math.nan
    return out


def _varies(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and float(finite.max() - finite.min()) > 1e-12 * max(1.0, abs(float(finite.max())))


def _panels(
    found: dict[str, tuple[np.ndarray, np.ndarray]], score: str, headline: str | None
) -> list[tuple[str, str, list[tuple[str, str]]]]:
    panels, used = [], set()
    for title, ylabel, keys in PANELS:
        present = [(k, label) for k, label in keys if k in found]
        used.update(k for k, _ in keys)
        if present:
            panels.append((title, ylabel.format(score=score), present))
    for key in sorted(k for k in found if k not in used and not k.startswith("eval/")):
        if _varies(found[key][1]):
            panels.append((key, key, [(key, key)]))
    # The headline metric first; a flat eval series (no non-finite samples, floors) says nothing over time.
    evals = sorted((k for k in found if k.startswith("eval/")), key=lambda k: (k != f"eval/{headline}", k))
    for key in evals:
        name = key.split("/", 1)[1]
        if _varies(found[key][1]) or len(found[key][1]) == 1 or name == headline:
            title = f"{name} (eval, headline)" if name == headline else f"{name} (eval)"
            panels.append((title, name, [(key, name)]))
    return panels[:MAX_PANELS]


def _merge_equal(found: dict[str, tuple[np.ndarray, np.ndarray]], keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Series with identical values drawn once under both names (D and G often share a learning rate)."""
    merged: list[tuple[str, list[str]]] = []
    for key, label in keys:
        for first, labels in merged:
            a, b = found[first], found[key]
            if a[1].shape == b[1].shape and np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1], equal_nan=True):
                labels.append(label)
                break
        else:
            merged.append((key, [label]))
    return [(key, " and ".join(labels)) for key, labels in merged]


def plot_curves(
    history: Iterable[Mapping[str, Any]],
    path: str | Path,
    title: str | None = None,
    score_name: str = "score",
    headline: str | None = None,
) -> Path:
    """All curves of a run as one PNG: a grid of panels, two wide, raw and smoothed per series.

    `score_name` labels D's outputs (probability, score, potential); `headline` is the eval metric shown first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    found = series(history)
    panels = _panels(found, score_name, headline)
    cols = 2
    rows = max(1, math.ceil(len(panels) / cols))
    # Constrained layout leaves room for the two-line suptitle (tight_layout ignores it).
    fig = Figure(figsize=(11, 0.8 + 2.7 * rows), dpi=DPI, layout="constrained")
    if not panels:
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no history rows yet: train the run first", ha="center", va="center", fontsize=12)
    longest = max((len(v) for _, v in found.values()), default=0)
    window = longest / 30  # ~30 independent points across the run, whatever its length
    smoothed = window >= MIN_WINDOW
    for i, (panel_title, ylabel, keys) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        for colour, (key, label) in zip(COLOURS, _merge_equal(found, keys)):
            steps, values = found[key]
            if key.startswith("eval/"):  # evals: few points, each one a measurement
                colour = "tab:purple"
            if len(values) < 8:  # a few points: markers, nothing to smooth
                ax.plot(steps, values, color=colour, lw=1.5, marker="o", ms=4, label=label)
            elif len(values) / 30 >= MIN_WINDOW:  # eval series are shorter: their own window
                ax.plot(steps, values, color=colour, lw=0.8, alpha=0.3)
                ax.plot(steps, smooth(values, len(values) / 30), color=colour, lw=1.8, label=label)
            else:
                ax.plot(steps, values, color=colour, lw=1.5, label=label)
        finite = np.concatenate([found[k][1] for k, _ in keys])
        finite = finite[np.isfinite(finite)]
        # Gradient norms and learning rates span decades: a log axis keeps the late values readable.
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 50:
            ax.set_yscale("log")
        else:
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=False)
        ax.set_title(panel_title, fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
        ax.set_xlabel("step", fontsize=9)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    heading = title or "training curves"
    if smoothed:
        heading += f"\nthin: raw log rows; thick: smoothed (moving average over ~{window:.0f} rows)"
    fig.suptitle(heading, fontsize=11)
    fig.savefig(path, dpi=DPI, format="png", facecolor="white", metadata=MARK)
    return path
