"""Estimators of the between-study variance tau^2, as defined in metafor's rma.uni().

Each estimator takes the design ``X`` (k x p), effects ``y`` and sampling variances ``v``
and returns a :class:`Tau2Estimate`.  Negative moment estimates are truncated at zero.

Sources: DerSimonian & Laird (1986); Hedges (1983) "HE"; Hunter & Schmidt (2004) "HS";
Sidik & Jonkman (2005) "SJ"; Paule & Mandel (1982) "PM"; Morris (1983) "EB";
ML and REML by Fisher scoring (Viechtbauer 2005, J Educ Behav Stat 30:261-293); "DLIT" and
"SJIT", metafor's iterated DL and SJ (DerSimonian & Kacker 2007, Contemp Clin Trials 28:105).
"""
import math
from dataclasses import dataclass

import numpy as np

from ..common.errors import ConvergenceError
from ..common.roots import expand_upper, solve_monotone
from .wls import generalized_q, weighted_fit

METHODS = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM", "DLIT", "SJIT")

#: Scoring stops when a step changes tau^2 by less than this, relative to the larger of
#: tau^2 and the mean sampling variance (metafor: 1e-5 absolute).
SCORING_TOLERANCE = 1e-12
#: Newton steps take over once a step is below this (relative) size ...
NEWTON_SWITCH = 1e-2
#: ... and stop once a step is below this: the error left after a Newton step is of the
#: order of the step squared, far below SCORING_TOLERANCE.
NEWTON_STOP = 1e-6
MAX_ITERATIONS = 100  # metafor's maxiter
#: The iterated DL and SJ estimators stop when a step changes tau^2 by less than this, relative
#: to the larger of tau^2 and the mean sampling variance (metafor: 1e-5 absolute) ...
FIXED_POINT_TOLERANCE = 1e-13
#: ... within this many steps (they converge linearly; metafor stops at 100).
FIXED_POINT_MAX_ITERATIONS = 10_000


@dataclass(frozen=True)
class Tau2Estimate:
    """An estimate of tau^2 and how it was reached."""

    tau2: float
    iterations: int = 0
    converged: bool = True
    note: str = ""


def _ols_moment(X, y, v):
    """Hedges' (HE) method-of-moments estimate from OLS residuals, untruncated."""
    k, p = X.shape
    ols = weighted_fit(X, y, np.ones(k))
    trace_pv = float(np.add.reduce(v)) - ols.trace_cov_moment(v)
    return (ols.rss() - trace_pv) / (k - p)


def hedges(X, y, v):
    """HE: (RSS_OLS - tr(P_OLS V)) / (k - p)."""
    return Tau2Estimate(max(0.0, _ols_moment(X, y, v)))


def dersimonian_laird(X, y, v):
    """DL: (Q - (k - p)) / tr(P) with fixed-effect weights 1/v."""
    k, p = X.shape
    fe = weighted_fit(X, y, 1.0 / v)
    return Tau2Estimate(max(0.0, (fe.rss() - (k - p)) / fe.trace_p()))


def hunter_schmidt(X, y, v):
    """HS: (Q - k) / sum(1/v)."""
    k = X.shape[0]
    fe = weighted_fit(X, y, 1.0 / v)
    return Tau2Estimate(max(0.0, (fe.rss() - k) / fe.w.sum()))


def sidik_jonkman(X, y, v):
    """SJ: tau0^2 * Q(tau0^2) / (k - p), with tau0^2 the (biased) variance of y."""
    k, p = X.shape
    tau2_start = float(np.mean((y - y.mean()) ** 2))
    fit = weighted_fit(X, y, 1.0 / (v + tau2_start))
    return Tau2Estimate(max(0.0, tau2_start * fit.rss() / (k - p)))


def _fixed_point(name, step, start, v):
    """Iterate tau^2 <- step(tau^2) from ``start`` until it stops changing (see
    FIXED_POINT_TOLERANCE); a ConvergenceError, as metafor's, if it does not."""
    scale = float(np.mean(v))
    tau2 = start
    for iteration in range(1, FIXED_POINT_MAX_ITERATIONS + 1):
        previous, tau2 = tau2, step(tau2)
        if abs(tau2 - previous) <= FIXED_POINT_TOLERANCE * max(tau2, scale):
            return Tau2Estimate(tau2, iterations=iteration, converged=True)
    raise ConvergenceError(f"the iterative {name} estimator did not converge in {FIXED_POINT_MAX_ITERATIONS} steps")


def iterated_dersimonian_laird(X, y, v):
    """DLIT (metafor): the DL formula with weights 1/(v + tau^2), tau^2 <- max(0, (Q(tau^2) - (k - p)) /
    tr P(tau^2)), repeated from tau^2 = 0."""
    k, p = X.shape

    def step(tau2):
        fit = weighted_fit(X, y, 1.0 / (v + tau2))
        return max(0.0, (fit.rss() - (k - p)) / fit.trace_p())

    return _fixed_point("DL", step, 0.0, v)


def iterated_sidik_jonkman(X, y, v):
    """SJIT (metafor): the SJ update tau^2 <- tau^2 Q(tau^2) / (k - p) repeated from SJ's start; its
    fixed point is where the generalised Q equals k - p, the PM estimate."""
    k, p = X.shape

    def step(tau2):
        return tau2 * weighted_fit(X, y, 1.0 / (v + tau2)).rss() / (k - p)

    return _fixed_point("SJ", step, float(np.mean((y - y.mean()) ** 2)), v)


def paule_mandel(X, y, v):
    """PM: the tau^2 >= 0 at which the generalised Q equals its expectation k - p."""
    k, p = X.shape

    def excess_q(tau2):
        return generalized_q(X, y, v, tau2) - (k - p)

    if excess_q(0.0) <= 0:
        return Tau2Estimate(0.0)
    scale = float(np.mean(v))
    upper = expand_upper(excess_q, max(scale, float(np.var(y))))
    return Tau2Estimate(solve_monotone(excess_q, 0.0, upper, scale=scale), converged=True)


def _estimating_equation(method, fit, k, p):
    """The estimating function f(tau^2) = 0 at the estimate, its expected-information scale
    (the Fisher-scoring / Morris step is f / scale, as metafor's rma.uni) and its derivative
    df/dtau^2 (for Newton steps), using dP/dtau^2 = -PP.
    """
    if method == "ML":
        sum_w2 = float(np.dot(fit.w, fit.w))
        return fit.ypp_y() - float(np.add.reduce(fit.w)), sum_w2, sum_w2 - 2.0 * fit.ypppy()
    if method == "REML":
        trace_pp = fit.trace_pp()
        return fit.ypp_y() - fit.trace_p(), trace_pp, trace_pp - 2.0 * fit.ypppy()
    factor = k / (k - p)  # EB (Morris 1983): Q k / (k - p) = k
    return fit.rss() * factor - k, float(np.add.reduce(fit.w)), -fit.ypp_y() * factor


def log_likelihood(X, y, v, tau2, restricted):
    """(Restricted) log-likelihood of the random-effects model at ``tau2`` (metafor's ll.ML / ll.REML)."""
    k, p = X.shape
    fit = weighted_fit(X, y, 1.0 / (v + tau2))
    value = -0.5 * float(np.sum(np.log(v + tau2))) - 0.5 * fit.rss()
    if restricted:
        return value - 0.5 * (k - p) * np.log(2 * np.pi) - 0.5 * fit.log_det_xwx()
    return value - 0.5 * k * np.log(2 * np.pi)


def fisher_scoring(method, X, y, v):
    """ML, REML or EB by iterated scoring from the HE start.

    Scoring steps (metafor's algorithm) until tau^2 moves by less than 1% of its scale, then
    Newton steps, which converge quadratically to the same root, while the curvature allows.
    A step past zero lands on zero, where the estimate stays if the equation points further
    down (metafor halves such steps instead and creeps towards zero, ending near 1e-15).
    Raises :class:`ConvergenceError` when the iteration does not settle.
    """
    k, p = X.shape
    tau2 = max(0.0, _ols_moment(X, y, v))
    scale = float(np.add.reduce(v)) / k
    change = math.inf
    for iteration in range(1, MAX_ITERATIONS + 1):
        fit = weighted_fit(X, y, 1.0 / (v + tau2))
        value, information, derivative = _estimating_equation(method, fit, k, p)
        if tau2 == 0.0 and value <= 0.0:
            break  # the equation points below zero at the boundary: the estimate is 0
        newton = derivative < 0 and change <= NEWTON_SWITCH * max(scale, tau2)
        step = -value / derivative if newton else value / information
        if not math.isfinite(step):
            raise ConvergenceError(f"{method}: the scoring step is not finite at tau2 = {tau2:g}")
        new_tau2 = max(0.0, tau2 + step)  # a step past zero lands on the boundary, tested next
        change = abs(new_tau2 - tau2)
        tau2 = new_tau2
        if change <= (NEWTON_STOP if newton else SCORING_TOLERANCE) * max(scale, tau2) and tau2 > 0:
            break
    else:
        raise ConvergenceError(
            f"{method}: Fisher scoring did not converge in {MAX_ITERATIONS} iterations (last tau2 = {tau2:g})")
    if method in ("ML", "REML") and tau2 > 0:
        restricted = method == "REML"
        # metafor's ll0check: a boundary optimum that scoring walked away from.
        if log_likelihood(X, y, v, 0.0, restricted) - log_likelihood(X, y, v, tau2, restricted) > 1e-10:
            tau2 = 0.0
    return Tau2Estimate(tau2, iterations=iteration, converged=True)


def bracketed_root(method, X, y, v, reason):
    """Solve the estimating equation of ML, REML or EB by a bracketing root search when
    scoring oscillates (metafor stops with an error there).  The root sits where the
    equation turns from positive to negative: a maximum of the (restricted) likelihood."""
    k, p = X.shape
    scale = float(np.add.reduce(v)) / k

    def equation(tau2):
        return _estimating_equation(method, weighted_fit(X, y, 1.0 / (v + tau2)), k, p)[0]

    try:
        if equation(0.0) <= 0:
            tau2 = 0.0
        else:
            tau2 = solve_monotone(equation, 0.0, expand_upper(equation, scale), scale=scale)
    except ConvergenceError as error:
        raise ConvergenceError(f"{reason}; the bracketed root search failed too ({error}); "
                               "try method PM or DL") from None
    return Tau2Estimate(tau2, iterations=0, converged=True,
                        note=f"{reason}; solved instead by a bracketed root search of the {method} equation")


def estimate_tau2(method, X, y, v):
    """Dispatch to the estimator named ``method`` (one of :data:`METHODS`)."""
    if method == "FE":
        return Tau2Estimate(0.0)
    if method in ("ML", "REML", "EB"):
        try:
            return fisher_scoring(method, X, y, v)
        except ConvergenceError as error:
            return bracketed_root(method, X, y, v, reason=str(error))
    try:
        estimator = _CLOSED_FORM[method]
    except KeyError:
        raise ValueError(f"unknown tau2 method {method!r}; choose from {', '.join(METHODS)}") from None
    return estimator(X, y, v)


_CLOSED_FORM = {
    "DL": dersimonian_laird,
    "HE": hedges,
    "HS": hunter_schmidt,
    "SJ": sidik_jonkman,
    "PM": paule_mandel,
    "DLIT": iterated_dersimonian_laird,
    "SJIT": iterated_sidik_jonkman,
}
