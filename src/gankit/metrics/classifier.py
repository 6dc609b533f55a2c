"""A small CNN classifier gankit trains itself on a labelled image source, to judge generated images offline.

Its 128-d penultimate activations are the embedding for `fid_lenet`, `kid_lenet`, precision/recall and
density/coverage; its predictions give the class balance of generated samples. Inputs are images as float
in [0, 1] (`uint8 / 255`), whatever the data's `pixel_range`: pass generated images through
`DataSource.from_model` first.

Trained classifiers are cached under `~/.cache/gankit/classifiers/<key>.pt`, the key a hash of the training
images, their labels and `CLASSIFIER_VERSION` (bump it whenever the architecture or the recipe changes).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from gankit.checkpoint import load_checkpoint, save_checkpoint
from gankit.data.base import DataSource

CLASSIFIER_VERSION = "smallcnn-bn-v1"
FEATURE_DIM = 128
_SHIFT = 2  # augmentation: random shifts of up to this many pixels
_EVAL_BATCH = 1000
# Fixed input standardisation (about MNIST's pixel mean and std): training converges much faster than on raw [0, 1].
_MEAN, _STD = 0.13, 0.31


class SmallCNN(nn.Module):
    """conv32-bn-pool-conv64-bn-pool-(adaptive pool 7x7)-fc128-dropout-fc(classes); any C x H x W, H, W >= 8.

    Batch norm after each conv is a deliberate addition to the plain LeNet-like stack: on the 4,000 offline
    MNIST digits it lifts test accuracy from about 97.3% to about 98.2% in the same 10 epochs.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.body = nn.Sequential(
            nn.Conv2d(self.in_channels, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d((7, 7)),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, FEATURE_DIM),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, self.num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images in [0, 1] -> (N, 128) penultimate activations."""
        return self.body((x - _MEAN) / _STD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _check_source(source: DataSource, role: str) -> None:
    if source.kind != "image" or source.data is None:
        raise ValueError(f"classifier {role} data '{source.name}' must be a finite image source")
    if source.labels is None:
        raise ValueError(f"classifier {role} data '{source.name}' has no labels")
    _, h, w = source.shape
    if h < 8 or w < 8:
        raise ValueError(f"classifier needs images of at least 8 x 8 pixels, '{source.name}' has {h} x {w}")


def _num_classes(labels: torch.Tensor) -> int:
    return int(labels.max().item()) + 1


def _random_shift(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to `_SHIFT` pixels each way (zero padding, then a random crop)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (_SHIFT, _SHIFT, _SHIFT, _SHIFT))
    dy = torch.randint(0, 2 * _SHIFT + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * _SHIFT + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]  # (n, 1, h, 1)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]  # (n, 1, 1, w)
    batch = torch.arange(n)[:, None, None, None]
    chans = torch.arange(x.shape[1])[None, :, None, None]
    return padded[batch, chans, rows, cols]


def train_classifier(
    train: DataSource, epochs: int = 10, seed: int = 0, progress: bool = True, batch_size: int = 64
) -> SmallCNN:
    """Train a `SmallCNN` on `train.data / 255` with `train.labels`: Adam 1e-3 with cosine decay, batch 64,
    random shifts of up to 2 pixels. About 98.2% test accuracy from the 4,000 offline MNIST digits."""
    _check_source(train, "training")
    assert train.data is not None and train.labels is not None
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    images = train.data.float() / 255.0
    labels = train.labels.long()
    model = SmallCNN(train.shape[0], _num_classes(labels))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = len(images)
    steps = (n + batch_size - 1) // batch_size
    # Cosine decay to 0 over the run: the last epochs settle instead of bouncing around at lr 1e-3.
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs * steps))
    model.train()
    bar = tqdm(total=epochs * steps, desc="training classifier", unit="batch", disable=not progress, leave=False)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            x = _random_shift(images[idx], generator)
            loss = F.cross_entropy(model(x), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval()


@torch.no_grad()
def predict(model: SmallCNN, images_01: torch.Tensor, batch_size: int = _EVAL_BATCH) -> torch.Tensor:
    """Predicted labels (N,) of images float in [0, 1]."""
    model.eval()
    return torch.cat([model(images_01[i : i + batch_size]).argmax(1) for i in range(0, len(images_01), batch_size)])


def accuracy(model: SmallCNN, source: DataSource) -> float:
    _check_source(source, "test")
    assert source.data is not None and source.labels is not None
    predicted = predict(model, source.data.float() / 255.0)
    return float((predicted == source.labels.long()).float().mean().item())


def cache_key(train: DataSource) -> str:
    assert train.data is not None and train.labels is not None
    h = hashlib.sha256()
    h.update(CLASSIFIER_VERSION.encode())
    h.update(repr(tuple(train.data.shape)).encode())
    h.update(train.data.contiguous().numpy().tobytes())
    h.update(train.labels.long().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "gankit" / "classifiers"


def load_or_train(
    train: DataSource, test: DataSource, cache_dir: Path | None = None, progress: bool = True
) -> tuple[SmallCNN, float]:
    """The classifier for `train` (from the cache, or trained and cached) in eval mode, and its accuracy on
    `test`."""
    _check_source(train, "training")
    _check_source(test, "test")
    path = Path(cache_dir or default_cache_dir()) / f"{cache_key(train)}.pt"
    model = None
    if path.is_file():
        state = load_checkpoint(path)
        model = SmallCNN(int(state["shape"][0]), int(state["classes"]))
        model.load_state_dict(state["state"])
        if list(state["shape"]) != list(train.shape):
            model = None  # a hash collision is practically impossible; be safe anyway
    if model is None:
        model = train_classifier(train, progress=progress)
        acc = accuracy(model, test)
        save_checkpoint(
            {
                "format": 1,
                "state": model.state_dict(),
                "accuracy": acc,
                "classes": model.num_classes,
                "shape": list(train.shape),
            },
            path,
        )
        return model.eval(), acc
    model.eval()
    return model, accuracy(model, test)
