"""Weight-function selection models for publication bias, as metafor's selmodel().

A study's observed effect y_i ~ N(mu, v_i + tau^2) is published with a relative probability
w(p_i) that depends on its p-value p_i (one-sided, or two-sided as metafor's alternative =
"two.sided"); the likelihood of the published studies is
(Vevea & Hedges 1995, Psychometrika 60:419, eq. 6; Citkowicz & Vevea 2017 for the beta model)

    L = prod_i  w(p_i) phi(y_i; mu, v_i + tau^2) / A_i,   A_i = integral w(p(y)) phi(y; mu, v_i + tau^2) dy.

The weight functions are objects registered by type (selection_weights.py); a step function's
likelihood is in closed form (selection_step.py), a smooth type's is integrated numerically
(selection_smooth.py).  Fitting as metafor does: maximum likelihood over (mu, log tau^2, deltas
mapped logistically into [delta_min, delta_max]), standard errors from the Hessian of the
log-likelihood on the natural scale, a likelihood-ratio test of the deltas against the unadjusted
ML (or FE) model and, under ML, one of tau^2 against the FE selection model.
"""
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..common import distributions as dist
from ..common.errors import ConvergenceError, InputError
from ..common.results import INTERNAL, Estimate
from ..models.pooling import as_fraction, check_effects, pool
from .selection_likelihood import SelectionLikelihood
from .selection_smooth import SmoothLikelihood
from .selection_step import StepLikelihood
from .selection_weights import (
    ALTERNATIVES,
    TYPES,
    WEIGHT_FUNCTIONS,
    Array,
    Steps,
    WeightFunction,
    interval_of,
    selection_p_values,
    weight_function,
)

__all__ = ["ALTERNATIVES", "TYPES", "WEIGHT_FUNCTIONS", "SelectionModel", "interval_of", "selection_model",
           "selection_p_values", "three_psm_or_note"]

# the likelihood that fits each family of weight functions
LIKELIHOODS: dict[str, type[SelectionLikelihood]] = {"step": StepLikelihood, "smooth": SmoothLikelihood}


@dataclass(frozen=True)
class SelectionModel(Estimate):
    """A fitted selection model (metafor rma.uni.selmodel): the adjusted estimate and its inference,
    tau^2, the weight-function parameters and the likelihood-ratio tests."""

    type: str
    method: str
    alternative: str
    steps: Steps | None
    k: int
    tau2: float
    tau2_se: float
    delta: tuple[float, ...]
    delta_se: tuple[float, ...]
    delta_ci_lower: tuple[float, ...]
    delta_ci_upper: tuple[float, ...]
    delta_statistic: tuple[float, ...]
    delta_p_value: tuple[float, ...]
    studies_per_interval: tuple[int, ...] | None
    lrt: float
    lrt_df: int
    lrt_p: float
    lrt_tau2: float | None
    lrt_tau2_p: float | None
    log_likelihood: float
    log_likelihood_unadjusted: float
    warnings: tuple[str, ...] = ()
    p_values: Array | None = field(default=None, repr=False, compare=False, metadata=INTERNAL)

    def weight(self, p: ArrayLike) -> Array:
        """The estimated weight function at p-values ``p`` (for plots)."""
        function = WEIGHT_FUNCTIONS[self.type]
        return function.weight(np.asarray(p, dtype=float), np.array(self.delta), self.steps)



def make_likelihood(yi: Array, vi: Array, kind: str, steps: Steps | None, alternative: str,
                    fixed_tau2: float | None) -> SelectionLikelihood:
    """The log-likelihood of selection model ``kind`` (a registered type) for checked ``steps``."""
    function = weight_function(kind)
    return LIKELIHOODS[function.family](yi, vi, function, steps, alternative, fixed_tau2)


_Likelihood = make_likelihood  # the name tests/test_selection*.py use


def _check_arguments(kind: str, method: str, alternative: str,
                     level: float) -> tuple[WeightFunction, str, float]:
    """Checked (weight function, method, level as a fraction)."""
    function = weight_function(kind)
    method = method.upper()
    if method not in ("ML", "FE"):
        raise InputError(f"a selection model is fitted by ML (random effects) or FE, not {method}")
    if alternative not in ALTERNATIVES:
        raise InputError(f"alternative must be 'greater', 'less' or 'two.sided', not '{alternative}'")
    return function, method, as_fraction(level)


def _interval_counts(p_values: Array, steps: Steps | None) -> NDArray[np.intp] | None:
    """Studies per p-value interval (None without steps)."""
    if steps is None:
        return None
    return np.bincount(interval_of(p_values, steps), minlength=len(steps))


def _empty_intervals(counts: NDArray[np.intp] | None, steps: Steps | None,
                     intervals: NDArray[np.bool_] | None = None) -> list[str]:
    """The p-value intervals (of those flagged in ``intervals``; all by default) without a study."""
    if counts is None or steps is None:
        return []
    flagged = np.ones(len(steps), dtype=bool) if intervals is None else intervals
    return [f"{low:g} < p <= {high:g}" for low, high, n, flag in
            zip((0,) + tuple(steps[:-1]), steps, counts, flagged) if n == 0 and flag]


def _empty_interval_warning(counts: NDArray[np.intp] | None, steps: Steps | None, n_free: int) -> list[str]:
    """metafor (since 4.6) fits a model with an empty p-value interval and warns; 3.x refused it.
    The delta of an empty interval is not identified: it runs to a bound."""
    empty = _empty_intervals(counts, steps)
    if not (empty and n_free):
        return []
    return [f"no observed p-value in the interval(s) {', '.join(empty)}: a delta is not identified "
            "(metafor >= 4.6 fits this model with a warning; metafor 3.x refused it)"]


def _fit_warnings(likelihood: SelectionLikelihood, yi: Array, vi: Array, mu: float,
                  delta: Array) -> list[str]:
    """Cautions about an estimate on a delta's bound or far outside the observed effects."""
    warnings = []
    near_bound = (delta <= likelihood.delta_min + np.finfo(float).eps ** 0.25) | \
                 (delta >= likelihood.delta_max - 100 * np.finfo(float).eps ** 0.25)
    if near_bound.any():
        warnings.append("one or more delta estimates are (almost) equal to their lower or upper bound; "
                        "treat the results with caution")
    margin = 2 * np.sqrt(vi.max())
    if not yi.min() - margin <= mu <= yi.max() + margin:
        warnings.append(f"the adjusted estimate {mu:.4g} lies more than two standard errors outside the "
                        f"range of the observed effects [{yi.min():.4g}, {yi.max():.4g}]: the likelihood is "
                        "nearly flat there; treat it with caution")
    return warnings


def _held_in_hessian(function: WeightFunction, vi: Array, tau2_free: bool, tau2: float,
                     delta: Array) -> NDArray[np.bool_]:
    """Which of (mu, tau^2 when free, free deltas) metafor (since 4.2, selmodel's control tau2tol and
    deltatol) holds at its estimate in the Hessian, as effectively zero: tau^2 below
    min(vi / 10, 1e-4) and step-function deltas below 1e-4.  Their SEs are not reported."""
    tau2_held = [tau2 < min(float(vi.min()) / 10, 1e-4)] if tau2_free else []
    delta_held = delta < 1e-4 if function.family == "step" else np.zeros(delta.size, dtype=bool)
    return np.concatenate([[False], tau2_held, delta_held]).astype(bool)


def _standard_errors(likelihood: SelectionLikelihood, vi: Array, mu: float, tau2: float, delta: Array,
                     warnings: list[str]) -> tuple[float, float, Array]:
    """SEs of (mu, tau^2 or nan under FE, free deltas) from the inverse of -Hessian on the natural
    scale (metafor: numDeriv, htransf = FALSE) over the parameters not held (:func:`_held_in_hessian`,
    nan for those); all nan with a warning where that block is not positive definite (metafor:
    chol2inv(chol(H)))."""
    tau2_free = likelihood.fixed_tau2 is None
    estimated = ~_held_in_hessian(likelihood.function, vi, tau2_free, tau2, delta)
    block = -likelihood.natural_hessian(mu, tau2, delta)[np.ix_(estimated, estimated)]
    variances = np.full(estimated.size, np.nan)
    try:
        if not np.all(np.isfinite(block)):
            raise np.linalg.LinAlgError
        factor_inverse = np.linalg.inv(np.linalg.cholesky(block))
        variances[estimated] = np.sum(factor_inverse ** 2, axis=0)
    except np.linalg.LinAlgError:
        warnings.append("the Hessian could not be inverted: no standard errors")
    tau2_se = float(np.sqrt(variances[1])) if tau2_free else float("nan")
    return float(np.sqrt(variances[0])), tau2_se, np.sqrt(variances[1 + tau2_free:])


def _delta_inference(function: WeightFunction, delta: Array, free_delta_se: Array,
                     crit: float) -> dict[str, Any]:
    """Every delta with its SE, CI (bounded below by 0, as metafor's) and z test of w = 1."""
    all_delta = function.all_delta(delta)
    delta_se = function.all_delta_se(free_delta_se)
    delta_z = (all_delta - function.null_delta(all_delta.size)) / delta_se
    return dict(delta=tuple(all_delta.tolist()), delta_se=tuple(delta_se.tolist()),
                delta_ci_lower=tuple(np.maximum(all_delta - crit * delta_se, 0.0).tolist()),
                delta_ci_upper=tuple((all_delta + crit * delta_se).tolist()),
                delta_statistic=tuple(np.asarray(delta_z, dtype=float).tolist()),
                delta_p_value=tuple(np.asarray(dist.normal_two_sided_p(delta_z), dtype=float).tolist()))


def _tau2_test(likelihood: SelectionLikelihood, yi: Array, vi: Array, steps: Steps | None,
               log_likelihood: float, mu: float,
               delta: Array) -> tuple[float, float] | tuple[None, None]:
    """LRT of tau^2 = 0: the selection model refitted as FE from the ML estimates (None under FE)."""
    if likelihood.fixed_tau2 is not None:
        return None, None
    homogeneous = make_likelihood(yi, vi, likelihood.kind, steps, likelihood.alternative, 0.0)
    start = homogeneous.transformed_start(mu, 0.0, np.clip(delta, likelihood.delta_min + 1e-6,
                                                            likelihood.delta_max - 1e-6))
    _, log_likelihood_fe = homogeneous.maximise(start)
    lrt_tau2 = max(0.0, 2 * (log_likelihood - log_likelihood_fe))
    return lrt_tau2, float(dist.chi2_sf(lrt_tau2, 1))


def selection_model(yi: ArrayLike, vi: ArrayLike, *, type: str = "stepfun",
                    steps: Sequence[float] | None = None, method: str = "ML", alternative: str = "greater",
                    level: float = 95) -> SelectionModel:
    """Fit a selection model to effects ``yi`` with sampling variances ``vi`` (metafor selmodel()
    applied to rma(yi, vi, method="ML") or method="FE")."""
    yi, vi = cast("tuple[Array, Array]", check_effects(yi, vi))
    function, method, level = _check_arguments(type, method, alternative, level)
    warnings = function.step_warnings(steps)
    steps = function.check_steps(steps)
    k = yi.size
    likelihood = make_likelihood(yi, vi, function.name, steps, alternative, 0.0 if method == "FE" else None)
    n_free = likelihood.delta_min.size
    if k < 1 + (method != "FE") + n_free:
        raise InputError(f"number of studies (k = {k}) is too small to fit the selection model")
    counts = _interval_counts(likelihood.p_values, steps)
    warnings += _empty_interval_warning(counts, steps, n_free)

    unadjusted = pool(yi, vi, method=method, with_tau2_ci=False)
    theta, log_likelihood = likelihood.maximise(
        likelihood.transformed_start(unadjusted.estimate, unadjusted.tau2, function.start(steps)))
    mu, tau2, delta = likelihood.natural(theta)
    warnings += _fit_warnings(likelihood, yi, vi, mu, delta)
    se, tau2_se, free_delta_se = _standard_errors(likelihood, vi, mu, tau2, delta, warnings)
    crit = dist.critical_value(level)
    log_likelihood_unadjusted = _normal_log_likelihood(yi, vi, unadjusted)
    lrt = max(0.0, 2 * (log_likelihood - log_likelihood_unadjusted))
    lrt_tau2, lrt_tau2_p = _tau2_test(likelihood, yi, vi, steps, log_likelihood, mu, delta)
    return SelectionModel(
        type=function.name, method=method, alternative=alternative, steps=steps, level=100 * level, k=k,
        estimate=float(mu), se=se, statistic=float(mu / se), p_value=float(dist.normal_two_sided_p(mu / se)),
        ci_lower=float(mu - crit * se), ci_upper=float(mu + crit * se), tau2=float(tau2), tau2_se=tau2_se,
        **_delta_inference(function, delta, free_delta_se, crit),
        studies_per_interval=function.studies_per_interval(counts) if counts is not None else None,
        lrt=lrt, lrt_df=n_free, lrt_p=float(dist.chi2_sf(lrt, n_free)),
        lrt_tau2=lrt_tau2, lrt_tau2_p=lrt_tau2_p,
        log_likelihood=log_likelihood, log_likelihood_unadjusted=log_likelihood_unadjusted,
        warnings=tuple(warnings), p_values=likelihood.p_values)


def three_psm_or_note(yi: ArrayLike, vi: ArrayLike, *, method: str = "ML", level: float = 95,
                      notes: list[str] | None = None) -> SelectionModel | None:
    """The 3PSM (stepfun, steps 0.025) as ``compassmeta bias`` and the report show it: ML, or FE
    under FE; None with a note in ``notes`` when it cannot be fitted (too few studies, no
    convergence) or when no study has p > 0.025: that interval's delta is not identified (metafor
    fits it with a warning; its estimate is not reported as a bias check)."""
    function = weight_function("stepfun")
    steps = cast("Steps", function.check_steps((0.025,)))
    try:
        yi, vi = cast("tuple[Array, Array]", check_effects(yi, vi))
        counts = _interval_counts(selection_p_values(yi, vi, "greater"), steps)
        empty = _empty_intervals(counts, steps, function.estimated_intervals(steps))
        if empty:
            raise InputError(f"no observed p-value in the interval(s) {', '.join(empty)}; its delta is "
                             "not identified")
        return selection_model(yi, vi, type="stepfun", steps=(0.025,),
                               method="FE" if method.upper() == "FE" else "ML", level=level)
    except (InputError, ConvergenceError) as error:
        if notes is not None:
            notes.append(f"3PSM selection model not reported: {error}")
        return None


def _normal_log_likelihood(yi: Array, vi: Array, fit: Any) -> float:
    """ML log-likelihood of the unadjusted random-effects (or FE) model at its estimates."""
    total_var = vi + fit.tau2
    return float(-0.5 * np.sum(np.log(2 * np.pi * total_var) + (yi - fit.estimate) ** 2 / total_var))
