"""Pictures and checkpoints of a training run: the sample picture of each `log.sample_every`, the state a
resumed run needs to continue bit for bit, written atomically. A mixin of the Trainer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from gankit import __version__
from gankit.errors import ConfigError
from gankit.store import checkpoint, faults, guard, rundir
from gankit.training.batching import d_view
from gankit.view.plots import plot_samples


class Snapshots:
    def critic(self, x: torch.Tensor) -> torch.Tensor:
        """D's scores on `x` outside an update (pictures): the plain module, its input view, the precision."""
        with self.autocast():  # x may come from the host (the picture's grid): D's device in, x's device out
            return self.D(d_view(x.to(self.device), self.config.train.d_input)).float().to(x.device)

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
        path = self.run_dir / rundir.SAMPLES / f"step_{self.step:07d}.png"
        title = f"{self.config.name} · {self.config.loss['name']} · step {self.step:,}"
        two_d = self.data.kind == "points" and self.data.shape == (2,)
        guard.refuse_link(self.run_dir, path.parent)  # samples/ linked out of the run: refused, never written through
        with guard.replacing(path) as tmp:  # a crash never leaves half a picture under its name
            plot_samples(self.data, fake.cpu(), tmp, title=title, critic=self.picture_critic if two_d else None,
                         critic_label=f"D ({self.objective.score_name})")
            faults.crash_point("kill_during_picture", self.step, tmp)  # tests only (GANKIT_FAULT)
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
            **({"run_id": self.run_id} if getattr(self, "run_id", None) else {}),  # the run's .gankit-run id
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
            "wall_seconds": self.wall_seconds(),  # train.minutes counts over resumes
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
        if self.diverged_at is None and not finite_weights(self.G, self.D):
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
            checkpoint.save_checkpoint(state, self.run_dir / rundir.CHECKPOINTS / f"step_{self.step:07d}.pt")
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
        # RNG states are host byte tensors, whatever device the checkpoint was mapped to (a CUDA resume failed)
        torch.set_rng_state(state["rng_torch"].cpu())
        self.noise_rng.set_state(state["rng_noise"].cpu())
        self.data_rng.set_state(state["rng_data"].cpu())
        if "rng_cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"].cpu(), self.device)
        self.sums = state["log_sums"].to(self.device)
        self.sums_count = state["log_count"]
        self.skipped = state.get("log_skipped", 0)
        self.step = self.checkpoint_step = state["step"]
        self.best = state.get("best")
        self.wall_before = float(state.get("wall_seconds", 0.0))
        forget = getattr(self.compiled_step, "forget", None)  # CUDA graphs hold the tensors the load replaced
        if forget is not None:
            forget()



def finite_weights(*modules: torch.nn.Module) -> bool:
    norms = torch._foreach_norm([p.detach() for m in modules for p in m.parameters()])
    return bool(torch.isfinite(torch.stack(norms)).all())
