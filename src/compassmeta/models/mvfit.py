"""Estimation of a multivariate / longitudinal model: metafor's
rma.mv(yi, V, mods, random = ~ inner | outer, struct = S), by ML or REML.

The variance parameters maximise the profiled (restricted) log-likelihood (Harville 1977;
Berkey et al. 1998, Stat Med 17:2537; Ishak et al. 2007, Clin Trials 4:525 for AR/HAR over
time) with BFGS on the analytic gradient (:mod:`.mvgls`) in the unconstrained
parameterisation of :mod:`.mvstructs`, then Newton steps on a central-difference Hessian of
that gradient until the step is below 1e-10: the optimum is found to ~1e-9 or better.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..common.errors import ConvergenceError, InputError
from .fitstats import information_criteria
from .multilevel import ClusterBlocks
from .mvgls import MultivariateGLS, RandomEffectLayout
from .wls import weighted_fit

if TYPE_CHECKING:
    from .mvstructs import Parameters, Structure

#: theta -> (-log-likelihood, its gradient).
Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]

GRADIENT_TOLERANCE = 1e-7     # max |dl/dtheta| accepted at the optimum
NEWTON_STEPS = 20
POLISHED = 1e-10              # no Newton step once max |dl/dtheta| is below this


@dataclass(frozen=True)
class Problem:
    """The data of one fit, stacked per cluster size."""

    k: int
    blocks: ClusterBlocks
    X_groups: list[np.ndarray]
    y_groups: list[np.ndarray]
    S_groups: list[np.ndarray]
    layout: RandomEffectLayout
    reml: bool

    def gls(self, tau2: np.ndarray, rho: np.ndarray) -> MultivariateGLS:
        return MultivariateGLS(self.k, self.X_groups, self.y_groups, self.S_groups,
                               self.layout.blocks(tau2, rho))

    def sampling_only(self) -> MultivariateGLS:
        return MultivariateGLS(self.k, self.X_groups, self.y_groups, self.S_groups,
                               [np.zeros_like(S) for S in self.S_groups])


def _objective(problem: Problem, parameters: Parameters) -> Objective:
    """-l(theta) and its gradient; +inf where V is not positive definite."""
    def evaluate(theta: np.ndarray) -> tuple[float, np.ndarray]:
        tau2, rho = parameters.natural(theta)
        try:
            gls = problem.gls(tau2, rho)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(theta)
        d_tau, d_rho = problem.layout.gradient(tau2, rho, gls.gradient_blocks(problem.reml))
        return -gls.log_likelihood(problem.reml), -parameters.chain(theta, d_tau, d_rho)
    return evaluate


def _newton_polish(evaluate: Objective, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Newton steps on a central-difference Hessian of the analytic gradient; returns the
    point, its gradient and the number of steps (stops where the Hessian is not positive
    definite, at a flat or boundary direction, leaving BFGS's point)."""
    value, gradient = evaluate(theta)
    for step in range(1, NEWTON_STEPS + 1):
        if np.max(np.abs(gradient)) < POLISHED:
            return theta, gradient, step - 1
        h = 1e-5 * np.maximum(1.0, np.abs(theta))
        hessian = np.empty((theta.size, theta.size))
        for i in range(theta.size):
            shift = np.zeros(theta.size)
            shift[i] = h[i]
            hessian[i] = (evaluate(theta + shift)[1] - evaluate(theta - shift)[1]) / (2 * h[i])
        hessian = (hessian + hessian.T) / 2
        try:
            np.linalg.cholesky(hessian)
        except np.linalg.LinAlgError:
            return theta, gradient, step - 1
        move = np.linalg.solve(hessian, gradient)
        candidate = theta - move
        new_value, new_gradient = evaluate(candidate)
        if not new_value <= value + 1e-12 * abs(value):
            return theta, gradient, step - 1
        theta, value, gradient = candidate, new_value, new_gradient
        if np.max(np.abs(move)) < 1e-10:
            break
    return theta, gradient, step


def _converged(gradient: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(gradient)) and np.max(np.abs(gradient)) <= GRADIENT_TOLERANCE)


def maximise(problem: Problem, parameters: Parameters, start: tuple[np.ndarray,
             np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    """(tau^2, rho, iterations) at the maximum of the (restricted) likelihood over the free
    parameters, or ConvergenceError."""
    from scipy.optimize import minimize

    evaluate = _objective(problem, parameters)
    theta0 = parameters.unconstrained(*start)[parameters.free]
    if theta0.size == 0:
        return start[0], start[1], 0
    result = minimize(evaluate, theta0, jac=True, method="BFGS",
                      options={"gtol": 1e-9, "maxiter": 2000})
    theta, gradient, polish = _newton_polish(evaluate, result.x)
    if not _converged(gradient):
        # BFGS lost precision (a flat or awkward surface, as at |rho| = 1): Nelder-Mead
        # from its point, then Newton again.
        simplex = minimize(lambda t: evaluate(t)[0], result.x, method="Nelder-Mead",
                           options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000, "adaptive": True})
        theta, gradient, polish = _newton_polish(evaluate, simplex.x)
        polish += int(simplex.nit)
    if not _converged(gradient):
        at_zero = [i for i in range(parameters.n_tau2)
                   if parameters.free[i] and abs(parameters.full(theta)[i]) < 1e-4]
        if at_zero and not parameters.signed:
            return _on_boundary(problem, parameters, theta, at_zero)
        raise ConvergenceError(f"the {'REML' if problem.reml else 'ML'} optimisation did not converge "
                               f"({result.message.lower().rstrip('.')}; largest gradient "
                               f"{np.max(np.abs(gradient)):.3g})")
    tau2, rho = parameters.natural(theta)
    return tau2, rho, int(result.nit) + polish


def _on_boundary(problem: Problem, parameters: Parameters, theta: np.ndarray,
                 at_zero: list[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """The optimum with the tau^2 in ``at_zero`` held at 0, accepted when the likelihood
    falls as each of them leaves 0 (|s| has a kink at 0 where tau enters off the diagonal,
    so the boundary optimum is not a stationary point)."""
    from .mvstructs import Parameters

    fixed = {**parameters.fixed, **{i: 0.0 for i in at_zero}}
    held = Parameters(parameters.structure, parameters.n_levels, parameters.scale, fixed, parameters.signed,
                      parameters.n_sigma)
    tau2, rho = parameters.natural(theta)
    tau2[at_zero] = 0.0
    tau2, rho, iterations = maximise(problem, held, (tau2, rho))
    gls = problem.gls(tau2, rho)
    d_tau, _ = problem.layout.gradient(tau2, rho, gls.gradient_blocks(problem.reml))
    if np.any(d_tau[at_zero] > GRADIENT_TOLERANCE):
        raise ConvergenceError(f"the {'REML' if problem.reml else 'ML'} optimisation did not converge "
                               "near tau^2 = 0")
    return tau2, rho, iterations


def starting_values(X: np.ndarray, y: np.ndarray, v: np.ndarray, n_tau2: int, n_rho: int,
                    structure: Structure) -> tuple[np.ndarray, np.ndarray]:
    """tau^2: the method-of-moments heterogeneity (OLS residual variance - mean v, at least a
    tenth of mean v); rho: 0 for UN, 0.5 otherwise."""
    ols = weighted_fit(X, y, np.ones(y.size))
    total = max(ols.rss() / max(y.size - X.shape[1], 1) - float(np.mean(v)), 0.1 * float(np.mean(v)))
    rho = np.zeros(n_rho) if structure.name == "UN" else np.full(n_rho, 0.5)
    return np.full(n_tau2, total), rho


def fixed_tau2(structure: Structure, level_codes: np.ndarray, cluster_codes: np.ndarray,
               n_levels: int) -> dict[int, float]:
    """Levels seen in one cluster only: their tau^2 is held at 0 (metafor, HCS/UN/DIAG/HAR)."""
    if not structure.heterogeneous:
        return {}
    seen = np.zeros((n_levels, cluster_codes.max() + 1), dtype=bool)
    seen[level_codes, cluster_codes] = True
    return {int(a): 0.0 for a in np.nonzero(seen.sum(axis=1) == 1)[0]}


def check_identifiable(structure: Structure, level_codes: np.ndarray, cluster_codes: np.ndarray,
                       n_levels: int, levels: Sequence[str], has_times: bool) -> None:
    """One-line refusals of what the data cannot identify."""
    if structure.by_time and not has_times:
        raise InputError("struct CAR needs the time of every row (--time, or a numeric inner column)")
    if n_levels < 2 and not structure.by_time:
        raise InputError(f"the inner column has one level ({levels[0]}): struct {structure.name} needs "
                         "at least two")
    n_clusters = int(cluster_codes.max()) + 1
    together = np.zeros((n_clusters, n_levels), dtype=bool)
    together[cluster_codes, level_codes] = True
    if structure.rho_count(n_levels) and not (together.sum(axis=1) > 1).any():
        raise InputError(f"no cluster holds two levels of the inner column: rho of struct {structure.name} "
                         "is not identified (struct ID or DIAG fits these data)")
    if structure.name == "UN":
        count = n_levels * (n_levels + 1) // 2
        if n_clusters < count:
            raise InputError(f"struct UN over {n_levels} levels has {count} variance parameters but the "
                             f"data hold {n_clusters} clusters")
        pairs = together.T.astype(int) @ together.astype(int)
        a, b = np.argwhere(pairs == 0)[0] if (pairs == 0).any() else (None, None)
        if a is not None and b is not None:
            raise InputError(f"levels {levels[a]} and {levels[b]} never occur in one cluster: "
                             "their correlation (struct UN) is not identified")


def log_likelihood_terms(k: int, p: int, log_likelihood: float, gls_sampling: MultivariateGLS, reml: bool,
                         n_parameters: int) -> tuple[float, float, float]:
    """metafor's deviance, AIC and BIC of an rma.mv fit (deviance under ML against the
    saturated model with V = S)."""
    if reml:
        deviance = -2.0 * log_likelihood
    else:
        saturated = -0.5 * k * math.log(2 * math.pi) - 0.5 * gls_sampling.log_det_v
        deviance = -2.0 * (log_likelihood - saturated)
    stats = information_criteria(log_likelihood, deviance, k, p, p + n_parameters, "REML" if reml else "ML")
    return deviance, stats.aic, stats.bic
