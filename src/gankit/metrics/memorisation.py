"""A memorisation check: are generated samples closer to the training set than unseen real data is?

The data-copying test of Meehan, Chaudhuri & Dasgupta 2020 ("A Non-Parametric Test to Detect Data-Copying in
Generative Models", arXiv 2004.05675) compares the distances from generated samples to their nearest training
sample with those from held-out real samples: a generator that copies sits closer. gankit reports it two ways:

- `copies`: the share of generated samples closer to a training sample than all but the closest 1% of held-out
  real samples are (the radius is the 1% quantile of half of the held-out set's nearest-training distances;
  `copies_floor` is the share of the other half inside it, ~0.01): training images returned verbatim or with
  small noise score ~1; a generator that makes new samples scores about the floor;
- `copy_z`: Meehan et al.'s Z_U, the Mann-Whitney U statistic of the two distance samples as a z-score (without
  their cells): well below 0 means closer to the training set than real data (copying), above 0 farther (a
  generator that is still off the data).

Distances are in the judging classifier's 128-d feature space (`metrics/classifier.py`), not pixels: the same
space as the other image metrics, already computed for them (no extra embedding), and a copy shifted by a
pixel or two, which the classifier was trained to ignore, still sits at distance ~0 there while in pixel space
it would be as far as a different digit. Exact copies are at distance exactly 0 (`features._sq_dist_blocks`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from gankit.metrics.features import _sq_dist_blocks

COPIES, COPIES_FLOOR, COPY_Z = "copies", "copies_floor", "copy_z"
MEMORISATION_KEYS = (COPIES, COPIES_FLOOR, COPY_Z)
# The quantile of held-out real data's nearest-training distances below which a sample counts as a copy.
COPY_QUANTILE = 0.01


def nearest_distances(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance from each row of `query` to its nearest row of `reference` (exact 0 for duplicates)."""
    centre = reference.mean(axis=0)  # the matmul form cancels least around the data
    q, r = np.asarray(query, np.float64) - centre, np.asarray(reference, np.float64) - centre
    out = np.empty(len(q))
    for sl, d2 in _sq_dist_blocks(q, r):
        out[sl] = d2.min(axis=1)
    return np.sqrt(out)


def copy_metrics(train: np.ndarray, heldout: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """`copies`, `copies_floor` and `copy_z` of `fake` against the training features (module docstring);
    `heldout`: real samples never trained on (at least 2)."""
    d_fake = nearest_distances(fake, train)
    d_held = nearest_distances(heldout, train)
    radius = float(np.quantile(d_held[0::2], COPY_QUANTILE))
    m, n = len(d_fake), len(d_held)
    u = stats.mannwhitneyu(d_fake, d_held, alternative="two-sided").statistic  # pairs with d_fake > d_held
    z = (u - m * n / 2) / math.sqrt(m * n * (m + n + 1) / 12)
    return {
        COPIES: float((d_fake <= radius).mean()),
        COPIES_FLOOR: float((d_held[1::2] <= radius).mean()),
        COPY_Z: float(z),
    }
