"""Evaluation during training and at its end: metrics of G on a fixed latent batch, eval rows, best.pt, the
verdict (metrics.json). A mixin of the Trainer: it reads the trainer's models, data and history."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
from tqdm import tqdm

from gankit import metrics
from gankit.config import Config, settings
from gankit.errors import ConfigError
from gankit.metrics import diagnosis
from gankit.models.latent import sample_latent
from gankit.run import Run
from gankit.store import checkpoint, rundir
from gankit.training.snapshots import finite_weights

# Evaluation during training and at the end: the 2-D W1/MMD on at most this many points per set (the exact
# assignment takes tens of seconds at the protocol's 2,500 when the samples sit on few modes; here < 1 s).
EVAL_MAX_POINTS = 500
EVAL_BATCH = 1000  # generator forward passes per chunk when sampling for metrics


class Evaluating:
    label = ""  # what the verdict line starts with: an ensemble member's name, so K lines can be told apart
    def sample_metrics(self) -> dict[str, Any]:
        """Metrics of G (the weight average when kept) in eval mode, on a latent batch that is the same at
        every evaluation (seeded from the run's seed), so evaluations differ only by the weights and the
        training RNG streams are untouched. G samples without autograd; the metrics run with it enabled,
        whatever the caller's mode: an image metric's classifier may have to be trained first (a cold cache),
        and that needs gradients ("element 0 of tensors does not require grad" otherwise)."""
        cfg, n = self.config, metrics.default_n(self.data)
        G = self.G_ema if self.G_ema is not None else self.G
        was_training = G.training
        G.eval()
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # e.g. a first-time classifier fit draws from the global RNG
            rng = torch.Generator(self.device).manual_seed(cfg.seed + 3)
            chunks = []
            with torch.no_grad():
                for start in range(0, n, EVAL_BATCH):
                    z = sample_latent(min(EVAL_BATCH, n - start), cfg.latent.dim, cfg.latent.dist, rng, self.device)
                    chunks.append(G(z).float().cpu())
            x = torch.cat(chunks)
            G.train(was_training)
            with torch.inference_mode(False), torch.enable_grad():
                if self.eval_kind == "image":
                    found = metrics.evaluate_images(cfg.data["name"], settings(cfg.data), self.data.from_model(x))
                else:
                    found = metrics.evaluate(self.data, x, seed=cfg.seed, max_points=EVAL_MAX_POINTS)
        return {"n": n, **found}

    def evaluate(self) -> dict[str, Any]:
        """An eval row in the history; checkpoints/best.pt when the headline metric beats the best so far."""
        found = self.sample_metrics()
        row = {"step": self.step, "eval": _json_safe(found)}
        self.history.append(row)
        self.last_eval = row
        key = diagnosis.rank_key(self.eval_kind, found, self.data.name)
        better = key is not None and (self.best is None or key > tuple(self.best["key"]))
        if better and self.diverged_at is None and finite_weights(self.G, self.D):
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
        if not self.dist.is_main:
            return {}  # rank 0 writes the verdict
        run = Run(self.run_dir)
        result = None
        wanted = self.eval_kind in ("1d", "2d") or (self.eval_kind == "image" and self.config.log.eval_every > 0)
        if wanted and self.diverged_at is None and self.last_eval is not None and self.last_eval["step"] == self.step:
            # G has not changed since that evaluation: an image one takes 10-20 s, as long again as it did
            result = {"step": self.step, **self.last_eval["eval"]}
            result = {**run.verdict(result), **result}
        elif wanted and (self.run_dir / rundir.LAST).is_file():
            with contextlib.suppress(NotImplementedError):
                result = run.evaluate(write=False, max_points=EVAL_MAX_POINTS)
        if result is None:
            result = {**run.verdict(), "step": run.step}
        if self.stop_reason is not None:
            result["stopped_early"] = self.stop_reason
        rundir.write_json(self.run_dir / rundir.METRICS, result)
        print(f"{self.label}verdict: {result['verdict']} - {result['evidence']}")
        return result


def check_eval(kind: str, data: Any, cfg: Config) -> None:
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
