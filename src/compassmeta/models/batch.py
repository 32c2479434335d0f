"""The batched engine: many meta-analyses fitted at once from 2-D arrays.

Row r of a batch is one meta-analysis: the studies with ``mask[r] == 1`` (GOSH subsets), or
all studies with permuted moderators (permutation tests), or simulated effects
(simulations).  Every estimator of :mod:`compassmeta.tau2` is here in vectorised form, the
iterative ones with per-row convergence, and the results equal the one-at-a-time fit
(tests/test_batch.py).  Formulas and sources are those of :mod:`compassmeta.tau2` and
:mod:`compassmeta.model`; only the bookkeeping differs.
"""
from dataclasses import dataclass

import numpy as np

from ..common import distributions as dist
from ..common.errors import ConvergenceError, InputError
from .tau2 import (
    MAX_ITERATIONS,
    METHODS,
    NEWTON_STOP,
    NEWTON_SWITCH,
    SCORING_TOLERANCE,
    Tau2Estimate,
    bracketed_root,
)
from .tau2 import estimate_tau2 as scalar_estimate_tau2


def _sum(a):
    return a.sum(axis=-1)


class InterceptFits:
    """Weighted fits of y on an intercept for every row: W is (R, k), y is (k,) or (R, k)."""

    p = 1

    def __init__(self, y, w):
        self.w = w
        self.sum_w = _sum(w)
        self.mean = _sum(w * y) / self.sum_w
        self.resid = y - self.mean[:, None]
        self.u = w * self.resid            # Py
        self._sum_w2 = None

    @property
    def beta(self):
        return self.mean[:, None]

    @property
    def cov(self):
        return (1.0 / self.sum_w)[:, None, None]

    def sum_w2(self):
        if self._sum_w2 is None:
            self._sum_w2 = _sum(self.w * self.w)
        return self._sum_w2

    def rss(self):
        return _sum(self.u * self.resid)

    def trace_cov_moment(self, a):
        return _sum(a) / self.sum_w

    def trace_p(self):
        return self.sum_w - self.sum_w2() / self.sum_w

    def trace_pp(self):
        sum_w2 = self.sum_w2()
        return sum_w2 - 2.0 * _sum(self.w * self.w * self.w) / self.sum_w + (sum_w2 / self.sum_w) ** 2

    def ypp_y(self):
        return _sum(self.u * self.u)

    def ypppy(self):
        return _sum(self.w * self.u * self.u) - _sum(self.w * self.u) ** 2 / self.sum_w

    def log_det_xwx(self):
        return np.log(self.sum_w)


class DesignFits:
    """Weighted fits with a design per row: X is (R, k, p) (or (k, p) shared by all rows)."""

    def __init__(self, X, y, w):
        self.X = X if X.ndim == 3 else np.broadcast_to(X, (w.shape[0],) + X.shape)
        self.p = self.X.shape[2]
        self.w = w
        weighted_X = self.X * w[:, :, None]
        self.cov = np.linalg.inv(np.einsum("rkp,rkq->rpq", weighted_X, self.X))
        y_rows = np.broadcast_to(y, w.shape)
        self.beta = np.einsum("rpq,rq->rp", self.cov, np.einsum("rkp,rk->rp", weighted_X, y_rows))
        self.resid = y_rows - np.einsum("rkp,rp->rk", self.X, self.beta)
        self.u = w * self.resid

    def _moment(self, a):
        return np.einsum("rkp,rk,rkq->rpq", self.X, a, self.X)

    def rss(self):
        return _sum(self.u * self.resid)

    def trace_cov_moment(self, a):
        return np.einsum("rpq,rqp->r", self.cov, self._moment(a))

    def trace_p(self):
        return _sum(self.w) - self.trace_cov_moment(self.w * self.w)

    def trace_pp(self):
        c_b2 = self.cov @ self._moment(self.w * self.w)
        return (_sum(self.w * self.w) - 2.0 * np.einsum("rpq,rqp->r", self.cov, self._moment(self.w ** 3))
                + np.einsum("rpq,rqp->r", c_b2, c_b2))

    def ypp_y(self):
        return _sum(self.u * self.u)

    def ypppy(self):
        xwu = np.einsum("rkp,rk->rp", self.X, self.w * self.u)
        return _sum(self.w * self.u * self.u) - np.einsum("rp,rpq,rq->r", xwu, self.cov, xwu)

    def log_det_xwx(self):
        return -np.linalg.slogdet(self.cov)[1]


@dataclass
class Batch:
    """The data of a batch: effects y and variances v, each (k,) shared by all rows or (R, k),
    a 0/1 mask (R, k) and, for meta-regressions, designs X (R, k, p) or (k, p)."""

    y: np.ndarray
    v: np.ndarray
    mask: np.ndarray
    X: np.ndarray | None = None

    @property
    def rows(self):
        return self.mask.shape[0]

    @property
    def k(self):
        return _sum(self.mask)

    @property
    def p(self):
        return 1 if self.X is None else self.X.shape[-1]

    def fits(self, w):
        """Weighted fits of every row with weights ``w`` (zero outside the mask)."""
        return InterceptFits(self.y, w) if self.X is None else DesignFits(self.X, self.y, w)

    def weights(self, tau2):
        return self.mask / (self.v + np.asarray(tau2)[:, None])

    def subset(self, rows):
        """The batch of the given rows only (shared arrays stay shared)."""
        def pick(array, row_dims):
            return array if array is None or array.ndim < row_dims else array[rows]
        return Batch(pick(self.y, 2), pick(self.v, 2), self.mask[rows], pick(self.X, 3))

    def row_data(self, row):
        """(X, y, v) of one row's studies, for the one-at-a-time fallback."""
        members = np.flatnonzero(self.mask[row] > 0)
        X = np.ones((members.size, 1)) if self.X is None else (self.X[row] if self.X.ndim == 3 else self.X)[members]
        take = lambda a: (a[row] if a.ndim == 2 else a)[members]  # noqa: E731
        return X, take(self.y), take(self.v)


def _safe_divide(numerator, denominator):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 0.0)


def estimate_tau2(batch, method):
    """tau^2 of every row by ``method`` (truncated at 0; 0 where k <= p); returns (tau2, iterations)."""
    method = method.upper()
    if method not in METHODS:
        raise InputError(f"unknown method '{method}'; choose from {', '.join(METHODS)}")
    R, k, p = batch.rows, batch.k, batch.p
    df = k - p
    zeros = np.zeros(R)
    if method == "FE":
        return zeros, zeros.astype(int)
    if method == "DL":
        fe = batch.fits(batch.mask / batch.v)
        return np.maximum(0.0, _safe_divide(fe.rss() - df, fe.trace_p()) * (df > 0)), zeros.astype(int)
    if method == "HS":
        fe = batch.fits(batch.mask / batch.v)
        return np.maximum(0.0, _safe_divide(fe.rss() - k, _sum(fe.w))
                          * (df > 0)), zeros.astype(int)
    if method == "HE":
        return np.maximum(0.0, _hedges(batch)), zeros.astype(int)
    if method == "SJ":
        y = np.broadcast_to(batch.y, batch.mask.shape)
        mean = _safe_divide(_sum(batch.mask * y), k)
        start = _safe_divide(_sum(batch.mask * (y - mean[:, None]) ** 2), k)
        fit = batch.fits(batch.weights(start))
        return np.maximum(0.0, _safe_divide(start * fit.rss(), df)), zeros.astype(int)
    if method == "PM":
        return _q_root(batch), zeros.astype(int)
    if method in ("DLIT", "SJIT"):  # rarely used: one row at a time
        row_df = np.broadcast_to(df, (R,))
        estimates = [scalar_estimate_tau2(method, *batch.row_data(row)) if row_df[row] > 0 else Tau2Estimate(0.0)
                     for row in range(R)]
        return (np.array([e.tau2 for e in estimates]), np.array([e.iterations for e in estimates]))
    return _scoring(batch, method)


def _hedges(batch):
    """HE moment estimate, untruncated (also the start of the scoring methods)."""
    ols = batch.fits(batch.mask.astype(float))
    trace_pv = _sum(batch.mask * batch.v) - ols.trace_cov_moment(batch.mask * batch.v)
    return _safe_divide(ols.rss() - trace_pv, batch.k - batch.p)


def _q_root(batch, tolerance=1e-13, max_iter=200):
    """PM: Q(tau^2) = k - p, by Newton steps kept
    inside a per-row bracket (bisection when a step leaves it); 0 where Q(0) <= k - p."""
    df = batch.k - batch.p
    scale = _safe_divide(_sum(batch.mask * batch.v), batch.k)
    tau2 = np.zeros(batch.rows)
    fit = batch.fits(batch.weights(tau2))
    active = (fit.rss() > df) & (df > 0)
    lower, upper = tau2.copy(), np.where(active, np.maximum(scale, 1e-300), 0.0)
    for _ in range(200):  # bracket: double the upper end until Q(upper) < k - p
        pending = active & (batch.fits(batch.weights(upper)).rss() >= df)
        if not pending.any():
            break
        lower = np.where(pending, upper, lower)
        upper = np.where(pending, upper * 2, upper)
    tau2 = np.where(active, lower, 0.0)
    for _ in range(max_iter):
        if not active.any():
            return tau2
        rows = np.flatnonzero(active)
        sub = batch.subset(rows)
        fit = sub.fits(sub.weights(tau2[rows]))
        value = fit.rss() - df[rows]
        lower[rows] = np.where(value > 0, tau2[rows], lower[rows])
        upper[rows] = np.where(value < 0, tau2[rows], upper[rows])
        step = _safe_divide(value, fit.ypp_y())          # Newton: Q' = -y'PPy
        proposal = tau2[rows] + step
        outside = (proposal <= lower[rows]) | (proposal >= upper[rows])
        proposal = np.where(outside, 0.5 * (lower[rows] + upper[rows]), proposal)
        change = np.abs(proposal - tau2[rows])
        tau2[rows] = proposal
        done = (change <= tolerance * np.maximum(scale[rows], proposal)) | (value == 0)
        active[rows[done]] = False
    raise ConvergenceError(f"Paule-Mandel root search did not converge in {max_iter} steps for "
                           f"{int(active.sum())} of {batch.rows} rows")


def _equation(method, fit, k, p):
    """Batched counterpart of tau2._estimating_equation: (value, information, derivative)."""
    if method == "EB":
        factor = k / (k - p)
        return fit.rss() * factor - k, _sum(fit.w), -fit.ypp_y() * factor
    if method == "ML":
        sum_w2 = _sum(fit.w * fit.w)
        return fit.ypp_y() - _sum(fit.w), sum_w2, sum_w2 - 2.0 * fit.ypppy()
    trace_pp = fit.trace_pp()
    return fit.ypp_y() - fit.trace_p(), trace_pp, trace_pp - 2.0 * fit.ypppy()


def _log_likelihood(batch, tau2, restricted):
    fit = batch.fits(batch.weights(tau2))
    with np.errstate(divide="ignore"):
        log_v = np.where(batch.mask > 0, np.log(batch.v + tau2[:, None]), 0.0)
    value = -0.5 * _sum(log_v) - 0.5 * fit.rss()
    if restricted:
        return value - 0.5 * (batch.k - batch.p) * np.log(2 * np.pi) - 0.5 * fit.log_det_xwx()
    return value - 0.5 * batch.k * np.log(2 * np.pi)


def _scoring(batch, method):
    """ML / REML / EB by scoring, then Newton, with per-row convergence (as tau2.fisher_scoring);
    rows that do not settle fall back to the bracketed root search, one at a time."""
    df = batch.k - batch.p
    scale = _safe_divide(_sum(batch.mask * batch.v), batch.k)
    tau2 = np.where(df > 0, np.maximum(0.0, _hedges(batch)), 0.0)
    iterations = np.zeros(batch.rows, dtype=int)
    change = np.full(batch.rows, np.inf)
    active = df > 0
    for _ in range(MAX_ITERATIONS):
        if not active.any():
            break
        rows = np.flatnonzero(active)
        sub = batch.subset(rows)
        value, information, derivative = _equation(method, sub.fits(sub.weights(tau2[rows])), sub.k, sub.p)
        current = tau2[rows]
        at_boundary = (current == 0) & (value <= 0)
        newton = (derivative < 0) & (change[rows] <= NEWTON_SWITCH * np.maximum(scale[rows], current))
        step = np.where(newton, -value / np.where(newton, derivative, 1.0), value / information)
        proposal = np.where(at_boundary, 0.0, np.maximum(0.0, current + step))
        change[rows] = np.abs(proposal - current)
        tau2[rows] = proposal
        iterations[rows] += ~at_boundary
        tolerance = np.where(newton, NEWTON_STOP, SCORING_TOLERANCE)
        done = at_boundary | ((change[rows] <= tolerance * np.maximum(scale[rows], proposal)) & (proposal > 0))
        active[rows[done]] = False
    for row in np.flatnonzero(active):  # did not settle: the scalar fallback
        tau2[row] = bracketed_root(method, *batch.row_data(row), reason="scoring did not settle").tau2
    positive = tau2 > 0
    if method in ("ML", "REML") and positive.any():  # metafor's ll0check
        rows = np.flatnonzero(positive)
        sub = batch.subset(rows)
        restricted = method == "REML"
        worse = _log_likelihood(sub, np.zeros(rows.size), restricted) - _log_likelihood(sub, tau2[rows], restricted)
        tau2[rows[worse > 1e-10]] = 0.0
    return tau2, iterations


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
    def estimate(self):
        return self.beta[:, 0]


def fit_batch(batch, method="REML", ci_method="z", level=0.95, estimated=None):
    """Fit every row of ``batch``: tau^2, coefficients, SEs, tests, CIs, Q, I^2, H^2 and the
    omnibus QM of the non-intercept coefficients (of the intercept for pooling).
    ``estimated``: the (tau2, iterations) of ``estimate_tau2(batch, method)`` when already
    computed (several CI methods or levels on the same data)."""
    method = method.upper()
    tau2, iterations = estimated if estimated is not None else estimate_tau2(batch, method)
    fit = batch.fits(batch.weights(tau2))
    p, k = batch.p, batch.k
    df = k - p
    beta = fit.beta
    cov = fit.cov
    if ci_method == "knha":
        rss = fit.rss()
        s2 = np.where(rss > np.finfo(float).eps, _safe_divide(rss, df), 0.0)
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
        i2 = np.where(q > 0, np.maximum(0.0, 100 * _safe_divide(q - df, q)), 0.0)
        h2 = np.where(df > 0, _safe_divide(q, df), 1.0)
    else:
        typical = _safe_divide(df, fe.trace_p())
        i2 = np.where(df > 0, 100 * _safe_divide(tau2, typical + tau2), 0.0)
        h2 = np.where(df > 0, _safe_divide(tau2, typical) + 1.0, 1.0)
    return BatchResult(k=k, tau2=tau2, beta=beta, se=se, statistic=statistic, p_value=p_value,
                       ci_lower=beta - crit * se, ci_upper=beta + crit * se, q=q, i2=i2, h2=h2, qm=qm,
                       iterations=iterations)
