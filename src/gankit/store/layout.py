"""The names of what gankit writes in a run directory, in one place: every writer takes its name from here, and
`guard.foreign_entry` (what --overwrite may remove) reads the same list, so the two cannot drift apart.
docs/architecture.md shows the layout."""

from __future__ import annotations

import re

MARKER = ".gankit-run"  # the run id: what makes a folder a run gankit may --overwrite (store/guard.py)
CONFIG = "config.yaml"
HISTORY = "history.jsonl"
METRICS = "metrics.json"
REPORT, CURVES, ANIMATION = "report.html", "curves.png", "samples.gif"  # gankit report
WEIGHTS = "weights.safetensors"  # gankit export's default file
CHECKPOINTS, SAMPLES, TENSORBOARD = "checkpoints", "samples", "tensorboard"
LAST = f"{CHECKPOINTS}/last.pt"
BEST = f"{CHECKPOINTS}/best.pt"  # with log.eval_every: the checkpoint with the best headline metric so far
_TMP = r"\.[^/]+\.tmp"  # a temporary file a crash left behind (written beside its place, then renamed into it)
_FILES = (MARKER, CONFIG, HISTORY, METRICS, REPORT, CURVES, ANIMATION, WEIGHTS)
# Each folder's own entries; "" is the run directory itself.
OWN: dict[str, re.Pattern[str]] = {
    "": re.compile(rf"^({'|'.join(map(re.escape, (*_FILES, CHECKPOINTS, SAMPLES, TENSORBOARD)))}|{_TMP})$"),
    CHECKPOINTS: re.compile(rf"^((last|best|step_\d+)\.pt|{_TMP})$"),
    SAMPLES: re.compile(rf"^(step_\d+\.png|{_TMP})$"),
    TENSORBOARD: re.compile(r"^events\.out\.tfevents\.[^/]+$"),
}
