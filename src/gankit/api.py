"""The Python API over a run directory: `gankit.train(config)`, `gankit.load_run(path)`, `run.sample(n)`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from gankit import config as configs
from gankit.config import settings
from gankit.errors import RunDirError
from gankit.store import checkpoint, rundir
from gankit.training import distributed
from gankit.training.batching import sample_latent


def train(
    config: configs.Config | dict[str, Any] | str | Path,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    overwrite: bool = False,
    overrides: list[str] | tuple[str, ...] = (),
    progress: bool = True,
    stop_at: int | None = None,
    callbacks: Sequence[Callable[..., str | None]] = (),
) -> Run | None:
    """Train a GAN and return its Run (None on ranks other than 0 under torchrun: they write nothing).

    `config` is a Config, a dict, a YAML file or a preset name. With `resume`, the run directory's own
    config is used and training continues from its last checkpoint. `callbacks` are called with each eval row
    (`Trainer.callbacks`): one returning a reason stops the run there, cleanly, with its verdict.
    """
    from gankit.training.trainer import Trainer, resolve_device

    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / rundir.CONFIG).is_file():
            raise rundir.not_a_run(run_dir, ": nothing to resume")
        cfg = configs.from_dict(configs.apply_overrides(configs.load_yaml(run_dir / rundir.CONFIG), list(overrides)))
    else:
        cfg = resolve_config(config, overrides)
    # Under torchrun (gankit.training.distributed): every rank gets here with the same config; rank 0 alone writes.
    ctx, _ = distributed.setup(resolve_device(cfg.runtime.device), cfg)
    try:
        if resume is not None:

            def prepare() -> Trainer:  # every rank loads the same checkpoint
                trainer = Trainer(cfg, run_dir, progress=progress)
                # e.g. a longer train.steps: the run's config records what it now trains to
                open_run_dir(trainer, resume=True, write=ctx.is_main, rewrite_config=bool(overrides))
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
            trainer.run(stop_at=stop_at)
            ctx.barrier()  # nobody leaves the group while another rank's last collective may be in flight
    finally:
        if ctx.enabled:
            distributed.shutdown()
    return Run(run_dir) if ctx.is_main else None


def open_run_dir(trainer: Any, *, resume: bool, write: bool = True, rewrite_config: bool = False) -> None:
    """Make `trainer`'s run directory ready, once the trainer (config, data, models) is built and checked.

    A new run: the directory is created (an --overwrite target removed only now) and its config written. A
    resumed one: the last checkpoint is loaded, then the temporary files and history rows a crash left past
    it are removed (and with `rewrite_config`, the config rewritten). `write=False` (torchrun ranks other than
    0) loads without touching the disk. One place for `gankit.train`, ensembles and sweeps.
    """
    run_dir = trainer.run_dir
    if not resume:
        if write:
            rundir.make_run_dir(run_dir)
            rundir.write_config(run_dir, trainer.config)
        return
    last = run_dir / rundir.LAST
    if last.is_file():
        trainer.load_state(checkpoint.load_checkpoint(last, map_location=trainer.device))
        if write and trainer.step >= trainer.total_steps:
            print(f"{run_dir} is complete at step {trainer.step:,}: to train on, raise train.steps or train.epochs "
                  "(--set)")
        elif write:
            print(f"resuming {run_dir} from step {trainer.step:,}")
    if write:
        if rewrite_config:
            rundir.write_config(run_dir, trainer.config)
        rundir.remove_partial_files(run_dir)
        trainer.history.truncate_after(trainer.step)


def resolve_config(config: configs.Config | dict[str, Any] | str | Path, overrides: list[str] | tuple[str, ...] = ()) -> configs.Config:
    """A Config from a Config, a dict, a YAML path or a preset name, with --set overrides applied."""
    from gankit import presets

    if isinstance(config, configs.Config):
        raw = config.to_dict()
    elif isinstance(config, dict):
        raw = config
    elif Path(config).suffix in (".yaml", ".yml") or Path(config).is_file():
        raw = configs.load_yaml(config)
    else:
        raw = presets.load_preset(str(config))
    return configs.from_dict(configs.apply_overrides(raw, list(overrides)))


def load_run(path: str | Path) -> Run:
    return Run(path)


class Run:
    """A trained (or training) run: its config, history and generator."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / rundir.CONFIG).is_file():
            raise rundir.not_a_run(self.path)
        self.config = configs.from_dict(configs.load_yaml(self.path / rundir.CONFIG))

    def __repr__(self) -> str:
        return f"Run('{self.path}', step={self.step})"

    @property
    def history(self) -> list[dict[str, Any]]:
        return rundir.read_history(self.path / rundir.HISTORY)

    @cached_property
    def _checkpoint(self) -> dict[str, Any]:
        last = self.path / rundir.LAST
        if not last.is_file():
            raise RunDirError(f"'{self.path}' has no checkpoint yet ({rundir.LAST}): train it first")
        return checkpoint.load_checkpoint(last)

    @property
    def step(self) -> int:
        return self._checkpoint["step"] if (self.path / rundir.LAST).is_file() else 0

    @cached_property
    def data(self) -> Any:
        from gankit.data import build_data

        return build_data(self.config.data["name"], settings(self.config.data))

    @cached_property
    def generator(self) -> torch.nn.Module:
        """The trained generator, on the CPU, in eval mode."""
        from gankit.models import build_generator

        cfg = self.config
        G = build_generator(cfg.generator["name"], settings(cfg.generator), cfg.latent.dim, tuple(self.data.shape))
        # The weight average, when the run keeps one, is the better generator (train.g_ema).
        try:
            G.load_state_dict(self._checkpoint.get("generator_ema", self._checkpoint["generator"]))
        except (RuntimeError, KeyError) as err:
            raise RunDirError(f"the checkpoint in '{self.path}' does not fit the generator its config.yaml describes "
                              f"({checkpoint.mismatch(err)}): it comes from another run or architecture") from None
        return G.eval()

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, raw: bool = False) -> torch.Tensor:
        """n samples from the generator: images as float in [0, 1], points as they are (raw=True: model space)."""
        rng = torch.Generator().manual_seed(seed)
        z = sample_latent(n, self.config.latent.dim, self.config.latent.dist, rng, torch.device("cpu"))
        x = self.generator(z).float()
        return x if raw else self.data.from_model(x)

    def evaluate(
        self, n: int | None = None, seed: int = 0, write: bool = True, max_points: int | None = None,
        inception: bool = False,
    ) -> dict[str, Any]:
        """Metrics for the run's data kind from `n` samples, with the verdict (`gankit.metrics.diagnosis`) and its
        evidence; written to metrics.json unless write=False. `max_points`: see `gankit.metrics.evaluate`.
        `inception`: add Inception FID (image runs; needs torch-fidelity and its weights, `gankit.metrics.inception`)."""
        from gankit import metrics

        n = n or metrics.default_n(self.data)
        if self.data.kind == "image":
            found = metrics.evaluate_images(self.config.data["name"], settings(self.config.data), self.sample(n, seed=seed),
                                            inception=inception)
        else:
            if inception:
                from gankit.errors import GankitError

                raise GankitError(f"--inception applies to image runs only; '{self.config.data['name']}' is {self.data.kind} data")
            found = metrics.evaluate(self.data, self.sample(n, seed=seed, raw=True), seed=seed, max_points=max_points)
        result = {"step": self.step, "n": n, **found}
        result = {**self.verdict(result), **result}  # verdict first: it heads the table
        if write:
            rundir.write_json(self.path / rundir.METRICS, result)
        return result

    def verdict(self, metrics: dict[str, Any] | None = None) -> dict[str, str]:
        """{'verdict', 'evidence'} from `metrics` (None: the last eval row, if any), the history and the config."""
        from gankit.metrics import kind_of
        from gankit.metrics.diagnosis import verdict

        return verdict(kind_of(self.data), metrics, self.history, self.config)

    def save_samples(self, path: str | Path, n: int = 64, seed: int = 0, title: str | None = None) -> Path:
        """The picture that fits the data: a grid, a 1-D histogram or a 2-D scatter."""
        from gankit.view.plots import plot_samples

        fake = self.sample(n, seed=seed, raw=True)
        title = title or f"{self.config.name} · step {self.step:,} · {n:,} samples"
        return plot_samples(self.data, fake, Path(path), title=title)

