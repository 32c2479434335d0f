"""The Henmi-Copas confidence interval (Henmi & Copas 2010, Stat Med 29:2969), as metafor hc().

The fixed-effect estimate b = sum w_i y_i / sum w_i (w_i = 1/v_i), robust to publication bias that
acts on the small studies, is given an interval that accounts for the heterogeneity estimated by
DerSimonian-Laird: with W_r = sum w^r / sum w, Var(b) = (tau^2 W_2 + 1) / W_1 and R = (b - mu) /
sqrt(Var b) scaled by sqrt(1 + tau^2 W_2), the distribution of R given Q is approximated by a gamma
law for Q with the moments E[Q | r], Var[Q | r] of the paper's appendix, and the half-width u se
solves P(|U| > u) = 1 - level by integrating over r.
"""
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..common import distributions as dist
from ..common.errors import InputError
from ..common.results import Result
from ..common.roots import brent_zeroin
from ..models.pooling import as_fraction, check_effects


@dataclass(frozen=True)
class HenmiCopas(Result):
    """Fixed-effect estimate with the Henmi-Copas interval, and the DL tau^2 it uses."""

    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    tau2: float
    level: float


def _moments(k: int, tau2: float, W1: float, W2: float, W3: float,
             W4: float) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """E[Q | r] and Var[Q | r] (Henmi & Copas 2010, appendix) as functions of r."""
    VR = 1 + tau2 * W2
    spread = W3 - W2 ** 2

    def mean(r: np.ndarray) -> np.ndarray:
        return (k - 1) + tau2 * (W1 - W2) + tau2 ** 2 * (r ** 2 / VR ** 2 - 1 / VR) * spread

    def variance(r: np.ndarray) -> np.ndarray:
        shift = r ** 2 / VR ** 2 - 1 / VR
        return (2 * (k - 1) + 4 * tau2 * (W1 - W2) + 2 * tau2 ** 2 * (W1 * W2 - 2 * W3 + W2 ** 2)
                + 4 * tau2 ** 2 * shift * spread + 4 * tau2 ** 3 * shift * (W4 - 2 * W2 * W3 + W2 ** 3)
                + 2 * tau2 ** 4 * (1 / VR ** 2 - 2 * r ** 2 / VR ** 3) * spread ** 2)

    return mean, variance


def _gauss_legendre_panels(panels: int = 8, width: float = 1.25,
                           order: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of composite Gauss-Legendre quadrature on [0, panels * width] (the normal
    mass more than 10 beyond the lower end is below 1e-23, far under the 1e-13 the interval needs)."""
    nodes, weights = np.polynomial.legendre.leggauss(order)
    starts = np.arange(panels)[:, None] * width
    return (starts + (nodes + 1) * width / 2).ravel(), np.tile(weights * width / 2, panels)


def henmi_copas(yi: ArrayLike, vi: ArrayLike, *, level: float = 95) -> HenmiCopas:
    """metafor hc(): the Henmi-Copas interval around the fixed-effect estimate."""
    yi, vi = check_effects(yi, vi)
    k = yi.size
    if k < 2:
        raise InputError("the Henmi-Copas interval needs k >= 2 studies")
    alpha = 1.0 - as_fraction(level)
    w = 1.0 / vi
    W1 = w.sum()
    W2, W3, W4 = (float(np.sum(w ** power)) / W1 for power in (2, 3, 4))
    beta = float(np.dot(w, yi)) / W1
    Q = float(np.dot(w, (yi - beta) ** 2))
    tau2 = max(0.0, (Q - (k - 1)) / (W1 - W2))
    se = math.sqrt((tau2 * W2 + 1) / W1)
    sd_r = math.sqrt(1 + tau2 * W2)
    mean, variance = _moments(k, tau2, W1, W2, W3, W4)

    def q_below(f: np.ndarray) -> np.ndarray:  # the Q at which R / x = f
        return (W1 / W2 - 1) * (f ** 2 - 1) + (k - 1)

    nodes, weights = _gauss_legendre_panels()

    def tail(x: float) -> float:
        r = x + nodes                                  # the integral over [x, x + 10] of the normal density
        m, s2 = mean(sd_r * r), variance(sd_r * r)     # gamma law: shape m^2 / s2, scale s2 / m
        density = np.exp(-r * r / 2) / math.sqrt(2 * math.pi)
        probability = dist.gamma_lower(m * m / s2, q_below(r / x) * m / s2)
        return float(np.dot(weights, probability * density)) - alpha / 2

    t0 = brent_zeroin(tail, 1e-8, 2.0, tol=1e-14)
    half_width = sd_r * t0 * se
    return HenmiCopas(estimate=beta, se=se, ci_lower=beta - half_width, ci_upper=beta + half_width,
                      tau2=tau2, level=100 * (1 - alpha))
