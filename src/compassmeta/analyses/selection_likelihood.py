"""What the step and smooth selection-model likelihoods share: the parameter mapping and the
quasi-Newton maximisation.

The log-likelihood of the published studies (Vevea & Hedges 1995, Psychometrika 60:419, eq. 6) is

    log L = sum_i  log w(p_i) + log phi(y_i; mu, v_i + tau^2) - log A_i,
    A_i = integral w(p(y)) phi(y; mu, v_i + tau^2) dy,

maximised as metafor's selmodel() does over (mu, log tau^2, deltas mapped logistically into
[delta_min, delta_max]).  selection_step.py and selection_smooth.py compute it for the two families.
"""
from typing import Any

import numpy as np

from ..common.errors import ConvergenceError
from ..common.transforms import expit
from .selection_weights import SIGNS, Array, Steps, WeightFunction, selection_p_values

EPS = np.finfo(float).eps


class SelectionLikelihood:
    """Log-likelihood of one selection model, on the optimiser's scale and the natural one."""

    def __init__(self, yi: Array, vi: Array, function: WeightFunction, steps: Steps | None, alternative: str,
                 fixed_tau2: float | None) -> None:
        self.yi, self.vi, self.alternative = yi, vi, alternative
        self.function, self.kind = function, function.name
        self.signs = SIGNS[alternative]
        self.fixed_tau2 = fixed_tau2
        self.delta_min, self.delta_max = function.bounds(steps)
        self.p_min = function.p_min
        self.p_values = np.clip(selection_p_values(yi, vi, alternative), self.p_min, 1 - self.p_min)

    # -- parameter mapping (metafor: tau2 = exp(theta), delta = min + (max - min) plogis(x)) --
    def natural(self, theta: Array) -> tuple[float, float, Array]:
        mu = theta[0]
        tau2 = 0.0 if self.fixed_tau2 is not None else float(np.exp(min(theta[1], 700.0)))
        if tau2 < 10 * EPS:
            tau2 = 0.0
        x = theta[1 if self.fixed_tau2 is not None else 2:]
        delta = self.delta_min + (self.delta_max - self.delta_min) * expit(x)
        return mu, tau2, delta

    def transformed_start(self, mu: float, tau2: float, delta: Array) -> Array:
        delta = np.asarray(delta, dtype=float)
        x = np.log((delta - self.delta_min) / (self.delta_max - delta))
        head = [mu] if self.fixed_tau2 is not None else [mu, np.log(tau2 + 0.001)]
        return np.concatenate([head, x])

    def all_delta(self, delta: Array) -> Array:
        return self.function.all_delta(delta)

    def __call__(self, mu: float, tau2: float, delta: Array) -> float:
        """log L at natural parameters (free deltas only)."""
        raise NotImplementedError

    def objective(self, theta: Array) -> tuple[float, Array]:
        """-log L and its gradient in the optimiser's parameters (1e300 where log L is not finite)."""
        raise NotImplementedError

    def natural_hessian(self, mu: float, tau2: float, delta: Array) -> Array:
        """Hessian of log L on the natural scale over (mu, tau^2 unless fixed, free deltas)."""
        raise NotImplementedError

    def maximise(self, start: Array) -> tuple[Array, float]:
        """(theta, log L) at the maximum over the transformed parameters: BFGS (as metafor's optim
        default), and a Nelder-Mead restart if BFGS stops with a large gradient.  Raises if neither
        converges."""
        from scipy.optimize import minimize

        objective = self.objective

        def converged(result: Any) -> bool:
            return np.max(np.abs(objective(result.x)[1])) <= 1e-4 * max(1.0, abs(result.fun))

        result = minimize(objective, start, jac=True, method="BFGS", options={"gtol": 1e-8, "maxiter": 1000})
        if not converged(result):
            restart = minimize(lambda theta: objective(theta)[0], result.x, method="Nelder-Mead",
                               options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
            result = minimize(objective, restart.x, jac=True, method="BFGS", options={"gtol": 1e-8})
            if not converged(result):
                raise ConvergenceError(f"the selection model did not converge ({result.message}); "
                                       "no estimate is reported")
        return result.x, -result.fun
