"""Back-transformations of pooled effects to the scale readers know (metafor's ``transf.*``).

``TRANSFORMS`` maps metafor's name (without ``transf.``) to a :class:`Transform`.  All are
increasing, so a back-transformed interval keeps its order.  Definitions as metafor's:
exp; ztor = tanh (Fisher's z to r); ilogit = 1/(1 + exp(-x)); iprobit = Phi(x); iarcsin = sin(x)^2
(0 below 0, 1 above pi/2); isqrt = x^2 (0 below 0); ipft.hm = the inverse Freeman-Tukey double
arcsine at the harmonic mean of the studies' ni (Miller 1978), 0 / 1 beyond its range.
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import distributions as dist


@dataclass(frozen=True)
class Transform:
    """``function(x, **targs)``; ``targs`` names the per-study columns it needs (e.g. ni)."""

    name: str
    description: str
    function: Callable[..., Any]
    targs: tuple[str, ...] = ()

    def __call__(self, x: ArrayLike, **targs: Any) -> NDArray[np.float64]:
        return self.function(np.asarray(x, dtype=float), **targs)


def _iarcsin(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.where(x < 0, 0.0, np.where(x > np.pi / 2, 1.0, np.sin(x) ** 2))


def _isqrt(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.where(x < 0, 0.0, x * x)


def expit(x: ArrayLike) -> Any:
    """The logistic function 1 / (1 + exp(-x)), as exp(x) / (1 + exp(x)) below 0 (no overflow)."""
    x = np.asarray(x, dtype=float)
    small = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1.0 / (1.0 + small), small / (1.0 + small))
    return out if out.ndim else out[()]


def _ilogit(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return expit(x)


def _iprobit(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return dist.normal_cdf(x)


def freeman_tukey(p: float | NDArray[np.float64], n: float | NDArray[np.float64]) -> NDArray[np.float64]:
    """The Freeman-Tukey double arcsine of a proportion p at sample size n."""
    x = p * n
    return (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1)))) / 2


def _ipft_hm(x: NDArray[np.float64], ni: ArrayLike) -> NDArray[np.float64]:
    """Miller's (1978) inverse of the double arcsine at the harmonic mean n of ``ni``."""
    ni = np.asarray(ni, dtype=float)
    n = 1 / np.mean(1 / ni[~np.isnan(ni)])
    s = np.sin(2 * x)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (1 - np.sign(np.cos(2 * x)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2)) / 2
    return np.where(x > freeman_tukey(1, n), 1.0, np.where(x < freeman_tukey(0, n), 0.0, p))


TRANSFORMS = {t.name: t for t in (
    Transform("exp", "exponential (log ratios to ratios: OR, RR, ROM, IRR)", np.exp),
    Transform("ztor", "Fisher's z to r (ZCOR)", np.tanh),
    Transform("ilogit", "inverse logit (PLO to proportions)", _ilogit),
    Transform("iprobit", "inverse probit (standard normal CDF)", _iprobit),
    Transform("iarcsin", "inverse arcsine square root (PAS, AS)", _iarcsin),
    Transform("isqrt", "square (IRS to rates)", _isqrt),
    Transform("ipft.hm", "inverse Freeman-Tukey at the harmonic mean of ni (PFT)", _ipft_hm, ("ni",)),
)}
