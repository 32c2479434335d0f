"""Variance structures of the random effect ``~ inner | outer`` of a multivariate model.

The random effects u_j of cluster (outer level) j have covariance G over the inner levels,
G = D R D with D = diag(tau) and R a correlation matrix (metafor rma.mv, struct =):

=====  ==========================  =======================================
struct tau^2                        R
=====  ==========================  =======================================
ID     one                          I
DIAG   one per inner level          I
CS     one                          1 on the diagonal, rho off it
HCS    one per inner level          as CS
UN     one per inner level          one rho per pair of levels
AR     one                          rho^|a - b| (a, b: positions of ordered levels)
HAR    one per inner level          as AR
CAR    one                          rho^|t_i - t_l| (t: continuous time of each row)
=====  ==========================  =======================================

Row i of cluster j carries the random effect of its inner level, so Cov(y_i, y_l) within a
cluster is G[a_i, a_l] (metafor's Z G Z').  The optimiser works on unconstrained values:
tau^2 = scale s^2 and rho = sin z (CAR: rho = sin^2 z, rho in [0, 1]), which reach the
boundaries tau^2 = 0 and |rho| = 1 as interior, non-degenerate stationary points, so a
boundary optimum (as Kalaian & Raudenbush's rho = -1) is found as tightly as an interior one.
"""
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


def _compound_symmetry(rho: Array, lags: Array) -> tuple[Array, Array]:
    """R = (1 - rho) I + rho J and dR/drho."""
    off = (lags > 0).astype(float)
    return np.where(lags > 0, rho[0], 1.0), off[None]


def _autoregressive(rho: Array, lags: Array) -> tuple[Array, Array]:
    """R = rho^lag and dR/drho (lags: |a - b| of level positions, or of times for CAR)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        R = np.where(lags > 0, np.abs(rho[0]) ** lags * np.sign(rho[0]) ** np.round(lags), 1.0)
        dR = np.where(lags > 0, lags * R / rho[0], 0.0) if rho[0] != 0 else (lags == 1).astype(float)
    return R, dR[None]


def _identity(rho: Array, lags: Array) -> tuple[Array, Array]:
    return np.where(lags > 0, 0.0, 1.0), np.zeros((0,) + lags.shape)


def _unstructured(rho: Array, lags: Array) -> tuple[Array, Array]:
    """R with rho[k] at the k-th pair of metafor's order (the lower triangle, column by column)."""
    n = lags.shape[0]
    rows, cols = _lower_pairs(n)
    R = np.eye(n)
    R[rows, cols] = rho
    R[cols, rows] = rho
    dR = np.zeros((rho.size, n, n))
    dR[np.arange(rho.size), rows, cols] = 1.0
    dR[np.arange(rho.size), cols, rows] = 1.0
    return R, dR


def _lower_pairs(n: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(row, column) of the lower triangle, column-major (R's lower.tri order)."""
    cols, rows = np.triu_indices(n, 1)
    return rows, cols


@dataclass(frozen=True)
class Structure:
    """A struct: whether tau^2 is one per level, how many rho and R(rho)."""

    name: str
    heterogeneous: bool         # one tau^2 per inner level
    correlation: Callable[[Array, Array], tuple[Array, Array]]   # (rho, lags) -> (R, dR/drho)
    rho_count: Callable[[int], int]  # n_levels -> number of rho
    by_time: bool = False       # lags from each row's time (CAR), not level positions
    signed: bool = False        # tau = sqrt(scale) s with s of either sign (UN, see Parameters)

    def n_tau2(self, n_levels: int) -> int:
        return n_levels if self.heterogeneous else 1

    def rho_from(self, z: Array) -> Array:
        return np.sin(z) ** 2 if self.by_time else np.sin(z)

    def rho_derivative(self, z: Array) -> Array:
        return np.sin(2 * z) if self.by_time else np.cos(z)

    def z_from(self, rho: Array) -> Array:
        rho = np.clip(rho, -1.0, 1.0)
        return np.arcsin(np.sqrt(np.clip(rho, 0.0, 1.0))) if self.by_time else np.arcsin(rho)

    def rho_names(self, levels: Sequence[str]) -> list[str]:
        if self.rho_count(len(levels)) == 0:
            return []
        if self.name != "UN":
            return ["rho"]
        rows, cols = _lower_pairs(len(levels))
        return [f"rho.{levels[c]}.{levels[r]}" for r, c in zip(rows, cols)]


STRUCTURES = {s.name: s for s in (
    Structure("ID", False, _identity, lambda n: 0),
    Structure("DIAG", True, _identity, lambda n: 0),
    Structure("CS", False, _compound_symmetry, lambda n: 1),
    Structure("HCS", True, _compound_symmetry, lambda n: 1),
    Structure("UN", True, _unstructured, lambda n: n * (n - 1) // 2, signed=True),
    Structure("AR", False, _autoregressive, lambda n: 1),
    Structure("HAR", True, _autoregressive, lambda n: 1),
    Structure("CAR", False, _autoregressive, lambda n: 1, by_time=True),
)}


class Parameters:
    """The map between the optimiser's vector (s, z) and (tau^2, rho), and the chain rule.

    ``fixed_tau2``: levels whose tau^2 is held at 0 (metafor: a level seen in one cluster
    only, for the heterogeneous structs).  ``fixed`` maps a position of the full vector to
    a held value (profile likelihood).

    UN takes the signs of s into its correlations (rho_ab sign(s_a s_b)): G = D R D is then
    smooth in s also where a tau^2 reaches 0, as a Cholesky factor would be.  The other
    structs, whose one rho is shared by all pairs, use |s|, and so does a UN fit with a rho
    held (profile likelihood), whose sign must not flip.

    ``n_sigma`` variances of nested terms (sigma^2 = scale s^2) follow the struct's tau^2:
    ``n_tau2`` counts both (every variance of the vector), ``n_sigma`` the nested ones.
    """

    def __init__(self, structure: Structure, n_levels: int, scale: float,
                 fixed: Mapping[int, float] | None = None, signed: bool | None = None,
                 n_sigma: int = 0) -> None:
        self.structure = structure
        self.n_levels = n_levels
        self.n_sigma = n_sigma
        self.n_tau2 = structure.n_tau2(n_levels) + n_sigma
        self.n_rho = structure.rho_count(n_levels)
        self.scale = scale
        self.fixed = dict(fixed or {})
        self.free = np.array([i not in self.fixed for i in range(self.n_tau2 + self.n_rho)])
        self.signed = structure.signed if signed is None else signed
        self.pairs = _lower_pairs(n_levels)

    def _signs(self, s: Array) -> tuple[Array, Array | float]:
        """sign(s) (for UN: +1 at 0) and, for UN, sign(s_a s_b) of every rho."""
        if not self.signed:
            return np.sign(s), 1.0
        sign = np.where(s >= 0, 1.0, -1.0)
        return sign, sign[self.pairs[0]] * sign[self.pairs[1]]

    def full(self, theta: Array) -> Array:
        vector = np.empty(self.free.size)
        vector[self.free] = theta
        for position, value in self.fixed.items():
            vector[position] = value
        return vector

    def natural(self, theta: Array) -> tuple[Array, Array]:
        """(tau^2, rho) of the free vector ``theta``."""
        vector = self.full(theta)
        s, z = vector[:self.n_tau2], vector[self.n_tau2:]
        return self.scale * s * s, self.structure.rho_from(z) * self._signs(s)[1]

    def unconstrained(self, tau2: Array, rho: ArrayLike) -> Array:
        """The full vector of (tau^2, rho)."""
        return np.concatenate([np.sqrt(np.maximum(tau2, 0.0) / self.scale),
                               self.structure.z_from(np.asarray(rho, dtype=float))])

    def chain(self, theta: Array, d_tau: Array, d_rho: Array) -> Array:
        """Gradient in the free vector from dl/dtau (tau = sqrt(tau^2)) and dl/drho."""
        vector = self.full(theta)
        s, z = vector[:self.n_tau2], vector[self.n_tau2:]
        sign, pair_sign = self._signs(s)
        gradient = np.concatenate([d_tau * np.sqrt(self.scale) * sign,
                                   d_rho * pair_sign * self.structure.rho_derivative(z)])
        return gradient[self.free]
