"""The training loop, written once for every GAN variant.

One iteration = `train.d_steps` discriminator updates on one real batch (fresh noise each), then
`train.g_steps` generator updates; with `train.fakes: reuse`, one G update, then one D update on the same
fakes, detached (PyTorch-GAN's dcgan.py order). Losses are summed on the device and read every `log.every` steps, so
the step itself never waits on the host. Everything a resumed run needs to continue bit for bit (weights,
optimisers, step, RNG states, the partial log sums) goes into the checkpoint.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from gankit import __version__, metrics
from gankit.config import Config, settings
from gankit.data import build_data
from gankit.errors import ConfigError, GankitError, WriteError
from gankit.metrics import diagnosis
from gankit.models import build_discriminator, build_generator
from gankit.parts.objectives import OBJECTIVES
from gankit.parts.optim import build_optimizer
from gankit.parts.penalties import add_spectral_norm, clip_weights_, gradient_penalty
from gankit.store import checkpoint, faults, rundir
from gankit.training import compiled
from gankit.training import distributed, fastpath
from gankit.training.batching import Batcher, d_view, sample_latent
from gankit.view.plots import plot_samples
from gankit.view.tensorboard import TensorBoard

LOGGED = ("loss_d", "loss_g", "d_real", "d_fake")
# Evaluation during training and at the end: the 2-D W1/MMD on at most this many points per set (the exact
# assignment takes tens of seconds at the protocol's 2,500 when the samples sit on few modes; here < 1 s).
EVAL_MAX_POINTS = 500
EVAL_BATCH = 1000  # generator forward passes per chunk when sampling for metrics


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


class Trainer:
    def __init__(self, config: Config, run_dir: Path, progress: bool = True) -> None:
        self.config, self.run_dir, self.progress = config, Path(run_dir), progress
        cfg = config
        # Under torchrun: the process group, this rank's device; one process: the device (gankit.training.distributed).
        self.dist, self.device = distributed.setup(resolve_device(cfg.runtime.device), cfg)
        self.progress = progress and self.dist.is_main
        if cfg.runtime.threads:
            torch.set_num_threads(cfg.runtime.threads)
        torch.manual_seed(cfg.seed)

        self.data = build_data(cfg.data["name"], settings(cfg.data))
        if self.data.origin and self.dist.is_main:
            print(f"data: {self.data.origin}")
        self.batcher = Batcher(
            self.data,
            cfg.train.batch_size,
            drop_last=cfg.train.drop_last,
            sampling=cfg.train.sampling,
            seed=cfg.seed,
            device=self.device,
            shard=self.dist.shard if self.dist.enabled else None,
        )
        if cfg.train.d_input != "sample" and self.data.shape != (1,):
            raise ConfigError(f"train.d_input '{cfg.train.d_input}' is for 1-D data; use train.d_input: sample")

        self.G = build_generator(cfg.generator["name"], settings(cfg.generator), cfg.latent.dim, self.data.shape)
        self.D = build_discriminator(cfg.discriminator["name"], settings(cfg.discriminator), cfg.d_in_shape(self.data.shape))
        _check_output_range(self.G, cfg, self.data)
        if cfg.reg.spectral_norm:
            add_spectral_norm(self.D)
        self.G.to(self.device)
        self.D.to(self.device)
        fastpath.configure_device(self.device)
        # Conv models: sub-pixel upsampling and channels_last (batches follow in `iteration`)
        self.channels_last = fastpath.conv_fastpath(self.G, self.D, device=self.device, subpixel=cfg.runtime.subpixel)
        # Averaging G's weights over the last ~1/(1-decay) steps damps the oscillation around the
        # equilibrium that GAN training never quite stops (Yazici et al. 2019, "the unusual effectiveness of
        # averaging in GAN training"); pictures and `gankit sample` use the average.
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if cfg.train.g_ema > 0 else None
        if cfg.runtime.compile is True:  # after the EMA copy: G_ema only draws pictures, it stays eager
            fastpath.compile_models(self.G, self.D)
        self.objective = OBJECTIVES.build(cfg.loss["name"], settings(cfg.loss))
        self.opt_g, self.sched_g = build_optimizer(cfg.optim["g"]["name"], settings(cfg.optim["g"]), self.G.parameters())
        self.opt_d, self.sched_d = build_optimizer(cfg.optim["d"]["name"], settings(cfg.optim["d"]), self.D.parameters())
        if self.channels_last:  # conv models: fused Adam (gankit.training.fastpath.fuse_adam_)
            fastpath.fuse_adam_(self.opt_g, self.opt_d)
        # What the training passes run through: DDP wrappers under torchrun (made in `run`, after every rank
        # has built its Trainer: a collective here could wait for a rank that failed), G and D otherwise.
        self.G_train, self.D_train = self.G, self.D
        # runtime.compile: step: Trainer.iteration runs as one compiled function (gankit.training.compiled)
        self.compiled_step = compiled.CompiledStep(self) if cfg.runtime.compile == "step" else None

        self.noise_rng = torch.Generator(self.device).manual_seed(cfg.seed)
        self.data_rng = torch.Generator().manual_seed(cfg.seed + 1)
        n_fixed = picture_points(self.data.kind, self.data.shape, cfg.log.n_samples)
        fixed_rng = torch.Generator(self.device).manual_seed(cfg.seed + 2)
        self.fixed_z = sample_latent(n_fixed, cfg.latent.dim, cfg.latent.dist, fixed_rng, self.device)

        self.step = 0
        if cfg.train.steps is not None:
            self.total_steps = cfg.train.steps
        else:
            self.total_steps = cfg.train.epochs * self.batcher.steps_per_epoch
        self.sums = torch.zeros(len(LOGGED), device=self.device)
        self.sums_count = 0
        # Under torchrun rank 0 alone writes the run directory; the others log nowhere.
        history = rundir.History if self.dist.is_main else distributed.NullHistory
        self.history = history(self.run_dir / rundir.HISTORY)
        # Optional view of the history and pictures (fails here, before training, without the package).
        self.tensorboard = TensorBoard(self.run_dir) if cfg.log.tensorboard and self.dist.is_main else None
        if self.tensorboard is not None:
            self.history = self.tensorboard.mirror(self.history)
        self.bf16 = cfg.runtime.precision == "bf16"
        self.diverged_at: int | None = None
        self.skip_nonfinite = cfg.train.skip_nonfinite
        self.skipped = 0  # updates skipped as non-finite in this log interval (train.skip_nonfinite)
        self.checkpoint_step: int | None = None  # step of the last checkpoint written or loaded
        self.eval_kind = metrics.kind_of(self.data)
        self.best: dict[str, Any] | None = None  # {metric, value, step, key} of checkpoints/best.pt
        # Called with each eval row (gankit.scale.sweep: report to Ray Tune, stop on a mid-training verdict); a
        # callback returning a reason (text) ends the run cleanly there: checkpoint, picture, verdict.
        self.callbacks: list[Callable[[Trainer, dict[str, Any]], str | None]] = []
        self.stop_reason: str | None = None
        if cfg.log.eval_every:
            _check_eval(self.eval_kind, self.data, cfg)

    # ---- one iteration -------------------------------------------------------------------------------
    def noise(self, n: int) -> torch.Tensor:
        """Noise for `n` examples; under torchrun `n` is the global batch: every rank draws it all from the
        same stream (so the streams stay equal on every rank) and keeps its slice."""
        z = sample_latent(n, self.config.latent.dim, self.config.latent.dist, self.noise_rng, self.device)
        return self.dist.shard(z)

    def autocast(self) -> torch.autocast:
        """runtime.precision bf16: a fresh autocast context (one object entered twice, nested, would restore
        the wrong state on exit)."""
        return torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16)

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        # Under torchrun the D step runs through D's DDP wrapper (its gradients are averaged); the G step (D's
        # weights frozen) and pictures use the plain module, so D's hooks and collectives stay out of them.
        D = self.D_train if self.D_train is not self.D and _learns(self.D) else self.D
        with self.autocast():
            return D(d_view(x, self.config.train.d_input)).float()

    def d_step(self, real: torch.Tensor, fake: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """One D update on `real` and `fake` (detached; train.fakes: reuse hands G's), or fresh fakes."""
        reg = self.config.reg
        if fake is None:
            with torch.no_grad(), self.autocast():
                fake = self.G(self.noise(len(real) * self.dist.world_size)).float()
        with self.autocast():  # one region: D's weights are cast to bf16 once for both batches (autocast's cache)
            d_real, d_fake = self.critic(real), self.critic(fake)
        loss = self.objective.d_loss(d_real, d_fake, real, fake)
        if reg.gp > 0:
            loss = loss + reg.gp * gradient_penalty(self.D_train, real, fake, center=reg.gp_center)
        updated = _update(self.opt_d, self.sched_d, loss, check_finite=self.skip_nonfinite)
        self.skipped += not updated
        if reg.clip is not None and updated:
            clip_weights_(self.D, reg.clip)
        return loss.detach(), d_real.detach(), d_fake.detach()

    def g_step(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One G update on fakes from fresh noise for `n` examples (the global batch; default train.batch_size):
        (G's loss, the fakes detached)."""
        with self.autocast():
            fake = self.G_train(self.noise(n or self.config.train.batch_size)).float()
        loss = self.objective.g_loss(self.critic(fake), fake)  # D as the plain module (see `critic`)
        updated = _update(self.opt_g, self.sched_g, loss, check_finite=self.skip_nonfinite)
        self.skipped += not updated
        if self.G_ema is not None and updated:
            self.update_ema()
        return loss.detach(), fake.detach()

    @torch.no_grad()
    def update_ema(self) -> None:
        ema, live = list(self.G_ema.parameters()), list(self.G.parameters())
        torch._foreach_lerp_(ema, live, 1.0 - self.config.train.g_ema)
        for ema_buffer, buffer in zip(self.G_ema.buffers(), self.G.buffers()):
            ema_buffer.copy_(buffer)  # batch-norm statistics follow the live G

    def iteration(self) -> None:
        skipped_before = self.skipped
        real = self.batcher.batch(self.step, self.data_rng)
        if self.channels_last and real.dim() == 4:
            real = real.contiguous(memory_format=torch.channels_last)
        if self.compiled_step is not None:
            self.sums += self.compiled_step(real)
            self.sums_count += 1
            faults.crash_point("kill_mid_step", self.step)  # tests only (GANKIT_FAULT)
            return
        if self.config.train.fakes == "reuse":  # G's update, then D's on the same fakes (PyTorch-GAN's dcgan.py)
            self.D.requires_grad_(False)
            loss_g, fake = self.g_step(len(real) * self.dist.world_size)  # as many fakes as real examples
            self.D.requires_grad_(True)
            faults.crash_point("kill_mid_step", self.step)  # tests only (GANKIT_FAULT)
            loss_d, d_real, d_fake = self.d_step(real, fake)
        else:
            for _ in range(self.config.train.d_steps):
                loss_d, d_real, d_fake = self.d_step(real)
            faults.crash_point("kill_mid_step", self.step)  # tests only (GANKIT_FAULT)
            self.D.requires_grad_(False)  # G's update needs gradients through D, not of D's weights
            for _ in range(self.config.train.g_steps):
                loss_g, _ = self.g_step()
            self.D.requires_grad_(True)
        if self.skipped != skipped_before:
            return  # train.skip_nonfinite: a skipped iteration's non-finite values stay out of the log means
        prob = self.objective.prob
        self.sums += torch.stack([loss_d, loss_g, prob(d_real).mean(), prob(d_fake).mean()])
        self.sums_count += 1

    # ---- the loop ------------------------------------------------------------------------------------
    def run(self, stop_at: int | None = None) -> None:
        """Train to the configured length (or to `stop_at`, checkpointing there, as an interruption would).
        A file that cannot be written (disk full, read-only) stops training with one line; the last
        checkpoint is whole (written atomically), so the run resumes once there is room."""
        try:
            self._train(stop_at)
        except OSError as err:
            where = f" '{err.filename}'" if err.filename else ""
            kept = (f"the last checkpoint (step {self.checkpoint_step:,}) is kept" if self.checkpoint_step is not None
                    else "no checkpoint was written yet")
            raise WriteError(f"cannot write{where}: {err.strerror or err}; training stopped at step {self.step:,} and "
                             f"{kept}: free space (or fix permissions), then gankit train --resume {self.run_dir}"
                             ) from None

    def _train(self, stop_at: int | None) -> None:
        end = self.total_steps if stop_at is None else min(stop_at, self.total_steps)
        log, started = self.config.log, time.perf_counter()
        self.distribute()
        if self.step == 0:
            self.save_picture()
        bar = tqdm(total=self.total_steps, initial=self.step, unit="it", disable=not self.progress,
                   dynamic_ncols=True, mininterval=0.5)
        with bar, _signals_to_flag() as stop_signal:
            while self.step < end:
                self.iteration()
                self.step += 1
                distributed.trace_weights(self.dist, self.step, self.G, self.D, self.G_ema)  # tests only
                if self.step % log.every == 0 or self.step == self.total_steps:
                    row = self.log_row(time.perf_counter() - started)
                    bar.set_postfix_str(_postfix(row), refresh=False)
                    if self.diverged_at is not None:
                        break
                bar.update(1)
                if log.eval_every and (self.step % log.eval_every == 0 or self.step == self.total_steps):
                    self.evaluate_on_main()  # before the checkpoint, so the best value so far is in it
                    if self.stop_reason is not None:
                        end = self.step  # a callback stopped the run: checkpoint and verdict here
                if self.step % log.sample_every == 0 or self.step == self.total_steps or self.stop_reason:
                    self.save_picture()
                if self.step % log.checkpoint_every == 0 or self.step == end:
                    self.save_checkpoint()
                    if self.diverged_at is not None:
                        break  # non-finite weights found before writing: the last finite checkpoint stays
                if self.stop_requested(stop_signal):
                    self.save_checkpoint()
                    code, name = (130, "Ctrl-C") if stop_signal[:1] == [signal.SIGINT] else (143, "SIGTERM")
                    raise Interrupted(
                        f"{name}: stopped at step {self.step:,}, checkpoint saved; "
                        f"continue with: gankit train --resume {self.run_dir}",
                        code,
                    )
        if self.step >= self.total_steps or self.diverged_at is not None or self.stop_reason is not None:
            self.finish()
        if self.tensorboard is not None:
            self.tensorboard.close()

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
        elif not _finite_weights(self.G, self.D):
            cause = "weights"
        if cause is not None:
            self.diverged_at = self.step
            row["event"] = "diverged"
            row["nonfinite"] = cause.split()[0]
            tqdm.write(f"training diverged by step {self.step:,} (non-finite {cause}): stopped; the last finite "
                       f"checkpoint is kept in {self.run_dir / 'checkpoints'}")
        self.history.append(row)
        return row

    # ---- evaluation and the verdict ------------------------------------------------------------------
    @torch.no_grad()
    def sample_metrics(self) -> dict[str, Any]:
        """Metrics of G (the weight average when kept) in eval mode, on a latent batch that is the same at
        every evaluation (seeded from the run's seed), so evaluations differ only by the weights and the
        training RNG streams are untouched."""
        cfg, n = self.config, metrics.default_n(self.data)
        G = self.G_ema if self.G_ema is not None else self.G
        was_training = G.training
        G.eval()
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # e.g. a first-time classifier fit draws from the global RNG
            rng = torch.Generator(self.device).manual_seed(cfg.seed + 3)
            chunks = []
            for start in range(0, n, EVAL_BATCH):
                z = sample_latent(min(EVAL_BATCH, n - start), cfg.latent.dim, cfg.latent.dist, rng, self.device)
                chunks.append(G(z).float().cpu())
            x = torch.cat(chunks)
            if self.eval_kind == "image":
                found = metrics.evaluate_images(cfg.data["name"], settings(cfg.data), self.data.from_model(x))
            else:
                found = metrics.evaluate(self.data, x, seed=cfg.seed, max_points=EVAL_MAX_POINTS)
        G.train(was_training)
        return {"n": n, **found}

    def evaluate(self) -> dict[str, Any]:
        """An eval row in the history; checkpoints/best.pt when the headline metric beats the best so far."""
        found = self.sample_metrics()
        row = {"step": self.step, "eval": _json_safe(found)}
        self.history.append(row)
        key = diagnosis.rank_key(self.eval_kind, found, self.data.name)
        better = key is not None and (self.best is None or key > tuple(self.best["key"]))
        if better and self.diverged_at is None and _finite_weights(self.G, self.D):
            name = metrics.headline(self.eval_kind, self.data.name)[0]
            self.best = {"metric": name, "value": found[name], "step": self.step, "key": list(key)}
            checkpoint.save_checkpoint(self.state(), self.run_dir / rundir.BEST)
        self.run_callbacks(row)
        return found

    def run_callbacks(self, row: dict[str, Any]) -> None:
        for callback in self.callbacks:
            reason = callback(self, row)
            if reason and self.stop_reason is None:
                self.stop_reason = reason
                self.history.append({"step": self.step, "event": "stopped", "reason": reason})
                tqdm.write(f"stopped early at step {self.step:,}: {reason}")

    def finish(self) -> dict[str, Any]:
        """Every run ends with a verdict: the final metrics (for toy data always, they take about a second;
        for images only with log.eval_every, they need a classifier), the verdict, metrics.json, one line."""
        from gankit.api import Run

        if not self.dist.is_main:
            return {}  # rank 0 writes the verdict
        run = Run(self.run_dir)
        result = None
        wanted = self.eval_kind in ("1d", "2d") or (self.eval_kind == "image" and self.config.log.eval_every > 0)
        if wanted and (self.run_dir / rundir.LAST).is_file():
            with contextlib.suppress(NotImplementedError):
                result = run.evaluate(write=False, max_points=EVAL_MAX_POINTS)
        if result is None:
            result = {**run.verdict(), "step": run.step}
        if self.stop_reason is not None:
            result["stopped_early"] = self.stop_reason
        rundir.write_json(self.run_dir / rundir.METRICS, result)
        print(f"verdict: {result['verdict']} - {result['evidence']}")
        return result

    # ---- pictures and checkpoints --------------------------------------------------------------------
    def picture_critic(self, x: torch.Tensor) -> torch.Tensor:
        """D over the plane as logged: a probability for the cross-entropy family, as the colour bar says."""
        return self.objective.prob(self.critic(x))

    def save_picture(self) -> Path | None:
        if not self.dist.is_main:
            return None  # rank 0 draws every picture
        G = self.G_ema if self.G_ema is not None else self.G
        G.eval()
        self.D.eval()
        with torch.no_grad():
            fake = G(self.fixed_z).float()
        path = self.run_dir / "samples" / f"step_{self.step:07d}.png"
        title = f"{self.config.name} · {self.config.loss['name']} · step {self.step:,}"
        two_d = self.data.kind == "points" and self.data.shape == (2,)
        # Drawn into a temporary file, then renamed: a crash never leaves half a picture under its name.
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            plot_samples(self.data, fake.cpu(), tmp, title=title, critic=self.picture_critic if two_d else None,
                         critic_label=f"D ({self.objective.score_name})")
            faults.crash_point("kill_during_picture", self.step, tmp)  # tests only (GANKIT_FAULT)
            rundir.fsync_path(tmp)
            os.replace(tmp, path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise OSError(err.errno, err.strerror or str(err), str(path)) from None
        if self.tensorboard is not None:
            self.tensorboard.picture(path, self.step)
        self.G.train()
        self.D.train()
        return path

    def state(self) -> dict[str, Any]:
        state = {
            "format": checkpoint.FORMAT,
            "gankit_version": __version__,
            "step": self.step,
            "generator": self.G.state_dict(),
            **({"generator_ema": self.G_ema.state_dict()} if self.G_ema is not None else {}),
            "discriminator": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_noise": self.noise_rng.get_state(),
            "rng_data": self.data_rng.get_state(),
            "log_sums": self.sums.cpu(),
            "log_count": self.sums_count,
            "log_skipped": self.skipped,
        }
        if self.best is not None:
            state["best"] = self.best
        if self.sched_g is not None:
            state["sched_g"] = self.sched_g.state_dict()
        if self.sched_d is not None:
            state["sched_d"] = self.sched_d.state_dict()
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def save_checkpoint(self) -> None:
        if self.diverged_at is None and not _finite_weights(self.G, self.D):
            self.diverged_at = self.step
            self.history.append({"step": self.step, "event": "diverged", "nonfinite": "weights"})
            tqdm.write(f"weights became non-finite by step {self.step:,}: stopped; the last finite "
                       f"checkpoint is kept in {self.run_dir / 'checkpoints'}")
        if self.diverged_at is not None:
            return  # never overwrite the last finite checkpoint with a diverged one
        if self.dist.enabled:
            # The partial log sums as their mean over the ranks, on every rank: rank 0's checkpoint then holds
            # what every rank needs, and a resumed run logs what an uninterrupted one does.
            self.sums = self.dist.mean(self.sums)
            if not self.dist.is_main:
                self.checkpoint_step = self.step
                return  # rank 0 writes the checkpoint
        state = self.state()
        rundir.fsync_path(self.run_dir / rundir.HISTORY)  # the rows up to this checkpoint survive a power cut too
        checkpoint.save_checkpoint(state, self.run_dir / rundir.LAST)
        if self.config.log.keep_checkpoints:
            checkpoint.save_checkpoint(state, self.run_dir / "checkpoints" / f"step_{self.step:07d}.pt")
        self.checkpoint_step = self.step

    def load_state(self, state: dict[str, Any]) -> None:
        try:
            self.G.load_state_dict(state["generator"])
            self.D.load_state_dict(state["discriminator"])
            if self.G_ema is not None:
                self.G_ema.load_state_dict(state.get("generator_ema", state["generator"]))
        except RuntimeError as err:
            raise ConfigError(
                f"the checkpoint does not fit this config's models ({checkpoint.mismatch(err)}): "
                "resume with the run's own config.yaml"
            ) from None
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.sched_g is not None and "sched_g" in state:
            self.sched_g.load_state_dict(state["sched_g"])
        if self.sched_d is not None and "sched_d" in state:
            self.sched_d.load_state_dict(state["sched_d"])
        torch.set_rng_state(state["rng_torch"])
        self.noise_rng.set_state(state["rng_noise"])
        self.data_rng.set_state(state["rng_data"])
        if "rng_cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        self.sums = state["log_sums"].to(self.device)
        self.sums_count = state["log_count"]
        self.skipped = state.get("log_skipped", 0)
        self.step = self.checkpoint_step = state["step"]
        self.best = state.get("best")


def _update(optimizer: torch.optim.Optimizer, scheduler: Any, loss: torch.Tensor, check_finite: bool = False) -> bool:
    """One optimiser update; with `check_finite` (train.skip_nonfinite), none when the loss or a gradient is
    non-finite: weights, optimiser and scheduler state stay as they were. False when skipped."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if check_finite and not _finite_loss_and_grads(loss, optimizer):
        optimizer.zero_grad(set_to_none=True)
        return False
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return True


def _finite_loss_and_grads(loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> bool:
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    norms = [n.float() for n in torch._foreach_norm(grads)] if grads else []
    return bool(torch.isfinite(torch.stack([loss.detach().float().reshape(()), *norms])).all())  # the one sync


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


def _check_eval(kind: str, data: Any, cfg: Config) -> None:
    from gankit.metrics.evaluation import MetricsUnavailable, check_applicable

    if metrics.headline(kind, data.name) is None:
        raise ConfigError(f"log.eval_every: no sample metrics for {data.kind} data '{data.name}' yet; set log.eval_every=0")
    if kind != "image":
        return
    try:  # unlabelled images have only Inception FID, from `gankit eval --inception`, not during training
        check_applicable(data.name, dict(cfg.data))
    except MetricsUnavailable:
        raise ConfigError(f"log.eval_every: image metrics need a labelled dataset with train/test splits "
                          f"(mnist, fashion-mnist, digits, stacked-mnist), not '{data.name}'; set log.eval_every=0") from None


def _json_safe(value: Any) -> Any:
    """Non-finite floats as null, recursively (history.jsonl stays strict JSON)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _learns(module: torch.nn.Module) -> bool:
    """Whether this forward pass trains `module`'s weights (grad mode on, weights not frozen)."""
    return torch.is_grad_enabled() and next(module.parameters()).requires_grad


def _finite_weights(*modules: torch.nn.Module) -> bool:
    norms = torch._foreach_norm([p.detach() for m in modules for p in m.parameters()])
    return bool(torch.isfinite(torch.stack(norms)).all())


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
