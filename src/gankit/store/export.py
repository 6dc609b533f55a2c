"""Weights out as safetensors: plain tensors and text metadata, no pickle, so anyone can load them without
running code (a checkpoint, a pickle under the hood, is only safe because gankit loads it `weights_only`).

`gankit export RUN_DIR [-o FILE]` writes the last checkpoint's G (`generator.*`), G's weight average when the
run keeps one (`generator_ema.*`) and D (`discriminator.*`), with metadata: `config` (the resolved config as
JSON), `step`, `gankit_version`, `format`, and `generator_out_shape` / `discriminator_in_shape` (JSON lists), so
`load_generator` can build the generator without the training data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from gankit import __version__
from gankit.errors import RunDirError
from gankit.store import guard, layout

FORMAT = "gankit-weights-1"
DEFAULT_NAME = layout.WEIGHTS
PARTS = ("generator", "generator_ema", "discriminator")


def export_safetensors(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write the run's weights as one .safetensors file (default RUN_DIR/weights.safetensors)."""
    from safetensors.torch import save_file

    from gankit.run import Run

    run = Run(run_dir)
    run.generator  # noqa: B018 - builds G and loads the checkpoint into it: a mismatch is one line, here
    state = run._checkpoint  # the one Run loaded (a stand-in for a damaged last.pt warned about once)
    tensors = {
        f"{part}.{key}": value.detach().cpu().contiguous().clone()  # own storage each: safetensors refuses shared
        for part in PARTS
        if part in state
        for key, value in state[part].items()
    }
    metadata = {
        "format": FORMAT,
        "gankit_version": __version__,
        "step": str(state["step"]),
        "config": json.dumps(run.config.to_dict()),
        "generator_out_shape": json.dumps(list(run.data.shape)),
        "discriminator_in_shape": json.dumps(list(run.config.d_in_shape(tuple(run.data.shape)))),
    }
    path = Path(output) if output is not None else run.path / DEFAULT_NAME
    guard.refuse_link(run.path, path)
    guard.check_output(path, is_gankit_weights, "a weights file", own=run.path / DEFAULT_NAME)  # -o: maybe a user's
    with guard.replacing(path) as tmp:  # whole or not at all, as checkpoints; a planted link never written through
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise RunDirError(f"'{path}' is not a readable safetensors file ({str(err).splitlines()[0][:120]})") from None
    if meta.get("format") != FORMAT:
        raise RunDirError(f"'{path}' is not a gankit weights file (metadata format {meta.get('format')!r})")
    return meta


def is_gankit_weights(path: Path) -> bool:
    """Whether `path` is a weights file `gankit export` wrote (its metadata format)."""
    try:
        read_metadata(path)
    except RunDirError:
        return False
    return True


def load_generator(path: str | Path, ema: bool = True) -> tuple[torch.nn.Module, Any]:
    """(generator in eval mode on the CPU, its Config) from an exported file; the weight average when the
    file has one and `ema`. A class-conditional G (config latent.classes > 0) appends its class plane to the
    image: the picture is `G(z)[:, :-1]`, the class `gankit.models.conditional.read_class(G(z), K)`."""
    from safetensors.torch import load_file

    from gankit import config as configs
    from gankit.models.conditional import generator_for

    meta = read_metadata(path)
    cfg = configs.from_dict(json.loads(meta["config"]))
    shape = tuple(json.loads(meta["generator_out_shape"]))
    tensors = load_file(str(path))
    part = "generator_ema" if ema and any(k.startswith("generator_ema.") for k in tensors) else "generator"
    weights = {k[len(part) + 1:]: v for k, v in tensors.items() if k.startswith(part + ".")}
    G = generator_for(cfg, shape)
    G.load_state_dict(weights)
    return G.eval(), cfg

