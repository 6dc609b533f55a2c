"""The metric registry's contract, over every registered family and every data part.

Each family, run on a small input of data it applies to, returns exactly the keys it declares, all finite; each
data part's declared headline and tie-breaker are keys its applicable families produce. Inputs are small so
this takes seconds: the classifier family judges 8x8 `digits` (its classifier trains in seconds into the
session cache); Stacked MNIST's mode counting gets an untrained stand-in classifier (the contract is the keys,
not the classifier's accuracy: tests/metrics/test_metrics_datasets.py checks that with the real one); Inception FID
gets the stand-in torch_fidelity module of tests/metrics/test_metrics_datasets.py (no package, no weights here).
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import math
import sys
import types

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from gankit import metrics
from gankit.data import DATA, build_data, data_traits
from gankit.metrics import inception, toy
from gankit.metrics.evaluation import MetricsUnavailable, check_applicable
from gankit.metrics.registry import (
    METRICS,
    EvalRequest,
    get_metric,
    list_metrics,
    register_metric,
)

FAMILIES = [m.name for m in list_metrics()]
KINDS = ("1d", "2d", "image")


def _finite(value) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return False


def _stand_in_fidelity(monkeypatch, tmp_path) -> None:
    """torch_fidelity replaced by a module that returns a fixed FID, and a weights file where gankit looks."""
    module = types.ModuleType("torch_fidelity")
    module.__spec__ = importlib.machinery.ModuleSpec("torch_fidelity", None)
    module.calculate_metrics = lambda **kwargs: {"frechet_inception_distance": 12.5}
    monkeypatch.setitem(sys.modules, "torch_fidelity", module)
    weights = tmp_path / inception.WEIGHTS_NAME
    weights.write_bytes(b"stand-in")
    monkeypatch.setenv("GANKIT_INCEPTION_WEIGHTS", str(weights))


def _stand_in_classifier(monkeypatch) -> None:
    """An untrained (seeded) classifier wherever a family would train or load one."""
    import gankit.metrics.classifier as classifier_mod

    def load_or_train(train, test, cache_dir=None, progress=True):
        torch.manual_seed(0)
        return classifier_mod.SmallCNN(train.shape[0], 10).eval(), 0.1

    monkeypatch.setattr(classifier_mod, "load_or_train", load_or_train)


def _data_for(family: str) -> str:
    """A data part the family applies to: one that declares it, else (on-request families) one of its kind;
    the smallest such where there is a choice."""
    preferred = ["gaussian1d", "grid25", "digits", "stacked-mnist"]
    metric = get_metric(family)
    names = sorted(DATA.names(), key=lambda n: (n not in preferred, n))
    for name in names:
        traits = data_traits(name)
        if family in traits.metrics or (metric.on_request and traits.kind in metric.kinds):
            return name
    raise AssertionError(f"no data part applies metric family '{family}'")


def _request(data_name: str, seed: int = 0) -> EvalRequest:
    """A small, known input: real examples of the data scored as if generated."""
    small = {"grid25": {"points_per_mode": 40}, "digits": {"split": "all"},
             "stacked-mnist": {"num_images": 300, "pixel_range": [0.0, 1.0]}}.get(data_name, {})
    settings = DATA.resolve(data_name, small)
    gen = torch.Generator().manual_seed(seed)
    if data_traits(data_name).kind in ("1d", "2d"):
        data = build_data(data_name, settings)
        return EvalRequest(data_name, settings, data.sample_real(300, gen), data=data, seed=seed)
    test = build_data(data_name, {**settings, "split": "test"})
    fake = test.data[torch.randperm(len(test), generator=gen)[:200]].float() / 255
    return EvalRequest(data_name, settings, fake)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_returns_exactly_its_declared_keys_all_finite(family, monkeypatch, tmp_path):
    metric = get_metric(family)
    assert metric.summary and "\n" not in metric.summary and metric.kinds and metric.keys
    assert set(metric.kinds) <= set(KINDS) and len(set(metric.all_keys)) == len(metric.all_keys)
    if family == "stacked-modes":
        _stand_in_classifier(monkeypatch)
    if family == "inception":
        _stand_in_fidelity(monkeypatch, tmp_path)
    data_name = _data_for(family)
    found = metric.compute(_request(data_name))
    assert set(metric.keys) <= set(found) <= set(metric.all_keys), (data_name, sorted(found))
    assert all(_finite(v) for v in found.values()), found


def test_optional_keys_appear_where_they_should(monkeypatch, tmp_path):
    # A capped 2-D evaluation says so; Inception FID has a floor only where the data has a test split.
    req = _request("grid25")
    assert "max_points" not in get_metric("mixture").compute(req)
    assert get_metric("mixture").compute(dataclasses.replace(req, max_points=50))["max_points"] == 50
    _stand_in_fidelity(monkeypatch, tmp_path)
    assert set(get_metric("inception").compute(_request("digits"))) == {"fid_inception", "fid_inception_floor"}
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8), "L").save(folder / f"{i}.png")
    settings = DATA.resolve("folder", {"path": str(folder), "size": 8, "channels": 1})
    found = metrics.evaluate_images("folder", settings, torch.rand(4, 1, 8, 8), inception=True)
    assert set(found) == {"fid_inception"}


@pytest.mark.parametrize("data_name", DATA.names())
def test_every_data_part_declares_a_headline_its_metrics_produce(data_name):
    traits = data_traits(data_name)
    assert traits is not None and traits.kind in KINDS and traits.default_n >= 1
    applicable = [get_metric(name) for name in traits.metrics]
    applicable += [m for m in list_metrics() if m.on_request and traits.kind in m.kinds]
    assert all(traits.kind in m.kinds for m in applicable), data_name
    produced = {key for m in applicable for key in m.all_keys}
    for declared in (traits.headline, traits.tiebreak):
        if declared is not None:
            name, direction = declared
            assert name in produced and direction in ("min", "max"), (data_name, declared)
    assert traits.headline is not None
    # The public helpers answer from the declaration.
    assert metrics.headline(traits.kind, data_name) == traits.headline
    assert metrics.tiebreak(traits.kind, data_name) == traits.tiebreak


def test_point_evaluation_dispatches_through_the_registry_with_the_same_numbers():
    req = _request("gaussian1d")
    data = req.data
    found = metrics.evaluate(data, req.samples, seed=3)
    assert found == toy.metrics_1d(req.samples.reshape(-1), data.info["mean"], data.info["std"], seed=3)
    grid = _request("grid25").data
    x = grid.sample_real(100, torch.Generator().manual_seed(1))
    ref = grid.sample_real(100, torch.Generator().manual_seed(2)).numpy()
    assert metrics.evaluate(grid, x, seed=2) == toy.metrics_mixture(x, grid.info["modes"], grid.info["std"],
                                                                    reference=ref, seed=2)
    assert metrics.kind_of(data) == "1d" and metrics.kind_of(grid) == "2d"
    assert metrics.default_n(data) == 10_000 and metrics.default_n(grid) == 2_500


def test_a_new_family_is_one_function_and_one_decorator(monkeypatch):
    monkeypatch.setattr(sys.modules["gankit.metrics.registry"], "METRICS", dict(METRICS))

    @register_metric("sample-median", "the median of 1-D samples", kinds=("1d",), keys=("median",))
    def sample_median(req: EvalRequest) -> dict:
        return {"median": float(req.samples.median())}

    assert "sample-median" in [m.name for m in list_metrics()]
    traits = data_traits("gaussian1d")
    monkeypatch.setitem(DATA._traits, "gaussian1d", dataclasses.replace(traits, metrics=(*traits.metrics, "sample-median")))
    req = _request("gaussian1d")
    found = metrics.evaluate(req.data, req.samples)
    assert found["median"] == pytest.approx(float(req.samples.median())) and "w1" in found


def test_undeclared_data_falls_back_on_its_structure():
    from gankit.data.base import DataSource

    custom = DataSource("custom", "points", (1,), sampler=lambda n, g: torch.randn(n, 1, generator=g),
                        info={"mean": 0.0, "std": 1.0})
    assert metrics.kind_of(custom) == "1d" and metrics.headline("1d", "custom") == ("w1", "min")
    found = metrics.evaluate(custom, torch.randn(100, 1), seed=0)
    assert set(found) == set(toy.KEYS_1D)
    with pytest.raises(MetricsUnavailable):
        check_applicable("custom-images", {})  # an undeclared name without splits: no labels, no metric


def test_a_run_summary_learns_its_headline_from_config_yaml_alone(tmp_path):
    # The folder is gone: nothing can be loaded, yet the declaration says how the run is ranked.
    from gankit.view.summary import load_summary

    run = tmp_path / "run"
    run.mkdir()
    config = {"name": "r", "data": {"name": "folder", "path": str(tmp_path / "gone"), "size": 8}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    summary = load_summary(run)
    assert summary.data_kind == ("image", "folder") and summary.headline == ("fid_inception", "min")
    config["data"] = {"name": "ring8"}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    summary = load_summary(run)
    assert summary.headline == ("modes", "max")
    assert summary.rank_key() is None  # not evaluated yet
