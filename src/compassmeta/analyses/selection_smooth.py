"""The smooth selection-model likelihoods (beta, halfnorm, negexp, logistic, power), integrated
numerically, with numerical derivatives.

A_i = E[w(p(Y_i))], Y_i ~ N(mu, v_i + tau^2), by composite Gauss-Legendre with break points at
every kink of w; maximised by BFGS with central-difference gradients (metafor: optim's BFGS), and
standard errors from a Richardson-extrapolated numerical Hessian (metafor: numDeriv::hessian).
"""
from collections.abc import Callable

import numpy as np

from ..common import distributions as dist
from .selection_likelihood import EPS, SelectionLikelihood
from .selection_weights import Array, Steps, WeightFunction, p_of_z

# Gauss-Legendre rule used on every integration panel, and the panel break points (evenly
# spaced over the integration range, and at z = y / sqrt(v) = -8..8 where w changes fastest).
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(12)
_INV_SQRT_2PI = 1 / np.sqrt(2 * np.pi)
_UNIFORM = np.linspace(0.0, 1.0, 41)
_Z_LIMIT = 8.0
_Z_GRID = np.arange(-_Z_LIMIT, _Z_LIMIT + 0.5, 1.0)
# Two-sided p-values have a cusp at y = 0 (1 - p ~ |z|, so w = (1 - p)^d behaves like |z|^d):
# panels graded by decades towards it keep the rule exact there.
_Z_GRADED = np.concatenate([-(10.0 ** -np.arange(1, 7)), 10.0 ** -np.arange(1, 7)])


class SmoothLikelihood(SelectionLikelihood):
    """log L of a smooth-type selection model (metafor selmodel(type = "beta", "halfnorm", ...))."""

    def __init__(self, yi: Array, vi: Array, function: WeightFunction, steps: Steps | None, alternative: str,
                 fixed_tau2: float | None) -> None:
        super().__init__(yi, vi, function, steps, alternative, fixed_tau2)
        self.steps = steps
        self.step = steps[0] if steps is not None else 0.0

    def __call__(self, mu: float, tau2: float, delta: Array) -> float:
        tau2 = max(tau2, 0.0) if self.fixed_tau2 is None else self.fixed_tau2
        delta = self.all_delta(delta)
        total_var = self.vi + tau2
        sd = np.sqrt(total_var)
        log_density = -0.5 * (np.log(2 * np.pi * total_var) + (self.yi - mu) ** 2 / total_var)
        # -inf / nan: rejected by the optimiser
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            log_weight = np.log(self.function.weight(self.p_values, delta, self.steps))
            return float(np.sum(log_weight + log_density - np.log(self._integrated_area(mu, sd, delta))))

    def _value(self, theta: Array) -> float:
        value = self(*self.natural(theta))
        return -value if np.isfinite(value) else 1e300

    def objective(self, theta: Array) -> tuple[float, Array]:
        return self._value(theta), _central_gradient(self._value, theta)

    def natural_hessian(self, mu: float, tau2: float, delta: Array) -> Array:
        """Numerical, as metafor's (numDeriv, htransf = FALSE)."""
        tau2_free = self.fixed_tau2 is None
        natural = np.concatenate([[mu], [tau2] if tau2_free else [], delta])

        def natural_log_likelihood(params: Array) -> float:
            return self(params[0], params[1] if tau2_free else 0.0, params[1 + tau2_free:])

        return _hessian(natural_log_likelihood, natural)

    def _integrated_area(self, mu: float, sd: Array, delta: Array) -> Array:
        """A_i = E[w(p(Y_i))], Y_i ~ N(mu, sd_i^2), with t = (y - mu) / sd_i: composite Gauss-Legendre
        on panels whose ends include every kink of w (the clamps and the step, in each tail that
        gives small p-values; y = 0 for two-sided p-values is on the grid), covering both
        |t| <= 10 and |z| = |y| / sqrt(v_i) <= 8, where w changes; beyond, p is within 1e-15 of 0
        or 1, w is constant and the normal tail mass is added in closed form."""
        se = np.sqrt(self.vi)
        lowest = np.minimum(-10.0, (-_Z_LIMIT * se - mu) / sd)
        highest = np.maximum(10.0, (_Z_LIMIT * se - mu) / sd)
        kinks_p = np.array([c for c in (self.p_min, 1 - self.p_min, self.step) if 0 < c < 1])
        # one-sided p = ndtr(-sign * y / se)  <=>  y = -sign * se * ndtri(p); two-sided: p / 2 in each tail
        y_points = [-sign * se[:, None] * dist.normal_quantile(kinks_p / len(self.signs))[None, :]
                    for sign in self.signs] if kinks_p.size else []
        y_points.append(se[:, None] * _Z_GRID[None, :])
        if len(self.signs) == 2:
            y_points.append(se[:, None] * _Z_GRADED[None, :])
        uniform = lowest[:, None] + (highest - lowest)[:, None] * _UNIFORM[None, :]
        t_points = np.concatenate([(np.concatenate(y_points, axis=1) - mu) / sd[:, None], uniform], axis=1)
        t_points = np.sort(np.clip(t_points, lowest[:, None], highest[:, None]), axis=1)
        left, right = t_points[:, :-1], t_points[:, 1:]
        half = (right - left) / 2
        t = (left + half)[:, :, None] + half[:, :, None] * _NODES[None, None, :]
        integrand = self._weight_at(mu + sd[:, None, None] * t, se[:, None, None], delta) * \
            np.exp(-0.5 * t ** 2) * _INV_SQRT_2PI
        tails = (self._weight_at(mu + sd * lowest, se, delta) * dist.normal_cdf(lowest)
                 + self._weight_at(mu + sd * highest, se, delta) * dist.normal_cdf(-highest))
        return np.einsum("ijn,n,ij->i", integrand, _WEIGHTS, half) + tails

    def _weight_at(self, y: Array, se: Array, delta: Array) -> Array:
        """w(p(y)) with p clamped to [p_min, 1 - p_min] as metafor's .selmodel.int does."""
        p = np.clip(p_of_z(y / se, self.alternative), self.p_min, 1 - self.p_min)
        return self.function.weight(p, delta, self.steps)


def _central_gradient(func: Callable[[Array], float], x: Array, step: float = 1e-6) -> Array:
    gradient = np.empty_like(x)
    for i in range(x.size):
        h = step * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        gradient[i] = (func(up) - func(down)) / (2 * h)
    return gradient


def _hessian(func: Callable[[Array], float], x: Array, rounds: int = 4) -> Array:
    """Hessian by central differences refined by Richardson extrapolation, the scheme of
    numDeriv::hessian that metafor's selmodel() uses (Gilbert & Varadhan, numDeriv): first steps
    h_i = 1e-2 |x_i| (1e-4, numDeriv's, where |x_i| < 1.8e-5), halved each round, and the round
    estimates D(h), D(h/2), ... combined as (4^m D(h/2) - D(h)) / (4^m - 1).  numDeriv starts at
    1e-4 |x_i| and halves six times; at such steps the rounding of log L (about 1e-14) would
    dominate, so the first step is larger and four rounds suffice (the truncation error left is
    O(h^8)).

    Diagonal: (f(x + h_i) - 2 f(x) + f(x - h_i)) / h_i^2.  Off-diagonal, from
    f(x + h_i + h_j) - 2 f(x) + f(x - h_i - h_j) = h_i^2 H_ii + h_j^2 H_jj + 2 h_i h_j H_ij + O(h^4)."""
    n = x.size
    first_step = 1e-2 * np.abs(x) + 1e-4 * (np.abs(x) < np.sqrt(EPS / 7e-7))
    f0 = func(x)

    def second_difference(h: Array, indices: tuple[int, ...]) -> float:
        """f(x + h_I) - 2 f(x) + f(x - h_I), h_I the steps of ``indices`` (one or two parameters)."""
        shift = np.zeros(n)
        shift[list(indices)] = h[list(indices)]
        return func(x + shift) - 2 * f0 + func(x - shift)

    def extrapolated(estimate_at: Callable[[Array, tuple[int, ...]], float],
                     indices: tuple[int, ...]) -> float:
        rounds_estimates = [estimate_at(first_step / 2 ** r, indices) for r in range(rounds)]
        for m in range(1, rounds):
            rounds_estimates = [(4 ** m * finer - coarser) / (4 ** m - 1)
                                for coarser, finer in zip(rounds_estimates, rounds_estimates[1:])]
        return rounds_estimates[0]

    def diagonal(h: Array, indices: tuple[int, ...]) -> float:
        (i,) = indices
        return second_difference(h, indices) / h[i] ** 2

    def mixed(h: Array, indices: tuple[int, ...]) -> float:
        i, j = indices
        difference = second_difference(h, indices) - hessian[i, i] * h[i] ** 2 - hessian[j, j] * h[j] ** 2
        return difference / (2 * h[i] * h[j])

    hessian = np.empty((n, n))
    for i in range(n):
        hessian[i, i] = extrapolated(diagonal, (i,))
    for i in range(n):
        for j in range(i):
            hessian[i, j] = hessian[j, i] = extrapolated(mixed, (i, j))
    return hessian

