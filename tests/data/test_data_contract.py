"""Every registered data part against one contract: it builds from small settings offline, its examples have
its declared shape, model space and back stay in range, a batch comes out of the Batcher, it declares how it is
evaluated (kind, headline) on its registration, and its config round-trips. A new data part adds one line of
small settings to SMALL (the test fails naming it otherwise)."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from gankit.data import DATA, build_data, data_traits
from gankit.training.batching import Batcher

FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
SMALL = {
    "gaussian1d": {},
    "grid25": {"points_per_mode": 4},
    "ring8": {"points_per_mode": 4},
    "digits": {"limit": 64},
    "mnist": {"limit": 64},
    "fashion-mnist": {"limit": 64, "split": "test"},
    "stacked-mnist": {"num_images": 64},
    "folder": {"size": 16},  # + a folder of pictures made here
}


@pytest.mark.parametrize("name", DATA.names())
def test_data_part_follows_the_contract(name, tmp_path):
    assert name in SMALL, f"data part '{name}' has no small settings in the contract test: add them to SMALL"
    settings = dict(SMALL[name])
    if name == "folder":
        for k in range(4):
            Image.new("RGB", (20, 24), (40 * k, 10, 200)).save(tmp_path / f"{k}.png")
        settings["path"] = str(tmp_path)
    if name == "fashion-mnist" and not FASHION.is_file():
        pytest.skip("Debian package dataset-fashion-mnist not installed")
    resolved = DATA.resolve(name, settings)
    assert set(DATA.parameters(name)) == set(resolved)  # every default written out
    data = build_data(name, resolved)
    assert data.name == name and data.kind in ("points", "image")
    traits = data_traits(name)
    assert traits is not None, f"data part '{name}' declares no traits (kind, headline) on its registration"
    assert traits.headline is None or traits.headline[1] in ("min", "max")
    batcher = Batcher(data, 4, drop_last=True, sampling="shuffle", seed=0, device=torch.device("cpu"))
    batch = batcher.batch(0, torch.Generator().manual_seed(1))
    assert batch.shape == (4, *data.shape) and batch.dtype == torch.float32
    shown = data.from_model(batch)
    if data.kind == "image":
        low, high = data.pixel_range
        assert low <= batch.min().item() and batch.max().item() <= high
        assert 0.0 <= shown.min().item() and shown.max().item() <= 1.0
    again = build_data(name, resolved)
    if data.finite:
        assert torch.equal(again.data, data.data)  # the same settings give the same data (seeded)
