"""A sweep's trials: trained one after another, stacked as ensembles where they play one game, or in worker
processes (the local back end; `scale/sweep_ray.py` hands the same `train_one` to Ray Tune), each stopped early
by its mid-training verdict (`StopOn`)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit import config as configs
from gankit import machine
from gankit.console import keep_going_when_readers_leave
from gankit.errors import ConfigError
from gankit.metrics import diagnosis
from gankit.store import rundir


# ---- stopping a trial on its mid-training verdict -------------------------------------------------------
@dataclass(frozen=True)
class StopOn:
    """A `Trainer` callback: stop when the verdict on the history so far is one of `verdicts`; all but
    `diverged` only once `after` of the training length is done."""

    verdicts: tuple[str, ...] = ("mode collapse", "diverged")
    after: float = 0.5

    def decide(self, verdict: str, fraction: float) -> bool:
        return verdict in self.verdicts and (verdict == "diverged" or fraction >= self.after)

    def judge(self, trainer: Any) -> tuple[dict[str, str], float]:
        history = rundir.read_history(trainer.run_dir / rundir.HISTORY)
        return diagnosis.verdict(trainer.eval_kind, None, history, trainer.config), trainer.step / trainer.total_steps

    def __call__(self, trainer: Any, row: dict[str, Any]) -> str | None:
        if not self.verdicts or trainer.step >= trainer.total_steps:
            return None  # at the full length the run ends anyway, with its final verdict
        found, fraction = self.judge(trainer)
        return self.reason(found, fraction) if self.decide(found["verdict"], fraction) else None

    @staticmethod
    def reason(found: dict[str, str], fraction: float) -> str:
        return f"{found['verdict']} at {fraction:.0%} of training (--stop-on): {found['evidence']}"


# ---- the local back end ---------------------------------------------------------------------------------
def train_one(cfg: configs.Config, run_dir: Path, callbacks: Sequence[Any] = ()) -> None:
    """A new trial, or one continued from its last checkpoint."""
    from gankit.training import session

    if (run_dir / rundir.CONFIG).is_file():
        session.fit(None, resume=run_dir, progress=False, callbacks=callbacks)
    else:
        session.fit(cfg, out=run_dir, progress=False, callbacks=callbacks)


def train_group(cfgs: Sequence[dict[str, Any]], dirs: Sequence[str], stop: StopOn, stack: bool = True,
                threads: int | None = None) -> None:
    """Train trials: stacked as one ensemble when they stack (toy MLPs), otherwise one after another.
    Takes plain dicts and paths so a worker process can run it."""
    import torch  # here, not at the top: `gankit --help` and `gankit presets` answer without loading torch

    from gankit.training.capability import stack_key

    if threads:
        torch.set_num_threads(threads)
    cfg_objs, paths = [configs.from_dict(c) for c in cfgs], [Path(d) for d in dirs]
    groups: dict[str, list[int]] = {}
    for k, cfg in enumerate(cfg_objs):  # trials that play one game stack as one ensemble
        groups.setdefault(stack_key(cfg) if stack else str(k), []).append(k)
    alone = []
    for ks in groups.values():
        if len(ks) == 1 or not _train_stacked([cfg_objs[k] for k in ks], [paths[k] for k in ks], stop):
            alone += ks
    for n, k in enumerate(sorted(alone), 1):
        print(f"sweep: [{n}/{len(alone)}] {paths[k].name}", flush=True)
        train_one(cfg_objs[k], paths[k], [stop])


def _train_stacked(cfgs: Sequence[configs.Config], paths: Sequence[Path], stop: StopOn) -> bool:
    """Train trials as one ensemble; False (nothing trained) when they do not stack."""
    from gankit.scale.ensemble import Ensemble
    from gankit.store.rundir import open_run_dir
    from gankit.training.capability import stacking_pays
    from gankit.training.trainer import Trainer

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its data line is said again by the trial that trains
            pays, why = stacking_pays(Trainer(cfgs[0], paths[0], progress=False, path="ensemble"))
        if not pays:  # decided on one trial, not on all K built only to be dropped
            print(f"sweep: training these {len(paths)} trials one after another: {why}", flush=True)
            return False
        ensemble = Ensemble(cfgs, paths)
    except ConfigError as err:
        print(f"sweep: these trials do not stack as an ensemble ({err}): training them one after another", flush=True)
        return False
    print(f"sweep: training {len(paths)} trials stacked as one ensemble", flush=True)
    for trainer in ensemble.members:  # a new trial's directory made, a half-trained one's checkpoint loaded
        open_run_dir(trainer, resume=(trainer.run_dir / rundir.CONFIG).is_file())
        trainer.callbacks.append(stop)
    ensemble.train()
    return True


def share_cores(workers: int, trials: int, cores: int) -> tuple[int, int, str | None]:
    """(worker processes, threads each, a line to print or None): each worker takes an equal share of the trials
    (stacked as one ensemble where they stack) and of the cores; never more workers than cores, since each is a
    whole training process (its own torch, ~0.3-0.5 GB) and more would only contend for the cores."""
    note = None
    if workers > cores and trials > cores:
        note = (f"--workers {workers:,} is more than the {cores} cores this process may use: training {cores} "
                "trials at a time")
    workers = max(1, min(workers, trials, cores))
    return workers, max(1, cores // workers), note


def run_local(todo: Sequence[tuple[configs.Config, Path]], stop: StopOn, workers: int = 1, stack: bool = True) -> None:
    cfgs, dirs = [c.to_dict() for c, _ in todo], [str(d) for _, d in todo]
    workers, threads, note = share_cores(workers, len(todo), machine.usable_cores())
    if note:
        print(note)
    if workers <= 1:
        train_group(cfgs, dirs, stop, stack)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch thread pools
    with ProcessPoolExecutor(workers, mp_context=context, initializer=keep_going_when_readers_leave) as pool:
        jobs = [pool.submit(train_group, cfgs[w::workers], dirs[w::workers], stop, stack, threads)
                for w in range(workers)]
        for job in jobs:
            job.result()


