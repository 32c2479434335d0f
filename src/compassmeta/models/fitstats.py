"""Likelihood-based inference of a mixed-effects fit, as current metafor (5.1) computes it.

* log-likelihood, deviance, AIC, BIC and AICc (metafor fitstats(); Viechtbauer 2005, Stat Med
  24:1549 for the (restricted) likelihood): REML ones for a REML fit, ML ones otherwise, of the
  univariate and of the three-level / CHE fits;
* the likelihood-ratio test of nested models fitted by ML (metafor anova(full, reduced));
* the profile-likelihood interval for tau^2 (metafor confint(type = "PL"); Hardy & Thompson 1996,
  Stat Med 15:619), and the I^2 and H^2 intervals implied by tau^2 bounds (confint()).
"""
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..common import distributions as dist
from ..common.errors import InputError
from ..common.results import Result
from ..common.roots import expand_upper, solve_monotone
from .model import ModelFit
from .multilevel import MultilevelFit, gls_at
from .wls import weighted_fit

LOG_2PI = math.log(2.0 * math.pi)
TAU2_CI_METHODS = {"qprofile": "Q-profile", "pl": "profile likelihood"}


def log_likelihood(X: np.ndarray, y: np.ndarray, v: np.ndarray, tau2: float, *, restricted: bool,
                   beta: np.ndarray | None = None) -> float:
    """The (restricted) log-likelihood at tau^2 with beta at its GLS estimate (given as ``beta``, or
    computed); metafor's full REML likelihood, constants included (+ log|X'X| / 2)."""
    k, p = X.shape
    w = 1.0 / (v + tau2)
    xwx = X.T @ (w[:, None] * X)
    if beta is None:
        beta = np.linalg.solve(xwx, X.T @ (w * y))
    resid = y - X @ beta
    base = -0.5 * float(np.sum(np.log(v + tau2))) - 0.5 * float(np.dot(w, resid * resid))
    if not restricted:
        return -0.5 * k * LOG_2PI + base
    return -0.5 * (k - p) * LOG_2PI + 0.5 * _log_det(X.T @ X) + base - 0.5 * _log_det(xwx)


def _log_det(matrix: np.ndarray) -> float:
    """log det of a positive definite p x p matrix (the 1 x 1 case without numpy's linalg overhead)."""
    return math.log(matrix[0, 0]) if matrix.shape == (1, 1) else float(np.linalg.slogdet(matrix)[1])


@dataclass(frozen=True)
class FitStatistics(Result):
    """metafor fitstats(): REML-based for a REML fit, ML-based otherwise."""

    log_likelihood: float
    deviance: float
    aic: float
    bic: float
    aicc: float


def information_criteria(ll: float, deviance: float, k: int, p: int, parameters: int,
                         method: str) -> FitStatistics:
    """metafor fitstats() from the (restricted) log-likelihood ``ll`` with ``parameters`` estimated
    parameters: AIC = -2 ll + 2 parms, BIC = -2 ll + parms log(n), AICc = -2 ll + 2 parms n' /
    (n' - parms - 1), n' = max(n, parms + 2), with n = k - p under REML (Harville 1977, JASA 72:320;
    Viechtbauer 2005, Stat Med 24:1549), n = k otherwise (rma.uni.r and rma.mv.r of metafor 5.1)."""
    n = k - p if method == "REML" else k
    corrected = max(n, parameters + 2)
    return FitStatistics(log_likelihood=ll, deviance=deviance, aic=-2 * ll + 2 * parameters,
                         bic=-2 * ll + parameters * math.log(n),
                         aicc=-2 * ll + 2 * parameters * corrected / (corrected - parameters - 1))


def fit_statistics(fit: ModelFit) -> FitStatistics:
    """Fit statistics of a :class:`~compassmeta.models.model.ModelFit` (parameters: p, plus tau^2
    unless the model is fixed-effect); metafor fitstats(), with user weights too (rma.uni.r's ll.ML
    and ll.REML at the weighted beta)."""
    k, p = fit.k, fit.p
    # k = 1: nothing to compare (metafor's BIC would be log(0)).  User weights (or none, metafor's
    # weighted = FALSE): the likelihood at tau^2 evaluated at the user-weighted beta, as metafor 5.1
    if k <= p:
        return FitStatistics(*(float("nan"),) * 5)
    restricted = fit.method == "REML"
    ll = log_likelihood(fit.X, fit.y, fit.v, fit.tau2, restricted=restricted, beta=fit.beta)
    if restricted:
        deviance = -2.0 * ll
    else:           # against the saturated model, whose log-likelihood is sum log phi(0; v_i)
        deviance = -2.0 * (ll + 0.5 * float(np.sum(LOG_2PI + np.log(fit.v))))
    return information_criteria(ll, deviance, k, p, p + (fit.method != "FE"), fit.method)


def multilevel_fit_statistics(fit: MultilevelFit) -> FitStatistics:
    """Fit statistics of a three-level / CHE fit (metafor fitstats() of rma.mv).  Parameters: p and
    each estimated sigma^2 (sigma^2 between is fixed at 0 with one cluster; rho of the CHE working
    model is fixed in V, not estimated).  Deviance: -2 ll under REML (the saturated model's full
    REML log-likelihood is 0), else -2 (ll - ll_sat) with the saturated model's
    ll_sat = -k log(2 pi) / 2 - log det S / 2 (rma.mv.r's ll.QE, S the sampling covariance)."""
    ll = fit.log_likelihood
    if fit.method == "REML":
        deviance = -2.0 * ll
    else:
        deviance = -2.0 * (ll + 0.5 * (fit.k * LOG_2PI + gls_at(fit, (0.0, 0.0)).log_det_v))
    parameters = fit.p + 1 + (fit.n_clusters > 1)
    return information_criteria(ll, deviance, fit.k, fit.p, parameters, fit.method)


@dataclass(frozen=True)
class LikelihoodRatioTest(Result):
    """Likelihood-ratio test of the model without ``dropped`` (both fitted by ML)."""

    dropped: tuple[str, ...]
    statistic: float
    df: int
    p_value: float
    ll_full: float
    ll_reduced: float


def likelihood_ratio_test(full: ModelFit, reduced: ModelFit, dropped: Iterable[str]) -> LikelihoodRatioTest:
    """metafor anova(full, reduced) for ML fits: LRT = 2 (ll_full - ll_reduced) on the difference
    in the number of parameters."""
    if full.method != "ML" or reduced.method != "ML":
        raise InputError("the likelihood-ratio test compares ML fits")
    ll_full = fit_statistics(full).log_likelihood
    ll_reduced = fit_statistics(reduced).log_likelihood
    statistic = max(0.0, 2.0 * (ll_full - ll_reduced))
    df = full.p - reduced.p
    return LikelihoodRatioTest(dropped=tuple(dropped), statistic=statistic, df=df,
                               p_value=float(dist.chi2_sf(statistic, df)), ll_full=ll_full,
                               ll_reduced=ll_reduced)


def profile_likelihood_interval(fit: ModelFit) -> tuple[float, float]:
    """(lower, upper) for tau^2 where 2 (ll_max - ll(tau^2)) reaches the chi-square(1) quantile;
    the lower bound is 0 when ll(0) is within it (metafor confint(type = "PL"))."""
    if fit.method not in ("ML", "REML"):
        raise InputError("the profile-likelihood interval for tau^2 needs an ML or REML fit")
    restricted = fit.method == "REML"
    ll_max = log_likelihood(fit.X, fit.y, fit.v, fit.tau2, restricted=restricted)
    critical = float(dist.chi2_quantile(fit.level, 1))

    def excess(tau2: float) -> float:
        return 2.0 * (ll_max - log_likelihood(fit.X, fit.y, fit.v, tau2, restricted=restricted)) - critical

    scale = float(np.mean(fit.v))
    lower = 0.0 if excess(0.0) <= 0 else solve_monotone(excess, 0.0, fit.tau2, scale=scale)
    start = max(fit.tau2, scale)
    upper = expand_upper(lambda tau2: -excess(tau2), 2.0 * start)
    return lower, solve_monotone(excess, fit.tau2, upper, scale=scale)


def i2_h2_bounds(fit: ModelFit, tau2_bounds: tuple[float,
                 float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """I^2 (percent) and H^2 at the tau^2 bounds with the typical variance s^2 = (k - p) / tr(P)
    (metafor confint())."""
    typical_v = (fit.k - fit.p) / weighted_fit(fit.X, fit.y, 1.0 / fit.v).trace_p()
    bounds = np.asarray(tau2_bounds, dtype=float)
    return tuple(100.0 * bounds / (bounds + typical_v)), tuple(bounds / typical_v + 1.0)


def pooled_inference_fields(fit: ModelFit, *, with_tau2_ci: bool = True, tau2_ci: str = "qprofile",
                            above: float | None = None,
                            labels: Sequence[str] | None = None) -> dict[str, Any]:
    """The fields a pooled result adds to its fit: fit statistics, the tau^2 interval by ``tau2_ci``
    ("qprofile" or "pl") with the I^2 and H^2 intervals it implies (none under FE), the share of true
    effects above ``above`` and, with ``labels`` (one per study), the BLUPs."""
    from .predictions import blups, probability_above

    if tau2_ci not in TAU2_CI_METHODS:
        raise InputError(f"unknown tau^2 interval '{tau2_ci}'; choose from {', '.join(TAU2_CI_METHODS)}")
    nan = (float("nan"), float("nan"))
    bounds = nan
    if with_tau2_ci and fit.k > fit.p:
        bounds = fit.tau2_ci if tau2_ci == "qprofile" else profile_likelihood_interval(fit)
    finite = fit.method != "FE" and fit.k > fit.p and np.isfinite(bounds).all()
    i2, h2 = i2_h2_bounds(fit, bounds) if finite else (nan, nan)
    return dict(**vars(fit_statistics(fit)), tau2_ci_method=TAU2_CI_METHODS[tau2_ci],
                tau2_ci_lower=bounds[0], tau2_ci_upper=bounds[1], i2_ci_lower=i2[0], i2_ci_upper=i2[1],
                h2_ci_lower=h2[0], h2_ci_upper=h2[1], above=above,
                prob_above=None if above is None else probability_above(fit, above),
                blups=() if labels is None else blups(fit, labels))
