"""What a run directory says about itself, read without loading a model: name, step, verdict, metrics, pictures.

The report and the comparison table both start here. Everything is read as it is on disk and anything may be
missing (a run still training, never evaluated, or from an older gankit): a missing part reads as None.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from gankit.configfile import read_yaml_data
from gankit.errors import GankitError, RunDirError
from gankit.store import rundir
from gankit.view.animate import sample_pictures

NOT_EVALUATED = "not evaluated"


@dataclass
class RunSummary:
    path: Path
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    pictures: list[tuple[int, Path]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.path.name)

    @property
    def step(self) -> int:
        """The last step the run logged or pictured (0 before any)."""
        steps = [r["step"] for r in self.history if isinstance(r.get("step"), int)]
        steps += [s for s, _ in self.pictures]
        return max(steps, default=0)

    @property
    def verdict(self) -> str:
        value = (self.metrics or {}).get("verdict")
        if value is None:
            return NOT_EVALUATED
        if isinstance(value, dict):  # tolerate a structured verdict: its label
            value = value.get("label") or value.get("verdict") or json.dumps(value)
        return str(value)

    @property
    def evidence(self) -> str:
        """The verdict's evidence, or how to get one."""
        if self.metrics is None or "verdict" not in self.metrics:
            return f"run `gankit eval {self.path}` for the metrics and the verdict"
        value = self.metrics.get("evidence", "")
        return value if isinstance(value, str) else json.dumps(value)

    @property
    def evaluated_step(self) -> int | None:
        step = (self.metrics or {}).get("step")
        return step if isinstance(step, int) else None

    @property
    def final_picture(self) -> Path | None:
        return self.pictures[-1][1] if self.pictures else None

    @property
    def loss(self) -> str:
        loss = self.config.get("loss")
        return str(loss.get("name") if isinstance(loss, dict) else loss or "")

    @cached_property
    def data_kind(self) -> tuple[str, str] | None:
        """(kind, name) of the run's data as its data part declares it (`gankit.data.data_traits`): read from
        config.yaml alone, no data loaded, so a run whose data is not on this machine still ranks. None when the
        config names no registered data part."""
        from gankit.data import data_traits

        data = self.config.get("data")
        name = data.get("name") if isinstance(data, dict) else data
        traits = data_traits(name) if isinstance(name, str) else None
        if traits is None:
            return None  # an unknown or missing data name: the table just shows no headline
        return traits.kind or "other", name

    @property
    def headline(self) -> tuple[str, str] | None:
        """(metric, 'min' or 'max') that ranks runs on this run's data (`metrics.headline`), or None."""
        from gankit import metrics

        return metrics.headline(*self.data_kind) if self.data_kind is not None else None

    def rank_key(self) -> tuple[float, ...] | None:
        """Larger is better: the headline, then its tie-breaker (`diagnosis.rank_key`, as for best.pt)."""
        from gankit.metrics import diagnosis

        if self.data_kind is None or not self.metrics:
            return None
        kind, name = self.data_kind
        return diagnosis.rank_key(kind, self.metrics, name)

    def headline_value(self) -> float | None:
        if self.headline is None or not self.metrics:
            return None
        value = self.metrics.get(self.headline[0])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        return float(value)

    def metric_items(self) -> list[tuple[str, Any]]:
        """metrics.json's numbers and texts, the headline first; verdict and evidence are shown apart."""
        if not self.metrics:
            return []
        items = [(k, v) for k, v in self.metrics.items() if k not in ("verdict", "evidence")]
        if self.headline is not None:
            items.sort(key=lambda kv: kv[0] != self.headline[0])
        return items


def load_summary(path: str | Path) -> RunSummary:
    """Read a run directory; one-line RunDirError when it is not one."""
    path = Path(path)
    config_path = path / rundir.CONFIG
    if not config_path.is_file():
        raise rundir.not_a_run(path)
    try:
        config = read_yaml_data(config_path) or {}  # bounded: no alias bomb, no duplicate keys
    except GankitError as err:
        raise RunDirError(f"{err} (is the run directory damaged?)") from None
    if not isinstance(config, dict):
        raise RunDirError(f"'{config_path}' is not a mapping of settings")
    return RunSummary(
        path=path,
        config=config,
        history=rundir.read_history(path / rundir.HISTORY),
        metrics=rundir.read_metrics(path),  # a damaged metrics.json reads as not evaluated
        pictures=sample_pictures(path),
    )


def flat_settings(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'optim.d.lr': 1e-4, ...}: every leaf setting under a dotted key (lists stay whole values)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_settings(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def format_value(value: Any) -> str:
    """A setting or metric as a short text: floats to 4 significant digits, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)
