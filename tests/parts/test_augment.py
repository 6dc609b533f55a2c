"""DiffAugment against the authors' reference code (Zhao et al. 2020, DiffAugment_pytorch.py, copied below as the
oracle): the same function under the same random draws, differentiable, and one-line refusals."""

import pytest
import torch
import torch.nn.functional as F

from gankit.config import resolve_config
from gankit.errors import ConfigError
from gankit.parts.augment import AUGMENTATIONS


def ref_color(x):
    x = x + (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype) - 0.5)
    x_mean = x.mean(dim=1, keepdim=True)
    x = (x - x_mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype) * 2) + x_mean
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - x_mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype) + 0.5) + x_mean


def ref_translation(x, ratio=0.125):
    shift_x, shift_y = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    translation_x = torch.randint(-shift_x, shift_x + 1, size=[x.size(0), 1, 1])
    translation_y = torch.randint(-shift_y, shift_y + 1, size=[x.size(0), 1, 1])
    grid_batch, grid_x, grid_y = torch.meshgrid(torch.arange(x.size(0)), torch.arange(x.size(2)),
                                                torch.arange(x.size(3)), indexing="ij")
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def ref_cutout(x, ratio=0.5):
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    offset_x = torch.randint(0, x.size(2) + (1 - cutout_size[0] % 2), size=[x.size(0), 1, 1])
    offset_y = torch.randint(0, x.size(3) + (1 - cutout_size[1] % 2), size=[x.size(0), 1, 1])
    grid_batch, grid_x, grid_y = torch.meshgrid(torch.arange(x.size(0)), torch.arange(cutout_size[0]),
                                                torch.arange(cutout_size[1]), indexing="ij")
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


REFERENCE = {"color": ref_color, "translation": ref_translation, "cutout": ref_cutout}


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
@pytest.mark.parametrize("shape", [(16, 3, 9, 8), (16, 1, 28, 28)])
def test_diffaugment_equals_the_reference_code_under_the_same_draws(policy, shape):
    x = torch.randn(shape, dtype=torch.float64)
    torch.manual_seed(3)
    mine = AUGMENTATIONS.build("diffaugment", {"policy": policy})(x)
    torch.manual_seed(3)
    expected = x
    for name in policy.split(","):
        expected = REFERENCE[name](expected)
    torch.testing.assert_close(mine, expected, rtol=0, atol=1e-12)


def test_diffaugment_is_differentiable_and_moves_what_it_shows():
    x = torch.randn(8, 1, 16, 16, requires_grad=True)
    out = AUGMENTATIONS.build("diffaugment", {})(x)
    assert out.shape == x.shape and not torch.equal(out, x)
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # G learns through it


def test_diffaugment_refusals_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="choose from color, translation, cutout"):
        AUGMENTATIONS.build("diffaugment", {"policy": "colour"})
    from gankit.training.trainer import Trainer

    points = resolve_config("gan-grid25", ["data.points_per_mode=8", "train.batch_size=32", "augment.name=diffaugment"])
    with pytest.raises(ConfigError, match="on points data"):
        Trainer(points, tmp_path / "run", progress=False)
