"""The Trainer: builds a run's parts from its config, then loops: one GAN iteration (training/iteration.py) per
batch, and what is due after it (log row, evaluation, picture, checkpoint), to the configured length.

Losses are summed on the device and read every `log.every` steps, so the iteration itself never waits on the
host. Everything a resumed run needs to continue bit for bit (weights, optimisers, step, RNG states, the
partial log sums) goes into the checkpoint (training/snapshots.py); evaluation and the verdict live in
training/evaluating.py.
"""

from __future__ import annotations

import contextlib
import copy
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from gankit import metrics
from gankit.config import Config, settings
from gankit.data import build_data
from gankit.errors import ConfigError, GankitError, WriteError
from gankit.machine import resolve_precision, slow_path_warnings
from gankit.models.conditional import check_classes, discriminator_for, generator_for
from gankit.models.latent import sample_latent
from gankit.parts.augment import AUGMENTATIONS
from gankit.parts.objectives import OBJECTIVES
from gankit.parts.optim import build_optimizer
from gankit.parts.penalties import build_penalties
from gankit.store import checkpoint, rundir
from gankit.training import capability, compiled, distributed, fastpath, graphed
from gankit.training.batching import Batcher
from gankit.training.evaluating import Evaluating, check_eval
from gankit.training.iteration import LOGGED, Iteration
from gankit.training.players import EagerPlayers
from gankit.training.snapshots import Snapshots, finite_weights
from gankit.view.tensorboard import TensorBoard


class Interrupted(GankitError):
    """Training stopped by a signal after saving a checkpoint."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"runtime.device is '{name}' but no CUDA GPU is visible: use runtime.device=auto or cpu")
    return torch.device(name)


def picture_points(data_kind: str, shape: tuple[int, ...], n_images: int) -> int:
    """How many samples a picture shows: a grid of images, or enough points for a histogram / scatter."""
    if data_kind == "image":
        return n_images
    return 10_000 if shape == (1,) else 2_500


class Trainer(Snapshots, Evaluating):
    def __init__(self, config: Config, run_dir: Path, progress: bool = True, path: str = "eager") -> None:
        self.config, self.run_dir, self.progress = config, Path(run_dir), progress
        cfg = config
        # Under torchrun: the process group, this rank's device; one process: the device (gankit.training.distributed).
        self.dist, self.device = distributed.setup(resolve_device(cfg.runtime.device), cfg)
        self.progress = progress and self.dist.is_main
        fastpath.set_threads(cfg.runtime.threads)
        torch.manual_seed(cfg.seed)

        self.data = build_data(cfg.data["name"], settings(cfg.data))
        if self.data.origin and self.dist.is_main:
            print(f"data: {self.data.origin}")
        check_classes(cfg.latent.classes, self.data.num_classes, cfg.data["name"])
        self.batcher = Batcher(
            self.data,
            cfg.train.batch_size,
            drop_last=cfg.train.drop_last,
            sampling=cfg.train.sampling,
            seed=cfg.seed,
            device=self.device,
            shard=self.dist.shard if self.dist.enabled else None,
            classes=cfg.latent.classes,
        )
        if cfg.train.d_input != "sample" and self.data.shape != (1,):
            raise ConfigError(f"train.d_input '{cfg.train.d_input}' is for 1-D data; use train.d_input: sample")

        self.G, self.D = generator_for(cfg, self.data.shape), discriminator_for(cfg, self.data.shape)
        _check_output_range(self.G, cfg, self.data)
        self.penalties = build_penalties(cfg.reg)
        for penalty in self.penalties:
            penalty.on_build(self.D)  # e.g. spectral norm, before the optimiser sees D's parameters
        self.G.to(self.device)
        self.D.to(self.device)
        fastpath.configure_device(self.device, cfg.runtime.flush_denormal)
        # Conv models: sub-pixel upsampling and channels_last (batches follow in `iteration`)
        self.channels_last = fastpath.conv_fastpath(self.G, self.D, device=self.device, subpixel=cfg.runtime.subpixel)
        # runtime.precision (auto: bf16 only where it is native and measured to help; gankit.machine)
        self.precision, self.precision_why = resolve_precision(cfg.runtime.precision, self.device, self.channels_last)
        for line in slow_path_warnings(cfg.runtime.threads, self.precision, self.device) if self.dist.is_main else ():
            print(line, file=sys.stderr)  # before the first (slow) step
        # Averaging G's weights over the last ~1/(1-decay) steps damps the oscillation around the
        # equilibrium that GAN training never quite stops (Yazici et al. 2019, "the unusual effectiveness of
        # averaging in GAN training"); pictures and `gankit sample` use the average.
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if cfg.train.g_ema > 0 else None
        if cfg.train.steps is not None:
            self.total_steps = cfg.train.steps
        else:
            self.total_steps = cfg.train.epochs * self.batcher.steps_per_epoch
        # runtime.compile (auto: the compiled step for long MLP runs on the CPU; gankit.training.capability)
        self.compile, self.compile_why = capability.resolve_compile(
            cfg, self.G, self.D, self.data.kind, self.device, self.total_steps,
            "torchrun" if self.dist.enabled else path)
        if self.compile is True:  # after the EMA copy: G_ema only draws pictures, it stays eager
            fastpath.compile_models(self.G, self.D)
        self.objective = OBJECTIVES.build(cfg.loss["name"], settings(cfg.loss))
        self.augment = AUGMENTATIONS.build(cfg.augment["name"], settings(cfg.augment))
        self.opt_g, self.sched_g = build_optimizer(cfg.optim["g"]["name"], settings(cfg.optim["g"]), self.G.parameters())
        self.opt_d, self.sched_d = build_optimizer(cfg.optim["d"]["name"], settings(cfg.optim["d"]), self.D.parameters())
        if self.compile != "step":  # fused Adam (gankit.training.fastpath.fuse_adam_); the step mirrors foreach
            fastpath.fuse_adam_(self.opt_g, self.opt_d)
        # What the training passes run through: DDP wrappers under torchrun (made in `train`, after every rank
        # has built its Trainer: a collective here could wait for a rank that failed), G and D otherwise.
        self.G_train, self.D_train = self.G, self.D
        # The GAN iteration (training/iteration.py), run by the eager players or as one compiled function
        self.one_iteration = Iteration(self.objective, self.penalties, self.augment, cfg.train, self.autocast)
        self.players = EagerPlayers(self)
        capability.check_path("eager", cfg, self.G, self.D, self.data.kind)
        # runtime.compile step (CPU: one inductor graph) or graph (CUDA: the eager step replayed); None: eager
        kinds = {"step": compiled.CompiledStep, "graph": graphed.GraphedStep}
        self.compiled_step = kinds[self.compile](self) if self.compile in kinds else None

        self.noise_rng = torch.Generator(self.device).manual_seed(cfg.seed)
        self.data_rng = torch.Generator().manual_seed(cfg.seed + 1)
        n_fixed = picture_points(self.data.kind, self.data.shape, cfg.log.n_samples)
        fixed_rng = torch.Generator(self.device).manual_seed(cfg.seed + 2)
        self.fixed_z = sample_latent(n_fixed, cfg.latent.dim, cfg.latent.dist, fixed_rng, self.device)

        self.step = 0
        self.wall_before = 0.0  # seconds of training in earlier sessions of this run (from the checkpoint)
        self.session_started: float | None = None
        self.sums = torch.zeros(len(LOGGED), device=self.device)  # the logged values, summed until the log step
        self.sums_count = 0
        # Under torchrun rank 0 alone writes the run directory; the others log nowhere.
        history = rundir.History if self.dist.is_main else distributed.NullHistory
        self.history = history(self.run_dir / rundir.HISTORY)
        # Optional view of the history and pictures (fails here, before training, without the package).
        self.tensorboard = TensorBoard(self.run_dir) if cfg.log.tensorboard and self.dist.is_main else None
        if self.tensorboard is not None:
            self.history = self.tensorboard.mirror(self.history)
        self.bf16 = self.precision == "bf16"
        self.diverged_at: int | None = None
        self.skip_nonfinite = cfg.train.skip_nonfinite
        self.skipped = 0  # updates skipped as non-finite in this log interval (train.skip_nonfinite)
        self.checkpoint_step: int | None = None  # step of the last checkpoint written or loaded
        self.eval_kind = metrics.kind_of(self.data)
        self.best: dict[str, Any] | None = None  # {metric, value, step, key} of checkpoints/best.pt
        self.last_eval: dict[str, Any] | None = None  # this session's latest eval row (the final verdict reuses it)
        # Called with each eval row (gankit.scale.sweep: report to Ray Tune, stop on a mid-training verdict); a
        # callback returning a reason (text) ends the run cleanly there: checkpoint, picture, verdict.
        self.callbacks: list[Callable[[Trainer, dict[str, Any]], str | None]] = []
        self.stop_reason: str | None = None
        if cfg.log.eval_every:
            check_eval(self.eval_kind, self.data, cfg)

    # ---- one iteration -------------------------------------------------------------------------------
    def noise(self, n: int) -> torch.Tensor:
        """Noise for `n` examples; under torchrun `n` is the global batch: every rank draws it all from the
        same stream (so the streams stay equal on every rank) and keeps its slice."""
        z = sample_latent(n, self.config.latent.dim, self.config.latent.dist, self.noise_rng, self.device)
        return self.dist.shard(z)

    def autocast(self) -> torch.autocast:
        """runtime.precision bf16: a fresh autocast context (one object entered twice, nested, would restore
        the wrong state on exit)."""
        # a CUDA graph capture must not cache casts across the capture (PyTorch's AMP + CUDA graphs notes)
        return torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16, cache_enabled=self.compile != "graph")

    def iteration(self) -> None:
        """One batch through the GAN iteration (compiled or eager), its logged values into the log sums."""
        skipped_before = self.skipped
        real = self.batcher.batch(self.step, self.data_rng)
        if self.channels_last and real.dim() == 4:
            real = real.contiguous(memory_format=torch.channels_last)
        if self.compiled_step is not None:
            logged = self.compiled_step(real)
        else:
            logged = self.one_iteration(self.players, real, self.step)
        if self.skipped == skipped_before:  # train.skip_nonfinite: a skipped update's values stay out of the means
            self.sums += logged
            self.sums_count += 1

    # ---- the loop ------------------------------------------------------------------------------------
    def train(self, stop_at: int | None = None) -> None:
        """Train to the configured length (or to `stop_at`, checkpointing there, as an interruption would).
        A file that cannot be written (disk full, read-only) stops training with one line; the last
        checkpoint is whole (written atomically), so the run resumes once there is room."""
        try:
            self._loop(stop_at)
        except OSError as err:
            where = f" '{err.filename}'" if err.filename else ""
            on_disk = checkpoint.candidates(self.run_dir)  # best.pt may stand where no last.pt was written yet
            kept = (f"the last checkpoint (step {self.checkpoint_step:,}) is kept" if self.checkpoint_step is not None
                    else f"'{on_disk[0]}' is kept" if on_disk else "no checkpoint was written yet")
            raise WriteError(f"cannot write{where}: {err.strerror or err}; training stopped at step {self.step:,} and "
                             f"{kept}: free space (or fix permissions), then gankit train --resume {self.run_dir}"
                             ) from None

    def _loop(self, stop_at: int | None) -> None:
        end = self.total_steps if stop_at is None else min(stop_at, self.total_steps)
        started = self.session_started = time.perf_counter()
        if self.out_of_time():
            tqdm.write(f"the time budget of {self.config.train.minutes:g} min (train.minutes) was spent by step "
                       f"{self.step:,}: to train on, raise it (--minutes M or --set train.minutes=M)")
            return
        self.distribute()
        if self.step == 0:
            self.save_picture()
        bar = tqdm(total=self.total_steps, initial=self.step, unit="it", disable=not self.progress,
                   dynamic_ncols=True, mininterval=0.5)
        with bar, _signals_to_flag() as stop_signal:
            while self.step < end:
                self.iteration()
                row = self.after_iteration(started, end)
                if row is not None:
                    bar.set_postfix_str(_postfix(row), refresh=False)
                bar.update(1)
                if self.diverged_at is not None or self.stop_reason is not None:
                    break
                if self.stop_requested(stop_signal):
                    self.save_checkpoint()
                    code, name = (130, "Ctrl-C") if stop_signal[:1] == [signal.SIGINT] else (143, "SIGTERM")
                    raise Interrupted(f"{name}: stopped at step {self.step:,}, checkpoint saved; "
                                      f"continue with: gankit train --resume {self.run_dir}", code)
        if self.done:
            self.finish()
        if self.tensorboard is not None:
            self.tensorboard.close()

    def after_iteration(self, started: float, end: int) -> dict[str, Any] | None:
        """The step counted, then what is due at it: the log row, an evaluation (before the checkpoint, so
        the best value so far is in it), a picture, a checkpoint. The log row, if one was written. Ensembles
        call it for each member, so every member's run directory is a solo run's."""
        log, row = self.config.log, None
        self.step += 1
        last = self.step == self.total_steps
        distributed.trace_weights(self.dist, self.step, self.G, self.D, self.G_ema)  # tests only
        if self.step % log.every == 0 or last:
            row = self.log_row(time.perf_counter() - started)
            if self.diverged_at is not None:
                return row
        if not last and self.stop_reason is None and self.out_of_time():
            self.end_early(f"the time budget of {self.config.train.minutes:g} min (train.minutes) is spent")
        if log.eval_every and (self.step % log.eval_every == 0 or last):
            self.evaluate_on_main()  # a callback may stop the run here: picture, checkpoint and verdict follow
        if self.step % log.sample_every == 0 or last or self.stop_reason:
            self.save_picture()
        if self.step % log.checkpoint_every == 0 or self.step == end or self.stop_reason:
            self.save_checkpoint()  # (non-finite weights found before writing: the last finite one stays)
        return row

    def wall_seconds(self) -> float:
        """Training wall time of this run so far, earlier sessions included."""
        now = time.perf_counter() if self.session_started is not None else 0.0
        return self.wall_before + (now - (self.session_started or 0.0))

    def out_of_time(self) -> bool:
        """train.minutes spent (under torchrun the ranks agree at log steps, so they stop at the same step)."""
        minutes = self.config.train.minutes
        if minutes is None:
            return False
        spent = self.wall_seconds() >= 60 * minutes
        if not self.dist.enabled:
            return spent
        return self.step % self.config.log.every == 0 and self.dist.any(spent, self.device)

    def end_early(self, reason: str) -> None:
        """Stop after this step as cleanly as at the end: picture, checkpoint, final metrics and verdict (with
        `stopped_early`), an `event: stopped` row in the history."""
        self.stop_reason = reason
        self.history.append({"step": self.step, "event": "stopped", "reason": reason})
        tqdm.write(f"stopped early at step {self.step:,}: {reason}")

    @property
    def done(self) -> bool:
        """Trained to its length, diverged, or stopped by a callback: time for the verdict."""
        return self.step >= self.total_steps or self.diverged_at is not None or self.stop_reason is not None

    # ---- torchrun (gankit.training.distributed) ---------------------------------------------------------------
    def distribute(self) -> None:
        """Under torchrun, G and D in DDP for the training passes (once; the same parameters, so optimisers,
        checkpoints and pictures keep using the plain modules)."""
        if self.dist.enabled and self.G_train is self.G:
            self.G_train = self.dist.wrap(self.G, self.device)
            self.D_train = self.dist.wrap(self.D, self.device)

    def stop_requested(self, caught: list[int]) -> bool:
        """A signal stops training after this step; under torchrun the ranks agree on it at log steps (one
        collective there), so every rank checkpoints and stops at the same step."""
        if not self.dist.enabled:
            return bool(caught)
        return self.step % self.config.log.every == 0 and self.dist.any(bool(caught), self.device)

    def evaluate_on_main(self) -> None:
        """Rank 0 evaluates (the others wait at the next collective); a callback's stop reaches every rank."""
        if self.dist.is_main:
            self.evaluate()
        if self.dist.enabled and self.dist.any(self.stop_reason is not None, self.device):
            self.stop_reason = self.stop_reason or "stopped on rank 0"

    def log_row(self, elapsed: float) -> dict[str, Any]:
        # The one host sync per log interval; under torchrun the mean over the ranks (the global batch)
        means = (self.dist.mean(self.sums) / max(self.sums_count, 1)).tolist()
        row: dict[str, Any] = {"step": self.step, "epoch": round(self.step / self.batcher.steps_per_epoch, 4)}
        row.update(dict(zip(LOGGED, means)))
        row["grad_norm_d"] = _grad_norm(self.D)
        row["grad_norm_g"] = _grad_norm(self.G)
        row["lr_d"] = self.opt_d.param_groups[0]["lr"]
        row["lr_g"] = self.opt_g.param_groups[0]["lr"]
        row["time"] = round(elapsed, 3)
        if self.skip_nonfinite:
            row["skipped"] = self.skipped
        counted = self.sums_count
        self.sums.zero_()
        self.sums_count = self.skipped = 0
        # At the log step's sync anyway: a non-finite mean loss, or weights (cheap next to a step). With
        # train.skip_nonfinite an interval whose every iteration was skipped counts as diverged too.
        cause = None
        if counted == 0 and self.skip_nonfinite:
            cause = "loss in every iteration since the last log step"
            row.update(dict.fromkeys(LOGGED))  # no finite iteration to average
        elif not all(torch.isfinite(torch.tensor(means)).tolist()):
            cause = "loss"
        elif not finite_weights(self.G, self.D):
            cause = "weights"
        if cause is not None:
            self.diverged_at = self.step
            row["event"] = "diverged"
            row["nonfinite"] = cause.split()[0]
            tqdm.write(f"training diverged by step {self.step:,} (non-finite {cause}): stopped; the last finite "
                       f"checkpoint is kept in {self.run_dir / 'checkpoints'}")
        self.history.append(row)
        return row

def _check_output_range(G: torch.nn.Module, cfg: Config, data: Any) -> None:
    produced = getattr(G, "output_range", None)
    if data.kind != "image" or produced is None:
        return
    expected = tuple(float(v) for v in data.pixel_range)
    if tuple(float(v) for v in produced) != expected:
        lo, hi = produced
        raise ConfigError(
            f"generator '{cfg.generator['name']}' outputs values in [{lo:g}, {hi:g}] but the data is scaled to "
            f"[{expected[0]:g}, {expected[1]:g}]: set data.pixel_range=[{lo:g},{hi:g}]"
        )


def _grad_norm(module: torch.nn.Module) -> float | None:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return None
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).item()


def _postfix(row: dict[str, Any]) -> str:
    return (f"D {row['loss_d']:.4g}  G {row['loss_g']:.4g}  D(x) {row['d_real']:.3g}  "
            f"D(G(z)) {row['d_fake']:.3g}")


@contextlib.contextmanager
def _signals_to_flag() -> Iterator[list[int]]:
    """SIGINT/SIGTERM end the current step cleanly (the loop checkpoints and exits);
    a second Ctrl-C stops at once."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum: int, _frame: Any) -> None:
        if caught and signum == signal.SIGINT:
            raise KeyboardInterrupt
        caught.append(signum)
        tqdm.write("stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
