"""gankit: train, watch, evaluate and compare Generative Adversarial Networks.

    import gankit
    run = gankit.train("gan-1d")             # a preset name, a YAML path, a dict or a Config
    run = gankit.load_run("runs/gan-1d")
    x = run.sample(1000)
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Run", "__version__", "load_run", "train"]


def __getattr__(name: str) -> Any:
    # Lazy, so `gankit presets` and `--help` answer without importing torch.
    if name in ("Run", "load_run", "train"):
        from gankit import api

        return getattr(api, name)
    raise AttributeError(f"module 'gankit' has no attribute '{name}'")
