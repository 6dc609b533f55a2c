"""`gankit sweep --backend ray`: each trial as a Ray Tune trial, on a local Ray instance or a cluster.

A trial trains exactly as the local back end does (`gankit.scale.trials.train_one`: its ordinary run directory under
the sweep's --out, new or resumed from its checkpoint), so the run directories and the comparison are the same
whichever back end trained them. Ray only schedules: each trial gets --cpus-per-trial / --gpus-per-trial,
reports every eval row (`log.eval_every`) to Tune with the verdict on the history so far, and reports its
final metrics and verdict at the end.

Early stopping: Tune ends a trial abruptly (its worker is killed), which would leave a run directory without
a verdict, so the trial applies the `--stop-on` rule itself at each eval row (a `Trainer` callback: a clean
stop with a checkpoint, a picture and metrics.json) and then reports the final result; `DiagnosisStopper` holds
the same rule on Tune's side and marks the trial stopped on the rows and the result that say so. The run
directories must be on a file system every Ray node sees (one machine, or a shared mount on a cluster); Ray's
own records go to OUT/ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray
from ray import tune

from gankit import config as configs
from gankit.scale.trials import StopOn, train_one
from gankit.store import rundir


class DiagnosisStopper(tune.Stopper):
    """Stop a trial whose reported verdict (`gankit.metrics.diagnosis.verdict` on its history so far) is one of
    --stop-on, with the --stop-after rule, or that reports it stopped itself early."""

    def __init__(self, stop: StopOn) -> None:
        self.stop = stop

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if result.get("stopped_early"):
            return True
        return self.stop.decide(str(result.get("verdict", "")), float(result.get("fraction", 0.0)))

    def stop_all(self) -> bool:
        return False


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class _TuneReport:
    """A `Trainer` callback inside a trial: every eval row to Tune with the verdict so far; a verdict that
    --stop-on names stops the run (cleanly, in the trainer) before it is reported."""

    def __init__(self, stop: StopOn) -> None:
        self.stop, self.fraction = stop, 0.0

    def __call__(self, trainer: Any, row: dict[str, Any]) -> str | None:
        found, self.fraction = self.stop.judge(trainer)
        if trainer.step < trainer.total_steps and self.stop.decide(found["verdict"], self.fraction):
            return StopOn.reason(found, self.fraction)
        tune.report({**_numbers(row["eval"]), "step": trainer.step, "fraction": self.fraction,
                     "verdict": found["verdict"]})
        return None


def _trial(config: dict[str, Any], specs: dict[str, tuple[dict[str, Any], str]], stop: StopOn) -> None:
    cfg, run_dir = specs[config["trial"]]
    report = _TuneReport(stop)
    train_one(configs.from_dict(cfg), Path(run_dir), [report])
    final = rundir.read_metrics(Path(run_dir)) or {}
    tune.report({**_numbers(final), "step": final.get("step", 0), "verdict": str(final.get("verdict", "")),
                 "fraction": report.fraction if final.get("stopped_early") else 1.0,
                 "stopped_early": bool(final.get("stopped_early"))})


def _dirname(trial: Any) -> str:
    return f"trial_{trial.trial_id}"  # Ray's record of a trial; the run directory carries the readable name


def run_ray(todo: Sequence[tuple[configs.Config, Path]], out: Path, stop: StopOn, address: str | None = None,
            cpus: float = 1.0, gpus: float = 0.0) -> list[str]:
    """Train the trials as Tune trials; returns one line per trial that failed (an exception in it)."""
    specs = {d.name: (cfg.to_dict(), str(d.resolve())) for cfg, d in todo}  # absolute: Tune changes directory
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        trainable = tune.with_resources(tune.with_parameters(_trial, specs=specs, stop=stop), {"cpu": cpus, "gpu": gpus})
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search(list(specs))},
            tune_config=tune.TuneConfig(trial_dirname_creator=_dirname),
            run_config=tune.RunConfig(name="tune", storage_path=str((out / "ray").resolve()),
                                      stop=DiagnosisStopper(stop), verbose=0),
        )
        results = tuner.fit()
        failed = []
        for result in results:
            if result.error is not None:
                last = str(result.error).strip().splitlines()[-1] if str(result.error).strip() else type(result.error).__name__
                failed.append(f"{result.config.get('trial')}: {last}")
        return failed
    finally:
        if started:
            ray.shutdown()
