"""Class-conditional G and D (latent.classes): the class plane, G's class draw, the projection D, refusals."""

from __future__ import annotations

import pytest
import torch

import gankit
from gankit.config import from_dict
from gankit.data import build_data
from gankit.errors import ConfigError
from gankit.models.conditional import (
    ClassConditionalGenerator,
    ProjectionDiscriminator,
    class_plane,
    discriminator_for,
    generator_for,
    read_class,
    with_class,
)
from gankit.presets import load_preset
from gankit.training.batching import Batcher
from gankit.view.interpolate import latent_paths


def _config(**latent):
    raw = load_preset("mnist-fast")
    raw["latent"] = {**raw["latent"], **latent}
    return from_dict(raw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("classes", [2, 10, 100])
def test_every_class_survives_its_plane(classes, dtype):
    labels = torch.arange(classes)
    like = torch.zeros(classes, 1, 5, 7, dtype=dtype)
    plane = class_plane(labels, classes, like)
    assert plane.shape == (classes, 1, 5, 7) and plane.dtype == dtype
    assert float(plane.min()) == -1.0 and float(plane.max()) == 1.0  # inside every image range
    assert torch.equal(read_class(torch.cat([like, plane], 1), classes), labels)


def test_generator_draws_uniform_classes_from_its_latent_and_appends_their_plane():
    torch.manual_seed(0)
    G = generator_for(_config(classes=10), (1, 28, 28)).eval()
    assert isinstance(G, ClassConditionalGenerator) and G.out_shape == (2, 28, 28)
    z = torch.randn(5000, 64)
    with torch.no_grad():
        x = G(z)
    assert x.shape == (5000, 2, 28, 28)
    y = read_class(x, 10)
    assert torch.equal(y, z[:, :10].argmax(1))
    counts = torch.bincount(y, minlength=10)
    assert counts.min() > 400 and counts.max() < 600  # 500 each; binomial std ~21
    data = build_data("mnist", {})
    assert data.from_model(x).shape == (5000, 1, 28, 28)  # pictures and metrics see the image only


def test_projection_discriminator_scores_depend_on_the_class_and_ignore_the_plane_in_gradients():
    torch.manual_seed(0)
    D = discriminator_for(_config(classes=10), (1, 28, 28))
    assert isinstance(D, ProjectionDiscriminator) and D.in_shape == (2, 28, 28)
    image = torch.rand(4, 1, 28, 28) * 2 - 1
    as_three = torch.cat([image, class_plane(torch.full((4,), 3), 10, image)], 1).requires_grad_(True)
    as_seven = torch.cat([image, class_plane(torch.full((4,), 7), 10, image)], 1)
    with torch.no_grad():
        D.embed.weight.normal_()  # a trained embedding: classes score differently
    score = D(as_three)
    assert not torch.allclose(score, D(as_seven))
    # by hand: head(h) + <embed(3), h>
    net = D.inner.net
    h = net[:-1](image).flatten(1)
    assert torch.allclose(score, net[-1](h).reshape(-1) + h @ D.embed.weight[3], atol=1e-5)
    (grad,) = torch.autograd.grad(score.sum(), as_three)
    assert torch.count_nonzero(grad[:, 1]) == 0 and torch.count_nonzero(grad[:, 0]) > 0  # R1 sees the image only


def test_real_batches_carry_their_own_labels():
    data = build_data("mnist", {"limit": 300})
    batcher = Batcher(data, 32, drop_last=True, sampling="shuffle", seed=0, device=torch.device("cpu"), classes=10)
    batch = batcher.batch(3, torch.Generator())
    index = batcher._permutation(0)[3 * 32 : 4 * 32]
    assert torch.equal(read_class(batch, 10), data.labels[index])
    assert torch.equal(batch[:, :1], data.to_model(data.data[index]))


@pytest.mark.parametrize("preset, sets, words", [
    ("gan-grid25", ["latent.classes=2"], "needs labelled images"),
    ("mnist-fast", ["latent.classes=5"], "has 10 classes"),
    ("mnist-fast", ["latent.classes=65"], "latent.classes must be 0"),
    ("mnist-fast", ["latent.classes=10", "augment.name=diffaugment"], "would move or cut the class plane"),
])
def test_refusals_are_one_line_and_write_nothing(preset, sets, words, tmp_path):
    with pytest.raises(ConfigError, match=words) as err:
        gankit.train(preset, out=tmp_path / "run", overrides=[*sets, "train.steps=2"], progress=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_a_conditional_run_samples_images_of_the_data_shape(tmp_path):
    run = gankit.train("mnist-fast", out=tmp_path / "run", progress=False,
                       overrides=["latent.classes=10", "data.limit=200", "train.batch_size=16", "train.steps=6",
                                  "train.minutes=null"])
    assert run.sample(8).shape == (8, 1, 28, 28)
    assert run.generator.out_shape == (2, 28, 28)


def test_with_class_moves_each_rows_largest_head_coordinate_to_the_class_and_keeps_its_values():
    z = torch.randn(2000, 64, generator=torch.Generator().manual_seed(0))
    moved = with_class(z, 10, 7)
    assert torch.equal(moved[:, :10].argmax(1), torch.full((2000,), 7))
    assert torch.equal(moved[:, :10].sort(1).values, z[:, :10].sort(1).values)  # a permutation of each row's head
    assert torch.equal(moved[:, 10:], z[:, 10:])
    already = z[:, :10].argmax(1) == 7
    assert torch.equal(moved[already], z[already])


def test_sampling_one_class_by_index_or_name_and_wrong_classes_in_one_line(tmp_path, capsys):
    from gankit.cli import main

    run_dir = tmp_path / "run"
    gankit.train("mnist-fast", out=run_dir, progress=False,
                 overrides=["latent.classes=10", "data.limit=200", "train.batch_size=16", "train.steps=2",
                            "train.minutes=null"])
    run = gankit.load_run(run_dir)
    assert read_class(run.sample(6, raw=True, label=3), 10).tolist() == [3] * 6
    assert read_class(run.sample(6, raw=True, label="3"), 10).tolist() == [3] * 6  # the data's class name
    assert main(["sample", str(run_dir), "--class", "12", "-o", str(tmp_path / "x.png")]) == 2
    assert "not one of this run's 10 classes" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
    assert main(["sample", str(run_dir), "--class", "4", "-n", "4", "-o", str(tmp_path / "four.png")]) == 0
    assert (tmp_path / "four.png").is_file()
    assert main(["sample", str(run_dir), "--interpolate", "--class", "12", "-o", str(tmp_path / "w.png")]) == 2
    assert "not one of this run's 10 classes" in capsys.readouterr().err
    assert main(["sample", str(run_dir), "--interpolate", "--class", "4", "-n", "2", "-o", str(tmp_path / "w.png")]) == 0
    assert (tmp_path / "w.png").is_file()


@pytest.mark.parametrize("dist", ["normal", "uniform"])
def test_walks_of_one_class_stay_in_that_class_from_end_to_end(dist):
    z = latent_paths(rows=50, steps=10, dim=64, dist=dist, seed=3, classes=10, label=6)
    assert torch.equal(z[:, :10].argmax(1), torch.full((500,), 6))  # the class G reads, at every step of every walk
    free = latent_paths(rows=50, steps=10, dim=64, dist=dist, seed=3)
    assert len(set(free[:, :10].argmax(1).tolist())) > 1  # without a class the walks cross classes
