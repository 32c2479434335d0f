"""Profile-likelihood confidence intervals of the variance and correlation parameters of a
multivariate model (metafor confint() of an rma.mv; Hardy & Thompson 1996, Stat Med 15:619).

The bound of parameter theta is where 2 (l(theta_hat) - max over the others of l(theta)) =
chi2_1(level); a side on which the profile stays below that at the parameter's limit (0 for
tau^2, -1 or 1 for rho, 0 or 1 for the CAR rho) has the limit as its bound, as metafor.
"""
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..common import distributions as dist
from ..common.errors import ConvergenceError
from ..common.results import Result
from .mvfit import Problem, maximise
from .mvnested import numbered
from .mvstructs import Parameters


class ProfiledFit(Protocol):
    """What the profile reads of a :class:`~compassmeta.models.multivariate.MultivariateFit`
    (a protocol: that module imports this one)."""

    @property
    def problem(self) -> Problem: ...
    @property
    def parameters(self) -> Parameters: ...
    @property
    def levels(self) -> tuple[str, ...]: ...
    @property
    def tau2(self) -> np.ndarray: ...
    @property
    def rho(self) -> np.ndarray: ...
    @property
    def variances(self) -> np.ndarray: ...
    @property
    def log_likelihood(self) -> float: ...


@dataclass(frozen=True)
class ProfileInterval(Result):
    """Profile-likelihood CI of one variance or correlation parameter (metafor confint())."""

    parameter: str
    estimate: float
    ci_lower: float | None
    ci_upper: float | None


#: Upper search limit of a tau^2 bound, in multiples of the larger of tau^2 and mean v.
TAU2_SEARCH = 1e4


def _profile_deviance(fit: ProfiledFit, position: int, target: float) -> Callable[[float], float]:
    """Deviance of the fit with parameter ``position`` held at ``target`` (natural scale)."""
    def deviance(value: float) -> float:
        base = fit.parameters
        held = Parameters(base.structure, len(fit.levels), base.scale, base.fixed,
                          signed=base.signed and position < base.n_tau2, n_sigma=base.n_sigma)
        full = base.unconstrained(fit.variances, fit.rho)
        unconstrained = full.copy()
        if position < base.n_tau2:
            unconstrained[position] = np.sqrt(max(value, 0.0) / base.scale)
        else:
            unconstrained[position] = base.structure.z_from(np.array([value]))[0]
        held.fixed[position] = float(unconstrained[position])
        held.free[position] = False
        tau2, rho = held.natural(unconstrained[held.free])
        tau2, rho, _ = maximise(fit.problem, held, (tau2, rho))
        gls = fit.problem.gls(tau2, rho)
        return 2.0 * (fit.log_likelihood - gls.log_likelihood(fit.problem.reml)) - target
    return deviance


#: Fractions of the way from the estimate to a parameter's limit at which the profile is
#: tried until it crosses (the limit itself last: a profile fit at |rho| = 1 can be awkward).
STEPS = (0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 1.0)


def _bound(deviance: Callable[[float], float], estimate: float, points: Sequence[float],
           tolerance: float) -> float | None:
    """Where ``deviance`` crosses 0 between the estimate and the last of ``points`` (tried in
    turn; the last point when it does not cross; None when a profile fit fails)."""
    from scipy.optimize import brentq

    inner = estimate
    try:
        for point in points:
            if deviance(point) > 0.0:
                return float(brentq(deviance, inner, point, xtol=tolerance, rtol=1e-12))
            inner = point
        return float(points[-1])
    except ConvergenceError:
        return None


def _towards(estimate: float, limit: float) -> list[float]:
    return [estimate + fraction * (limit - estimate) for fraction in STEPS]


def _doubling(estimate: float, scale: float) -> list[float]:
    """tau^2 values searched for an upper bound: doubling up to TAU2_SEARCH times the larger
    of the estimate and mean v (the last is reported as the bound if never crossed)."""
    start = max(estimate, scale)
    return [start * 2.0 ** j for j in range(1, int(np.log2(TAU2_SEARCH)) + 2)]


def profile_intervals(fit: ProfiledFit, level: float) -> tuple[ProfileInterval, ...]:
    """ProfileInterval rows for every free tau^2 and rho, in metafor's order."""

    target = float(dist.chi2_quantile(level, 1))
    parameters = fit.parameters
    rows = []
    n_tau2 = parameters.n_tau2 - parameters.n_sigma
    names = [f"tau^2.{i + 1}" for i in range(n_tau2)] if n_tau2 > 1 else ["tau^2"]
    names += numbered("sigma^2", parameters.n_sigma) + numbered("rho", parameters.n_rho)
    estimates = np.concatenate([fit.variances, fit.rho])
    lower_limit = 0.0 if parameters.structure.by_time else -1.0
    for position, name in enumerate(names):
        if not parameters.free[position]:
            continue
        estimate = float(estimates[position])
        deviance = _profile_deviance(fit, position, target)
        if position < parameters.n_tau2:
            tolerance = 1e-10 * parameters.scale
            lower = _bound(deviance, estimate, _towards(estimate, 0.0), tolerance)
            upper = _bound(deviance, estimate, _doubling(estimate, parameters.scale), tolerance)
        else:
            lower = _bound(deviance, estimate, _towards(estimate, lower_limit), 1e-10)
            upper = _bound(deviance, estimate, _towards(estimate, 1.0), 1e-10)
        rows.append(ProfileInterval(name, estimate, lower, upper))
    # metafor's order: sigma^2 first, then tau^2 and rho
    return tuple(sorted(rows, key=lambda row: not row.parameter.startswith("sigma")))

