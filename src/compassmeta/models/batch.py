"""The batched engine: many meta-analyses fitted at once from 2-D arrays.

Row r of a batch is one meta-analysis: the studies with ``mask[r] == 1`` (GOSH subsets), or
all studies with permuted moderators (permutation tests), or simulated effects
(simulations).  tau^2 comes from the same estimator functions as the single fit
(:mod:`compassmeta.models.tau2`, run on the :class:`~compassmeta.models.backends.Batch`
back-end); the rest of the fit (coefficients, tests, Q, I^2, H^2) is computed here for every
row together, and equals the one-at-a-time fit (tests/test_batch.py).
"""
from dataclasses import dataclass

import numpy as np

from ..common import distributions as dist
from .backends import Batch, safe_divide
from .tau2 import canonical
from .tau2 import estimate_batch as estimate_tau2

__all__ = ["Batch", "BatchResult", "estimate_tau2", "fit_batch"]


@dataclass(frozen=True)
class BatchResult:
    """Per-row results of a batch (arrays of length R; coefficients (R, p))."""

    k: np.ndarray
    tau2: np.ndarray
    beta: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    q: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    qm: np.ndarray
    iterations: np.ndarray

    @property
    def estimate(self) -> np.ndarray:
        return self.beta[:, 0]


def fit_batch(batch: Batch, method: str = "REML", ci_method: str = "z", level: float = 0.95,
              estimated: tuple[np.ndarray, np.ndarray] | None = None) -> BatchResult:
    """Fit every row of ``batch``: tau^2, coefficients, SEs, tests, CIs, Q, I^2, H^2 and the
    omnibus QM of the non-intercept coefficients (of the intercept for pooling).
    ``estimated``: the (tau2, iterations) of ``estimate_tau2(batch, method)`` when already
    computed (several CI methods or levels on the same data)."""
    method = canonical(method)
    tau2, iterations = estimated if estimated is not None else estimate_tau2(batch, method)
    fit = batch.fits(batch.weights(tau2))
    p, k = batch.p, batch.k
    df = k - p
    beta = fit.beta
    cov = fit.cov
    if ci_method == "knha":
        rss = fit.rss()
        s2 = np.where(rss > np.finfo(float).eps, safe_divide(rss, df), 0.0)
        cov = cov * s2[:, None, None]
    se = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = beta / se
    if ci_method == "knha":
        safe_df = np.where(df > 0, df, np.nan)[:, None]
        p_value = dist.t_two_sided_p(statistic, safe_df)
        crit = dist.critical_value(level, safe_df)
    else:
        p_value = dist.normal_two_sided_p(statistic)
        crit = dist.critical_value(level)
    tested = slice(1, p) if p > 1 else slice(0, 1)
    b = beta[:, tested]
    with np.errstate(divide="ignore", invalid="ignore"):
        qm = (np.einsum("rp,rpq,rq->r", b, np.linalg.inv(cov[:, tested, tested]), b) if p > 1
              else (b[:, 0] / se[:, 0]) ** 2)
    if ci_method == "knha":
        qm = qm / max(1, p - 1)
    fe = batch.fits(batch.mask / batch.v)
    q = np.where(df > 0, np.maximum(0.0, fe.rss()), 0.0)
    if method == "FE":
        i2 = np.where(q > 0, np.maximum(0.0, 100 * safe_divide(q - df, q)), 0.0)
        h2 = np.where(df > 0, safe_divide(q, df), 1.0)
    else:
        typical = safe_divide(df, fe.trace_p())
        i2 = np.where(df > 0, 100 * safe_divide(tau2, typical + tau2), 0.0)
        h2 = np.where(df > 0, safe_divide(tau2, typical) + 1.0, 1.0)
    return BatchResult(k=k, tau2=tau2, beta=beta, se=se, statistic=statistic, p_value=p_value,
                       ci_lower=beta - crit * se, ci_upper=beta + crit * se, q=q, i2=i2, h2=h2, qm=qm,
                       iterations=iterations)
