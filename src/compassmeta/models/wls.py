"""Weighted least squares pieces shared by the tau^2 estimators and the model fit.

With weights ``w`` (a vector) and design ``X`` (k x p), the projection-like matrix used
throughout the meta-analysis literature is P = W - W X (X'WX)^-1 X'W (Viechtbauer 2005,
eq. 6).  Everything below is computed without ever forming a k x k matrix, so the cost
is O(k p^2) and a million studies fit in memory.
"""
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def inverse(matrix: Array) -> NDArray[np.floating[Any]]:
    """Inverse of a small symmetric positive-definite matrix (1x1 without LAPACK)."""
    if matrix.shape == (1, 1):
        return 1.0 / matrix
    return np.linalg.inv(matrix)


class WeightedFit:
    """The weighted least-squares fit of ``y`` on ``X`` with weights ``w``.

    Attributes: ``beta`` (p), ``cov`` = (X'WX)^-1, ``resid`` = y - X beta.
    """

    __slots__ = ("X", "w", "beta", "cov", "resid")

    def __init__(self, X: Array, y: Array, w: Array) -> None:
        self.X = X
        self.w = w
        weighted_X = X * w[:, None]
        self.cov = inverse(weighted_X.T @ X)
        self.beta = self.cov @ (weighted_X.T @ y)
        self.resid = y - X @ self.beta

    def rss(self) -> float:
        """y'Py = sum w_i (y_i - x_i'beta)^2: Cochran's Q when w = 1/v."""
        return float(np.dot(self.w, self.resid * self.resid))

    def _moment(self, power: float) -> Array:
        """X' W^power X."""
        return (self.X * (self.w ** power)[:, None]).T @ self.X

    def trace_cov_moment(self, a: Array) -> float:
        """tr((X'WX)^-1 X' diag(a) X)."""
        return float(np.trace(self.cov @ ((self.X * a[:, None]).T @ self.X)))

    def trace_p(self) -> float:
        """tr(P) = sum w - tr((X'WX)^-1 X'W^2X)."""
        return float(self.w.sum()) - self.trace_cov_moment(self.w * self.w)

    def trace_pp(self) -> float:
        """tr(PP) = sum w^2 - 2 tr(C X'W^3X) + tr((C X'W^2X)^2), with C = (X'WX)^-1."""
        c_b2 = self.cov @ self._moment(2)
        return float(np.dot(self.w, self.w) - 2.0 * np.trace(self.cov @ self._moment(3))
                     + np.trace(c_b2 @ c_b2))

    def trace_pa(self, a: Array) -> float:
        """tr(P A) for A = diag(a): sum w a - tr(C X'W^2AX)."""
        return float(np.dot(self.w, a)) - self.trace_cov_moment(self.w * self.w * a)

    def trace_papb(self, a: Array, b: Array) -> float:
        """tr(P A P B) for diagonal A, B: sum w^2ab - 2 tr(C X'W^3ABX) + tr(C X'W^2AX C X'W^2BX)."""
        w2 = self.w * self.w
        ca = self.cov @ ((self.X * (w2 * a)[:, None]).T @ self.X)
        cb = self.cov @ ((self.X * (w2 * b)[:, None]).T @ self.X)
        return float(np.dot(w2, a * b) - 2.0 * self.trace_cov_moment(w2 * self.w * a * b) + np.trace(ca @ cb))

    def ypp_y(self) -> float:
        """y'PPy = sum (w_i resid_i)^2 (since Py = W resid)."""
        weighted_resid = self.w * self.resid
        return float(np.dot(weighted_resid, weighted_resid))

    def ypppy(self) -> float:
        """y'PPPy = u'Pu with u = Py = W resid; the curvature term of Newton's method."""
        u = self.w * self.resid
        xwu = (self.X * self.w[:, None]).T @ u
        return float(np.dot(self.w, u * u) - xwu @ self.cov @ xwu)

    def log_det_xwx(self) -> float:
        """log det(X'WX), the REML likelihood's extra term."""
        sign, logdet = np.linalg.slogdet(self.cov)
        return -logdet


class InterceptOnlyFit:
    """:class:`WeightedFit` for X = a column of ones, in closed-form sums.

    The same quantities with the fewest array operations: for the small k of a typical
    meta-analysis, numpy's per-call overhead, not arithmetic, is what a fit costs.
    """

    __slots__ = ("w", "sum_w", "mean", "resid", "_weighted_resid", "_sum_w2")

    def __init__(self, X: Array, y: Array, w: Array) -> None:
        self.w = w
        self.sum_w = float(np.add.reduce(w))
        self.mean = float(np.dot(w, y)) / self.sum_w
        self.resid = y - self.mean
        self._weighted_resid: Array | None = None
        self._sum_w2: float | None = None

    @property
    def beta(self) -> Array:
        return np.array([self.mean])

    @property
    def cov(self) -> Array:
        return np.array([[1.0 / self.sum_w]])

    def weighted_resid(self) -> Array:
        """W resid = Py."""
        if self._weighted_resid is None:
            self._weighted_resid = self.w * self.resid
        return self._weighted_resid

    def sum_w2(self) -> float:
        if self._sum_w2 is None:
            self._sum_w2 = float(np.dot(self.w, self.w))
        return self._sum_w2

    def rss(self) -> float:
        return float(np.dot(self.weighted_resid(), self.resid))

    def trace_cov_moment(self, a: Array) -> float:
        """sum a / sum w."""
        return float(np.add.reduce(a)) / self.sum_w

    def trace_p(self) -> float:
        """sum w - sum w^2 / sum w."""
        return self.sum_w - self.sum_w2() / self.sum_w

    def trace_pp(self) -> float:
        """sum w^2 - 2 sum w^3 / sum w + (sum w^2 / sum w)^2."""
        sum_w2 = self.sum_w2()
        sum_w3 = float(np.dot(self.w * self.w, self.w))
        return sum_w2 - 2.0 * sum_w3 / self.sum_w + (sum_w2 / self.sum_w) ** 2

    def trace_pa(self, a: Array) -> float:
        """sum w a - sum w^2 a / sum w."""
        return float(np.dot(self.w, a)) - float(np.dot(self.w * self.w, a)) / self.sum_w

    def trace_papb(self, a: Array, b: Array) -> float:
        """sum w^2ab - 2 sum w^3ab / sum w + (sum w^2a)(sum w^2b) / (sum w)^2."""
        w2 = self.w * self.w
        return (float(np.dot(w2, a * b)) - 2.0 * float(np.dot(w2 * self.w, a * b)) / self.sum_w
                + float(np.dot(w2, a)) * float(np.dot(w2, b)) / self.sum_w ** 2)

    def ypp_y(self) -> float:
        u = self.weighted_resid()
        return float(np.dot(u, u))

    def ypppy(self) -> float:
        """u'Pu = sum w u^2 - (sum w u)^2 / sum w, with u = W resid."""
        u = self.weighted_resid()
        wu = self.w * u
        return float(np.dot(wu, u)) - float(np.add.reduce(wu)) ** 2 / self.sum_w

    def log_det_xwx(self) -> float:
        return float(np.log(self.sum_w))


def weighted_fit(X: Array, y: Array, w: Array) -> WeightedFit | InterceptOnlyFit:
    """The weighted least-squares fit, by closed-form sums when X is the intercept alone."""
    return InterceptOnlyFit(X, y, w) if X.shape[1] == 1 else WeightedFit(X, y, w)


def generalized_q(X: Array, y: Array, v: Array, tau2: float) -> float:
    """Generalised Q statistic Q(tau^2) = y'P(tau^2)y with weights 1/(v + tau^2).

    Decreasing in tau^2; Q(0) is Cochran's Q (or QE).  Paule-Mandel and the Q-profile
    confidence interval solve Q(tau^2) = target (Viechtbauer 2007, Stat Med 26:37).
    """
    return weighted_fit(X, y, 1.0 / (v + tau2)).rss()


def ordinary_wls(X: Array, y: Array, w: Array) -> tuple[Array, Array, float, float]:
    """Weighted least squares with the residual variance estimated (a linear model with
    Var(e_i) = sigma^2 / w_i, R's lm(weights = w)): (beta, se, df_resid, adjusted R^2).

    sigma^2 = sum w r^2 / (k - p), Var(beta) = sigma^2 (X'WX)^-1; R^2 = 1 - RSS / TSS with TSS the
    weighted sum of squares about the weighted mean where X has a constant column, about 0 where it
    has none; adjusted R^2 = 1 - (1 - R^2) (k - c) / (k - p), c = 1 with a constant column else 0
    (summary.lm)."""
    k, p = X.shape
    fit = WeightedFit(X, y, w)
    df_resid = float(k - p)
    rss = fit.rss()
    se = np.sqrt(np.diag(fit.cov) * (rss / df_resid))
    has_constant = bool(np.any(np.all(X == X[:1], axis=0) & (X[0] != 0)))
    centre = float(np.dot(w, y) / w.sum()) if has_constant else 0.0
    tss = float(np.dot(w, (y - centre) ** 2))
    r2_adjusted = 1.0 - (k - has_constant) / df_resid * (rss / tss)
    return fit.beta, se, df_resid, r2_adjusted
