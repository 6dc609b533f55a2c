"""The run config: dataclasses for the fixed sections, registry parts for the rest; YAML in and out.

A config names one part per axis (data, generator, discriminator, loss, optimisers) and sets the schedule.
`load_config` validates everything up front, so a typo fails in a second, not an hour into training, and
`Config.to_dict()` writes every default out, so a run's config.yaml re-runs it exactly.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from gankit.configfile import load_yaml
from gankit.errors import ConfigError, closest, in_section
from gankit.overrides import apply_overrides, swap_hint
from gankit.registry import Registry, coerce, settings

# Keys a run's config.yaml carries for the record that are not settings.
RECORD_KEYS = ("versions", "machine", "run_id")  # run_id: the .gankit-run marker's (gankit.store.guard)


@dataclass
class LatentConfig:
    dim: int = 100
    dist: Literal["uniform01", "uniform", "normal"] = "normal"  # U[0,1), U[-1,1), N(0,1)
    # K > 0: a class-conditional GAN on labelled images with K classes (gankit.models.conditional): G draws the
    # class as the argmax of its first K latent coordinates, D is a projection discriminator
    classes: int = 0


@dataclass
class TrainConfig:
    batch_size: int = 64
    epochs: int | None = None
    steps: int | None = None  # iterations; when set, wins over epochs
    d_steps: int = 1  # D updates per iteration (n_critic)
    g_steps: int = 1  # G updates per iteration
    drop_last: bool = True
    sampling: Literal["shuffle", "replacement"] = "shuffle"  # epochs of a fresh permutation, or draws with replacement
    d_input: Literal["sample", "sorted", "moments"] = "sample"  # what 1-D D sees: each sample, or the whole batch
    g_ema: float = 0.0  # decay of an exponential moving average of G's weights (0: off); samples come from it
    # > 0: the average's half-life at most this fraction of the G updates so far (stylegan2-ada's ema_rampup)
    # (nothing to ramp without g_ema)
    g_ema_rampup: float = 0.0
    # fresh: D's and G's updates each draw new fakes (D first); reuse: G's update, then D's on its fakes detached (dcgan.py's order: one G forward)
    fakes: Literal["fresh", "reuse"] = "fresh"
    # Skip a D or G update whose loss or gradients are non-finite instead of stopping the run (diverged).
    # Costs one host sync per update, so it is off by default.
    skip_nonfinite: bool = False
    # Wall-clock budget in minutes (None: none): training stops cleanly when it is spent (checkpoint, final
    # evaluation, verdict); the minutes count over resumes, so a resumed run gets only what is left.
    minutes: float | None = None


@dataclass
class LogConfig:
    every: int = 50  # history.jsonl row and progress-bar update
    sample_every: int = 500  # picture of samples
    checkpoint_every: int = 1000
    n_samples: int = 64  # images in a sample grid (1-D/2-D pictures use more points)
    keep_checkpoints: bool = False  # keep step_N.pt besides last.pt
    tensorboard: bool = False  # history rows and pictures also to RUN_DIR/tensorboard (gankit[tensorboard])
    eval_every: int = 0  # sample metrics -> an eval row in history.jsonl and checkpoints/best.pt (0: off)


@dataclass
class RuntimeConfig:
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    # auto: bf16 only where the hardware has it (AVX512_BF16/AMX, CUDA >= 8.0) and for conv GANs (gankit.machine)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    threads: int | None = None  # torch intra-op threads; None leaves PyTorch's choice
    # Conv models: each nearest-upsample x2 + 3x3 conv pair computed as four 2x2 convs on the small input
    # (gankit.models.subpixel): the same function and weights, 2.25x fewer multiply-adds; false: as built
    subpixel: bool = True
    # torch.compile G and D (gankit.training.fastpath): pays for the toy MLPs on CPU, not for conv GANs (measured);
    # step: the whole iteration as one compiled function (gankit.training.compiled; MLP GANs with adam; fp32 or bf16);
    # graph: the eager step captured as a CUDA graph and replayed (gankit.training.graphed; CUDA, fused Adam);
    # auto: graph on CUDA; step for long CPU runs it can train where a C++ compiler exists; else eager
    # (capability.resolve_compile)
    compile: Literal[False, True, "step", "graph", "auto"] = "auto"
    # CPU: values below 1.2e-38 computed as zero. Adam's moments of dead units decay into that range (beta2 0.9:
    # within ~800 steps) and x86 handles such numbers ~100x slower: with foreach Adam (the compiled step) grid25-
    # fast's late steps ran 1.7-1.9x slower; fused Adam, the eager default, barely meets them (Zen 3, one thread;
    # benchmarks/RESULTS.md "denormals"; the same weights either way there). false: IEEE as it comes
    flush_denormal: bool = True


SECTIONS = {
    "latent": LatentConfig,
    "train": TrainConfig,
    "log": LogConfig,
    "runtime": RuntimeConfig,
}
PARTS = ("data", "generator", "discriminator", "loss", "augment")


@dataclass
class Config:
    name: str = "run"
    post: str | None = None  # the seed post a preset reproduces (file name)
    description: str = ""
    seed: int = 0
    data: dict = field(default_factory=lambda: {"name": "gaussian1d"})
    latent: LatentConfig = field(default_factory=LatentConfig)
    generator: dict = field(default_factory=lambda: {"name": "mlp-1d"})
    discriminator: dict = field(default_factory=lambda: {"name": "mlp-1d"})
    loss: dict = field(default_factory=lambda: {"name": "non-saturating"})
    # Penalties of D by name, each with its settings (gankit.parts.penalties): {clip: {value: 0.01}}
    reg: dict = field(default_factory=dict)
    augment: dict = field(default_factory=lambda: {"name": "none"})  # what D sees of each batch
    optim: dict = field(default_factory=lambda: {"g": {"name": "adam"}, "d": {"name": "adam"}})
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    def d_in_shape(self, example_shape: tuple[int, ...]) -> tuple[int, ...]:
        """What D sees: one example, or (post 002) a whole 1-D batch as one vector."""
        if self.train.d_input == "sorted":
            return (self.train.batch_size,)
        if self.train.d_input == "moments":
            return (4,)
        return example_shape


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively, so safe_dump writes plain YAML."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def from_dict(raw: dict[str, Any]) -> Config:
    """A validated Config; part sections are resolved against their registries (every default filled in)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping of settings, not a {type(raw).__name__}")
    allowed = [f.name for f in dataclasses.fields(Config)]
    config = Config()
    for key, value in raw.items():
        if key in RECORD_KEYS:
            continue
        if key not in allowed:
            raise _unknown_key(key, allowed)
        if key in SECTIONS:
            setattr(config, key, _section(key, SECTIONS[key], value))
        elif key in PARTS:
            setattr(config, key, _part_name(key, value))
        elif key == "optim":
            config.optim = _optim(value)
        elif key == "reg":
            config.reg = _reg(value)
        else:
            hint = typing.get_type_hints(Config)[key]
            setattr(config, key, coerce(value, hint, f"setting '{key}'"))
    _resolve_parts(config)
    validate(config)
    return config


def _unknown_key(key: str, allowed: list[str], prefix: str = "") -> ConfigError:
    guess = closest(key, allowed)
    hint = f"did you mean '{prefix}{guess}'? " if guess else ""
    return ConfigError(f"unknown setting '{prefix}{key}': {hint}valid: {', '.join(prefix + a for a in allowed)}")


def _section(name: str, cls: type, value: Any) -> Any:
    if value is None:
        return cls()
    if not isinstance(value, dict):
        raise ConfigError(f"'{name}' must be a section of settings, got {value!r}")
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, item in value.items():
        if key not in fields:
            raise _unknown_key(key, fields, prefix=f"{name}.")
        kwargs[key] = coerce(item, hints[key], f"setting '{name}.{key}'")
    return cls(**kwargs)


def _part_name(section: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # shorthand: `loss: hinge`
        value = {"name": value}
    if not isinstance(value, dict) or "name" not in value:
        raise ConfigError(f"'{section}' must be a section with a 'name' (e.g. {section}: {{name: ...}})")
    return dict(value)


def _optim(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ConfigError("'optim' must have sections 'g' and 'd' (e.g. optim: {g: {name: adam, lr: 2e-4}, d: ...})")
    for key in value:
        if key not in ("g", "d"):
            raise _unknown_key(key, ["g", "d"], prefix="optim.")
    return {who: _part_name(f"optim.{who}", value.get(who, {"name": "adam"})) for who in ("g", "d")}


# Keys of the `reg` section before penalties were parts (runs written by gankit 0.1 still load)
_OLD_REG = {"spectral_norm": "spectral-norm"}


def _reg(value: Any) -> dict[str, dict[str, Any]]:
    """`reg` as {penalty: {settings}}: a bare value is the penalty's first setting; null or false (or a zero
    weight) leave it out (`--set reg.clip=null` removes clipping); gp_center (the old spelling) is gp's center."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"'reg' must be a section of penalties (e.g. reg: {{gp: {{weight: 10}}}}), got {value!r}")
    value = dict(value)
    center = value.pop("gp_center", None)
    reg: dict[str, dict[str, Any]] = {}
    for key, item in value.items():
        name = _OLD_REG.get(key, key)
        if item is None or item is False:
            continue
        if isinstance(item, dict):
            reg[name] = dict(item)
        elif item is True:
            reg[name] = {}
        elif _first_setting(name) == "weight" and item == 0:
            continue  # a zero weight is no penalty (gankit 0.1 wrote gp: 0.0 for none)
        else:
            reg[name] = {_first_setting(name): item}
    if center is not None and "gp" in reg:
        reg["gp"].setdefault("center", center)
    return reg


def _first_setting(name: str) -> str:
    from gankit.parts.penalties import PENALTIES

    params = list(PENALTIES.parameters(name))
    if not params:
        raise ConfigError(f"penalty '{name}' has no settings: write reg.{name}: true")
    return params[0]


def _registries() -> dict[str, tuple[Registry, tuple[str, ...]]]:
    # Imported here: the registries fill up when their modules import, and they import torch.
    from gankit.data import DATA
    from gankit.models import DISCRIMINATORS, GENERATORS
    from gankit.parts.augment import AUGMENTATIONS
    from gankit.parts.objectives import OBJECTIVES

    return {
        "data": (DATA, ()),
        "generator": (GENERATORS, ("z_dim", "out_shape")),
        "discriminator": (DISCRIMINATORS, ("in_shape",)),
        "loss": (OBJECTIVES, ()),
        "augment": (AUGMENTATIONS, ()),
    }


def _resolve_parts(config: Config) -> None:
    for section, (registry, injected) in _registries().items():
        part = getattr(config, section)
        params = settings(part)
        try:
            resolved = registry.resolve(part["name"], params, injected)
        except ConfigError as err:
            raise in_section(err, section) from None
        setattr(config, section, {"name": part["name"], **resolved})
    import torch

    from gankit.parts.objectives import OBJECTIVES
    from gankit.parts.optim import OPTIMIZERS, build_optimizer
    from gankit.parts.penalties import PENALTIES

    OBJECTIVES.build(config.loss["name"], settings(config.loss))  # cheap: checks the loss's values now
    for name, params in config.reg.items():
        try:
            config.reg[name] = PENALTIES.resolve(name, params)
        except ConfigError as err:
            raise in_section(err, "reg") from None
        PENALTIES.build(name, config.reg[name])  # checks its values (messages name reg.<penalty>)
    for who in ("g", "d"):
        part = config.optim[who]
        try:
            resolved = OPTIMIZERS.resolve(part["name"], settings(part), ("params",))
            build_optimizer(part["name"], resolved, [torch.zeros(1, requires_grad=True)])  # checks values
        except ConfigError as err:
            raise in_section(err, f"optim.{who}") from None
        config.optim[who] = {"name": part["name"], **resolved}


def validate(config: Config) -> None:
    """Values and combinations that no single part can check alone."""
    t, log = config.train, config.log
    positive = {
        "train.batch_size": t.batch_size,
        "train.d_steps": t.d_steps,
        "train.g_steps": t.g_steps,
        "latent.dim": config.latent.dim,
        "log.every": log.every,
        "log.sample_every": log.sample_every,
        "log.checkpoint_every": log.checkpoint_every,
        "log.n_samples": log.n_samples,
    }
    if t.steps is not None:
        positive["train.steps"] = t.steps
    if t.epochs is not None:
        positive["train.epochs"] = t.epochs
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key} must be at least 1, got {value}")
    if log.eval_every < 0:
        raise ConfigError(f"log.eval_every must be >= 0 (0 turns evaluation during training off), got {log.eval_every}")
    if t.steps is None and t.epochs is None:
        raise ConfigError("set how long to train: train.steps (iterations) or train.epochs")
    if t.minutes is not None and not 0 < t.minutes <= 60 * 24 * 365:
        raise ConfigError(f"train.minutes must be a positive number of minutes (or null for no budget), got {t.minutes}")
    if not 0.0 <= t.g_ema < 1.0:
        raise ConfigError(f"train.g_ema must be in [0, 1) (e.g. 0.999; 0 turns it off), got {t.g_ema}")
    if not 0.0 <= t.g_ema_rampup <= 1.0:
        raise ConfigError(f"train.g_ema_rampup must be in [0, 1] (e.g. 0.1; 0 turns it off), got {t.g_ema_rampup}")
    classes = config.latent.classes  # at most 100: the class plane's levels stay distinct in bf16
    if classes and not (2 <= classes <= min(100, config.latent.dim)):
        raise ConfigError(f"latent.classes must be 0 (unconditional) or from 2 to min(100, latent.dim="
                          f"{config.latent.dim}) (G reads its class from the first K latent coordinates), got {classes}")
    if config.runtime.threads is not None and config.runtime.threads < 1:
        raise ConfigError(f"runtime.threads must be at least 1, got {config.runtime.threads}")
    from gankit.limits import check_config

    check_config(config)  # upper bounds, seeds, and the user-sized memory against this machine's
    from gankit.parts.game import check_game

    check_game(config)  # combinations of parts that no path can train
    if not (config.runtime.device in ("auto", "cpu", "cuda") or config.runtime.device.startswith("cuda:")):
        raise ConfigError(f"runtime.device must be auto, cpu, cuda or cuda:N, got '{config.runtime.device}'")


def resolve_config(config: Config | dict[str, Any] | str | Path, overrides: list[str] | tuple[str, ...] | str = ()) -> Config:
    """A Config from a Config, a dict, a YAML path or a preset name, with --set overrides applied."""
    from gankit import presets  # (presets import only errors: no circle)

    if isinstance(config, Config):
        raw = config.to_dict()
    elif isinstance(config, dict):
        raw = config
    elif Path(config).suffix in (".yaml", ".yml") or Path(config).is_file():
        raw = load_yaml(config)
    else:
        raw = presets.load_preset(str(config))
    return with_overrides(raw, overrides)


def with_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...] | str) -> Config:
    """`raw` with --set overrides applied, validated (a part swapped by one says so where its settings misfit)."""
    changed = apply_overrides(raw, overrides)
    try:
        return from_dict(changed)
    except ConfigError as err:
        raise swap_hint(err, raw, changed) from None
