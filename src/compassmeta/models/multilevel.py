"""The three-level and correlated-hierarchical-effects (CHE) meta-analytic models.

Effect i of cluster j:  y_ij = x_ij' beta + u_j + w_ij + e_ij with u_j ~ N(0, sigma^2_1)
(between clusters), w_ij ~ N(0, sigma^2_2) (between effects within a cluster) and sampling
errors e with variances v_ij, correlated rho within a cluster: Cov(e_ij, e_il) =
rho sqrt(v_ij v_il) (metafor vcalc(vi, cluster, obs, rho); rho = 0 is the three-level model of
Konstantopoulos 2011, rho > 0 the CHE working model of Pustejovsky & Tipton 2022).  This is
metafor's rma.mv(yi, V, random = ~ 1 | cluster/effect).

The marginal covariance is block-diagonal, V_j = S_j + sigma^2_1 J + sigma^2_2 I, so every
quantity is a sum over clusters: clusters of equal size are stacked (batched numpy), each
block (diagonal plus rank two) is inverted in closed form, and no k x k matrix is ever formed.
sigma^2 are estimated by ML or REML with Fisher scoring (Harville 1977, JASA 72:320; score and
expected information as in Viechtbauer 2005, eqs. 9-12, with V_j in place of a diagonal), bounded
at zero.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..common import distributions as dist
from ..common.errors import ConvergenceError, InputError
from .clusters import ClusterBlocks, ClusterLabels, cluster_codes
from .design import FittedData
from .sharedgroups import ArmGroups, shared_group_correlation, shared_pairs
from .wls import weighted_fit

MULTILEVEL_METHODS = ("REML", "ML")
#: Scoring stops when no sigma^2 moves by more than this, relative to the mean sampling variance.
SCORING_TOLERANCE = 1e-12
MAX_ITERATIONS = 1000
SHARED_GROUP_NOTE = ("{} pair(s) of comparisons share a group (a multi-arm trial's control): their sampling "
                     "covariance is the shared group's, from the arm sizes (Gleser & Olkin 2009; metafor "
                     "vcalc(grp1, grp2, w1, w2))")


def _cross(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """sum_j A_j' B_j for stacks of (n x p) and (n x q) blocks (einsum rather than a BLAS product:
    on a loaded machine OpenBLAS threads cost more than these thin (k x p) products)."""
    return np.einsum("ia,ib->ab", A.reshape(-1, A.shape[2]), B.reshape(-1, B.shape[2]))


def gls_solution(weights: Sequence[np.ndarray], X_groups: Sequence[np.ndarray],
                 y_groups: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray,
                                                          list[np.ndarray], list[np.ndarray]]:
    """The GLS fit from each size group's inverse covariance W_j (m, n, n) (Aitken 1935): the
    stacks W_j X_j, (X'WX)^-1, beta = (X'WX)^-1 X'Wy, the residuals r_j = y_j - X_j beta and W_j r_j."""
    WX = [np.einsum("mil,mla->mia", W, X) for W, X in zip(weights, X_groups)]   # not W @ X: slow on stacks
    cov = np.linalg.inv(sum(_cross(A, X) for A, X in zip(WX, X_groups)))
    beta = cov @ sum(np.einsum("mia,mi->a", A, y) for A, y in zip(WX, y_groups))
    resid = [y - np.einsum("mip,p->mi", X, beta) for X, y in zip(X_groups, y_groups)]
    W_resid = [np.einsum("mil,ml->mi", W, r) for W, r in zip(weights, resid)]
    return WX, cov, beta, resid, W_resid


def gls_log_likelihood(k: int, X_groups: Sequence[np.ndarray], cov: np.ndarray, log_det_v: float, rss: float,
                       reml: bool) -> float:
    """metafor's logLik() of a GLS fit with block-diagonal V (cov = (X'V^-1X)^-1, rss = r'V^-1r):
    ML, or REML with the log det(X'X) and log det(X'V^-1X) terms (Harville 1977)."""
    p = cov.shape[0]
    if not reml:
        return -0.5 * (k * math.log(2 * math.pi) + log_det_v + rss)
    log_det_xx = np.linalg.slogdet(sum(_cross(X, X) for X in X_groups))[1]
    log_det_xwx = -np.linalg.slogdet(cov)[1]
    return -0.5 * ((k - p) * math.log(2 * math.pi) + log_det_v + log_det_xwx + rss - log_det_xx)


def _woodbury_block(v: np.ndarray, rho: float, sigma2: np.ndarray) -> tuple[np.ndarray, float]:
    """(W_j, sum log det V_j) of a size group whose S_j is rho alone: V_j = D_j + U_j C U_j'
    inverted by Woodbury with 2 x 2 inverses (see :class:`GroupedGLS`), entry by entry over the
    stacked clusters: with a = D^-1 sqrt(v), b = D^-1 1 and M = C (I + G C)^-1,
    W_il = 1(i = l) / d_i - (M_00 a_i a_l + M_01 a_i b_l + M_10 b_i a_l + M_11 b_i b_l)."""
    diagonal = (1.0 - rho) * v + sigma2[1]                    # d, the diagonal of D_j
    root = np.sqrt(v)
    a, b = root / diagonal, 1.0 / diagonal
    g00, g01, g11 = (np.einsum("mi->m", x) for x in (root * a, a, b))     # G = U'D^-1 U
    k00, k01, k10, k11 = 1.0 + g00 * rho, g01 * sigma2[0], g01 * rho, 1.0 + g11 * sigma2[0]  # I + G C
    det = k00 * k11 - k01 * k10
    if np.any(diagonal <= 0) or np.any(det <= 0):
        raise np.linalg.LinAlgError("marginal covariance is not positive definite")
    m00, m01, m10, m11 = (rho * k11 / det, -rho * k01 / det, -sigma2[0] * k10 / det, sigma2[0] * k00 / det)
    left, right = m00[:, None] * a + m01[:, None] * b, m10[:, None] * a + m11[:, None] * b
    W = -(a[:, :, None] * left[:, None, :] + b[:, :, None] * right[:, None, :])
    eye = np.eye(v.shape[1], dtype=bool)
    W[:, eye] += b
    return W, float(np.log(diagonal).sum() + np.log(det).sum())


def _general_block(S: np.ndarray, sigma2: np.ndarray) -> tuple[np.ndarray, float]:
    """(W_j, sum log det V_j) of a size group with a known sampling covariance S_j (a shared
    control group, :mod:`.sharedgroups`): V_j = S_j + sigma^2_1 J + sigma^2_2 I by a batched
    Cholesky factorisation (clusters are small)."""
    L = np.linalg.cholesky(_covariance(S, sigma2))           # LinAlgError if not positive definite
    L_inv = np.linalg.inv(L)
    W = np.swapaxes(L_inv, 1, 2) @ L_inv
    return W, float(2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum())


def _covariance(S: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    """V_j = S_j + sigma^2_1 J + sigma^2_2 I of a size group's stacked clusters."""
    n = S.shape[1]
    return S + sigma2[0] * np.ones((n, n)) + sigma2[1] * np.eye(n)


def _rho_covariance(v: np.ndarray, rho: float, sigma2: np.ndarray) -> np.ndarray:
    """V_j of a size group whose S_j is rho alone (rho sqrt(v_i v_l) off the diagonal, v on it)."""
    root = np.sqrt(v)
    V = rho * root[:, :, None] * root[:, None, :] + sigma2[0]
    V[:, np.eye(v.shape[1], dtype=bool)] += (1.0 - rho) * v + sigma2[1]
    return V


class GroupedGLS:
    """Generalised least squares with block-diagonal V = S + sigma^2_1 J + sigma^2_2 I.

    S_j has v on the diagonal and rho sqrt(v_i v_l) off it (metafor vcalc), so
    V_j = D_j + U_j C U_j' with D_j = diag((1 - rho) v + sigma^2_2), U_j = [sqrt(v), 1] and
    C = diag(rho, sigma^2_1): a diagonal plus rank two.  W_j = V_j^-1 by the Woodbury identity
    and log det V_j by the matrix determinant lemma, with only 2 x 2 inverses per cluster
    (Henderson & Searle 1981, SIAM Review 23:53, eq. 17).  Holds per size group the blocks
    V_j (``covariance``) and W_j (``weights``), and the fit: beta, (X'WX)^-1, residuals.
    """

    def __init__(self, blocks: ClusterBlocks, X_groups: list[np.ndarray], y_groups: list[np.ndarray],
                 v_groups: list[np.ndarray], rho: float, sigma2: np.ndarray,
                 sampling: list[np.ndarray | None] | None = None) -> None:
        self.blocks = blocks
        self.X_groups = X_groups
        self.y_groups = y_groups
        self.sigma2 = sigma2
        self.sampling = [None] * len(v_groups) if sampling is None else sampling
        self.v_groups, self.rho = v_groups, rho
        self.weights: list[np.ndarray] = []
        self.log_det_v = 0.0
        for v, S in zip(v_groups, self.sampling):
            W, log_det = _woodbury_block(v, rho, sigma2) if S is None else _general_block(S, sigma2)
            self.weights.append(W)
            self.log_det_v += log_det
        solution = gls_solution(self.weights, X_groups, y_groups)
        self.WX, self.cov, self.beta, self.resid, self.W_resid = solution

    @cached_property
    def covariance(self) -> list[np.ndarray]:
        """V_j per size group, built when asked (by the robust errors): not at each scoring step."""
        return [_rho_covariance(v, self.rho, self.sigma2) if S is None else _covariance(S, self.sigma2)
                for v, S in zip(self.v_groups, self.sampling)]

    def rss(self) -> float:
        """r' V^-1 r."""
        return float(sum(np.einsum("mi,mi->", r, wr) for r, wr in zip(self.resid, self.W_resid)))

    def log_likelihood(self, reml: bool) -> float:
        """Log-likelihood (ML) or restricted log-likelihood (REML) as metafor's logLik()."""
        return gls_log_likelihood(self.blocks.k, self.X_groups, self.cov, self.log_det_v, self.rss(), reml)

    def score_and_information(self, reml: bool) -> tuple[np.ndarray, np.ndarray]:
        """Score and expected information for (sigma^2_1, sigma^2_2).

        score_a = -tr(P D_a)/2 + r'W D_a W r/2,  info_ab = tr(P D_a P D_b)/2, with P = W
        under ML and P = W - W X (X'WX)^-1 X'W under REML (Harville 1977).  D_1 = J = 1 1' and
        D_2 = I, so with W symmetric every trace is a sum of entries: tr(W J) = 1'W 1,
        tr(W J W J) = (1'W 1)^2, tr(W J W) = |W 1|^2, tr(W W) = sum of W_il^2.
        """
        p = self.cov.shape[0]
        score, information = np.zeros(2), np.zeros((2, 2))
        xw_d_wx, xw_d_w_d_wx = np.zeros((2, p, p)), np.zeros((2, 2, p, p))  # X'W D_a W X, X'W D_a W D_b W X
        for W, WX, w_resid in zip(self.weights, self.WX, self.W_resid):
            row_sums = np.einsum("mil->mi", W)               # W 1, (m, n); einsum: numpy's sum
            total = np.einsum("mi->m", row_sums)             # 1'W 1, (m,)   over a short last axis
            column_wx = np.einsum("mia->ma", WX)             # 1'W X, (m, p) is 10 to 40 times slower
            row_wx = np.einsum("mi,mia->ma", row_sums, WX)    # 1'W W X
            score += 0.5 * np.array([(np.einsum("mi->m", w_resid) ** 2).sum() - total.sum(),
                                     (w_resid ** 2).sum() - np.einsum("mii->", W)])
            information += 0.5 * np.array([[(total ** 2).sum(), (row_sums ** 2).sum()],
                                           [(row_sums ** 2).sum(), (W ** 2).sum()]])
            xw_d_wx[0] += np.einsum("ma,mb->ab", column_wx, column_wx)
            xw_d_wx[1] += _cross(WX, WX)
            xw_d_w_d_wx[0, 0] += np.einsum("m,ma,mb->ab", total, column_wx, column_wx)
            xw_d_w_d_wx[0, 1] += np.einsum("ma,mb->ab", column_wx, row_wx)
            xw_d_w_d_wx[1, 1] += _cross(WX, np.einsum("mil,mla->mia", W, WX))
        xw_d_w_d_wx[1, 0] = xw_d_w_d_wx[0, 1].T        # X'W W J W X = (X'W J W W X)'
        if reml:
            C = self.cov
            for a in range(2):
                score[a] += 0.5 * np.trace(C @ xw_d_wx[a])
                for b in range(2):
                    information[a, b] += 0.5 * (-2.0 * np.trace(C @ xw_d_w_d_wx[a, b])
                                                + np.trace(C @ xw_d_wx[a] @ C @ xw_d_wx[b]))
        return score, information


def _starting_values(X: np.ndarray, y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Half each of the method-of-moments total heterogeneity (OLS residual variance - mean v)."""
    ols = weighted_fit(X, y, np.ones(y.size))
    total = max(ols.rss() / max(y.size - X.shape[1], 1) - float(np.mean(v)), 0.1 * float(np.mean(v)))
    return np.array([total / 2.0, total / 2.0])


def sampling_blocks(blocks: ClusterBlocks, v: np.ndarray, rho: float,
                    groups: ArmGroups | None) -> list[np.ndarray | None] | None:
    """Per size group: the known sampling covariance S_j of its clusters, (m, n, n), where a
    cluster holds comparisons that share a group (:mod:`.sharedgroups`), else None (rho alone:
    the Woodbury path); None where no cluster has one."""
    if groups is None:
        return None
    sampling: list[np.ndarray | None] = []
    for rows in blocks.groups:
        n = rows.shape[1]
        base = np.broadcast_to(np.eye(n) + rho * (1.0 - np.eye(n)), rows.shape + (n,))
        correlation, changed = shared_group_correlation(groups, rows, base)
        sd = np.sqrt(v[rows])
        sampling.append(correlation * sd[:, :, None] * sd[:, None, :] if changed.any() else None)
    return sampling if any(S is not None for S in sampling) else None


def estimate_sigma2(blocks: ClusterBlocks, X: np.ndarray, y: np.ndarray, v: np.ndarray, rho: float,
                    method: str, fixed_zero: tuple[bool, bool] = (False, False),
                    sampling: list[np.ndarray | None] | None = None) -> tuple[GroupedGLS, int]:
    """ML or REML estimates of (sigma^2_1, sigma^2_2) >= 0 by bounded Fisher scoring.

    A sigma^2 at zero whose score points below zero is held at zero (the boundary
    solution, as metafor's bound sigma^2 >= 0); steps are halved until the (restricted)
    log-likelihood does not decrease.  ``fixed_zero`` holds a component at 0 (metafor
    rma.mv(sigma2 = c(0, NA)) and the like); ``sampling`` from :func:`sampling_blocks`.
    Returns (gls, iterations).
    """
    reml = method == "REML"
    X_groups, y_groups, v_groups = blocks.stack(X), blocks.stack(y), blocks.stack(v)
    scale = float(np.mean(v))
    # One cluster: its sigma^2 cannot be told apart from the intercept (metafor fixes a
    # single-level factor's sigma^2 at 0 and so does this fit).
    identifiable = np.array([blocks.n_clusters > 1, True]) & ~np.asarray(fixed_zero)
    sigma2 = _starting_values(X, y, v) * identifiable
    gls = GroupedGLS(blocks, X_groups, y_groups, v_groups, rho, sigma2, sampling)
    loglik = gls.log_likelihood(reml)
    for iteration in range(1, MAX_ITERATIONS + 1):
        score, information = gls.score_and_information(reml)
        free = identifiable & ~((sigma2 <= 0.0) & (score <= 0.0))
        step = np.zeros(2)
        if free.any():
            sub = information[np.ix_(free, free)]
            step[free] = np.linalg.lstsq(sub, score[free], rcond=None)[0]
        factor = 1.0
        while True:
            candidate = np.maximum(sigma2 + factor * step, 0.0)
            trial = GroupedGLS(blocks, X_groups, y_groups, v_groups, rho, candidate, sampling)
            trial_loglik = trial.log_likelihood(reml)
            if trial_loglik >= loglik - 1e-12 * abs(loglik) or factor < 1e-10:
                break
            factor /= 2.0
        change = np.max(np.abs(candidate - sigma2))
        sigma2, gls, loglik = candidate, trial, trial_loglik
        if change <= SCORING_TOLERANCE * scale:
            return gls, iteration
    raise ConvergenceError(f"{method} estimation of sigma^2 did not converge in {MAX_ITERATIONS} "
                           f"Fisher-scoring iterations (last sigma^2: {sigma2[0]:.6g}, {sigma2[1]:.6g})")


def gls_at(fit: MultilevelFit, sigma2: Sequence[float]) -> GroupedGLS:
    """``fit``'s model with sigma^2 held at ``sigma2``; at 0, V = S: QE and the saturated model."""
    X, y, v = (fit.blocks.stack(values) for values in (fit.X, fit.y, fit.v))
    return GroupedGLS(fit.blocks, X, y, v, fit.rho, np.asarray(sigma2, dtype=float), fit.sampling)


def covariance_at(fit: MultilevelFit, sigma2: Sequence[float]) -> np.ndarray:
    """The coefficients' model-based covariance at ``sigma2`` (metafor's dfbetas() scales by it)."""
    return gls_at(fit, sigma2).cov


def log_likelihood_without(fit: MultilevelFit, component: int) -> tuple[float, tuple[float, ...]]:
    """The (restricted) log-likelihood of ``fit``'s model refitted with sigma^2 number
    ``component`` (0 between, 1 within clusters) held at 0, and that fit's sigma^2."""
    fixed_zero = (component == 0, component == 1)
    gls, _ = estimate_sigma2(fit.blocks, fit.X, fit.y, fit.v, fit.rho, fit.method, fixed_zero, fit.sampling)
    return gls.log_likelihood(fit.method == "REML"), tuple(float(s) for s in gls.sigma2)


@dataclass(frozen=True)
class MultilevelFit(FittedData):
    """A fitted three-level / CHE model; the public results are views of it."""

    rho: float
    blocks: ClusterBlocks
    gls: GroupedGLS
    iterations: int
    log_likelihood: float
    sampling: list | None = None    # per size group, S_j where comparisons share a group
    shared_pairs: int = 0           # pairs of comparisons sharing a group, covariance modelled

    @property
    def n_clusters(self) -> int:
        return self.blocks.n_clusters

    @property
    def sigma2(self) -> tuple[float, ...]:
        return tuple(float(s) for s in self.gls.sigma2)

    @property
    def beta(self) -> np.ndarray:
        return self.gls.beta

    @property
    def vcov(self) -> np.ndarray:
        return self.gls.cov

    @property
    def notes(self) -> tuple[str, ...]:
        notes: tuple[str, ...] = ()
        if self.n_clusters == 1:
            notes = ("one cluster: sigma^2 between is fixed at 0 (as metafor for a single-level factor)",)
        elif self.n_clusters == self.k:
            notes = ("every cluster holds one effect: only the sum of the two sigma^2 is "
                     "identified, not their split",)
        return notes + ((SHARED_GROUP_NOTE.format(self.shared_pairs),) if self.shared_pairs else ())

    @cached_property
    def q(self) -> float:
        """QE: the residual heterogeneity statistic r' S^-1 r of the fit with sigma^2 = 0."""
        return gls_at(self, (0.0, 0.0)).rss()

    @property
    def q_df(self) -> int:
        return self.k - self.p

    @property
    def q_p(self) -> float:
        return float(dist.chi2_sf(self.q, self.q_df)) if self.q_df > 0 else 1.0

    @cached_property
    def i2(self) -> tuple[float, ...]:
        """I^2 per level (percent): sigma^2_l / (sum sigma^2 + typical v), the typical v =
        (k - p) / tr(P) with W = diag(1/v) (metafor FAQ, "I^2 for multilevel models")."""
        typical_v = (self.k - self.p) / weighted_fit(self.X, self.y, 1.0 / self.v).trace_p()
        total = sum(self.sigma2) + typical_v
        return tuple(100.0 * s / total for s in self.sigma2)


def fit_multilevel(X: np.ndarray, y: np.ndarray, v: np.ndarray, cluster: ClusterLabels, *,
                   terms: Iterable[str], method: str = "REML", rho: float | None = None, level: float = 0.95,
                   source: str | None = None, cluster_column: str = "cluster",
                   groups: ArmGroups | None = None) -> MultilevelFit:
    """Fit rma.mv(y, vcalc(v, cluster, rho), mods = X, random = ~ 1 | cluster/effect); with
    ``groups`` (the rows' arms and sizes) comparisons sharing a group get that group's
    covariance, vcalc(v, cluster, obs, rho, grp1, grp2, w1, w2)."""
    method = method.upper()
    if method not in MULTILEVEL_METHODS:
        raise InputError(f"the multilevel model is fitted by {' or '.join(MULTILEVEL_METHODS)}, "
                         f"not {method}")
    rho = 0.0 if rho is None else float(rho)
    if not -1.0 < rho < 1.0:
        raise InputError(f"rho must lie strictly between -1 and 1, got {rho:g}")
    codes = cluster_codes(cluster, column=cluster_column, source=source)
    if codes.size != y.size:
        raise InputError(f"{codes.size} cluster labels for {y.size} effect sizes", column=cluster_column)
    k, p = X.shape
    if k <= p + 1:
        raise InputError(f"{k} effect sizes cannot fit {p} coefficient(s) and two variance "
                         f"components: need k >= {p + 2}")
    blocks = ClusterBlocks(codes)
    sampling = sampling_blocks(blocks, v, rho, groups)
    try:
        gls, iterations = estimate_sigma2(blocks, X, y, v, rho, method, sampling=sampling)
    except np.linalg.LinAlgError:
        shared = " with the shared-group covariance" if sampling is not None else ""
        raise InputError(f"rho = {rho:g}{shared} makes a cluster's sampling covariance not positive "
                         "definite") from None
    return MultilevelFit(X=X, y=y, v=v, terms=tuple(terms), method=method, rho=rho, level=level,
                         blocks=blocks, gls=gls, iterations=iterations,
                         log_likelihood=gls.log_likelihood(method == "REML"), sampling=sampling,
                         shared_pairs=0 if sampling is None or groups is None
                         else shared_pairs(groups, codes))
