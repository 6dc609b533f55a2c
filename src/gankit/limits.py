"""Upper bounds on every number a user gives, checked before anything is allocated or written: a size that
cannot fit in memory, a seed torch cannot take, a count no run needs, each refused in one line (exit 2).

The memory estimate is deliberately rough (float32 activations of one batch through G and D, forward and
backward, the fixed picture batch, the first layers' weights with Adam's state): it exists to refuse sizes
that are off by orders of magnitude (`train.batch_size=1000000000`, `latent.dim=10**20`), not to plan a run.
"""

from __future__ import annotations

import math
import os
from typing import Any

from gankit.errors import ConfigError

SEED_MAX = 2**63 - 1  # torch.manual_seed takes 64 bits; gankit derives seed+1..seed+3, still within 2**64
PART_INT_MAX = 2**53  # no part setting (width, size, count, data_seed) needs more; larger ints are typos
STEPS_MAX = 10**12
UPDATES_MAX = 10_000  # D or G updates per iteration
PICTURE_MAX = 10_000  # images in one sample grid (log.n_samples)
THREADS_MAX = 4096
LATENT_MAX = 1_000_000
SAMPLE_MAX = 1_000_000  # `gankit sample -n`: a picture of more points says nothing more
WALKS_MAX = 1_000  # `gankit sample --interpolate -n`
EVAL_MAX = 10_000_000  # `gankit eval --n`
TRIALS_MAX = 10_000  # `gankit sweep`: trials planned at once (each a run directory)
ACTIVATION_COPIES = 8  # G's and D's activations, forward and backward, real and fake


def memory_bytes() -> int | None:
    """This machine's physical memory (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_config(config: Any) -> None:
    """Every numeric setting within its bound, and the user-given sizes within this machine's memory."""
    t, log = config.train, config.log
    if not 0 <= config.seed <= SEED_MAX:
        raise ConfigError(f"seed must be in 0..2**63-1 (torch's seed range), got {config.seed}")
    bounds = {"train.steps": (t.steps, STEPS_MAX), "train.epochs": (t.epochs, STEPS_MAX),
              "train.d_steps": (t.d_steps, UPDATES_MAX), "train.g_steps": (t.g_steps, UPDATES_MAX),
              "log.n_samples": (log.n_samples, PICTURE_MAX), "runtime.threads": (config.runtime.threads, THREADS_MAX),
              "latent.dim": (config.latent.dim, LATENT_MAX)}
    for key in ("every", "sample_every", "checkpoint_every", "eval_every"):
        bounds[f"log.{key}"] = (getattr(log, key), STEPS_MAX)
    for key, (value, high) in bounds.items():
        if value is not None and value > high:
            raise ConfigError(f"{key} must be at most {high:,}, got {value:,}")
    for section in ("data", "generator", "discriminator", "loss", "augment"):
        _check_ints(section, getattr(config, section))
    for who in ("g", "d"):
        _check_ints(f"optim.{who}", config.optim[who])
    for name, params in config.reg.items():
        _check_ints(f"reg.{name}", params)
    check_memory(config)


def _check_ints(prefix: str, values: Any) -> None:
    if isinstance(values, dict):
        for key, value in values.items():
            _check_ints(f"{prefix}.{key}", value)
    elif isinstance(values, (list, tuple)):
        for value in values:
            _check_ints(prefix, value)
    elif isinstance(values, int) and not isinstance(values, bool) and abs(values) > PART_INT_MAX:
        raise ConfigError(f"{prefix} must be at most 2**53 in size, got {values:,}")
    elif isinstance(values, float) and not math.isfinite(values):  # 1e400 reads as inf: it trains into NaN
        raise ConfigError(f"{prefix} must be a finite number, got {values}")


def example_numel(config: Any) -> int:
    """Numbers in one example, from the config alone (no data built): size x size x channels for images that
    say so, 28 x 28 x 3 for the other images (MNIST family, stacked), 2 for points."""
    from gankit.data.base import data_traits

    data = config.data
    if isinstance(data.get("size"), int):
        return int(data.get("channels", 3)) * data["size"] ** 2
    traits = data_traits(data["name"])
    return 28 * 28 * 3 if traits is not None and traits.kind == "image" else 2


WIDTHS = ("hidden", "width", "channels", "features")  # the settings that size a model's layers


def _width(part: dict[str, Any]) -> int:
    found = [v for k, v in part.items() if k in WIDTHS and isinstance(v, int)]
    return max([256, *found])


def estimate_bytes(config: Any) -> int:
    """Rough float32 bytes a training run of `config` allocates for what the user sized."""
    t, dim, numel = config.train, config.latent.dim, example_numel(config)
    width = max(_width(config.generator), _width(config.discriminator))
    batch = t.batch_size * (dim + numel + 4 * width) * ACTIVATION_COPIES
    picture = (10_000 if numel <= 2 else config.log.n_samples) * (dim + numel)
    weights = 4 * dim * width + (4 * t.batch_size * width if t.d_input == "sorted" else 0)  # + grad, Adam moments
    return 4 * (batch + picture + weights)


def check_memory(config: Any) -> None:
    need, have = estimate_bytes(config), memory_bytes()
    if have is not None and need > have:
        t = config.train
        sized = [f"{who}.{k}={v:,}" for who in ("generator", "discriminator")
                 for k, v in getattr(config, who).items() if k in WIDTHS and isinstance(v, int) and v > 256]
        raise ConfigError(f"{', '.join([f'train.batch_size={t.batch_size:,}', *sized])} with latent.dim="
                          f"{config.latent.dim:,} needs about {_gib(need)} of memory, more than this machine's "
                          f"{_gib(have)}: lower them")


def check_copies(config: Any, copies: int, what: str) -> None:
    """`copies` runs of `config` in one process (an ensemble's members) within this machine's memory."""
    need, have = copies * estimate_bytes(config), memory_bytes()
    if have is not None and need > have:
        raise ConfigError(f"{what} needs about {_gib(need)} for its members, more than this machine's {_gib(have)}: "
                          "train fewer at once (or a sweep)")


def check_samples(n: int | None, what: str, high: int, dim: int | None = None, numel: int = 2) -> None:
    """A count given on the command line (sample -n, eval --n): within its bound and this machine's memory."""
    if n is None:
        return
    if n > high:
        raise ConfigError(f"{what} must be at most {high:,}, got {n:,}")
    have = memory_bytes()
    if dim is not None and have is not None and 4 * n * (dim + numel) * 4 > have:
        raise ConfigError(f"{what} {n:,} needs about {_gib(16 * n * (dim + numel))} of memory, more than this "
                          f"machine's {_gib(have)}: lower it")


def check_seed(seed: int, what: str = "--seed") -> None:
    if not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"{what} must be in 0..2**63-1 (torch's seed range), got {seed}")


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"
