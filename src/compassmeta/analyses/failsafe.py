"""Fail-safe numbers as current metafor's fsn() computes them (metafor >= 4.4; checked against 5.1).

Sources: Rosenthal (1979, Psychol Bull 86:638) with Stouffer's or Fisher's pooling of p-values;
Orwin (1983, J Educ Stat 8:157), the mean weighted by 1/v_i when the sampling variances are known
(metafor >= 4.4; unweighted before); Rosenberg (2005, Evolution 59:464); the "General" method of
metafor 4.4 (Viechtbauer, fsn() documentation), which adds studies with effect 0 and the typical
variance v~ = 1 / mean(1/v_i) to a random-effects model and updates tau^2 by the pooled-variance
identity until the model's test is no longer significant.
"""
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..common import distributions as dist
from ..common.errors import InputError
from ..common.results import Result
from ..common.roots import brent_zeroin
from ..models.model import fit_model
from ..models.pooling import check_effects

UNIROOT_TOL = np.finfo(float).eps ** 0.25   # R's uniroot() default
MAX_GENERAL = 10 ** 7                        # metafor's cap (maxint) of the General fail-safe N

def orwin_note(unweighted: float, weighted: float) -> tuple[str, ...]:
    """What a user of metafor 3.x sees differently (metafor NEWS, version 4.4.0), when it differs."""
    if unweighted == weighted:
        return ()
    return (f"Orwin's fail-safe N is {weighted} with the mean weighted by 1/vi, as metafor >= 4.4 "
            f"computes it when sampling variances are given; metafor 3.x (unweighted mean) gave {unweighted} "
            "('orwin')",)


@dataclass(frozen=True)
class FailSafeN(Result):
    """Fail-safe numbers (metafor fsn() of every type) with the p-values and targets they start from."""

    rosenthal: float            # whole() of the bound: a whole number, or inf
    rosenthal_p: float
    fisher: float               # whole(), as rosenthal
    fisher_p: float
    orwin: float                # whole(), as rosenthal
    orwin_target: float
    orwin_weighted: float       # whole(), as rosenthal
    orwin_weighted_target: float
    rosenberg: float            # whole(), as rosenthal
    rosenberg_p: float
    general: float              # whole(), as rosenthal
    general_p: float
    general_method: str
    alpha: float
    notes: tuple[str, ...] = ()


def whole(number: float) -> float:
    """metafor's rounding of a fail-safe number: up, unless it is a whole number already."""
    if math.isinf(number):
        return number
    return math.ceil(number) if abs(number - round(number)) >= 1.49e-8 else round(number)


def _orwin(yi: np.ndarray, weights: np.ndarray, target: float | None) -> tuple[float, float]:
    """Studies with effect 0 that bring the (weighted) mean to ``target`` (default half of it)."""
    mean = float(np.dot(weights, yi) / weights.sum())
    target = mean / 2 if target is None else (abs(target) if mean > 0 else -abs(target))
    return whole(math.inf if target == 0 else max(0.0, yi.size * (mean - target) / target)), target


def _uniroot(func: Callable[[float], float], k: int) -> float:
    """The root metafor's uniroot(extendInt = "upX") finds from (0, 50 k) with its default tolerance:
    the upper end moves up by 0.01 |upper|, doubling, until func is >= 0 there; a step function's
    root is where the search stops, so it is found by the same search (:func:`brent_zeroin`)."""
    upper = 50.0 * k
    step = 0.01 * upper
    for _ in range(1000):
        if func(upper) >= 0:
            return brent_zeroin(func, 0.0, upper, tol=UNIROOT_TOL)
        upper += step
        step *= 2
    raise InputError("no fail-safe N found (the search for its upper end did not end)")


def _fisher(yi: np.ndarray, vi: np.ndarray, alpha: float) -> tuple[float, float]:
    """Rosenthal's N with Fisher's pooling: where the chi-square test of -2 sum log p_i, with
    floor(n) added p = 0.5, on 2 (k + n) df stops being significant (metafor's .fsn.fisher)."""
    p = dist.normal_cdf(-np.abs(yi / np.sqrt(vi)))
    statistic, k = -2.0 * float(np.sum(np.log(p))), yi.size
    p_value = float(dist.chi2_sf(statistic, 2 * k))
    if p_value >= alpha:
        return 0, p_value
    added = 2 * math.log(2)             # -2 log 0.5 per added study
    root = _uniroot(lambda n: float(dist.chi2_sf(statistic + math.floor(n) * added, 2 * (k + n))) - alpha, k)
    return whole(root), p_value


def _general_p(n: float, yi: np.ndarray, vi: np.ndarray, estimate: float, tau2: float, fixed: bool) -> float:
    """p of the model with n added studies (effect 0, variance v~), tau^2 updated (metafor's
    non-exact .fsn.gen with mumiss = 0)."""
    k = yi.size
    typical = 1.0 / np.mean(1.0 / vi)
    if fixed:
        tau2_new = 0.0
    else:
        mean_new = k * estimate / (k + n)
        tau2_new = max(0.0, ((k - 1) * tau2 + max(0, n - 1) * tau2 + k * (estimate - mean_new) ** 2
                             + n * mean_new ** 2) / (k + n - 1))
    w = 1.0 / (vi + tau2_new)
    total = w.sum() + n / (typical + tau2_new)
    return float(dist.normal_two_sided_p(np.dot(w, yi) / total * math.sqrt(total)))


def general_n(yi: np.ndarray, vi: np.ndarray, estimate: float, tau2: float, *, fixed: bool = False,
              alpha: float = 0.05) -> float:
    """metafor fsn(type = "General") from a model's estimate and tau^2 (0 and ``fixed`` for FE):
    the fewest added studies (effect 0, variance v~) that make the z test's p reach ``alpha``."""
    args = (yi, vi, estimate, tau2, fixed)
    if _general_p(0, *args) >= alpha:
        return 0
    def excess(n: float) -> float:  # metafor stops the search at the cap
        return 0.0 if n >= MAX_GENERAL else _general_p(math.floor(n), *args) - alpha

    return whole(min(_uniroot(excess, yi.size), MAX_GENERAL))


def fail_safe_n(yi: ArrayLike, vi: ArrayLike, *, alpha: float = 0.05, target: float | None = None,
                method: str = "REML") -> FailSafeN:
    """Every fail-safe number of metafor fsn(): Rosenthal (Stouffer; one-sided p >= alpha),
    Fisher, Orwin (unweighted and weighted by 1/vi, towards ``target``, default half the mean),
    Rosenberg (fixed-effect z test) and General (the ``method`` random-effects model's z test)."""
    yi, vi = check_effects(yi, vi)
    k = yi.size
    if k < 2:
        raise InputError("fail-safe N needs k >= 2 studies")
    z_average = abs(np.sum(yi / np.sqrt(vi)) / math.sqrt(k))
    rosenthal = max(0.0, k * (z_average / dist.normal_quantile(1 - alpha)) ** 2 - k)
    orwin, orwin_target = _orwin(yi, np.ones(k), target)
    orwin_weighted, weighted_target = _orwin(yi, 1.0 / vi, target)
    w = 1.0 / vi
    weighted_total = float(np.dot(w, yi))
    critical = dist.normal_quantile(1 - alpha / 2)
    rosenberg = max(0.0, k * ((weighted_total / critical) ** 2 - w.sum()) / w.sum())
    fisher, fisher_p = _fisher(yi, vi, alpha)
    fit = fit_model(np.ones((k, 1)), yi, vi, terms=("intercept",), method=method.upper())
    general_p = float(fit.p_values[0])
    general = general_n(yi, vi, float(fit.beta[0]), fit.tau2, fixed=fit.method == "FE", alpha=alpha)
    return FailSafeN(rosenthal=whole(rosenthal), rosenthal_p=float(dist.normal_cdf(-z_average)),
                     fisher=fisher, fisher_p=fisher_p, orwin=orwin, orwin_target=orwin_target,
                     orwin_weighted=orwin_weighted, orwin_weighted_target=weighted_target,
                     rosenberg=whole(rosenberg),
                     rosenberg_p=float(dist.normal_two_sided_p(weighted_total / math.sqrt(w.sum()))),
                     general=general, general_p=general_p, general_method=method.upper(), alpha=alpha,
                     notes=orwin_note(orwin, orwin_weighted))
