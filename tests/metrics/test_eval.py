"""`gankit eval`: the metrics that fit the run's data, as a table or JSON, written to metrics.json."""

import json

import gankit
from gankit.cli import main


def test_eval_of_a_1d_run_prints_json_and_writes_metrics(tmp_path, capsys):
    run = gankit.train("gan-1d", out=tmp_path / "run", overrides=["train.steps=30"], progress=False)
    capsys.readouterr()
    assert main(["eval", str(run.path), "--json", "--n", "2000"]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((run.path / "metrics.json").read_text())
    assert printed == written
    assert printed["n"] == 2000 and printed["step"] == 30
    assert {"mean", "std", "ks", "w1"} <= set(printed)
    x = run.sample(2000).reshape(-1)
    assert abs(printed["mean"] - x.mean().item()) < 1e-5  # the same samples (seed 0) the API gives


def test_eval_of_a_mixture_run_counts_modes(tmp_path, capsys):
    run = gankit.train("wgan-grid25", out=tmp_path / "run", progress=False,
                       overrides=["data.points_per_mode=40", "train.steps=5", "train.batch_size=100"])
    assert main(["eval", str(run.path), "--n", "500"]) == 0
    table = capsys.readouterr().out
    assert "modes_total" in table and "high_quality" in table
    result = json.loads((run.path / "metrics.json").read_text())
    assert result["modes_total"] == 25 and 0 <= result["modes"] <= 25


def test_eval_refuses_a_bad_sample_count(tmp_path, capsys):
    run = gankit.train("gan-1d", out=tmp_path / "run", overrides=["train.steps=2"], progress=False)
    assert main(["eval", str(run.path), "--n", "1"]) == 2
    assert "--n must be at least 2" in capsys.readouterr().err


def test_eval_of_an_mnist_run_reports_classifier_metrics_beside_their_floors(tmp_path, mnist_classifier, capsys):
    # The session's classifier cache (conftest.py): trained once for every test that evaluates MNIST.
    run = gankit.train("lsgan-mnist", out=tmp_path / "run", progress=False,
                       overrides=["data.limit=256", "train.steps=2"])
    capsys.readouterr()
    assert main(["eval", str(run.path), "--json", "--n", "300"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["classifier_test_accuracy"] >= 0.98  # trained on the full 4,000-digit split, not the run's 256
    assert result["fid_lenet"] > 5 * result["fid_lenet_floor"]  # two steps of training: far from real digits
    assert {"precision", "recall", "density", "coverage", "class_coverage", "class_kl"} <= set(result)
