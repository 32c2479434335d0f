"""Iterative estimators of tau^2, written once for both back-ends of :mod:`compassmeta.models.backends`.

* Scoring: ML, REML and EB (Viechtbauer 2005, J Educ Behav Stat 30:261; Morris 1983) by Fisher
  scoring from the HE start, then Newton steps; a bracketed root search where scoring does not settle.
* Roots of the generalised Q: PM (Paule & Mandel 1982), Q(tau^2) = k - p; PMM, the median-unbiased
  version, Q(tau^2) = the chi-square(k - p) median (Viechtbauer 2021, metafor's "PMM").
* Fixed points: DLIT, tau^2 <- (Q - tr(PV)) / tr(P) with weights 1/(v + tau^2) (DerSimonian & Kacker
  2007, Contemp Clin Trials 28:105; metafor >= 4.6; its fixed point is the PM estimate), and SJIT,
  tau^2 <- tau^2 Q(tau^2) / (k - p) from SJ's start.
Every loop updates only the meta-analyses (rows) still active and reports convergence; a row that
does not converge raises :class:`ConvergenceError`, never returns a number.
"""
import math
from collections.abc import Callable

import numpy as np

from ..common import distributions as dist
from ..common.errors import ConvergenceError
from ..common.roots import expand_upper, solve_monotone
from .backends import Fit, Flags, Problem, Single, Values
from .quadform import upper_tail
from .tau2_moments import hedges

#: Scoring stops when a step changes tau^2 by less than this, relative to the larger of
#: tau^2 and the mean sampling variance (metafor: 1e-5 absolute).
SCORING_TOLERANCE = 1e-12
#: Newton steps take over once a step is below this (relative) size ...
NEWTON_SWITCH = 1e-2
#: ... and stop once a step is below this: the error left after a Newton step is of the
#: order of the step squared, far below SCORING_TOLERANCE.
NEWTON_STOP = 1e-6
MAX_ITERATIONS = 100  # metafor's maxiter
#: The fixed-point and root iterations stop when a step changes tau^2 by less than this, relative
#: to the larger of tau^2 and the mean sampling variance (metafor: 1e-5 absolute) ...
FIXED_POINT_TOLERANCE = 1e-13
#: ... within this many steps (fixed points converge linearly; metafor stops at 100).
FIXED_POINT_MAX_ITERATIONS = 10_000
ROOT_MAX_ITERATIONS = 200


def _scale(problem: Problem) -> Values:
    """The mean sampling variance of each meta-analysis: the scale of the stopping rules."""
    return problem.divide(problem.sum(problem.masked(problem.v)), problem.k)


def estimating_equation(method: str, problem: Problem, fit: Fit) -> tuple[Values, Values, Values]:
    """The estimating function f(tau^2) = 0 at the estimate, its expected-information scale
    (the Fisher-scoring / Morris step is f / scale, as metafor's rma.uni) and its derivative
    df/dtau^2 (for Newton steps), using dP/dtau^2 = -PP.
    """
    if method == "ML":
        sum_w2 = problem.sum(fit.w * fit.w)
        return fit.ypp_y() - problem.sum(fit.w), sum_w2, sum_w2 - 2.0 * fit.ypppy()
    if method == "REML":
        trace_pp = fit.trace_pp()
        return fit.ypp_y() - fit.trace_p(), trace_pp, trace_pp - 2.0 * fit.ypppy()
    factor = problem.divide(problem.k, problem.df)  # EB (Morris 1983): Q k / (k - p) = k
    return fit.rss() * factor - problem.k, problem.sum(fit.w), -fit.ypp_y() * factor


def log_likelihood(problem: Problem, tau2: Values, restricted: bool) -> Values:
    """(Restricted) log-likelihood of the random-effects model at ``tau2`` (metafor's ll.ML / ll.REML)."""
    fit = problem.fits(problem.weights(tau2))
    value = -0.5 * problem.sum_log_variance(tau2) - 0.5 * fit.rss()
    if restricted:
        return value - 0.5 * problem.df * math.log(2 * math.pi) - 0.5 * fit.log_det_xwx()
    return value - 0.5 * problem.k * math.log(2 * math.pi)


def bracketed_root(problem: Problem, equation: Callable[[Problem, Values], tuple[Values, Values]]) -> Values:
    """tau^2 >= 0 where ``equation(problem, tau2) -> (value, slope)`` turns from positive to
    negative, for every row: 0 where the value at 0 is <= 0; else Newton steps kept inside a bracket
    that each evaluation narrows (bisection when a step leaves it)."""
    scale = _scale(problem)
    value, _ = equation(problem, problem.full(0.0))
    active = (value > 0) & (problem.df > 0)
    lower = problem.full(0.0)
    upper = problem.where(active, problem.maximum(scale, 1e-300), 0.0)
    for _ in range(ROOT_MAX_ITERATIONS):  # bracket: double the upper end until the value is negative
        pending = active & (equation(problem, upper)[0] >= 0)
        if not problem.any(pending):
            break
        lower = problem.where(pending, upper, lower)
        upper = problem.where(pending, upper * 2, upper)
    tau2 = problem.where(active, lower, 0.0)
    for _ in range(ROOT_MAX_ITERATIONS):
        if not problem.any(active):
            return tau2
        rows = problem.active_rows(active)
        sub = problem.subset(rows)
        current, low, high, row_scale = problem.take(rows, tau2, lower, upper, scale)
        value, slope = equation(sub, current)
        low = problem.where(value > 0, current, low)
        high = problem.where(value < 0, current, high)
        proposal = current - problem.ratio(value, slope)
        proposal = problem.where((proposal > low) & (proposal < high), proposal, 0.5 * (low + high))
        done = (abs(proposal - current) <= FIXED_POINT_TOLERANCE * problem.maximum(row_scale, proposal)) \
            | (value == 0)
        tau2, lower, upper, active = problem.put(rows, (tau2, proposal), (lower, low), (upper, high),
                                                 (active, problem.negate(done)))
    raise ConvergenceError(f"the root search for tau^2 did not converge in {ROOT_MAX_ITERATIONS} steps")


def _q_root(problem: Problem, target: Callable[[Problem], Values]) -> Values:
    def equation(sub: Problem, tau2: Values) -> tuple[Values, Values]:
        fit = sub.fits(sub.weights(tau2))
        return fit.rss() - target(sub), -fit.ypp_y()  # dQ/dtau^2 = -y'PPy

    return bracketed_root(problem, equation)


def paule_mandel(problem: Problem) -> Values:
    """PM: the tau^2 >= 0 at which the generalised Q equals its expectation k - p."""
    return _q_root(problem, lambda sub: sub.df)


def paule_mandel_median(problem: Problem) -> Values:
    """PMM: the tau^2 >= 0 at which the generalised Q equals the median of chi-square(k - p)."""
    return _q_root(problem, lambda sub: dist.chi2_quantile(0.5, sub.df))


def generalised_q_median(problem: Problem) -> Values:
    """GENQM: the tau^2 >= 0 at which the observed generalised Q with the user's weights A is the median
    of its distribution, sum_j lambda_j chi^2_1 with lambda the eigenvalues of S P_A S, S^2 = V + tau^2 I
    (Jackson 2013, Res Synth Methods 4:220; metafor's "GENQM").  Solved one meta-analysis at a time."""
    return problem.per_row(_generalised_q_median)


def _generalised_q_median(single: Single) -> float:
    X, weights, v = single.X, single.given_weights(), single.v
    fit = single.fits(weights)
    observed = fit.rss()
    projection = np.diag(weights) - (weights[:, None] * X) @ fit.cov @ (X.T * weights)  # P_A

    def excess(tau2: float) -> float:  # 1/2 - P(Q > Q_obs | tau2): decreasing in tau2
        scale = np.sqrt(v + tau2)
        eigenvalues = np.linalg.eigvalsh(scale[:, None] * projection * scale)[::-1][:single.df]
        return 0.5 - upper_tail(observed, eigenvalues)

    if excess(0.0) <= 0:
        return 0.0
    mean_v = float(np.mean(v))
    try:
        return solve_monotone(excess, 0.0, expand_upper(excess, mean_v), scale=mean_v, rtol=1e-13)
    except ConvergenceError as error:
        raise ConvergenceError(f"GENQM: the root search did not converge ({error})") from None


def fixed_point(problem: Problem, name: str, step: Callable[[Problem, Values], Values],
                start: Values) -> tuple[Values, Values]:
    """Iterate tau^2 <- step(problem, tau^2) from ``start`` until it stops changing (see
    FIXED_POINT_TOLERANCE); a ConvergenceError, as metafor's, if it does not."""
    scale = _scale(problem)
    tau2, iterations, active = start, problem.full(0), problem.df > 0
    for _ in range(FIXED_POINT_MAX_ITERATIONS):
        if not problem.any(active):
            return tau2, iterations
        rows = problem.active_rows(active)
        sub = problem.subset(rows)
        current, row_scale, row_iterations = problem.take(rows, tau2, scale, iterations)
        new = step(sub, current)
        done = abs(new - current) <= FIXED_POINT_TOLERANCE * problem.maximum(new, row_scale)
        tau2, iterations, active = problem.put(rows, (tau2, new), (iterations, row_iterations + 1),
                                               (active, problem.negate(done)))
    raise ConvergenceError(f"the iterative {name} estimator did not converge in "
                           f"{FIXED_POINT_MAX_ITERATIONS} steps")


def iterated_dersimonian_laird(problem: Problem) -> tuple[Values, Values]:
    """DLIT: tau^2 <- max(0, (Q - tr(PV)) / tr(P)) with weights 1/(v + tau^2), from tau^2 = 0."""
    def step(sub: Problem, tau2: Values) -> Values:
        fit = sub.fits(sub.weights(tau2))
        return sub.maximum(0.0, sub.divide(fit.rss() - fit.trace_pa(sub.masked(sub.v)), fit.trace_p()))

    return fixed_point(problem, "DL", step, problem.full(0.0))


def iterated_sidik_jonkman(problem: Problem) -> tuple[Values, Values]:
    """SJIT: tau^2 <- tau^2 Q(tau^2) / (k - p) from SJ's start; its fixed point is where the
    generalised Q equals k - p, the PM estimate."""
    def step(sub: Problem, tau2: Values) -> Values:
        return sub.divide(tau2 * sub.fits(sub.weights(tau2)).rss(), sub.df)

    return fixed_point(problem, "SJ", step, problem.variance_of_y())


def _scoring_steps(problem: Problem, method: str) -> tuple[Values, Values, Flags, str]:
    """Scoring, then Newton once steps are small (metafor's algorithm, then quadratic convergence),
    for every row from the HE start; returns (tau2, iterations, rows left unsettled, reason).
    A step past zero lands on zero, where the estimate stays if the equation points further down
    (metafor halves such steps instead and creeps towards zero, ending near 1e-15)."""
    scale = _scale(problem)
    tau2 = problem.where(problem.df > 0, problem.maximum(0.0, hedges(problem)), 0.0)
    iterations, change, failed = problem.full(0), problem.full(math.inf), problem.full(False)
    active = problem.df > 0
    for _ in range(MAX_ITERATIONS):
        if not problem.any(active):
            break
        rows = problem.active_rows(active)
        sub = problem.subset(rows)
        current, row_scale, row_change, row_iterations = problem.take(rows, tau2, scale, change, iterations)
        value, information, derivative = estimating_equation(method, sub, sub.fits(sub.weights(current)))
        at_boundary = (current == 0) & (value <= 0)
        newton = (derivative < 0) & (row_change <= NEWTON_SWITCH * problem.maximum(row_scale, current))
        step = problem.ratio(problem.where(newton, -value, value),
                             problem.where(newton, derivative, information))
        infinite = problem.negate(problem.isfinite(step))
        stay = at_boundary | infinite
        proposal = problem.where(stay, current, problem.maximum(0.0, current + step))
        moved = abs(proposal - current)
        settled = (moved <= problem.where(newton, NEWTON_STOP, SCORING_TOLERANCE)
                   * problem.maximum(row_scale, proposal)) & (proposal > 0)
        tau2, change, iterations, failed, active = problem.put(
            rows, (tau2, proposal), (change, moved), (iterations, row_iterations + 1), (failed, infinite),
            (active, problem.negate(stay | settled)))
    reason = (f"{method}: the scoring step is not finite" if problem.any(failed)
              else f"{method}: Fisher scoring did not converge in {MAX_ITERATIONS} iterations")
    return tau2, iterations, failed | active, reason


def scoring(problem: Problem, method: str) -> tuple[Values, Values, dict[int, str]]:
    """ML, REML or EB: scoring steps, a bracketed root search of the same equation for the rows where
    they do not settle (metafor stops with an error there), and metafor's ll0check for ML and REML (a
    boundary optimum that scoring walked away from).  Returns (tau2, iterations, notes by row)."""
    tau2, iterations, unsettled, reason = _scoring_steps(problem, method)
    notes = {}
    if problem.any(unsettled):
        rows = problem.row_indices(unsettled)

        def equation(sub: Problem, value: Values) -> tuple[Values, Values]:
            _, _, derivative = found = estimating_equation(method, sub, sub.fits(sub.weights(value)))
            return found[0], derivative

        try:
            (tau2,) = problem.put(rows, (tau2, bracketed_root(problem.subset(rows), equation)))
        except ConvergenceError as error:
            raise ConvergenceError(f"{reason}; the bracketed root search failed too ({error}); "
                                   "try method PM or DL") from None
        notes = {int(row): f"{reason}; solved instead by a bracketed root search of the {method} equation"
                 for row in rows}
    positive = problem.row_indices(tau2 > 0)
    if method in ("ML", "REML") and len(positive):
        sub, restricted = problem.subset(positive), method == "REML"
        (current,) = problem.take(positive, tau2)
        worse = log_likelihood(sub, sub.full(0.0), restricted) - log_likelihood(sub, current, restricted)
        (tau2,) = problem.put(positive, (tau2, problem.where(worse > 1e-10, 0.0, current)))
    return tau2, iterations, notes
