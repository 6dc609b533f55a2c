"""GAN objectives: the discriminator's and the generator's losses, one registered factory each.

An objective sees the discriminator's *raw* scores on a real and a fake batch (shape (B,); no model ends in a
sigmoid) and the two batches themselves (Coulomb reads them), for both players: G's loss gets D's scores on
real data too when the objective says it reads them (`g_sees_real`, the relativistic losses), so the training
step pays for that extra D pass only then. Where a seed post ends D with a sigmoid and uses BCELoss, the
sigmoid is folded into `binary_cross_entropy_with_logits`: the same function, computed stably.

| name | post | D loss | G loss |
|---|---|---|---|
| minimax | 001 | BCE(D(x), 1) + BCE(D(G(z)), 0) | mean log(1 - D(G(z))) |
| non-saturating | 001, 002, 003 | same | BCE(D(G(z)), 1) |
| least-squares | 000 | ½(D(x)-b)² + ½(D(G(z))-a)² | ½(D(G(z))-c)² |
| wasserstein | 004 | mean D(G(z)) - mean D(x) | -mean D(G(z)) |
| hinge | - | relu(1-D(x)) + relu(1+D(G(z))) | -mean D(G(z)) |
| coulomb | 004 | ½(D(a) - target(a))² | mean D(G(z)) |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.errors import ConfigError
from gankit.registry import Registry

OBJECTIVES = Registry("objective")


class Objective:
    """The losses of one GAN variant. Subclasses implement `d_loss` and `g_loss`."""

    score_name = "score"  # axis label for what `prob` returns
    g_sees_real: ClassVar[bool] = False  # G's loss reads D's scores on real data (else the step passes None)
    unsupported: ClassVar[dict[str, str]] = {}  # paths that cannot run it, with why (training/capability.py)

    def d_loss(self, d_real: Tensor, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        """Scalar loss the discriminator minimises, from its raw scores on a real and a fake batch."""
        raise NotImplementedError

    def g_loss(self, d_real: Tensor | None, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        """Scalar loss the generator minimises, from D's raw scores on its samples (and on real data when
        `g_sees_real`)."""
        raise NotImplementedError

    def prob(self, scores: Tensor) -> Tensor:
        """What is logged as D(x) and D(G(z)): the raw score unless the objective reads it as a logit."""
        return scores

    @property
    def d_targets(self) -> tuple[float, float] | None:
        """(real, fake): where the logged D(x) and D(G(z)) go when D wins outright, for objectives whose D
        has fixed targets (the verdict's "discriminator won"); None for unbounded critics."""
        return None


def _check_label(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"objective setting '{name}' must be in [0, 1], got {value}")


def _check_labels(real_label: float, fake_label: float) -> None:
    _check_label("real_label", real_label)
    _check_label("fake_label", fake_label)
    if real_label <= fake_label:
        raise ConfigError(f"real_label ({real_label}) must be greater than fake_label ({fake_label})")


def _bce(scores: Tensor, label: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(scores, torch.full_like(scores, label))


@dataclass(frozen=True)
class CrossEntropy(Objective):
    """Goodfellow et al. (2014): D is a logistic classifier of real vs fake.

    `saturating=True` is the minimax game, G minimising D's own loss on fakes negated:
    -BCE(D(G(z)), fake_label), which with fake_label 0 is mean log(1 - sigmoid(s)) = -mean softplus(s).
    Otherwise G uses the non-saturating trick, BCE(D(G(z)), g_label) (maximise log D(G(z))), whose
    gradient does not vanish when D confidently rejects the fakes early in training.
    """

    real_label: float = 1.0
    fake_label: float = 0.0
    g_label: float = 1.0
    saturating: bool = False
    score_name = "probability"

    def d_loss(self, d_real: Tensor, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        return _bce(d_real, self.real_label) + _bce(d_fake, self.fake_label)

    def g_loss(self, d_real: Tensor | None, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        if self.saturating:
            return -_bce(d_fake, self.fake_label)
        return _bce(d_fake, self.g_label)

    def prob(self, scores: Tensor) -> Tensor:
        return torch.sigmoid(scores)

    @property
    def d_targets(self) -> tuple[float, float] | None:
        return self.real_label, self.fake_label


@OBJECTIVES.register("minimax", "original GAN: cross-entropy D, G minimises log(1 - D(G(z))) (saturating)")
def minimax(*, real_label: float = 1.0, fake_label: float = 0.0) -> Objective:
    """The minimax game of Goodfellow et al. (2014), as in post 001's D objective.

    D: BCE(D(x), real_label) + BCE(D(G(z)), fake_label). G: -BCE(D(G(z)), fake_label), i.e.
    mean log(1 - D(G(z))) for fake_label 0. Saturates (tiny gradients) while D wins; see non-saturating.
    """
    _check_labels(real_label, fake_label)
    return CrossEntropy(real_label=real_label, fake_label=fake_label, saturating=True)


@OBJECTIVES.register("non-saturating", "cross-entropy D, G maximises log D(G(z)); label smoothing via real_label/g_label")
def non_saturating(*, real_label: float = 1.0, fake_label: float = 0.0, g_label: float = 1.0) -> Objective:
    """Cross-entropy GAN with the non-saturating G loss BCE(D(G(z)), g_label) (posts 001, 002, 003).

    One-sided label smoothing is real_label < 1: post 002 uses 0.95 as D's real target and as G's
    target (g_label = 0.95); fakes keep label 0 (Salimans et al. 2016 smooth only the real side).
    """
    _check_labels(real_label, fake_label)
    _check_label("g_label", g_label)
    return CrossEntropy(real_label=real_label, fake_label=fake_label, g_label=g_label)


@dataclass(frozen=True)
class LeastSquares(Objective):
    """LSGAN (Mao et al. 2017): D regresses b on real and a on fake, G pushes D(G(z)) towards c."""

    a: float = 0.0
    b: float = 1.0
    c: float = 1.0

    def d_loss(self, d_real: Tensor, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * (d_real - self.b).pow(2).mean() + 0.5 * (d_fake - self.a).pow(2).mean()

    def g_loss(self, d_real: Tensor | None, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * (d_fake - self.c).pow(2).mean()

    @property
    def d_targets(self) -> tuple[float, float] | None:
        return self.b, self.a


@OBJECTIVES.register("least-squares", "LSGAN: D regresses b on real and a on fake, G targets c")
def least_squares(*, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> Objective:
    """LSGAN, post 000: L_D = ½E[(D(x)-b)²] + ½E[(D(G(z))-a)²], L_G = ½E[(D(G(z))-c)²].

    (a, b, c) = (0, 1, 1) is the post's choice; (-1, 1, 0) is the paper's other one (b - c = 1, b - a = 2,
    which makes the game minimise the Pearson chi² divergence).
    """
    if a == b:
        raise ConfigError(f"least-squares targets a (fake) and b (real) must differ, both are {a}")
    return LeastSquares(a=a, b=b, c=c)


@dataclass(frozen=True)
class Wasserstein(Objective):
    """WGAN critic (Arjovsky et al. 2017): high on real, low on fake; needs a Lipschitz constraint."""

    def d_loss(self, d_real: Tensor, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        return d_fake.mean() - d_real.mean()

    def g_loss(self, d_real: Tensor | None, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        return -d_fake.mean()


@OBJECTIVES.register("wasserstein", "WGAN critic: mean D(G(z)) - mean D(x); pair with clipping or gradient penalty")
def wasserstein() -> Objective:
    """WGAN, post 004. L_D = mean D(G(z)) - mean D(x), L_G = -mean D(G(z)): the critic scores real high.

    Post 004's Keras code uses the opposite sign (labels +1 real / -1 fake with loss mean(y·D), G loss
    mean D(G(z))), so its critic scores real *low*; the two are the same game with D negated, so the
    post's contour plots of D appear with the colours flipped here. The Lipschitz constraint is not part
    of the objective: use weight clipping or the gradient penalty in `gankit.parts.penalties`.
    """
    return Wasserstein()


@dataclass(frozen=True)
class Hinge(Objective):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018, with spectral norm)."""

    def d_loss(self, d_real: Tensor, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()

    def g_loss(self, d_real: Tensor | None, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        return -d_fake.mean()


@OBJECTIVES.register("hinge", "hinge D loss relu(1 - D(x)) + relu(1 + D(G(z))), G: -mean D(G(z))")
def hinge() -> Objective:
    """Geometric-GAN / SN-GAN hinge loss; only scores inside the ±1 margin give D a gradient."""
    return Hinge()


@dataclass(frozen=True)
class Coulomb(Objective):
    """Coulomb GAN (Unterthiner et al. 2018, arXiv 1708.08819); see `coulomb` for the choices made."""

    dim: float = 3.0
    epsilon: float = 1.0
    score_name = "potential"  # D regresses the potential a fake charge feels (post 004's picture)

    def kernel(self, a: Tensor, b: Tensor) -> Tensor:
        """Plummer kernel matrix k(a_i, b_j) = (||a_i - b_j||² + eps²)^(-(dim-2)/2) on flattened samples."""
        sq = torch.cdist(a.flatten(1), b.flatten(1)).pow(2)
        return (sq + self.epsilon**2).pow(-(self.dim - 2) / 2)

    @torch.no_grad()
    def potential(self, points: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        """The regression target at `points`: -Phi(a) = mean_fake k(a, y) - mean_real k(a, x), detached.

        Phi (real charges +, fake charges -) is the paper's potential; its negative is the potential
        energy of a negative test charge, post 004's picture, and is low (a valley) around real data.
        """
        points, real, fake = points.detach(), real.detach(), fake.detach()
        return self.kernel(points, fake).mean(1) - self.kernel(points, real).mean(1)

    def d_loss(self, d_real: Tensor, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        points = torch.cat([real.detach(), fake.detach()])
        target = self.potential(points, real, fake)
        scores = torch.cat([d_real.reshape(-1), d_fake.reshape(-1)])
        return 0.5 * (scores - target).pow(2).mean()

    def g_loss(self, d_real: Tensor | None, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        return d_fake.mean()


@OBJECTIVES.register("coulomb", "Coulomb GAN: D regresses the Plummer-kernel potential, G moves fakes downhill")
def coulomb(*, dim: float = 3.0, epsilon: float = 1.0) -> Objective:
    """Coulomb GAN (Unterthiner et al. 2018, "Coulomb GANs", arXiv 1708.08819), compared in post 004.

    Real samples are positive charges, fakes negative ones, interacting through the Plummer kernel
    k(a, b) = 1 / (||a - b||² + eps²)^((dim-2)/2); the paper's potential is
    Phi(a) = mean_real k(a, x) - mean_fake k(a, y), estimated from the current mini-batches.
    D regresses target(a) = -Phi(a), the energy of a negative (fake) test charge, at all 2B real and
    fake points: L_D = ½ mean (D(a) - target(a))². G minimises mean D(G(z)), moving each fake downhill,
    towards real charges and away from the other fakes.

    Choices, following the paper and its authors' code (github.com/bioinf-jku/coulomb_gan):
    - a point's own charge is included in the mean (the authors' `get_potentials` keeps the kernel
      matrix's diagonal, k(a, a) = eps^-(dim-2)); with equal batch sizes it shifts real and fake
      targets by the same constant in opposite directions.
    - the target is detached: D's loss trains D only, and G gets its gradient through D alone.
    - the authors' code adds the two per-set mean squared errors (a 4x larger loss than ½ mean over
      all 2B points, the paper's ½ E_{p(a)} with p the half/half mixture); only the scale differs.
    - the sign: the authors' code regresses mean_fake k - mean_real k too, with G minimising mean D.
    The defaults dim = 3, eps = 1 are the authors' code's; dim must exceed 2 for a decaying kernel.
    """
    if dim <= 2:
        raise ConfigError(f"coulomb 'dim' must be greater than 2 (the kernel exponent is (dim-2)/2), got {dim}")
    if epsilon <= 0:
        raise ConfigError(f"coulomb 'epsilon' must be positive, got {epsilon}")
    return Coulomb(dim=dim, epsilon=epsilon)


@dataclass(frozen=True)
class RelativisticAverage(Objective):
    """Relativistic average GAN (Jolicoeur-Martineau 2018, arXiv 1807.00734): D judges whether real data is
    more realistic than the average fake, and the reverse; G's loss is the mirror image, so it reads D's
    scores on real data too (half of G's gradient comes from the real batch)."""

    form: str = "standard"
    g_sees_real = True

    def _pair(self, a: Tensor, b: Tensor) -> Tensor:
        """Loss for `a` judged more realistic than the average `b`, and `b` less than the average `a`."""
        ab, ba = a - b.mean(), b - a.mean()
        if self.form == "least-squares":  # the paper's code: the mean of the two squared errors
            return ((ab - 1).pow(2).mean() + (ba + 1).pow(2).mean()) / 2
        return _bce(ab, 1.0) + _bce(ba, 0.0)

    def d_loss(self, d_real: Tensor, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        return self._pair(d_real, d_fake)

    def g_loss(self, d_real: Tensor | None, d_fake: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        return self._pair(d_fake, d_real)


@OBJECTIVES.register("relativistic", "relativistic average GAN: RaSGAN (form standard) or RaLSGAN (least-squares)")
def relativistic(*, form: Literal["standard", "least-squares"] = "standard") -> Objective:
    """RaSGAN: L_D = BCE(C(x_r) - mean C(x_f), 1) + BCE(C(x_f) - mean C(x_r), 0), L_G the same with real and
    fake swapped. RaLSGAN: ((C(x_r) - mean C(x_f) - 1)^2 + (C(x_f) - mean C(x_r) + 1)^2) / 2, G swapped."""
    return RelativisticAverage(form=form)
