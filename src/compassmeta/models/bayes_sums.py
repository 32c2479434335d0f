"""The O(k) sums of the normal-normal model, compressed to O(1) cost per tau for large k.

Every quantity of p(y | tau) and of mu | tau, y (Roever 2020, eq. 10-12) is a sum over the k
studies of c_i g(tau^2 + sigma_i^2), with g(x) = log x or 1/x and c_i = 1, y_i or y_i^2 (y
centred).  As a function of v = log sigma^2, g(tau^2 + e^v) is analytic in the strip
|Im v| < pi for every tau >= 0 (its singularities sit at v = log tau^2 + i pi (2n + 1)), so on
panels of width <= 2 in v it equals its interpolant at 32 Chebyshev points up to a factor
rho^-32 with rho = pi + sqrt(1 + pi^2) ~ 6.4 (Trefethen 2019, Approximation Theory and
Approximation Practice, Theorem 8.2): about 1e-19 of sum |c_i g|.  Summing the interpolant
instead of g moves the k studies onto the m panel nodes with weights
W_j = sum_i c_i l_j(v_i) (l_j the Lagrange basis), once; afterwards each tau costs O(m).  The
bound is checked at build time against the exact sums at tau = 0, the median sigma and
100 times the largest sigma (:attr:`CompressedSums.error`).
"""
import math

import numpy as np
from numpy.typing import ArrayLike

NODES = 32
WIDTH = 2.0          # panel width in v = log sigma^2
CHECK = 1e-12        # largest accepted relative error of the check (the bound is ~1e-19)
_THETA = np.pi * (np.arange(NODES) + 0.5) / NODES
_X = np.cos(_THETA)
_DCT = 2.0 / NODES * np.cos(np.outer(np.arange(NODES), _THETA))
_DCT[0] /= 2


class ExactSums:
    """sum_i log(tau^2 + s2_i) and sum_i columns_i / (tau^2 + s2_i) over tau, summed over the
    studies in (rows x k) blocks of 2 MB."""

    def __init__(self, s2: np.ndarray, columns: np.ndarray) -> None:
        self.s2, self.columns = s2, columns

    def __call__(self, tau: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(logdet, sums) at each tau."""
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        logdet, sums = np.empty(tau.size), np.empty((tau.size, self.columns.shape[1]))
        chunk = max(1, 262_144 // self.s2.size)
        for start in range(0, tau.size, chunk):
            v = tau[start:start + chunk, None] ** 2 + self.s2
            logdet[start:start + chunk] = np.log(v).sum(axis=1)
            sums[start:start + chunk] = np.einsum("ij,jc->ic", 1.0 / v, self.columns)
        return logdet, sums

    def inverse(self, tau: float) -> np.ndarray:
        """The sums without the log determinant at one tau (the DIRECT grid's many calls)."""
        return (1.0 / (tau * tau + self.s2)) @ self.columns


class CompressedSums:
    """The sums of :class:`ExactSums` from m = 32 x panels nodes (see the module docstring)."""

    def __init__(self, s2: np.ndarray, columns: np.ndarray) -> None:
        v = np.log(s2)
        low, high = float(v.min()), float(v.max())
        panels = max(1, math.ceil((high - low) / WIDTH))
        edges = np.linspace(low, high, panels + 1)
        nodes: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        which = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, panels - 1)
        for p in range(panels):
            a, b = edges[p], edges[p + 1]
            inside = which == p
            if not inside.any():
                continue
            if b <= a:                    # all variances equal: one node carries the sums
                nodes.append(np.array([a]))
                weights.append(columns[inside].sum(axis=0)[None, :])
                continue
            xi = 2 * (v[inside] - a) / (b - a) - 1
            nodes.append(a + (b - a) * (_X + 1) / 2)
            weights.append(_DCT.T @ _chebyshev_moments(xi, columns[inside]))
        self.nodes = np.exp(np.concatenate(nodes))
        self.weights = np.concatenate(weights)
        self.error = self._check(s2, columns)

    def __call__(self, tau: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        x = tau[:, None] ** 2 + self.nodes
        return np.log(x) @ self.weights[:, 0], (1.0 / x) @ self.weights

    def inverse(self, tau: float) -> np.ndarray:
        """The sums without the log determinant at one tau."""
        return (1.0 / (tau * tau + self.nodes)) @ self.weights

    def _check(self, s2: np.ndarray, columns: np.ndarray) -> float:
        """Largest error of the compressed sums against the exact ones, relative to sum |c_i g|."""
        tau = np.array([0.0, math.sqrt(float(np.median(s2))), 100 * math.sqrt(float(s2.max()))])
        logdet, sums = ExactSums(s2, columns)(tau)
        scale_log = np.abs(np.log(tau[:, None] ** 2 + s2)).sum(axis=1) * np.abs(columns[:, 0]).max()
        _, scale = ExactSums(s2, np.abs(columns))(tau)
        approx_log, approx = self(tau)
        return float(max((np.abs(approx_log - logdet) / np.maximum(scale_log, 1e-300)).max(),
                         (np.abs(approx - sums) / np.maximum(scale, 1e-300)).max()))


def _chebyshev_moments(xi: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """sum_i T_m(xi_i) columns_i for m < NODES (three-term recurrence, O(k) memory)."""
    out = np.empty((NODES, columns.shape[1]))
    previous, current = np.ones_like(xi), xi
    out[0], out[1] = columns.sum(axis=0), current @ columns
    for m in range(2, NODES):
        previous, current = current, 2 * xi * current - previous
        out[m] = current @ columns
    return out
