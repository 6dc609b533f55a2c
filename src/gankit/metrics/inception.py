"""Optional Inception FID (`gankit eval RUN_DIR --inception`) through torch-fidelity, strictly offline.

gankit's own metrics use a small classifier it trains itself (`fid_lenet`, ...), which works offline on every
labelled dataset but is not comparable with published numbers. `fid_inception` is the standard FID (Heusel et
al. 2017) on the 2048-d pool features of the TF-ported Inception-v3 that torch-fidelity ships, so it is
comparable with papers that use the same implementation. It needs two things gankit never fetches itself:

- the package: `pip install 'gankit[inception]'` (torch-fidelity >= 0.3);
- its weights file `weights-inception-2015-12-05-6726825d.pth` (about 92 MB; `WEIGHTS_URL`) in torch hub's
  checkpoint folder (`$TORCH_HOME/hub/checkpoints`, default `~/.cache/torch/hub/checkpoints`), where
  torch-fidelity itself saves it, or wherever `$GANKIT_INCEPTION_WEIGHTS` points.

Without either, `require_inception` raises one clear GankitError (exit 2) saying what to install and where.
Images are given to torch-fidelity as uint8 RGB (greyscale repeated to 3 channels); it resizes them to
299 x 299 itself. Slow on a CPU (roughly 10 minutes per 10,000 images on 2 cores).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from gankit.errors import GankitError

WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_NAME}"
MAX_REAL = 10_000
# Metric keys (declared in the metric registry: renamed here only); the floor only where there is a test split.
FID_INCEPTION, FID_INCEPTION_FLOOR = "fid_inception", "fid_inception_floor"


def weights_path() -> Path:
    """Where the Inception weights are looked for: $GANKIT_INCEPTION_WEIGHTS, else torch hub's checkpoints."""
    if os.environ.get("GANKIT_INCEPTION_WEIGHTS"):
        return Path(os.environ["GANKIT_INCEPTION_WEIGHTS"]).expanduser()
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAME


def require_inception() -> Path:
    """The weights path when torch-fidelity is installed and its weights are on disk; else a GankitError."""
    if importlib.util.find_spec("torch_fidelity") is None:
        raise GankitError(
            "--inception needs torch-fidelity, which is not installed: pip install 'gankit[inception]' "
            f"(and put its Inception weights at {weights_path()}; gankit never downloads them)"
        )
    path = weights_path()
    if not path.is_file():
        raise GankitError(
            f"--inception: Inception weights not found at {path}: download {WEIGHTS_URL} there "
            "(or set GANKIT_INCEPTION_WEIGHTS to the file); gankit never downloads them"
        )
    return path


class _Uint8Images(torch.utils.data.Dataset):
    """Images as torch-fidelity wants them: uint8 (3, H, W), one per item (from uint8, or float in [0, 1])."""

    def __init__(self, images: torch.Tensor) -> None:
        x = images if images.dtype == torch.uint8 else (images.clamp(0, 1) * 255).round().to(torch.uint8)
        self.images = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i].contiguous()


def inception_fid(real_01: torch.Tensor, fake_01: torch.Tensor) -> float:
    """FID between two sets of images (N, 1 or 3, H, W), uint8 or float in [0, 1], on torch-fidelity's Inception-v3.

    Call `require_inception` first for a clear error; this raises the same GankitError otherwise."""
    path = require_inception()
    import torch_fidelity

    found = torch_fidelity.calculate_metrics(
        input1=_Uint8Images(fake_01),
        input2=_Uint8Images(real_01),
        fid=True,
        feature_extractor_weights_path=str(path),
        cuda=torch.cuda.is_available(),
        verbose=False,
        cache=False,
    )
    return float(found["frechet_inception_distance"])


def _cap(x: torch.Tensor, n: int = MAX_REAL) -> torch.Tensor:
    if len(x) <= n:
        return x
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:n]]


def inception_metrics(real_train_01: torch.Tensor, real_test_01: torch.Tensor | None, fake_01: torch.Tensor) -> dict:
    """`fid_inception` of the fakes against the real training images (at most 10,000), and its real-vs-real
    floor `fid_inception_floor` (held-out test images against the same) when there is a test split. Real images
    may be the stored uint8 (no float copy of a 60,000-image set)."""
    real = _cap(real_train_01)
    out = {FID_INCEPTION: inception_fid(real, fake_01)}
    if real_test_01 is not None:
        out[FID_INCEPTION_FLOOR] = inception_fid(real, _cap(real_test_01))
    return out
