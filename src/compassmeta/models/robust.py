"""CR2 cluster-robust inference for a fitted multilevel model, as clubSandwich does for rma.mv.

Working model: the fitted marginal covariance V_j (weights W_j = V_j^-1), so the "inverse
variance" forms of Pustejovsky & Tipton (2018, JBES 36:672) apply.  With M = (X'WX)^-1,
residuals e_j and V_j = D_j'D_j (Cholesky):

* CR2 adjustment (Bell & McCaffrey 2002; P&T 2018 eq. 8):
  A_j = D_j' [D_j (V_j - X_j M X_j') D_j']^(-1/2) D_j, the inverse square root taken over
  eigenvalues above 1e-12 (clubSandwich matrix_power);
* V^CR2 = M [sum_j X_j'W_j A_j e_j e_j' A_j W_j X_j] M (P&T 2018 eq. 5);
* Satterthwaite df of coefficient c (P&T 2018 eq. 11, Bell & McCaffrey 2002): with
  g_j = D_j A_j W_j X_j M c and h_j = (M X_j'W_j A_j X_j L_M)' c, L_M L_M' = M, the matrix
  Omega_jl = delta_jl |g_j|^2 - h_j'h_l over clusters gives df = tr(Omega)^2 / |Omega|_F^2;
* the HTZ Wald test of q constraints C beta = 0 (Tipton & Pustejovsky 2015, J Educ Behav
  Stat 40:604, eqs. 9-13): the same arrays, rotated by Omega_C^(-1/2), give the Hotelling
  T^2 degrees of freedom nu = q (q + 1) / sum_st Var_st; F = (nu - q + 1)/(nu q) Q on
  (q, nu - q + 1) df.
Each sum over pairs of clusters is reduced to sums over clusters, so the cost is linear in k.
"""
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..common import distributions as dist

if TYPE_CHECKING:
    from .multilevel import MultilevelFit

Array = NDArray[np.float64]

#: Eigenvalues at or below this are dropped from inverse square roots (clubSandwich).
EIGEN_TOLERANCE = 1e-12


def inverse_sqrt(matrices: Array) -> Array:
    """Symmetric (pseudo-)inverse square root of a stack of symmetric matrices."""
    values, vectors = np.linalg.eigh(matrices)
    with np.errstate(divide="ignore"):
        scaled = np.where(values > EIGEN_TOLERANCE, 1.0 / np.sqrt(np.abs(values)), 0.0)
    return (vectors * scaled[..., None, :]) @ np.swapaxes(vectors, -1, -2)


@dataclass(frozen=True)
class ClusterArrays:
    """Per-cluster pieces of the CR2 estimator, stacked over all clusters.

    ``gram[j]`` = G_j G_j' (p x p) with G_j = M X_j'W_j A_j D_j'; ``lever[j]`` =
    M X_j'W_j A_j X_j L_M (p x p); ``scores[j]`` = X_j'W_j A_j e_j (p).
    """

    gram: Array
    lever: Array
    scores: Array


def cluster_arrays(fit: "MultilevelFit") -> ClusterArrays:
    """The CR2 arrays of a :class:`MultilevelFit` (one pass over the size groups)."""
    gls = fit.gls
    M = gls.cov
    chol_m = np.linalg.cholesky(M)
    grams, levers, scores = [], [], []
    for V, _W, WX, X, resid in zip(gls.covariance, gls.weights, gls.WX, gls.X_groups, gls.resid):
        lower = np.linalg.cholesky(V)                          # V = L L', D = L'
        upper = np.swapaxes(lower, -1, -2)
        hat_part = V - X @ M @ np.swapaxes(X, -1, -2)          # (I - H_jj) V_j
        adjustment = lower @ inverse_sqrt(upper @ hat_part @ lower) @ upper
        xwa = np.swapaxes(WX, -1, -2) @ adjustment             # X_j'W_j A_j
        G = M @ xwa @ lower
        grams.append(G @ np.swapaxes(G, -1, -2))
        levers.append(M @ xwa @ X @ chol_m)
        scores.append(np.einsum("map,mp->ma", xwa, resid))
    return ClusterArrays(np.concatenate(grams), np.concatenate(levers), np.concatenate(scores))


def _pair_sums(gram: Array, lever: Array) -> tuple[Array, Array]:
    """T[s,t,u,v] = sum_{j,l} P[s,t,j,l] P[u,v,j,l] for P[s,t,j,l] = delta_jl gram_j[s,t]
    - lever_j[s]'lever_l[t], in sums over single clusters (returns Omega and T)."""
    cross = np.einsum("jsa,jta->jst", lever, lever)
    omega = gram.sum(axis=0) - cross.sum(axis=0)
    outer = np.einsum("jsa,jtb->stab", lever, lever)   # S_st = sum_j lever_j[s] lever_j[t]'
    T = (np.einsum("jst,juv->stuv", gram, gram) - np.einsum("jst,juv->stuv", gram, cross)
         - np.einsum("jst,juv->stuv", cross, gram) + np.einsum("usab,tvba->stuv", outer, outer))
    return omega, T


@dataclass(frozen=True)
class RobustInference:
    """CR2 covariance, standard errors and Satterthwaite df of every coefficient."""

    vcov: Array
    se: Array
    df: Array
    arrays: ClusterArrays

    def wald_htz(self, beta: Array, columns: Iterable[int]) -> tuple[float, int, float, float]:
        """HTZ test that the coefficients in ``columns`` are zero: (F, df1, df2, p)."""
        columns = list(columns)
        q = len(columns)
        b = beta[columns]
        Q = float(b @ np.linalg.solve(self.vcov[np.ix_(columns, columns)], b))
        gram = self.arrays.gram[:, columns][:, :, columns]
        lever = self.arrays.lever[:, columns, :]
        omega = gram.sum(axis=0) - np.einsum("jsa,jta->st", lever, lever)
        rotate = inverse_sqrt(omega)
        gram = rotate @ gram @ rotate
        lever = np.einsum("st,jta->jsa", rotate, lever)
        _, T = _pair_sums(gram, lever)
        variance = np.einsum("stts->st", T) + np.einsum("sstt->st", T)
        nu = q * (q + 1) / float(variance.sum())
        df2 = nu - q + 1
        F = max(df2 / nu, 0.0) * Q / q
        p_value = float(dist.f_sf(F, q, df2)) if df2 > 0 else float("nan")
        return F, q, df2, p_value


def cr2(fit: "MultilevelFit") -> RobustInference:
    """clubSandwich vcovCR(type = "CR2") and coef_test(test = "Satterthwaite") for ``fit``."""
    arrays = cluster_arrays(fit)
    M = fit.gls.cov
    meat = arrays.scores.T @ arrays.scores
    vcov = M @ meat @ M
    df = np.empty(fit.p)
    for c in range(fit.p):
        omega, T = _pair_sums(arrays.gram[:, [c]][:, :, [c]], arrays.lever[:, [c], :])
        df[c] = omega[0, 0] ** 2 / T[0, 0, 0, 0]
    return RobustInference(vcov=vcov, se=np.sqrt(np.diag(vcov)), df=df, arrays=arrays)
