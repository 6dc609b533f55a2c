"""Evaluation at the end of training (training/evaluating.py): the verdict's metrics, and no second evaluation of
a generator that was just evaluated."""

import json

import gankit
from gankit.run import Run


def test_a_run_ending_on_an_eval_step_reuses_that_evaluation(tmp_path, monkeypatch):
    calls = []
    real_evaluate = Run.evaluate
    monkeypatch.setattr(Run, "evaluate", lambda self, *a, **k: calls.append(1) or real_evaluate(self, *a, **k))
    run = gankit.train("gan-1d", out=tmp_path / "run", progress=False,
                       overrides=["train.steps=20", "log.every=10", "log.eval_every=10", "runtime.threads=1"])
    written = json.loads((run.path / "metrics.json").read_text())
    last = [r for r in run.history if "eval" in r][-1]
    assert calls == [] and last["step"] == written["step"] == 20
    assert {k: written[k] for k in last["eval"]} == last["eval"] and written["verdict"]


def test_a_run_stopped_between_evaluations_is_evaluated_again(tmp_path, monkeypatch):
    calls = []
    real_evaluate = Run.evaluate
    monkeypatch.setattr(Run, "evaluate", lambda self, *a, **k: calls.append(1) or real_evaluate(self, *a, **k))
    run = gankit.train("gan-1d", out=tmp_path / "run", progress=False,  # the time budget ends it mid-way
                       overrides=["train.steps=1000000", "train.minutes=0.01", "log.every=5", "log.eval_every=100000",
                                  "runtime.threads=1"])
    written = json.loads((run.path / "metrics.json").read_text())
    assert calls == [1] and 0 < written["step"] == run.step < 100000 and written["verdict"]
