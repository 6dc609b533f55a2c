"""Class balance of generated samples, from the labels (and confidences) a classifier gives them.

`class_metrics` is the histogram view of Metz et al. 2017 / Srivastava et al. 2017 ("modes captured" counted as
classes predicted); issue 14 showed that counting any single prediction lets classifier errors pass as coverage
(three true classes read as 8 of 10), so coverage is counted from confident predictions with a minimum share.
"""

from __future__ import annotations

import numpy as np


def class_metrics(predicted: np.ndarray, num_classes: int) -> dict:
    """Class balance of generated samples from the labels a classifier predicts for them.

    - `class_coverage`: fraction of the `num_classes` classes predicted at least once: the "modes captured"
      count of Metz et al. 2017 (unrolled GAN, arXiv 1611.02163) and Srivastava et al. 2017 (VEEGAN,
      arXiv 1705.07761), as a fraction;
    - `class_kl`: KL(p || uniform) = sum_c p_c log(p_c * num_classes) of the predicted histogram, with
      0 log 0 = 0 (in the spirit of the stacked-MNIST KL those papers report); 0 for perfect balance,
      log(num_classes) when every sample is one class;
    - `class_histogram`: counts per class, a list of `num_classes` ints.
    """
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"class_metrics: num_classes must be a positive integer, got {num_classes}")
    num_classes = int(num_classes)
    labels = np.asarray(predicted)
    if labels.ndim != 1:
        raise ValueError(f"class_metrics: predicted must be a 1-D array of labels, got shape {labels.shape}")
    if labels.size == 0:
        raise ValueError("class_metrics needs at least 1 predicted label, got 0")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"class_metrics: predicted labels must be integers, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"class_metrics: labels must lie in [0, {num_classes - 1}], got range "
            f"[{labels.min()}, {labels.max()}]"
        )
    counts = np.bincount(labels, minlength=num_classes)
    total = counts.sum()
    seen = counts > 0
    # p log(p C) with p = n / total, written so a uniform histogram gives log(1.0) = 0 exactly.
    p = counts[seen] / total
    kl = float(np.sum(p * np.log(counts[seen] * num_classes / total)))
    return {
        "class_coverage": float(seen.mean()),
        "class_kl": max(kl, 0.0),
        "class_histogram": [int(c) for c in counts],
    }


# A prediction is confident when the classifier's softmax gives its class at least this probability; a class
# counts as produced when its confident predictions reach CLASS_MIN_SHARE of its fair share of all samples (a
# fifth, as a 2-D mode). Issue 14: counting every argmax, three true classes of real digits read as 8 of 10
# (a 98.5% classifier still errs on ~1.5% of them, spread over other classes).
CONFIDENCE = 0.9
CLASS_MIN_SHARE = 0.2


def confident_coverage(
    predicted: np.ndarray, confidence: np.ndarray, num_classes: int,
    threshold: float = CONFIDENCE, min_share: float = CLASS_MIN_SHARE, reference: np.ndarray | None = None,
) -> dict[str, float]:
    """Classes produced, counted from confident predictions with a minimum share per class.

    - `class_coverage`: fraction of the classes whose predictions with confidence >= `threshold` number at
      least ceil(`min_share` * N * r_c) (N: all samples), r_c the share of held-out real images confidently
      predicted as class c (`reference_shares`; None: 1 / num_classes). Calibrated so because a classifier is
      not equally sure of every class: on Fashion-MNIST real shirts are confidently "shirt" far less often than
      real trousers are "trouser", and a generator's shirts should be held to real shirts' rate, not to 1/K;
    - `classes_predicted`: fraction predicted at least once, the old count (Metz et al. 2017), for comparison;
    - `confident_share`: fraction of all samples predicted with confidence >= `threshold`.
    """
    labels = np.asarray(predicted)
    conf = np.asarray(confidence, dtype=np.float64)
    if conf.shape != labels.shape:
        raise ValueError(f"confident_coverage: confidence must match predicted's shape {labels.shape}, got {conf.shape}")
    plain = class_metrics(labels, num_classes)  # checks the labels
    sure = conf >= threshold
    counts = np.bincount(labels[sure], minlength=int(num_classes))
    share = np.full(int(num_classes), 1.0 / num_classes) if reference is None else np.asarray(reference, np.float64)
    min_count = np.maximum(1, np.ceil(min_share * len(labels) * share - 1e-9))
    return {
        "class_coverage": float((counts >= min_count).mean()),
        "classes_predicted": plain["class_coverage"],
        "confident_share": float(sure.mean()),
    }


def reference_shares(predicted: np.ndarray, confidence: np.ndarray, num_classes: int,
                     threshold: float = CONFIDENCE) -> np.ndarray:
    """Per class, the share of (held-out real) images predicted as it with confidence >= `threshold`: the
    rates `confident_coverage` holds a generator to."""
    sure = np.asarray(confidence) >= threshold
    return np.bincount(np.asarray(predicted)[sure], minlength=int(num_classes)) / max(1, len(predicted))
