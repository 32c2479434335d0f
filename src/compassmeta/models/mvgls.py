"""Block-diagonal generalised least squares and the (restricted) likelihood of a multivariate
model, cluster by cluster.

V = blockdiag_j(S_j + G_j): S_j the sampling covariance of cluster j, G_j = Z_j G Z_j' its
random-effect covariance.  Clusters of equal size are stacked ((m, n, n) arrays, the
stacking of :class:`.multilevel.ClusterBlocks`), so no k x k matrix is formed and the cost
is linear in k.  The gradient of the log-likelihood in the elements of V_j is
dl/dV_j = (P_jj - P_j y y' P_j') / -2 with P = V^-1 (ML) or V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1
(REML), P y = V^-1 r (Harville 1977, JASA 72:320, eqs. 4.6 and 6.3); only the diagonal
blocks P_jj are needed because dV/dtheta is block-diagonal.
"""
import math
from collections.abc import Sequence

import numpy as np

from .multilevel import ClusterBlocks, gls_log_likelihood, gls_solution
from .mvstructs import Structure


def inverse_and_log_det(V: np.ndarray) -> tuple[np.ndarray, float]:
    """V_j^-1 and sum_j log det V_j for a stack of symmetric blocks; LinAlgError unless every
    block is positive definite.  Blocks of one and two rows in closed form (the bivariate case
    is the common one; numpy's batched LAPACK calls cost more than the arithmetic there)."""
    n = V.shape[1]
    if n == 1:
        if np.any(V <= 0):
            raise np.linalg.LinAlgError("not positive definite")
        return 1.0 / V, float(np.log(V).sum())
    if n == 2:
        a, b, d = V[:, 0, 0], V[:, 0, 1], V[:, 1, 1]
        det = a * d - b * b
        if np.any(a <= 0) or np.any(det <= 0):
            raise np.linalg.LinAlgError("not positive definite")
        W = np.stack([np.stack([d, -b], axis=1), np.stack([-b, a], axis=1)], axis=1) / det[:, None, None]
        return W, float(np.log(det).sum())
    lower = np.linalg.cholesky(V)
    return np.linalg.inv(V), 2.0 * float(np.log(np.diagonal(lower, axis1=1, axis2=2)).sum())


class MultivariateGLS:
    """GLS fit of y = X beta + e with Var(e) = blockdiag(S_j + G_j), per size group.

    Attributes follow :class:`.multilevel.GroupedGLS` (``covariance``, ``weights``, ``WX``,
    ``X_groups``, ``resid``, ``cov``, ``beta``) so that the CR2 estimator of
    :mod:`.robust` applies unchanged.  Raises ``np.linalg.LinAlgError`` when a V_j is not
    positive definite.
    """

    def __init__(self, k: int, X_groups: list[np.ndarray], y_groups: list[np.ndarray],
                 S_groups: list[np.ndarray], G_groups: list[np.ndarray]) -> None:
        self.k = k
        self.X_groups = X_groups
        self.y_groups = y_groups
        self.covariance = [S + G for S, G in zip(S_groups, G_groups)]
        self.weights: list[np.ndarray] = []
        self.log_det_v = 0.0
        for V in self.covariance:
            W, log_det = inverse_and_log_det(V)
            self.weights.append(W)
            self.log_det_v += log_det
        solution = gls_solution(self.weights, X_groups, y_groups)
        self.WX, self.cov, self.beta, self.resid, self.W_resid = solution

    @property
    def p(self) -> int:
        return self.cov.shape[0]

    def rss(self) -> float:
        """r' V^-1 r."""
        return float(sum(np.einsum("mi,mi->", r, wr) for r, wr in zip(self.resid, self.W_resid)))

    def log_likelihood(self, reml: bool) -> float:
        """metafor's logLik() of an rma.mv: ML, or REML with the log det(X'X) term."""
        return gls_log_likelihood(self.k, self.X_groups, self.cov, self.log_det_v, self.rss(), reml)

    def gradient_blocks(self, reml: bool) -> list[np.ndarray]:
        """dl/dV_j per group, (m, n, n): (P_jj - u_j u_j') / -2 with u_j = V_j^-1 r_j."""
        blocks = []
        for W, WX, u in zip(self.weights, self.WX, self.W_resid):
            P = W - (WX @ self.cov) @ np.swapaxes(WX, 1, 2) if reml else W
            blocks.append(0.5 * (u[:, :, None] * u[:, None, :] - P))
        return blocks


class RandomEffectLayout:
    """Where each row's random effect sits: for every pair of rows of a cluster the flat index
    a * L + b of its entry in the L x L matrix G (per size group), for CAR the time lags
    between the rows of a cluster, and for each nested term ``~ 1 | f`` (metafor's sigma^2
    components) whether two rows share a level of f (f nested in the clusters).

    The variance vector of :meth:`blocks` and :meth:`gradient` is the struct's tau^2 followed
    by the nested terms' sigma^2: V_j = S_j + G_j + sum_c sigma^2_c A_cj, A_cj[i, l] = 1 when
    rows i and l share the level of term c (metafor rma.mv with random = list(~ inner | outer,
    ~ 1 | f); Viechtbauer 2010, JSS 36(3), and the rma.mv help).
    """

    def __init__(self, blocks: ClusterBlocks, level_codes: np.ndarray, n_levels: int, structure: Structure,
                 times: np.ndarray | None = None, nested: Sequence[np.ndarray] = ()) -> None:
        self.structure = structure
        self.n_levels = n_levels
        self.n_tau2 = structure.n_tau2(n_levels)
        codes = [level_codes[rows] for rows in blocks.groups]
        self.pair_index = [c[:, :, None] * n_levels + c[:, None, :] for c in codes]   # (m, n, n)
        positions = np.arange(n_levels, dtype=float)
        self.level_lags = np.abs(positions[:, None] - positions[None, :])
        if structure.by_time:
            assert times is not None, "struct CAR needs each row's time"
            stacked = [times[rows] for rows in blocks.groups]
            self.row_lags = [np.abs(t[:, :, None] - t[:, None, :]) for t in stacked]
        self.shared = [[(c[rows][:, :, None] == c[rows][:, None, :]).astype(float) for rows in blocks.groups]
                       for c in nested]

    def _tau(self, tau2: np.ndarray) -> np.ndarray:
        tau = np.sqrt(tau2)
        return tau if self.structure.heterogeneous else np.full(self.n_levels, tau[0])

    def blocks(self, variances: np.ndarray, rho: np.ndarray) -> list[np.ndarray]:
        """G_j + sum_c sigma^2_c A_cj per group."""
        tau2, sigma2 = variances[:self.n_tau2], variances[self.n_tau2:]
        if self.structure.by_time:
            G = [tau2[0] * self.structure.correlation(rho, lags)[0] for lags in self.row_lags]
        else:
            tau = self._tau(tau2)
            R, _ = self.structure.correlation(rho, self.level_lags)
            flat = (tau[:, None] * R * tau[None, :]).ravel()
            G = [flat[index] for index in self.pair_index]
        for s2, masks in zip(sigma2, self.shared):
            G = [g + s2 * mask for g, mask in zip(G, masks)]
        return G

    def gradient(self, variances: np.ndarray, rho: np.ndarray,
                 gradient_blocks: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(dl/dsd, dl/drho) from dl/dV_j: sd = sqrt of each variance (tau^2, then sigma^2)."""
        tau2, sigma2 = variances[:self.n_tau2], variances[self.n_tau2:]
        d_taus, d_rho = self._struct_gradient(tau2, rho, gradient_blocks)
        d_sigmas = [2.0 * math.sqrt(s2) * sum(float(np.einsum("mil,mil->", D, mask))
                                              for D, mask in zip(gradient_blocks, masks))
                    for s2, masks in zip(sigma2, self.shared)]
        return np.concatenate([d_taus, d_sigmas]), d_rho

    def _struct_gradient(self, tau2: np.ndarray, rho: np.ndarray,
                         gradient_blocks: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if self.structure.by_time:
            tau0 = math.sqrt(tau2[0])
            d_tau, d_rho = 0.0, np.zeros(1)
            for lags, D in zip(self.row_lags, gradient_blocks):
                R, dR = self.structure.correlation(rho, lags)
                d_tau += 2.0 * tau0 * float((D * R).sum())
                d_rho += tau2[0] * np.einsum("kmil,mil->k", dR, D)
            return np.array([d_tau]), d_rho
        size = self.n_levels * self.n_levels
        H: np.ndarray = sum((np.bincount(index.ravel(), weights=D.ravel(), minlength=size)
                 for index, D in zip(self.pair_index, gradient_blocks)), np.zeros(size))
        H = H.reshape(self.n_levels, self.n_levels)
        tau = self._tau(tau2)
        R, dR = self.structure.correlation(rho, self.level_lags)
        d_taus = 2.0 * (H * R) @ tau
        if not self.structure.heterogeneous:
            d_taus = np.array([d_taus.sum()])
        d_rho = np.einsum("ab,kab->k", H * np.outer(tau, tau), dR)
        return d_taus, d_rho
