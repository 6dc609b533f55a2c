"""Failure diagnosis: one verdict per run, with one sentence of evidence drawn from the numbers.

`verdict(kind, metrics, history, config)` reads the final sample metrics (`gankit.metrics`; `kind` is
`metrics.kind_of(data)`: '1d', '2d', 'image' or 'other'), the run's history.jsonl rows and its config (whose
data.name picks the headline metric with the kind: `metrics.headline`), and returns
`{"verdict": ..., "evidence": ...}`. When `metrics` is None the last eval row of the history (written
with `log.eval_every`) stands in for them. The rules are tried in this order; the first that fires wins:

1. **diverged**: a history row with `event: diverged`, a null (non-finite) loss, or non-finite generator
   outputs in most samples. Training stops at the first such log step; the step is quoted.
2. **memorised** (images): at least 10% of the samples are copies of training images: closer to one than 99%
   of held-out real images are (`metrics/memorisation.py`, the data-copying test of Meehan et al. 2020). A
   generator returning its training set scores FID ~0 and would otherwise be `converged`.
3. **converged**: the samples match the target within the sampling noise of the protocol. 1-D: mean and std
   within 3 standard errors at the evaluated N, KS and W1 (against the exact target) within 6 std of their floors
   (exact draws at N) above them; 2-D mixtures: every mode
   captured, most samples high quality and the mode histogram near uniform; images: `fid_lenet` within a few
   times its real-vs-real floor and every class produced; Stacked MNIST: 95% of the modes real data shows and a
   mode KL within 0.1 nats of real data's. Sample metrics are the ground truth, so a run whose
   samples are right is converged whatever its losses did on the way.
4. **discriminator won**: over the last quarter of the log rows, D separates real from fake (D(x) within 10%
   of the label gap of the real target, D(G(z)) within 10% of the fake target) and G's gradient norm has
   fallen below a tenth of its peak: G gets no signal. Only objectives whose D outputs have fixed targets can
   "win" this way (minimax, non-saturating: probabilities; least-squares: regression targets b and a);
   Wasserstein, hinge and Coulomb critics have unbounded scores and never trigger it.
5. **oscillating**: the headline metric (`metrics.headline`) over the last eval rows swings by at least half
   its size, changes direction at least twice with steps of at least a quarter of the swing, and shows no
   trend (the two halves' means differ by less than half the swing). Without eval rows, D(G(z)) of the
   probability objectives is read the same way with an absolute swing of 0.4.
6. **mode collapse**: the generator makes good samples of too few modes. 2-D: at most 80% of the modes
   captured (a mode counts with a fifth of its fair share of high-quality samples), or two modes holding half of
   the high-quality samples (with at least 8 modes); 1-D: std below half the target's; images: at most 80% of
   the classes produced (confidently, with a minimum share), or a class KL above 0.5 nats; Stacked
   MNIST: fewer than 80% of the modes real data shows, or a mode KL log(1/0.8) nats above real data's. Each
   also needs the samples to look like data (2-D: at least 10% high quality; images: precision at least
   0.3 and at least 3/4 of real images' confident share): noise that misses every mode, or blobs the classifier
   guesses at, is undertraining, not collapse; and it must not be improving (below).
   "since step N" is the first eval row of the final unbroken stretch of collapsed evals.
7. **undertrained**: metrics exist and are off target, with no failure pattern; the evidence says whether
   the headline metric is still improving: from the middle eval row to the last it closed at least a tenth of
   its remaining gap to its target (modes: all of them; W1 and fid_lenet: their real-vs-real floors), and W1 by
   more than twice the std of two evaluations' difference (a gain within sampling noise is no trend).
8. **inconclusive**: no sample metrics to judge by (data without a metric protocol, or image metrics not
   computed) and no failure pattern in the losses.

The headline and tie-breaker come from the data's declaration (`metrics.headline`, `metrics.tiebreak`); the
per-family rules (converged, collapse, how far off) and their thresholds are in `metrics/verdict_rules.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from gankit.errors import GankitError
from gankit.metrics import headline, tiebreak, toy
from gankit.metrics.verdict_rules import (
    collapse,
    converged,
    g,
    headline_noise,
    memorised,
    num,
    off_target,
    section,
    target_value,
)
from gankit.parts.objectives import OBJECTIVES, Objective

VERDICTS = (
    "converged", "memorised", "mode collapse", "diverged", "discriminator won", "oscillating", "undertrained", "inconclusive",
)  # fmt: skip

# ---- thresholds (each with why) -------------------------------------------------------------------------
# Discriminator won: the last quarter of the log rows (at least 3) shows the state, not one unlucky row.
TAIL_FRACTION = 0.25
TAIL_MIN_ROWS = 3
# Discriminator won: D's outputs within 10% of the label gap of their targets.
DWON_MARGIN = 0.10
# Discriminator won: G's gradient norm under a tenth of its peak has vanished for practical purposes.
DWON_GRAD_DROP = 0.10
# Trend: closing a tenth of the remaining gap to the target between the middle and the last eval is progress,
# if the gain is also above IMPROVING_NOISE_Z standard deviations of two evaluations' difference where the
# headline's sampling noise is known (W1: verdict_rules.headline_noise, a lower bound). Near the floor that noise
# is not small: 8 draws of 10,000 from one off-target generator (N(4.05, 1.25)) gave W1 0.027-0.082 (std 0.020),
# against a tenth of gan-1d's remaining gap of ~0.005 (tests/metrics/test_diagnosis.py draws two of them).
IMPROVING_MIN_GAIN = 0.1
IMPROVING_NOISE_Z = 2.0
# Oscillating: the last 8 evals (at least 4) are enough to see two reversals.
OSC_WINDOW = 8
OSC_MIN_EVALS = 4
# Oscillating: a swing of half the metric's size is far beyond sampling noise.
OSC_REL_SWING = 0.5
# Oscillating: direction changes only count for steps of at least a quarter of the swing (noise wiggles don't).
OSC_STEP_FRACTION = 0.25
OSC_MIN_REVERSALS = 2
# Oscillating: a trend is a difference of half the swing or more between the window's two halves.
OSC_TREND_FRACTION = 0.5
# Oscillating, without evals: D(G(z)) is a probability, so a 0.4 swing of its log-interval mean is large.
OSC_PROB_SWING = 0.4
OSC_LOSS_WINDOW = 12
# Diverged: more than half of the generator's samples non-finite.
DIVERGED_NONFINITE_FRACTION = 0.5


def rank_key(kind: str, metrics: Mapping[str, Any], data_name: str | None = None) -> tuple[float, ...] | None:
    """A key where larger is better (the data's headline, `metrics.headline`, then the tie-breaker); None if
    the headline is missing from `metrics`. Checkpoints/best.pt and the verdict's trend both rank by it."""
    keys = [k for k in (headline(kind, data_name), tiebreak(kind, data_name)) if k is not None]
    if not keys:
        return None
    out = []
    for name, direction in keys:
        value = num(metrics, name)
        if value is None:
            if out:
                break  # a missing tie-breaker just does not break ties
            return None
        out.append(value if direction == "max" else -value)
    return tuple(out)


def eval_rows(history: Sequence[Mapping[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(step, metrics) of the history's eval rows, in order."""
    return [(int(r["step"]), dict(r["eval"])) for r in history if isinstance(r.get("eval"), Mapping)]


def verdict(
    kind: str,
    metrics: Mapping[str, Any] | None,
    history: Sequence[Mapping[str, Any]] | None,
    config: Any,
) -> dict[str, str]:
    """{'verdict': one of VERDICTS, 'evidence': one sentence from the numbers}; see the module docstring."""
    history = list(history or [])
    evals = eval_rows(history)
    logs = [r for r in history if "loss_d" in r or "loss_g" in r]
    from_eval = ""
    if metrics is None and evals:
        metrics = evals[-1][1]
        from_eval = f" (last eval, step {evals[-1][0]:,})"
    metrics = dict(metrics or {})
    has_metrics = rank_key(kind, metrics, _data_name(config)) is not None
    checks = (
        lambda: _diverged(history, metrics),
        lambda: memorised(kind, metrics),
        lambda: converged(kind, metrics, config) if has_metrics else None,
        lambda: _discriminator_won(logs, config),
        lambda: _oscillating(kind, evals, logs, config),
        lambda: _collapsed_verdict(kind, metrics, evals, config) if has_metrics else None,
        lambda: _undertrained(kind, metrics, evals, config) if has_metrics else None,
    )
    for check in checks:
        found = check()
        if found is not None:
            name, evidence = found
            if name in ("converged", "memorised", "mode collapse", "undertrained"):
                evidence += from_eval
            return {"verdict": name, "evidence": evidence}
    why = "no sample metrics for this data" if _headline(kind, config) is None else "no sample metrics were computed"
    return {"verdict": "inconclusive", "evidence": f"{why} (`gankit eval` or log.eval_every gives them); "
                                                   "the losses show no failure pattern"}


# ---- the rules -----------------------------------------------------------------------------------------
def _diverged(history: list[Mapping[str, Any]], metrics: Mapping[str, Any]) -> tuple[str, str] | None:
    for row in history:
        bad = row.get("event") == "diverged" or any(
            k in row and num(row, k) is None for k in ("loss_d", "loss_g")
        )
        if bad:
            step = num(metrics, "step")
            where = f" (metrics from the last finite checkpoint, step {int(step):,})" if step is not None else ""
            what = row.get("nonfinite", "loss")  # "loss" or "weights" (trainer.log_row)
            return "diverged", f"non-finite {what} by step {int(row['step']):,}: training stopped{where}"
    nonfinite, n = num(metrics, toy.NONFINITE), num(metrics, "n")
    if nonfinite and n and nonfinite / n > DIVERGED_NONFINITE_FRACTION:
        return "diverged", f"{int(nonfinite):,} of {int(n):,} generator samples are non-finite"
    return None


def _discriminator_won(logs: list[Mapping[str, Any]], config: Any) -> tuple[str, str] | None:
    targets = _d_targets(config)
    tail = _tail(logs)
    if targets is None or tail is None:
        return None
    real_t, fake_t = targets
    margin = DWON_MARGIN * abs(real_t - fake_t)
    sign = 1.0 if real_t > fake_t else -1.0

    def separated(row: Mapping[str, Any]) -> bool:
        d_real, d_fake = num(row, "d_real"), num(row, "d_fake")
        if d_real is None or d_fake is None:
            return False
        return sign * (d_real - real_t) >= -margin and sign * (d_fake - fake_t) <= margin

    if not all(separated(r) for r in tail):
        return None
    grads = [num(r, "grad_norm_g") for r in logs]
    recent = sorted(v for v in (num(r, "grad_norm_g") for r in tail) if v is not None)
    peak = max((v for v in grads if v is not None), default=None)
    grad_text = ""
    if recent and peak:
        median = recent[len(recent) // 2]
        if median > DWON_GRAD_DROP * peak:
            return None  # G still gets a gradient: D winning the classification has not stopped it
        grad_text = f"; G's gradient norm {g(median)} (peak {g(peak)})"
    since = _since(logs, separated)
    d_real = _mean(num(r, "d_real") for r in tail)
    d_fake = _mean(num(r, "d_fake") for r in tail)
    return "discriminator won", (f"D(x) {d_real:.3g} and D(G(z)) {d_fake:.3g} over the last {len(tail)} log rows"
                                 f"{grad_text}, since step {since:,}")


def _oscillating(kind: str, evals: list, logs: list[Mapping[str, Any]], config: Any) -> tuple[str, str] | None:
    head = _headline(kind, config)
    if head is not None:
        points = [(s, num(m, head[0])) for s, m in evals]
        points = [(s, v) for s, v in points if v is not None][-OSC_WINDOW:]
        if len(points) >= OSC_MIN_EVALS:
            values = [v for _, v in points]
            swing = max(values) - min(values)
            if _swings(values, OSC_REL_SWING * max(abs(v) for v in values)):
                return "oscillating", (f"{head[0]} swung between {g(min(values))} and {g(max(values))} over the "
                                       f"last {len(values)} evals (steps {points[0][0]:,}-{points[-1][0]:,}) "
                                       f"without a trend (swing {g(swing)})")
            return None  # the headline is the better witness: losses are not read when it exists
    if not _probability_scores(config):  # D(G(z)) swings mean something only as a probability
        return None
    rows = [(int(r["step"]), num(r, "d_fake")) for r in logs]
    rows = [(s, v) for s, v in rows if v is not None][-OSC_LOSS_WINDOW:]
    if len(rows) < OSC_MIN_EVALS:
        return None
    values = [v for _, v in rows]
    if _swings(values, OSC_PROB_SWING):
        return "oscillating", (f"D(G(z)) swung between {min(values):.2f} and {max(values):.2f} over the last "
                               f"{len(values)} log rows (steps {rows[0][0]:,}-{rows[-1][0]:,}) without a trend")
    return None


def _collapsed_verdict(kind: str, m: Mapping[str, Any], evals: list, config: Any) -> tuple[str, str] | None:
    evidence = collapse(kind, m, config)
    if evidence is None:
        return None
    trend = _trend(kind, evals, config)
    if trend is not None and trend[0]:
        return None  # closing the gap to the target: a generator still spreading out, not a collapse (yet)
    since = _since(evals, lambda e: collapse(kind, e[1], config) is not None, step=lambda e: e[0])
    return "mode collapse", evidence + (f", since step {since:,}" if since is not None else "")


def _undertrained(kind: str, m: Mapping[str, Any], evals: list, config: Any) -> tuple[str, str]:
    where = off_target(kind, m, config, _headline(kind, config)[0])
    trend = _trend(kind, evals, config)
    if trend is None:
        return "undertrained", f"{where}; no eval rows show the trend (set log.eval_every)"
    return "undertrained", f"{where}; {trend[1]}"


def _trend(kind: str, evals: list, config: Any) -> tuple[bool, str] | None:
    """(still improving?, text): the middle eval against the last. Improving means the headline closed at
    least IMPROVING_MIN_GAIN of its remaining gap to its target, by more than its sampling noise where known."""
    points = [(s, e) for s, e in evals if rank_key(kind, e, _data_name(config)) is not None]
    if len(points) < 2:
        return None
    (s0, e0), (s1, e1) = points[(len(points) - 1) // 2], points[-1]
    # The headline only: a tie-breaker near its target (high quality ~99%) moves by sampling noise alone.
    name, direction = _headline(kind, config)
    v0, v1, target = num(e0, name), num(e1, name), target_value(name, e0)
    gain = (v1 - v0) if direction == "max" else (v0 - v1)
    noise = headline_noise(name, e0, e1)
    improving = (gain > 0 and gain >= IMPROVING_MIN_GAIN * abs(v0 - target)
                 and (noise is None or gain >= IMPROVING_NOISE_Z * math.sqrt(2) * noise))
    text = "still improving" if improving else "not improving"
    return improving, f"{text}: {name} {g(v0)} at step {s0:,}, {g(v1)} at step {s1:,}"


# ---- helpers -------------------------------------------------------------------------------------------
def _mean(values: Any) -> float:
    found = [v for v in values if v is not None]
    return sum(found) / len(found) if found else float("nan")


def _tail(rows: list[Mapping[str, Any]]) -> list[Mapping[str, Any]] | None:
    if len(rows) < TAIL_MIN_ROWS:
        return None
    return rows[-max(TAIL_MIN_ROWS, math.ceil(TAIL_FRACTION * len(rows))):]


def _since(rows: list, holds: Any, step: Any = lambda r: int(r["step"])) -> int | None:
    """Step of the first row of the final unbroken stretch of rows where `holds` is true (None if the last fails)."""
    first = None
    for row in reversed(rows):
        if not holds(row):
            break
        first = row
    return None if first is None else step(first)


def _swings(values: list[float], min_swing: float) -> bool:
    """Large swings both ways and no trend (see the module docstring)."""
    swing = max(values) - min(values)
    if swing <= 0 or swing < min_swing:
        return False
    moves = [b - a for a, b in pairwise(values) if abs(b - a) >= OSC_STEP_FRACTION * swing]
    reversals = sum(1 for a, b in pairwise(moves) if (a > 0) != (b > 0))
    half = len(values) // 2
    trend = abs(sum(values[half:]) / (len(values) - half) - sum(values[:half]) / half)
    return reversals >= OSC_MIN_REVERSALS and trend < OSC_TREND_FRACTION * swing


def _data_name(config: Any) -> str | None:
    name = section(config, "data").get("name")
    return str(name) if name is not None else None


def _headline(kind: str, config: Any) -> tuple[str, str] | None:
    return headline(kind, _data_name(config))


def _objective(config: Any) -> Objective | None:
    """The run's objective, built from its config (None for an old or foreign config): it declares what the
    verdict reads of the losses (`d_targets`, whether D's logged output is a probability)."""
    loss = section(config, "loss")
    try:
        return OBJECTIVES.build(str(loss.get("name")), {k: v for k, v in loss.items() if k != "name"})
    except (GankitError, TypeError, ValueError):
        return None


def _probability_scores(config: Any) -> bool:
    objective = _objective(config)
    return objective is not None and objective.score_name == "probability"


def _d_targets(config: Any) -> tuple[float, float] | None:
    """(real target, fake target) of D's logged outputs, for objectives that have fixed targets."""
    objective = _objective(config)
    return objective.d_targets if objective is not None else None
