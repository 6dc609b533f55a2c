"""Which image metrics apply to which data, and computing them (`gankit.metrics.evaluate_images`).

What applies is declared by the data (`DataTraits.metrics`, beside each data part's registration); the families
are in `metrics/families.py`. For the data gankit ships:

| data | metrics |
|---|---|
| labelled with train/test splits: `mnist`, `fashion-mnist`, `digits` | `classifier`: fid_lenet, kid_lenet, precision/recall, density/coverage, class coverage/KL, each beside its floor |
| `stacked-mnist` | `stacked-modes`: modes (of 1,000) and mode_kl, beside their floors |
| `folder` (no labels) | none of those; Inception FID with `--inception` |
| any image data, `--inception` | `inception`: `fid_inception`, beside its floor where there is a test split |

Image data registered without traits gets the classifier metrics when its settings have a train/test `split`.
"""

from __future__ import annotations

from typing import Any

import torch

from gankit.errors import GankitError
from gankit.metrics import traits_of
from gankit.metrics.registry import EvalRequest, get_metric, list_metrics, run_metrics


class MetricsUnavailable(GankitError, NotImplementedError):
    """No metric applies to this data (a GankitError: one line, exit 2; a NotImplementedError for callers
    that already skip data without metrics that way)."""


def families_for(data_name: str, data_settings: dict[str, Any]) -> tuple[str, ...]:
    """The metric families computed by default for `data_name` (not those on request): what it declares."""
    declared = traits_of(data_name)
    if declared is not None:
        return declared.metrics
    return ("classifier",) if "split" in data_settings else ()  # undeclared: labelled if it has splits


def no_labels_message(data_name: str) -> str:
    from gankit.data import DATA

    declared = {name: traits_of(name) for name in DATA.names()}
    labelled = [n for n, t in declared.items() if t is not None and "classifier" in t.metrics]
    others = [f"{n} gets the {', '.join(t.metrics)} metrics" for n, t in declared.items()
              if t is not None and t.metrics and "classifier" not in t.metrics and t.kind == "image"]
    return (
        f"data '{data_name}' has no labels, so gankit's classifier metrics (fid_lenet, kid_lenet, precision/recall, "
        f"density/coverage, class coverage/KL) do not apply: they need a labelled dataset with train/test splits "
        f"({'; '.join([', '.join(labelled), *others])}); for these images use "
        "`gankit eval RUN_DIR --inception` (Inception FID: pip install 'gankit[inception]' plus its weights)"
    )


def check_applicable(data_name: str, data_settings: dict[str, Any], inception: bool = False) -> None:
    """MetricsUnavailable when no image metric applies (no family declared, and not `inception`): callers
    check this before sampling thousands of images for nothing."""
    if not families_for(data_name, data_settings) and not inception:
        raise MetricsUnavailable(no_labels_message(data_name))


def _on_request(inception: bool) -> tuple[str, ...]:
    """The families asked for by flag (`inception=True`: every family registered on request for images)."""
    return tuple(m.name for m in list_metrics() if m.on_request and "image" in m.kinds) if inception else ()


def evaluate_image_data(
    data_name: str, data_settings: dict[str, Any], fake_01: torch.Tensor, inception: bool = False
) -> dict[str, Any]:
    """The metrics that apply to `data_name` (see the module table) of generated images, float in [0, 1]."""
    requested = _on_request(inception)
    for name in requested:
        check = get_metric(name).check
        if check is not None:
            check()  # before any classifier training: a missing package is a one-line error at once
    check_applicable(data_name, data_settings, inception)
    names = families_for(data_name, data_settings) + requested
    return run_metrics(names, EvalRequest(data_name, dict(data_settings), fake_01))
