"""One training session: a run directory opened (new, or resumed from its last checkpoint), the Trainer
built and run, on one process or on every torchrun rank (rank 0 alone writes)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from gankit import config as configs
from gankit.store import guard, rundir
from gankit.store.rundir import open_run_dir
from gankit.training import distributed
from gankit.training.trainer import Trainer, resolve_device


def fit(
    cfg: configs.Config | None,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    overwrite: bool = False,
    overrides: Sequence[str] = (),
    progress: bool = True,
    stop_at: int | None = None,
    callbacks: Sequence[Callable[..., str | None]] = (),
    drop_damaged_history: bool = False,
) -> Path | None:
    """Train `cfg` into a new run directory (or continue `resume` with its own config and `overrides`); the
    run directory, or None on torchrun ranks other than 0. The run directory's write lock (store/guard.py) is
    held from its opening to the end of this call; `drop_damaged_history`: see `History.truncate_after`."""
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / rundir.CONFIG).is_file():
            raise rundir.not_a_run(run_dir, ": nothing to resume")
        if guard.read_marker(run_dir) is None and not any((run_dir / p).exists() for p in (rundir.CHECKPOINTS, rundir.HISTORY)):
            raise rundir.RunDirError(f"'{run_dir}' is not a gankit run directory (a config.yaml alone, no "
                                     f"{guard.MARKER}, history or checkpoints): to train that config, "
                                     f"gankit train --config {run_dir / rundir.CONFIG}")
        cfg = configs.with_overrides(configs.load_yaml(run_dir / rundir.CONFIG), overrides)
    # Under torchrun (gankit.training.distributed): every rank gets here with the same config; rank 0 alone writes.
    run_dir = Path(resume) if resume is not None else None
    ctx, _ = distributed.setup(resolve_device(cfg.runtime.device), cfg)
    try:
        if resume is not None:

            def prepare() -> Trainer:  # every rank loads the same checkpoint
                trainer = Trainer(cfg, run_dir, progress=progress)
                # e.g. a longer train.steps: the run's config records what it now trains to
                open_run_dir(trainer, resume=True, write=ctx.is_main, rewrite_config=bool(overrides),
                             drop_damaged_history=drop_damaged_history)
                return trainer
        else:
            run_dir = ctx.decide(lambda: rundir.new_run_dir(cfg.name, out, overwrite))  # rank 0's choice

            def prepare() -> Trainer:
                trainer = Trainer(cfg, run_dir, progress=progress)  # validates everything before touching the disk
                open_run_dir(trainer, resume=False, write=ctx.is_main)
                return trainer

        trainer = ctx.agree(prepare)  # a failure on any rank stops every rank here
        trainer.callbacks.extend(callbacks)
        with distributed.lost_peers(ctx):
            trainer.train(stop_at=stop_at)
            ctx.barrier()  # nobody leaves the group while another rank's last collective may be in flight
    finally:
        if ctx.is_main and run_dir is not None:
            guard.unlock_run(run_dir)
        if ctx.enabled:
            trainer = None  # its DDP wrappers hold the process group: shutdown() frees both
            distributed.shutdown(sys.exc_info()[1])
    return run_dir if ctx.is_main else None
