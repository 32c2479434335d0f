"""Cluster-robust (sandwich) inference as clubSandwich computes it for rma.mv and rma.uni models:
CR2 for the multilevel model with its clusters, and CR0, CR1 and CR2 for a univariate model with
every study its own cluster (metafor robust(x, cluster = 1:k, clubSandwich = TRUE)).

Working model: the fitted marginal covariance V_j (weights W_j = V_j^-1), so the "inverse
variance" forms of Pustejovsky & Tipton (2018, JBES 36:672) apply.  With M = (X'WX)^-1,
residuals e_j and V_j = D_j'D_j (Cholesky):

* CR2 adjustment (Bell & McCaffrey 2002; P&T 2018 eq. 8):
  A_j = D_j' [D_j (V_j - X_j M X_j') D_j']^(-1/2) D_j, the inverse square root taken over
  eigenvalues above 1e-12 (clubSandwich matrix_power);
* V^CR2 = M [sum_j X_j'W_j A_j e_j e_j' A_j W_j X_j] M (P&T 2018 eq. 5); CR0 takes A_j = I, and
  CR1 is CR0 times J / (J - 1) for J clusters (clubSandwich vcovCR);
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
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from ..common import distributions as dist
from ..common.errors import InputError
from ..common.results import Result
from .wls import inverse

ROBUST_TYPES = ("CR0", "CR1", "CR2")

if TYPE_CHECKING:
    from .model import ModelFit
    from .multilevel import GroupedGLS
    from .mvgls import MultivariateGLS


class ClusteredFit(Protocol):
    """A fit with clusters, whose GLS blocks CR2 reads: a MultilevelFit or a MultivariateFit."""

    @property
    def gls(self) -> "GroupedGLS | MultivariateGLS": ...

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


def cluster_arrays(M: np.ndarray, blocks: Iterable[tuple[Array, Array, Array, Array]],
                   adjust: bool = True) -> ClusterArrays:
    """The sandwich arrays from M = (X'WX)^-1 and ``blocks``: per size group the stacked (V_j, W_j X_j,
    X_j, e_j); ``adjust`` applies the CR2 adjustment A_j (else A_j = I, CR0)."""
    chol_m = np.linalg.cholesky(M)
    grams, levers, scores = [], [], []
    for V, WX, X, resid in blocks:
        lower = np.linalg.cholesky(V)                          # V = L L', D = L'
        upper = np.swapaxes(lower, -1, -2)
        xw = np.swapaxes(WX, -1, -2)
        if adjust:
            hat_part = V - X @ M @ np.swapaxes(X, -1, -2)      # (I - H_jj) V_j
            xwa = xw @ lower @ inverse_sqrt(upper @ hat_part @ lower) @ upper   # X_j'W_j A_j
        else:
            xwa = xw
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
        return self.wald_htz_matrix(beta, np.eye(beta.size)[list(columns)])

    def wald_htz_matrix(self, beta: Array, C: Array) -> tuple[float, int, float, float]:
        """HTZ test of the q constraints C beta = 0 (rows of C): (F, df1, df2, p)."""
        q = C.shape[0]
        b = C @ beta
        Q = float(b @ np.linalg.solve(C @ self.vcov @ C.T, b))
        gram = C @ self.arrays.gram @ C.T
        lever = np.einsum("st,jta->jsa", C, self.arrays.lever)
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


def sandwich(M: np.ndarray, blocks: Iterable[tuple[Array, Array, Array, Array]],
             kind: str = "CR2") -> RobustInference:
    """clubSandwich vcovCR(type = ``kind``) with coef_test(test = "Satterthwaite"): CR0, CR1 or CR2."""
    if kind not in ROBUST_TYPES:
        raise InputError(f"unknown robust covariance '{kind}'; choose from {', '.join(ROBUST_TYPES)}")
    arrays = cluster_arrays(M, blocks, adjust=kind == "CR2")
    n_clusters = arrays.scores.shape[0]
    vcov = M @ (arrays.scores.T @ arrays.scores) @ M
    if kind == "CR1":
        vcov = vcov * n_clusters / (n_clusters - 1)
    df = np.empty(M.shape[0])
    for c in range(M.shape[0]):
        omega, T = _pair_sums(arrays.gram[:, [c]][:, :, [c]], arrays.lever[:, [c], :])
        df[c] = omega[0, 0] ** 2 / T[0, 0, 0, 0]
    return RobustInference(vcov=vcov, se=np.sqrt(np.diag(vcov)), df=df, arrays=arrays)


def cr2(fit: ClusteredFit) -> RobustInference:
    """CR2 of a multilevel or multivariate fit, its clusters the fit's (clubSandwich for rma.mv)."""
    gls = fit.gls
    return sandwich(gls.cov, zip(gls.covariance, gls.WX, gls.X_groups, gls.resid))


@dataclass(frozen=True)
class RobustCoefficient(Result):
    """A coefficient with its cluster-robust SE, Satterthwaite df, t test and CI."""

    term: str
    estimate: float
    se: float
    df: float
    statistic: float
    p_value: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class RobustResult(Result):
    """Cluster-robust inference of every coefficient (``type`` CR0, CR1 or CR2; each study a cluster)
    and, with moderators, their HTZ test (F on ``qm_df``, ``qm_df2``; metafor's robust() QM)."""

    type: str
    coefficients: tuple
    qm: float | None = None
    qm_df: int | None = None
    qm_df2: float | None = None
    qm_p: float | None = None


def robust_univariate(fit: "ModelFit", kind: str = "CR2") -> RobustResult:
    """metafor robust(fit, cluster = 1:k, clubSandwich = TRUE, vcov = ``kind``) of a univariate
    :class:`~compassmeta.models.model.ModelFit`: every study its own cluster, V_j = v_j + tau^2."""
    total = fit.v + fit.tau2
    w = 1.0 / total
    M = inverse(fit.X.T @ (w[:, None] * fit.X))
    resid = fit.y - fit.X @ fit.beta
    blocks = [(total[:, None, None], (w[:, None] * fit.X)[:, None, :], fit.X[:, None, :], resid[:, None])]
    inference = sandwich(M, blocks, kind)
    rows = []
    for term, b, se, df in zip(fit.terms, fit.beta, inference.se, inference.df):
        crit = float(dist.t_quantile(1 - (1 - fit.level) / 2, df))
        rows.append(RobustCoefficient(term=term, estimate=float(b), se=float(se), df=float(df),
                                      statistic=float(b / se), p_value=float(dist.t_two_sided_p(b / se, df)),
                                      ci_lower=float(b - crit * se), ci_upper=float(b + crit * se)))
    if fit.p == 1:
        return RobustResult(type=kind, coefficients=tuple(rows))
    qm, qm_df, qm_df2, qm_p = inference.wald_htz(fit.beta, range(1, fit.p))
    return RobustResult(type=kind, coefficients=tuple(rows), qm=qm, qm_df=qm_df, qm_df2=qm_df2, qm_p=qm_p)
