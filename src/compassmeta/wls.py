"""Weighted least squares pieces shared by the tau^2 estimators and the model fit.

With weights ``w`` (a vector) and design ``X`` (k x p), the projection-like matrix used
throughout the meta-analysis literature is P = W - W X (X'WX)^-1 X'W (Viechtbauer 2005,
eq. 6).  Everything below is computed without ever forming a k x k matrix, so the cost
is O(k p^2) and a million studies fit in memory.
"""
import numpy as np


def inverse(matrix):
    """Inverse of a small symmetric positive-definite matrix (1x1 without LAPACK)."""
    if matrix.shape == (1, 1):
        return 1.0 / matrix
    return np.linalg.inv(matrix)


class WeightedFit:
    """The weighted least-squares fit of ``y`` on ``X`` with weights ``w``.

    Attributes: ``beta`` (p), ``cov`` = (X'WX)^-1, ``resid`` = y - X beta.
    """

    __slots__ = ("X", "w", "beta", "cov", "resid")

    def __init__(self, X, y, w):
        self.X = X
        self.w = w
        weighted_X = X * w[:, None]
        self.cov = inverse(weighted_X.T @ X)
        self.beta = self.cov @ (weighted_X.T @ y)
        self.resid = y - X @ self.beta

    def rss(self):
        """y'Py = sum w_i (y_i - x_i'beta)^2: Cochran's Q when w = 1/v."""
        return float(np.dot(self.w, self.resid * self.resid))

    def _moment(self, power):
        """X' W^power X."""
        return (self.X * (self.w ** power)[:, None]).T @ self.X

    def trace_p(self):
        """tr(P) = sum w - tr((X'WX)^-1 X'W^2X)."""
        return float(self.w.sum() - np.trace(self.cov @ self._moment(2)))

    def trace_pp(self):
        """tr(PP) = sum w^2 - 2 tr(C X'W^3X) + tr((C X'W^2X)^2), with C = (X'WX)^-1."""
        c_b2 = self.cov @ self._moment(2)
        return float(np.dot(self.w, self.w) - 2.0 * np.trace(self.cov @ self._moment(3))
                     + np.trace(c_b2 @ c_b2))

    def ypp_y(self):
        """y'PPy = sum (w_i resid_i)^2 (since Py = W resid)."""
        weighted_resid = self.w * self.resid
        return float(np.dot(weighted_resid, weighted_resid))

    def log_det_xwx(self):
        """log det(X'WX), the REML likelihood's extra term."""
        sign, logdet = np.linalg.slogdet(self.cov)
        return -logdet


def generalized_q(X, y, v, tau2):
    """Generalised Q statistic Q(tau^2) = y'P(tau^2)y with weights 1/(v + tau^2).

    Decreasing in tau^2; Q(0) is Cochran's Q (or QE).  Paule-Mandel and the Q-profile
    confidence interval solve Q(tau^2) = target (Viechtbauer 2007, Stat Med 26:37).
    """
    return WeightedFit(X, y, 1.0 / (v + tau2)).rss()
