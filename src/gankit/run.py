"""A run directory as an object: its config, history and generator (`gankit.load_run(path)`)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import torch

# metrics as a module (its attributes looked up at call time, so tests can script an evaluation)
from gankit import config as configs
from gankit import metrics as measures
from gankit.config import settings
from gankit.data import build_data
from gankit.errors import GankitError, RunDirError
from gankit.metrics.diagnosis import verdict
from gankit.models.conditional import generator_for, with_class
from gankit.models.latent import sample_latent
from gankit.store import checkpoint, guard, rundir
from gankit.view.plots import plot_samples


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
            raise RunDirError(self._no_checkpoint())
        return checkpoint.load_checkpoint(last)

    def _no_checkpoint(self) -> str:
        pid = guard.writer_pid(self.path)
        if pid is None:
            return f"'{self.path}' has no checkpoint yet ({rundir.LAST}): train it first"
        when = f" (every {self.config.log.checkpoint_every:,} steps: log.checkpoint_every)"
        return (f"'{self.path}' is being trained by {guard.writer_name(pid)} and has no checkpoint yet: try again once it writes "
                f"{rundir.LAST}{when}")

    @property
    def step(self) -> int:
        return self._checkpoint["step"] if (self.path / rundir.LAST).is_file() else 0

    @cached_property
    def data(self) -> Any:
        return build_data(self.config.data["name"], settings(self.config.data))

    @cached_property
    def generator(self) -> torch.nn.Module:
        """The trained generator, on the CPU, in eval mode."""
        cfg = self.config
        G = generator_for(cfg, tuple(self.data.shape))
        # The weight average, when the run keeps one, is the better generator (train.g_ema).
        try:
            G.load_state_dict(self._checkpoint.get("generator_ema", self._checkpoint["generator"]))
        except (RuntimeError, KeyError) as err:
            raise RunDirError(f"the checkpoint in '{self.path}' does not fit the generator its config.yaml describes "
                              f"({checkpoint.mismatch(err)}): it comes from another run or architecture") from None
        return G.eval()

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, raw: bool = False, label: int | str | None = None) -> torch.Tensor:
        """n samples from the generator: images as float in [0, 1], points as they are (raw=True: model space).
        `label` (class-conditional runs): only that class, by index or by the data's class name."""
        rng = torch.Generator().manual_seed(seed)
        z = sample_latent(n, self.config.latent.dim, self.config.latent.dist, rng, torch.device("cpu"))
        if label is not None:
            z = with_class(z, self.config.latent.classes, self.class_index(label))
        x = self.generator(z).float()
        return x if raw else self.data.from_model(x)

    def class_index(self, label: int | str) -> int:
        """The index of class `label` (an index or one of the data's class names); one line when there is none."""
        classes = self.config.latent.classes
        if not classes:
            raise GankitError(f"'{self.path}' is not class-conditional (latent.classes is 0): sample it without a class")
        names = [str(c) for c in self.data.info.get("classes", range(classes))]
        if str(label) in names:
            return names.index(str(label))
        if isinstance(label, int) and 0 <= label < classes:
            return label
        raise GankitError(f"class '{label}' is not one of this run's {classes} classes: {', '.join(names)}")

    def evaluate(
        self, n: int | None = None, seed: int = 0, write: bool = True, max_points: int | None = None,
        inception: bool = False,
    ) -> dict[str, Any]:
        """Metrics for the run's data kind from `n` samples, with the verdict (`gankit.metrics.diagnosis`) and its
        evidence; written to metrics.json unless write=False. `max_points`: see `gankit.metrics.evaluate`.
        `inception`: add Inception FID (image runs; needs torch-fidelity and its weights, `gankit.metrics.inception`)."""
        n = n or measures.default_n(self.data)
        low = measures.min_n(self.data)
        if n < low:
            why = " (each is scored against its nearest others)" if self.data.kind == "image" else ""
            raise GankitError(f"an evaluation of this run's {self.data.kind} data needs at least {low} samples{why}, "
                              f"got {n}: --n {low} or more")
        if self.data.kind == "image":
            found = measures.evaluate_images(self.config.data["name"], settings(self.config.data), self.sample(n, seed=seed),
                                            inception=inception)
        else:
            if inception:
                raise GankitError(f"--inception applies to image runs only; '{self.config.data['name']}' is {self.data.kind} data")
            found = measures.evaluate(self.data, self.sample(n, seed=seed, raw=True), seed=seed, max_points=max_points)
        result = {"step": self.step, "n": n, **found}
        result = {**self.verdict(result), **result}  # verdict first: it heads the table
        if write:
            rundir.write_json(self.path / rundir.METRICS, result)
        return result

    def verdict(self, metrics: dict[str, Any] | None = None) -> dict[str, str]:
        """{'verdict', 'evidence'} from `metrics` (None: the last eval row, if any), the history and the config."""
        return verdict(measures.kind_of(self.data), metrics, self.history, self.config)

    def save_samples(self, path: str | Path, n: int = 64, seed: int = 0, title: str | None = None,
                     label: int | str | None = None) -> Path:
        """The picture that fits the data: a grid, a 1-D histogram or a 2-D scatter (`label`: one class only)."""
        fake = self.sample(n, seed=seed, raw=True, label=label)
        title = title or f"{self.config.name} · step {self.step:,} · {n:,} sample{'s' if n != 1 else ''}"
        return plot_samples(self.data, fake, Path(path), title=title)

