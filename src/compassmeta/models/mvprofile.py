"""Profile-likelihood confidence intervals of the variance and correlation parameters of a
multivariate model (metafor confint() of an rma.mv; Hardy & Thompson 1996, Stat Med 15:619).

The bound of parameter theta is where 2 (l(theta_hat) - max over the others of l(theta)) =
chi2_1(level); a side on which the profile stays below that at the parameter's limit (0 for
tau^2, -1 or 1 for rho, 0 or 1 for the CAR rho) has the limit as its bound, as metafor.
"""
import numpy as np

from ..common import distributions as dist
from ..common.errors import ConvergenceError
from .mvfit import maximise
from .mvstructs import Parameters

#: Upper search limit of a tau^2 bound, in multiples of the larger of tau^2 and mean v.
TAU2_SEARCH = 1e4


def _profile_deviance(fit, position, target):
    """Deviance of the fit with parameter ``position`` held at ``target`` (natural scale)."""
    def deviance(value):
        base = fit.parameters
        held = Parameters(base.structure, len(fit.levels), base.scale, base.fixed)
        full = base.unconstrained(fit.tau2, fit.rho)
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


def _bound(deviance, estimate, limit, tolerance):
    """Where ``deviance`` crosses 0 between the estimate and ``limit`` (the limit when it
    does not; None when the profile fit fails)."""
    from scipy.optimize import brentq

    try:
        if deviance(limit) <= 0.0:
            return float(limit)
        return float(brentq(deviance, estimate, limit, xtol=tolerance, rtol=1e-12))
    except ConvergenceError:
        return None


def _tau2_upper(deviance, estimate, scale):
    """A tau^2 above the upper bound (doubling from the estimate)."""
    value = max(estimate, scale) * 2.0
    while deviance(value) < 0.0 and value < TAU2_SEARCH * max(estimate, scale):
        value *= 2.0
    return value


def profile_intervals(fit, level):
    """ProfileInterval rows for every free tau^2 and rho, in metafor's order."""
    from .multivariate import ProfileInterval

    target = float(dist.chi2_quantile(level, 1))
    parameters = fit.parameters
    rows = []
    names = ([f"tau^2.{i + 1}" for i in range(parameters.n_tau2)] if parameters.n_tau2 > 1 else ["tau^2"])
    names += ["rho"] if parameters.n_rho == 1 else [f"rho.{i + 1}" for i in range(parameters.n_rho)]
    estimates = np.concatenate([fit.tau2, fit.rho])
    lower_limit = 0.0 if parameters.structure.by_time else -1.0
    for position, name in enumerate(names):
        if not parameters.free[position]:
            continue
        estimate = float(estimates[position])
        deviance = _profile_deviance(fit, position, target)
        if position < parameters.n_tau2:
            tolerance = 1e-10 * parameters.scale
            lower = _bound(deviance, estimate, 0.0, tolerance)
            upper = _bound(deviance, estimate, _tau2_upper(deviance, estimate, parameters.scale), tolerance)
        else:
            lower = _bound(deviance, estimate, lower_limit, 1e-10)
            upper = _bound(deviance, estimate, 1.0, 1e-10)
        rows.append(ProfileInterval(name, estimate, lower, upper))
    return tuple(rows)
