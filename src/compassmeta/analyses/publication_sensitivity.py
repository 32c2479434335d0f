"""Sensitivity analysis for publication bias (Mathur & VanderWeele 2020, JRSS C 69:1091),
fixed-effect (common-effect) version.

Affirmative studies (two-sided p < alpha and an estimate in the favoured direction) are assumed
``eta`` times more likely to be published than nonaffirmative ones.  Weighting the
nonaffirmative studies by eta undoes that selection (their eq. for the fixed-effects case):

    mu_eta = (sum_A w_i y_i + eta sum_N w_i y_i) / (sum_A w_i + eta sum_N w_i),  w_i = 1 / v_i,
    Var(mu_eta) = (sum_A w_i + eta^2 sum_N w_i) / (sum_A w_i + eta sum_N w_i)^2.

The worst case (eta -> infinity) is the fixed-effect meta-analysis of the nonaffirmative
studies alone.  The S-values are the eta that would move the estimate, or the confidence limit
nearer the null, to ``q``: "Not possible" when no eta can (the worst case is still beyond q).
"""
from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..common import distributions as dist
from ..common.errors import InputError
from ..common.results import Estimate
from ..common.roots import solve_monotone
from ..models.pooling import as_fraction, check_effects

NOT_POSSIBLE = "Not possible"


@dataclass(frozen=True)
class PublicationBiasSensitivity(Estimate):
    """Bias-corrected estimate at ``eta`` (z-based inference), the worst case and the S-values."""

    leading_keys = ("model", "favor", "q", "eta", "k", "k_affirmative", "k_nonaffirmative")

    model: str
    favor: str
    q: float
    eta: float
    k: int
    k_affirmative: int
    k_nonaffirmative: int
    worst_case_estimate: float
    worst_case_se: float
    worst_case_ci_lower: float
    worst_case_ci_upper: float
    s_value_estimate: float | str
    s_value_ci: float | str | None
    notes: tuple[str, ...] = ()


def _corrected(y: NDArray[np.float64], w: NDArray[np.float64], affirmative: NDArray[np.bool_], eta: float,
               crit: float) -> tuple[float, float, float, float]:
    """mu_eta, its SE and CI (in the favoured-positive orientation)."""
    weights = np.where(affirmative, 1.0, eta) * w
    estimate = float(np.dot(weights, y) / weights.sum())
    se = float(np.sqrt(np.dot(weights ** 2, 1 / w)) / weights.sum())
    return estimate, se, estimate - crit * se, estimate + crit * se


def publication_bias_sensitivity(yi: ArrayLike, vi: ArrayLike, *, eta: float = 1.0, q: float = 0.0,
                                 favor: str = "positive", alpha_select: float = 0.05,
                                 level: float = 95) -> PublicationBiasSensitivity:
    """Mathur & VanderWeele's corrected estimate at selection ratio ``eta``, worst-case estimate and
    S-values for shifting the estimate (and the CI limit nearer the null) to ``q``."""
    yi, vi = cast("tuple[NDArray[np.float64], NDArray[np.float64]]", check_effects(yi, vi))
    if favor not in ("positive", "negative"):
        raise InputError(f"favor must be 'positive' or 'negative', not '{favor}'")
    if eta < 1:
        raise InputError(f"the selection ratio eta must be >= 1, got {eta:g}")
    sign = 1.0 if favor == "positive" else -1.0
    y, target = sign * yi, sign * q
    w = 1 / vi
    affirmative = (y > 0) & (dist.normal_two_sided_p(y / np.sqrt(vi)) < alpha_select)
    n_affirmative = int(affirmative.sum())
    if n_affirmative == y.size:
        raise InputError("every study is affirmative: the corrected estimate needs at least one "
                         "nonaffirmative study")
    crit = dist.critical_value(as_fraction(level))
    estimate, se, lower, upper = _corrected(y, w, affirmative, eta, crit)
    nonaffirmative = ~affirmative
    worst_w = w[nonaffirmative]
    worst = float(np.dot(worst_w, y[nonaffirmative]) / worst_w.sum())
    worst_se = float(1 / np.sqrt(worst_w.sum()))
    notes = []
    naive_estimate, _, naive_lower, _ = _corrected(y, w, affirmative, 1.0, crit)
    if naive_estimate <= target:
        raise InputError(f"q = {q:g} must lie nearer the null than the uncorrected estimate "
                         f"{sign * naive_estimate:.4g}")
    # eta moving the estimate to q: solve sum_A w (y - q) + eta sum_N w (y - q) = 0
    numerator = float(np.dot(w[affirmative], y[affirmative] - target))
    denominator = float(np.dot(worst_w, target - y[nonaffirmative]))
    s_value_estimate: float | str = numerator / denominator if denominator > 0 else NOT_POSSIBLE
    s_value_ci: float | str | None
    if naive_lower <= target:
        s_value_ci = None
        notes.append("the uncorrected confidence interval already contains q: no S-value for the CI")
    elif worst - crit * worst_se > target:
        s_value_ci = NOT_POSSIBLE
    else:
        def lower_limit_minus_q(log_eta: float) -> float:
            return _corrected(y, w, affirmative, float(np.exp(log_eta)), crit)[2] - target

        upper_log = 1.0
        while lower_limit_minus_q(upper_log) > 0:
            upper_log *= 2
        s_value_ci = float(np.exp(solve_monotone(lower_limit_minus_q, 0.0, upper_log)))
    lower, upper = (lower, upper) if sign > 0 else (-upper, -lower)
    worst_lower, worst_upper = worst - crit * worst_se, worst + crit * worst_se
    if sign < 0:
        worst_lower, worst_upper = -worst_upper, -worst_lower
    return PublicationBiasSensitivity(
        model="fixed", favor=favor, q=q, eta=eta, k=int(y.size), k_affirmative=n_affirmative,
        k_nonaffirmative=int(y.size - n_affirmative), estimate=sign * estimate, se=se,
        statistic=sign * estimate / se, p_value=float(dist.normal_two_sided_p(estimate / se)), ci_lower=lower,
        ci_upper=upper, level=100 * as_fraction(level), worst_case_estimate=sign * worst,
        worst_case_se=worst_se, worst_case_ci_lower=worst_lower, worst_case_ci_upper=worst_upper,
        s_value_estimate=s_value_estimate, s_value_ci=s_value_ci, notes=tuple(notes))
