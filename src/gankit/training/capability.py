"""What each training path can run: the one place that says so, one line per refusal.

Every path runs the same iteration (`training/iteration.py`); they differ in how they transform it. The
compiled step traces it into one inductor graph with `torch.func.grad` (a penalty on D's input gradients nests
a second one; no buffers, Adam only); an ensemble vmaps it over members (one game for all, no buffers); torchrun
splits the batch over ranks. Parts declare the paths they cannot run on themselves (`unsupported = {path:
why}`), so a new part needs no edit here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import Any

from torch import nn

from gankit.errors import ConfigError
from gankit.parts.augment import AUGMENTATIONS
from gankit.parts.game import first_alike, penalties
from gankit.parts.objectives import OBJECTIVES
from gankit.registry import settings

FIXES = {
    "compiled": "use runtime.compile: true (G and D compiled separately) or false",
    "graph": "use runtime.compile: false",
    "ensemble": "train these runs one at a time",
    "torchrun": "run it in one process",
}


def parts(config: Any) -> list[Any]:
    """The config's loss-side parts, built (cheap: no tensors), for what they declare."""
    return [OBJECTIVES.build(config.loss["name"], settings(config.loss)),
            AUGMENTATIONS.build(config.augment["name"], settings(config.augment)), *penalties(config)]


def check_path(path: str, config: Any, G: nn.Module | None = None, D: nn.Module | None = None,
               data_kind: str | None = None, world_size: int = 1) -> None:
    """ConfigError (one line) when `path` ("eager", "compiled", "ensemble", "torchrun") cannot train `config`."""
    why = _refusal(path, config, G, D, data_kind, world_size)
    if why is None:
        return
    where = {"eager": "this run", "compiled": "runtime.compile: step", "graph": "runtime.compile: graph",
             "ensemble": "an ensemble",
             "torchrun": f"torchrun ({world_size} ranks)"}[path]
    fix = FIXES.get(path)
    raise ConfigError(f"{where} cannot train {why}" + (f": {fix}" if fix and ": " not in why else ""))


# The compiled step finishes first from 755-3,173 steps where inductor's cache holds it, from 2,242-11,458 on a
# fresh machine (the MLP presets, two runs, Zen 5: benchmarks/RESULTS.md "compile payback"). From ~1.6x the
# longest warm figure every later run gains; a first run of a gan-1d-sized step pays up to ~8 s once. Per
# compiled graph: a lazy R1's two cost ~30 s fresh (repaid after 7,249-23,211 steps, 1,308-3,393 warm)
AUTO_COMPILE_STEPS = 5_000
# A wall-clock budget (train.minutes) repays the compile from 6-15 s of steps warm, 22-50 s fresh (the same
# table: cost / (1 - compiled / eager)); under this, the compile would eat most of a short budget
AUTO_COMPILE_SECONDS = 30


def resolve_compile(config: Any, G: nn.Module, D: nn.Module, data_kind: str | None, device: Any, steps: int,
                    path: str = "eager") -> tuple[bool | str, str]:
    """(runtime.compile as run, why). `auto` on CUDA: the eager step replayed as a CUDA graph where one can hold
    it (gankit.training.graphed; H200: 5.9-10.5x the eager step, benchmarks/RESULTS.md "GPU checks"). Then, on
    CUDA and CPU alike, the compiled whole step (gankit.training.compiled) for long runs the compiled path can
    train, where a C++ compiler exists for inductor (and Triton's launcher), from AUTO_COMPILE_STEPS steps and a
    train.minutes budget of AUTO_COMPILE_SECONDS per compiled graph (a lazy penalty's step has two); eager
    otherwise. Measured: on the Zen 5 2.7x the classic toy loop (eager 1.3x), 3.8x post 002's loop for gan-1d
    (eager 1.1x; "toy speed", "gan-1d speed"), 1.3-1.4x the eager step with R1 or WGAN-GP ("step speed"); on the
    H200 3.3x the eager toy step. Conv GANs ran slower compiled, and the check refuses them (batch norm)."""
    asked = config.runtime.compile
    if asked != "auto":
        return asked, "asked for"
    if path != "eager":
        return False, f"{path} trains its own way"
    if device.type not in ("cpu", "cuda"):
        return False, f"no compiled path for {device.type}"
    before = ""
    if device.type == "cuda":
        why = _refusal("graph", config, G, D, data_kind, 1)
        if why is None:
            return "graph", "a CUDA run: the whole step replayed as a CUDA graph (a small GAN's step is kernel launches)"
        before = f"a CUDA graph cannot hold {why.split(' (')[0]}; "
    why = _refusal("compiled", config, G, D, data_kind, 1)
    if why is not None:
        return False, f"{before}the compiled step cannot train {why.rsplit(': ', 1)[0]}"
    graphs = len(set(first_alike(penalties(config))))  # a lazy penalty's step compiles twice: with and without its term
    lazy = f": {graphs} compiled graphs, one per set of lazy penalties due" if graphs > 1 else ""
    if steps < AUTO_COMPILE_STEPS * graphs:
        return False, (f"{before}a short run ({steps:,} < {AUTO_COMPILE_STEPS * graphs:,} steps{lazy}) does not repay "
                       "the compile")
    if (minutes := config.train.minutes) is not None and minutes * 60 < AUTO_COMPILE_SECONDS * graphs:
        return False, (f"{before}a short budget (train.minutes {minutes:g} < {AUTO_COMPILE_SECONDS * graphs} s{lazy}) "
                       "does not repay the compile")
    compiler = next((c for c in (os.environ.get("CXX"), "g++", "c++", "clang++") if c and shutil.which(c)), None)
    if compiler is None:
        return False, f"{before}no C++ compiler (g++, c++, clang++ or $CXX) for inductor: eager instead"
    return "step", (f"{before}a long MLP run on the {device.type.upper()}, compiled once with {compiler}, the kernels "
                    "cached by inductor")


def _refusal(path: str, config: Any, G: nn.Module | None, D: nn.Module | None, data_kind: str | None,
             world_size: int) -> str | None:
    t = config.train
    for part in parts(config):
        if path in part.unsupported:
            return part.unsupported[path]
        kinds = getattr(part, "data_kinds", None)
        if kinds is not None and data_kind is not None and data_kind not in kinds:
            return f"augment '{config.augment['name']}' on {data_kind} data (it is for {', '.join(kinds)})"
    if config.latent.classes:  # the class plane rides with every image (gankit.models.conditional)
        if config.augment["name"] != "none":
            return (f"augment '{config.augment['name']}' with latent.classes (it would move or cut the class plane): "
                    "set augment.name=none or latent.classes=0")
        if "gp" in config.reg:
            return "reg.gp with latent.classes (its real/fake interpolates would mix two class planes): use reg.r1"
        if path in ("compiled", "ensemble"):
            return "class-conditional models (latent.classes): train them eagerly, one at a time"
    if path == "eager":
        return None
    if t.skip_nonfinite:
        return "train.skip_nonfinite (it decides per update, on the host): set train.skip_nonfinite=false"
    if path == "graph":
        return _graph_refusal(config, [m for m in (G, D) if m is not None])
    if path == "torchrun":
        if t.d_input != "sample":  # each rank holds a part of the batch: D would see a different set of values
            return f"train.d_input '{t.d_input}' (D sees the whole batch at once): use train.d_input: sample"
        if t.batch_size % world_size:
            return (f"train.batch_size {t.batch_size} (the global batch): it does not split into {world_size} "
                    "equal parts; choose a multiple of the number of ranks")
        if config.runtime.compile in ("step", "graph"):
            return f"runtime.compile: {config.runtime.compile} (it bypasses DDP): use runtime.compile: true or false"
        return None
    if t.fakes != "fresh":
        return f"train.fakes: {t.fakes} (it draws fresh fakes for D, then for G): set train.fakes=fresh"
    models = [m for m in (G, D) if m is not None]
    if any(True for m in models for _ in m.buffers()):
        return "models with buffers (batch norm): use a toy MLP"
    if path == "compiled":
        if any(config.optim[w]["name"] != "adam" for w in ("g", "d")):
            return "optimisers other than adam"
        if any(isinstance(x, nn.Dropout) for m in models for x in m.modules()):
            return "models with dropout"
    return None


def _graph_refusal(config: Any, models: list[nn.Module]) -> str | None:
    """What a CUDA graph of the eager iteration (gankit.training.graphed) cannot hold."""
    if any(not p.is_cuda for m in models for p in m.parameters()):
        return "models off CUDA (CUDA graphs are a CUDA feature): set runtime.device=cuda or runtime.compile: false"
    for who in ("g", "d"):
        opt = config.optim[who]
        if opt["name"] != "adam":
            return f"optim.{who} {opt['name']} (a replay needs fused Adam, whose step count lives on the GPU)"
        if opt.get("decay"):
            return f"optim.{who}.decay (the graph holds one learning rate)"
    if config.train.g_ema and config.train.g_ema_rampup:
        return "train.g_ema_rampup (the graph holds one decay of G's weight average): set train.g_ema_rampup=0"
    return None


def check_members(configs: Sequence[Any], models: Sequence[tuple[nn.Module, nn.Module]] | None = None) -> None:
    """An ensemble's members play one game (objective, penalties, augmentation, schedule, batch size, layer
    shapes); they may differ in seed, optimiser settings and penalty values. Without `models`, the settings
    alone: asked before any member loads its data, so a refused ensemble prints nothing else."""
    first = configs[0]
    for k, cfg in enumerate(configs):
        G, D = models[k] if models else (None, None)
        check_path("ensemble", cfg, G, D)
        if cfg.runtime.precision != first.runtime.precision:
            raise ConfigError("ensemble members must share runtime.precision (one vmapped pass for all)")
        for key in ("loss", "augment"):
            if getattr(cfg, key) != getattr(first, key):
                raise ConfigError(f"ensemble members must share {key} (one game vmapped over them): "
                                  "train members that differ there as separate ensembles")
        if list(cfg.reg) != list(first.reg):
            raise ConfigError("ensemble members must share the kinds of penalty (reg); their values may differ")
        for key in ("batch_size", "d_steps", "g_steps"):
            if getattr(cfg.train, key) != getattr(first.train, key):
                raise ConfigError(f"ensemble members must share train.{key}")
        for a, b in ((G, models[0][0]), (D, models[0][1])) if models else ():
            if [p.shape for p in a.parameters()] != [p.shape for p in b.parameters()]:
                raise ConfigError("ensemble members must share the architectures (same layer shapes)")


def stack_key(config: Any) -> str:
    """Configs with equal keys may train as one ensemble (sweeps group their trials by it)."""
    import json

    game = {"loss": config.loss, "augment": config.augment, "reg": list(config.reg),
            "train": [config.train.batch_size, config.train.d_steps, config.train.g_steps],
            "models": [config.generator, config.discriminator, config.latent.dim], "data": config.data}
    return json.dumps(game, sort_keys=True, default=str)


def stacking_pays(trainer: Any) -> tuple[bool, str]:
    """(whether stacking this trial with others beats training it alone, why). On the CPU a trial that alone would
    run the compiled step trains faster alone: a whole 4-trial wgan-grid25 sweep 112.1 s one after another against
    260.6 s stacked; per member-iteration 3.5-5.8 ms alone against 7.5-7.8 ms as one of 16 stacked (AMD EPYC Zen 5,
    AVX-512, 2 threads; benchmarks/RESULTS.md "a toy sweep", "ensemble speed"), and 12.7 against 24.6 ms for post
    004's six trials (Zen 3, AVX2, 1 thread; docs/presets.md). Elsewhere (eager alone, or CUDA: not measured) it
    stacks."""
    alone, _ = resolve_compile(trainer.config, trainer.G, trainer.D, trainer.data.kind, trainer.device,
                               trainer.total_steps)
    if alone == "step" and trainer.device.type == "cpu":
        return False, "alone each trains on the compiled step, faster a trial than stacked (an eager ensemble) on the CPU"
    return True, "alone each would train eagerly" if not alone else f"alone each would train on runtime.compile {alone}"
