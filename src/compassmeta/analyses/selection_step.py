"""The step-function selection-model likelihood with its analytic gradient and Hessian.

w is constant (delta_j) on the p-value intervals (0, s_1], ..., (s_J, 1] with delta_1 = 1, so
A_i = E[w(p(Y_i))] is a sum of normal probabilities (Vevea & Hedges 1995, Psychometrika 60:419):
log L, its gradient and Hessian are in closed form and Newton-Raphson maximises it; standard
errors come from the analytic Hessian on the natural scale (metafor computes the same numerically).
"""
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..common import distributions as dist
from .selection_likelihood import SelectionLikelihood
from .selection_weights import Array, Steps, WeightFunction, interval_of

_INV_SQRT_2PI = 1 / np.sqrt(2 * np.pi)


@dataclass
class _StepTerms:
    """The pieces of the step-function likelihood at one parameter value (see StepLikelihood._step_terms)."""

    delta: Array
    total_var: Array
    sd: Array
    drop: Array
    tails: list[tuple[float, Array, Array]] = field(default_factory=list)     # (sign, u, phi(u)) of each tail
    # sums over the tails (0.0, then arrays) and A_i (None until computed): Any, as they change type
    probability: Any = 0.0
    signed_density: Any = 0.0
    u_density: Any = 0.0
    area: Any = None

    def tail_sum(self, term: Callable[[float, Array, Array], Array]) -> Any:
        """sum over the tails of term(sign, u, phi(u))."""
        return sum(term(sign, u, density) for sign, u, density in self.tails)


class StepLikelihood(SelectionLikelihood):
    """log L of a step-function selection model (metafor selmodel(type = "stepfun"))."""

    def __init__(self, yi: Array, vi: Array, function: WeightFunction, steps: Steps | None, alternative: str,
                 fixed_tau2: float | None) -> None:
        super().__init__(yi, vi, function, steps, alternative, fixed_tau2)
        self.steps = np.asarray(steps)
        self.group = interval_of(self.p_values, self.steps)
        # z-quantiles of the interval bounds: one-sided p <= s  <=>  sign * y / sqrt(v) >= -ndtri(s);
        # two-sided p <= s  <=>  |y| / sqrt(v) >= -ndtri(s / 2)
        tail_share = self.steps[:-1] / len(self.signs)
        self.inner_offsets = np.sqrt(vi)[:, None] * dist.normal_quantile(tail_share)[None, :]
        self.counts = np.bincount(self.group, minlength=self.steps.size)

    def __call__(self, mu: float, tau2: float, delta: Array) -> float:
        tau2 = max(tau2, 0.0) if self.fixed_tau2 is None else self.fixed_tau2
        return self.step_value_and_gradient(mu, tau2, delta)[0]

    def _step_terms(self, mu: float, tau2: float, delta: Array) -> _StepTerms:
        """Shared pieces of the step likelihood.  With u_tij = (s_t mu + sqrt(v_i) z_tj) / sigma_i
        for each tail t of sign s_t (z_tj = ndtri(s_j), or ndtri(s_j / 2) with both tails for
        two-sided p-values), P_ij = sum_t Phi(u_tij) = P(p_i <= s_j); du/dmu = s_t / sigma_i and
        du/dtau^2 = -u / (2 sigma_i^2).  Returns the tails, the tail sums of Phi(u), s phi(u) and
        u phi(u), delta_j - delta_j+1 and A_i."""
        delta = self.all_delta(delta)
        total_var = self.vi + tau2
        sd = np.sqrt(total_var)
        terms = _StepTerms(delta=delta, total_var=total_var, sd=sd, drop=delta[:-1] - delta[1:])
        for sign in self.signs:
            u = (sign * mu + self.inner_offsets) / sd[:, None]
            density = np.exp(-0.5 * u ** 2) * _INV_SQRT_2PI
            terms.tails.append((sign, u, density))
            terms.probability = terms.probability + dist.normal_cdf(u)
            terms.signed_density = terms.signed_density + sign * density
            terms.u_density = terms.u_density + u * density
        terms.area = delta[-1] + terms.probability @ terms.drop
        return terms

    def step_value_and_gradient(self, mu: float, tau2: float, delta: Array,
                                terms: _StepTerms | None = None) -> tuple[float, Array]:
        """Step-function log L and its analytic gradient in (mu, tau^2, free deltas):
        A_i = sum_j delta_j [P_ij - P_i,j-1] = delta_J + sum_j P_ij (delta_j - delta_j+1), with P as in
        :meth:`_step_terms`."""
        t = terms or self._step_terms(mu, tau2, delta)
        residual = self.yi - mu
        value = (self.counts @ np.log(t.delta)
                 - 0.5 * (np.log(2 * np.pi * t.total_var) + residual ** 2 / t.total_var).sum()
                 - np.log(t.area).sum())
        d_mu = (residual / t.total_var - (t.signed_density @ t.drop) / (t.sd * t.area)).sum()
        d_tau2 = ((residual ** 2 / t.total_var - 1 + (t.u_density @ t.drop) / t.area)
                  / (2 * t.total_var)).sum()
        share = np.append((t.probability / t.area[:, None]).sum(axis=0), (1 / t.area).sum())
        d_delta = self.counts[1:] / t.delta[1:] - np.diff(share)
        return float(value), np.concatenate([[d_mu], [d_tau2] if self.fixed_tau2 is None else [], d_delta])

    def step_hessian(self, mu: float, tau2: float, delta: Array, terms: _StepTerms | None = None) -> Array:
        """Analytic Hessian of the step-function log L in (mu, tau^2 unless fixed, free deltas).

        Derivatives of A_i = delta_J + sum_j P_ij d_j (d_j = delta_j - delta_j+1) with phi' = -u phi,
        summed over the tails: A_mumu = -sum d u phi / sigma^2, A_mutau = sum d s phi (u^2 - 1) / (2 sigma^3),
        A_tautau = sum d u phi (3 - u^2) / (4 sigma^4); dA/ddelta_k = P_k - P_k-1, linear in delta.
        """
        t = terms or self._step_terms(mu, tau2, delta)
        total_var, sd, drop, area = t.total_var, t.sd, t.drop, t.area
        residual = self.yi - mu
        # first derivatives of A (columns: mu, tau2, delta_2..delta_J) and of the normal part
        a_mu = (t.signed_density @ drop) / sd
        a_tau = -(t.u_density @ drop) / (2 * total_var)
        zeros = np.zeros((residual.size, 1))
        a_delta = np.diff(np.hstack([t.probability, zeros + 1]), axis=1)
        bound_density = np.hstack([t.signed_density, zeros])
        bound_u_density = np.hstack([t.u_density, zeros])
        a_mu_delta = np.diff(np.hstack([zeros, bound_density]), axis=1)[:, 1:] / sd[:, None]
        a_tau_delta = -np.diff(np.hstack([zeros, bound_u_density]), axis=1)[:, 1:] / (2 * total_var)[:, None]
        a_mumu = -(t.u_density @ drop) / total_var
        a_mutau = (t.tail_sum(lambda sign, u, phi: sign * phi * (u ** 2 - 1)) @ drop) / (2 * total_var * sd)
        a_tautau = (t.tail_sum(lambda sign, u, phi: u * phi * (3 - u ** 2)) @ drop) / (4 * total_var ** 2)
        first = np.column_stack([a_mu, a_tau, a_delta])
        n_delta = t.delta.size - 1
        second = np.zeros((residual.size, 2 + n_delta, 2 + n_delta))
        second[:, 0, 0], second[:, 0, 1], second[:, 1, 1] = a_mumu, a_mutau, a_tautau
        second[:, 0, 2:], second[:, 1, 2:] = a_mu_delta, a_tau_delta
        second = second + np.triu(second, 1).transpose(0, 2, 1)
        hessian = -(np.einsum("ijk,i->jk", second, 1 / area)
                    - np.einsum("ij,ik,i->jk", first, first, 1 / area ** 2))
        hessian[0, 0] -= np.sum(1 / total_var)
        hessian[0, 1] -= np.sum(residual / total_var ** 2)
        hessian[1, 1] += np.sum(0.5 / total_var ** 2 - residual ** 2 / total_var ** 3)
        hessian[1, 0] = hessian[0, 1]
        hessian[2:, 2:] -= np.diag(self.counts[1:] / t.delta[1:] ** 2)
        if self.fixed_tau2 is not None:
            hessian = np.delete(np.delete(hessian, 1, axis=0), 1, axis=1)
        return hessian

    def _transform_slopes(self, theta: Array) -> tuple[tuple[float, float, Array], Array, Array]:
        """d natural / d theta and d^2 natural / d theta^2 of the mapping (mu, tau^2 = exp(t),
        delta = lo + (hi - lo) plogis(x)): 1 and 0; tau^2 and tau^2; g = (delta - lo)(hi - delta) / (hi - lo)
        and g (hi + lo - 2 delta) / (hi - lo)."""
        mu, tau2, delta = self.natural(theta)
        width = self.delta_max - self.delta_min
        slope = (delta - self.delta_min) * (self.delta_max - delta) / width
        curvature = slope * (self.delta_max + self.delta_min - 2 * delta) / width
        tau_part = [] if self.fixed_tau2 is not None else [tau2]
        first = np.concatenate([[1.0], tau_part, slope])
        second = np.concatenate([[0.0], tau_part, curvature])
        return (mu, tau2, delta), first, second

    def transformed_value_and_gradient(self, theta: Array) -> tuple[float, Array]:
        """log L and its gradient in the optimiser's parameters (chain rule through exp and plogis)."""
        natural, first, _ = self._transform_slopes(theta)
        value, gradient = self.step_value_and_gradient(*natural)
        return value, gradient * first

    def transformed_derivatives(self, theta: Array) -> tuple[float, Array, Array]:
        """log L, its gradient and its Hessian in the optimiser's parameters, from one evaluation of
        the step terms: J g and J H J + diag(g * second derivatives of the mapping), J = diag(first
        derivatives), g and H those on the natural scale."""
        natural, first, second = self._transform_slopes(theta)
        terms = self._step_terms(*natural)
        value, gradient = self.step_value_and_gradient(*natural, terms=terms)
        hessian = (self.step_hessian(*natural, terms=terms) * np.outer(first, first)
                   + np.diag(gradient * second))
        return value, gradient * first, hessian

    def natural_hessian(self, mu: float, tau2: float, delta: Array) -> Array:
        with np.errstate(divide="ignore", invalid="ignore"):  # a delta of an empty interval at 0
            return self.step_hessian(mu, tau2, delta)

    def objective(self, theta: Array) -> tuple[float, Array]:
        value, gradient = self.transformed_value_and_gradient(theta)
        return (-value, -gradient) if np.isfinite(value) else (1e300, np.zeros_like(theta))

    def maximise(self, start: Array) -> tuple[Array, float]:
        """Newton-Raphson; BFGS where Newton stalls.  A delta whose interval has no study runs to
        0, where log(delta) is -inf: such steps are rejected by their value, without numpy's
        warnings."""
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = _newton(self, start)
            return newton if newton is not None else super().maximise(start)


def _newton(likelihood: StepLikelihood, theta: Array,
            max_iterations: int = 100) -> tuple[Array, float] | None:
    """Newton-Raphson with step halving on the step-function log L (analytic gradient and Hessian,
    transformed parameters): (theta, log L) once the gradient is below 1e-8, or None where the
    Hessian is not negative definite or no step increases log L (then BFGS takes over)."""
    value, gradient, hessian = likelihood.transformed_derivatives(theta)
    for _ in range(max_iterations):
        if np.max(np.abs(gradient)) < 1e-8:
            return theta, value
        try:
            step = np.linalg.solve(hessian, -gradient)
        except np.linalg.LinAlgError:
            return None
        ascent = gradient @ step
        if not ascent > 0:
            return None
        scale = 1.0
        while True:
            trial = theta + scale * step
            trial_value, trial_gradient, trial_hessian = likelihood.transformed_derivatives(trial)
            # Armijo condition; or the trial is the maximum and log L differs only by rounding
            # (at k = 10,000 the steps near the optimum change log L by less than its last digit)
            if trial_value >= value + 1e-4 * scale * ascent or np.max(np.abs(trial_gradient)) < 1e-8:
                break
            scale /= 2
            if scale < 1e-10:
                return None
        theta, value, gradient, hessian = trial, trial_value, trial_gradient, trial_hessian
    return None

