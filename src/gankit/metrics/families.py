"""Every metric family gankit computes, each one function registered with `@register_metric`.

| family | kinds | what | module |
|---|---|---|---|
| `gaussian-1d` | 1d | mean, std, KS, W1 against the target N(mean, std) (post 002) | `metrics/toy.py` |
| `mixture` | 2d | PacGAN's protocol: modes captured, high quality, reverse KL; W1, MMD | `metrics/toy.py` |
| `classifier` | image | fid_lenet, kid_lenet, precision/recall, density/coverage, class coverage/KL, with floors | `metrics/images.py` |
| `stacked-modes` | image | Stacked MNIST's 1,000 modes counted and their KL, with floors (PacGAN) | `metrics/stacked.py` |
| `inception` | image, on request | Inception FID, with its floor where there is a test split | `metrics/inception.py` |

Which family applies to which data is declared by the data (`DataTraits.metrics`, `gankit.data`). Image families
build the data's train/test splits themselves from its settings; the judging classifier is trained on the
train split (never the run's `limit`-ed subset; a split of 40,000 or more keeps 10,000 back for calibration,
`classifier.judging_split`) and cached (`metrics/classifier.py`).
"""

from __future__ import annotations

from typing import Any

import torch

from gankit.metrics import images, inception, stacked, toy
from gankit.metrics.registry import EvalRequest, register_metric

# The key a capped 2-D evaluation adds (its W1 is biased upwards: not comparable with an uncapped one).
MAX_POINTS = "max_points"
# Settings of the MNIST digits that stacked-mnist passes on to the `mnist` source.
_MNIST_KEYS = ("root", "download")


@register_metric("gaussian-1d", "mean, std, KS statistic and W1 of 1-D samples against the target N(mean, std)",
                 kinds=("1d",), keys=toy.KEYS_1D)
def gaussian_1d(req: EvalRequest) -> dict[str, Any]:
    info = req.data.info
    return toy.metrics_1d(req.samples.reshape(-1), info["mean"], info["std"], seed=req.seed)


@register_metric("mixture", "PacGAN's 2-D mixture protocol: modes captured, % high quality, reverse KL, W1, MMD",
                 kinds=("2d",), keys=toy.MIXTURE_KEYS, optional_keys=(MAX_POINTS,))
def mixture(req: EvalRequest) -> dict[str, Any]:
    """`max_points` caps the point sets of the 2-D W1 and MMD (None: the protocol's 2,500); a capped result
    records it as `max_points`."""
    data, samples, seed = req.data, req.samples, req.seed
    reference = data.sample_real(len(samples), torch.Generator().manual_seed(seed)).numpy()
    modes, std = data.info["modes"], data.info["std"]
    if req.max_points is None:
        return toy.metrics_mixture(samples, modes, std, reference=reference, seed=seed)
    found = toy.metrics_mixture(samples, modes, std, reference=reference, seed=seed, max_points=req.max_points)
    return {**found, MAX_POINTS: int(req.max_points)}


def _base(settings: dict[str, Any]) -> dict[str, Any]:
    """The data's settings without the run's split and limit: evaluation picks its own splits, in full."""
    return {k: v for k, v in settings.items() if k not in ("split", "limit")}


def _splits(data_name: str, settings: dict[str, Any]) -> tuple[Any, Any]:
    from gankit.data import build_data

    base = _base(settings)
    return build_data(data_name, {**base, "split": "train"}), build_data(data_name, {**base, "split": "test"})


@register_metric("classifier", "fid_lenet, kid_lenet, precision/recall, density/coverage, class coverage/KL on a "
                 "classifier gankit trains, each beside its real-vs-real floor", kinds=("image",),
                 keys=images.CLASSIFIER_KEYS)
def classifier(req: EvalRequest) -> dict[str, Any]:
    """Labelled data with train/test splits: the classifier is trained on the train split; the floors score the
    test split as if it were generated."""
    from gankit.metrics.classifier import (
        default_cache_dir,
        judging_split,
        load_or_train,
    )

    images.check_images("fake", req.samples)
    train, test = _splits(req.data_name, req.settings)
    train = judging_split(train)[0]  # a large split keeps back real images for calibration
    model, accuracy = load_or_train(train, test)
    assert train.labels is not None
    classes = int(train.labels.max().item()) + 1
    real = images.cached_real_features(model, train, test, default_cache_dir())
    fake_f, fake_pred, fake_conf = images.embed(model, req.samples)
    found = images.metrics_from_features(real, fake_f, fake_pred, classes, fake_conf, seed=req.seed)
    return {images.CLASSIFIER_ACCURACY: accuracy, **found}


@register_metric("stacked-modes", "Stacked MNIST: modes reached of 1,000 and mode KL (PacGAN), beside real data's",
                 kinds=("image",), keys=stacked.STACKED_KEYS)
def stacked_modes(req: EvalRequest) -> dict[str, Any]:
    """The MNIST classifier (trained on the MNIST train split) reads each channel; the floors come from as many
    real stacked images built from the MNIST test digits."""
    from gankit.data import build_data
    from gankit.metrics.classifier import judging_split, load_or_train

    base = _base(req.settings)
    digits = {k: v for k, v in base.items() if k in _MNIST_KEYS}
    fit = judging_split(build_data("mnist", {**digits, "split": "train"}))[0]  # the classifier family's own
    model, accuracy = load_or_train(fit, build_data("mnist", {**digits, "split": "test"}))
    settings = {k: v for k, v in base.items() if k != "num_images"}
    real = build_data(req.data_name, {**settings, "split": "test", "num_images": len(req.samples)})
    assert real.data is not None
    return {images.CLASSIFIER_ACCURACY: accuracy, **stacked.stacked_metrics(model, real.data, req.samples)}


def _stored(source: Any) -> torch.Tensor:
    assert source.data is not None  # image sources always hold their data
    return source.data


@register_metric("inception", "Inception FID (torch-fidelity), beside its floor where there is a test split; "
                 "only with `gankit eval --inception`", kinds=("image",), keys=(inception.FID_INCEPTION,),
                 optional_keys=(inception.FID_INCEPTION_FLOOR,), on_request=True, check=inception.require_inception)
def inception_fid(req: EvalRequest) -> dict[str, Any]:
    if "split" in req.settings:
        train, test = _splits(req.data_name, req.settings)
        return inception.inception_metrics(_stored(train), _stored(test), req.samples)
    from gankit.data import build_data

    return inception.inception_metrics(_stored(build_data(req.data_name, _base(req.settings))), None, req.samples)
