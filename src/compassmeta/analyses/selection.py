"""Weight-function selection models for publication bias, as metafor 3.8's selmodel().

A study's observed effect y_i ~ N(mu, v_i + tau^2) is published with a relative probability
w(p_i) that depends on its p-value p_i (one-sided, or two-sided as metafor's alternative =
"two.sided"); the likelihood of the published studies is
(Vevea & Hedges 1995, Psychometrika 60:419, eq. 6; Citkowicz & Vevea 2017 for the beta model)

    L = prod_i  w(p_i) phi(y_i; mu, v_i + tau^2) / A_i,   A_i = integral w(p(y)) phi(y; mu, v_i + tau^2) dy.

``stepfun`` has w constant (delta_j) on the p-value intervals (0, s_1], (s_1, s_2], ..., (s_J, 1]
with delta_1 = 1, so A_i is a sum of normal probabilities (the 3PSM for steps 0.025, the 4PSM
for 0.025, 0.5).  The smooth types are those of metafor's help(selmodel): beta
p^(d1-1) (1-p)^(d2-1); halfnorm exp(-d p^2); negexp exp(-d p); logistic 2 exp(-d p) / (1 + exp(-d p));
power (1-p)^d, each relative to its value at the optional step s below which w = 1.  Their A_i is
integrated numerically (composite Gauss-Legendre, break points at every kink of w).

Fitting as metafor does: maximum likelihood over (mu, log tau^2, deltas mapped logistically into
[delta_min, delta_max]) -- Newton-Raphson with the analytic Hessian for step functions, BFGS with
numerical gradients for the smooth types --, standard errors from the Hessian of the log-likelihood
on the natural scale (analytic for step functions, Richardson-extrapolated differences for the
smooth types), a likelihood-ratio test of the deltas against the unadjusted ML (or FE) model.
"""
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from ..common import distributions as dist
from ..common.errors import ConvergenceError, InputError
from ..common.results import INTERNAL, Estimate
from ..models.pooling import as_fraction, check_effects, pool

ALTERNATIVES = ("greater", "less", "two.sided")


@dataclass(frozen=True)
class WeightFunction:
    """One selection-model type: its weight function and metafor's bounds for the deltas."""

    name: str
    delta_min: tuple
    delta_max: tuple
    delta_init: tuple
    null_delta: tuple      # deltas under which w = 1 (the unadjusted model), tested by z and the LRT
    p_min: float           # observed and integrated p-values are clamped to [p_min, 1 - p_min]

    def weight(self, p, delta, step=0.0):
        """w(p) for the smooth types (metafor help(selmodel), 'Selection Models'); 1 below ``step``."""
        d = delta[0]
        if self.name == "beta":
            return p ** (d - 1) * (1 - p) ** (delta[1] - 1)
        if self.name == "halfnorm":
            w = np.exp(-d * (p ** 2 - step ** 2))
        elif self.name == "negexp":
            w = np.exp(-d * (p - step))
        elif self.name == "logistic":
            w = (np.exp(-d * p) / (1 + np.exp(-d * p))) / (np.exp(-d * step) / (1 + np.exp(-d * step)))
        else:  # power
            w = ((1 - p) / (1 - step)) ** d
        return np.where(p <= step, 1.0, w)


WEIGHT_FUNCTIONS = {
    "beta": WeightFunction("beta", (1e-5, 1e-5), (100.0, 100.0), (1.0, 1.0), (1.0, 1.0), 1e-5),
    "halfnorm": WeightFunction("halfnorm", (0.0,), (100.0,), (1.0,), (0.0,), 0.0),
    "negexp": WeightFunction("negexp", (0.0,), (100.0,), (1.0,), (0.0,), 0.0),
    "logistic": WeightFunction("logistic", (0.0,), (100.0,), (1.0,), (0.0,), 0.0),
    "power": WeightFunction("power", (0.0,), (100.0,), (1.0,), (0.0,), 1e-5),
}
TYPES = ("stepfun",) + tuple(WEIGHT_FUNCTIONS)
STEP_DELTA_MAX = 100.0

# Gauss-Legendre rule used on every integration panel, and the panel break points (evenly
# spaced over the integration range, and at z = y / sqrt(v) = -8..8 where w changes fastest).
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(12)
_EPS = np.finfo(float).eps
_INV_SQRT_2PI = 1 / np.sqrt(2 * np.pi)
_UNIFORM = np.linspace(0.0, 1.0, 41)
_Z_LIMIT = 8.0
_Z_GRID = np.arange(-_Z_LIMIT, _Z_LIMIT + 0.5, 1.0)
# Two-sided p-values have a cusp at y = 0 (1 - p ~ |z|, so w = (1 - p)^d behaves like |z|^d):
# panels graded by decades towards it keep the rule exact there.
_Z_GRADED = np.concatenate([-(10.0 ** -np.arange(1, 7)), 10.0 ** -np.arange(1, 7)])


def selection_p_values(yi, vi, alternative):
    """p-value of each study's z = y / sqrt(v): one-sided in the direction of ``alternative``
    ("greater" or "less"), or two-sided (metafor .selmodel.pval)."""
    return _p_of_z(yi / np.sqrt(vi), alternative)


def _p_of_z(z, alternative):
    if alternative == "two.sided":
        return 2 * special.ndtr(-np.abs(z))
    return special.ndtr(-z if alternative == "greater" else z)


def interval_of(p_values, steps):
    """0-based index of the p-value interval (upper bounds ``steps``) holding each p-value."""
    return np.searchsorted(np.asarray(steps), p_values, side="left")


@dataclass(frozen=True)
class SelectionModel(Estimate):
    """A fitted selection model (metafor rma.uni.selmodel): the adjusted estimate and its inference,
    tau^2, the weight-function parameters and the likelihood-ratio tests."""

    type: str
    method: str
    alternative: str
    steps: tuple | None
    k: int
    tau2: float
    tau2_se: float
    delta: tuple
    delta_se: tuple
    delta_ci_lower: tuple
    delta_ci_upper: tuple
    delta_statistic: tuple
    delta_p_value: tuple
    studies_per_interval: tuple | None
    lrt: float
    lrt_df: int
    lrt_p: float
    lrt_tau2: float | None
    lrt_tau2_p: float | None
    log_likelihood: float
    log_likelihood_unadjusted: float
    warnings: tuple = ()
    p_values: np.ndarray = field(default=None, repr=False, compare=False, metadata=INTERNAL)

    def weight(self, p):
        """The estimated weight function at p-values ``p`` (for plots)."""
        p = np.asarray(p, dtype=float)
        delta = np.array(self.delta)
        if self.type == "stepfun":
            return delta[np.minimum(interval_of(p, self.steps), len(delta) - 1)]
        function = WEIGHT_FUNCTIONS[self.type]
        step = self.steps[0] if self.steps and self.type != "beta" else 0.0
        return function.weight(p, delta, step)


@dataclass
class _StepTerms:
    """The pieces of the step-function likelihood at one parameter value (see _Likelihood._step_terms)."""

    delta: np.ndarray
    total_var: np.ndarray
    sd: np.ndarray
    drop: np.ndarray
    tails: list = field(default_factory=list)     # (sign, u, phi(u)) of each tail
    probability: np.ndarray = 0.0
    signed_density: np.ndarray = 0.0
    u_density: np.ndarray = 0.0
    area: np.ndarray = None

    def tail_sum(self, term):
        """sum over the tails of term(sign, u, phi(u))."""
        return sum(term(sign, u, density) for sign, u, density in self.tails)


class _Likelihood:
    """Log-likelihood of one selection model, on the optimiser's scale and the natural one."""

    def __init__(self, yi, vi, kind, steps, alternative, fixed_tau2):
        self.yi, self.vi, self.kind, self.alternative = yi, vi, kind, alternative
        # the tails of y that give small p-values: +1 (large y), -1 (small y), or both
        self.signs = {"greater": (1.0,), "less": (-1.0,), "two.sided": (1.0, -1.0)}[alternative]
        self.fixed_tau2 = fixed_tau2
        if kind == "stepfun":
            self.steps = np.asarray(steps)
            n = len(steps)
            self.delta_min, self.delta_max = np.zeros(n - 1), np.full(n - 1, STEP_DELTA_MAX)
            self.p_min = 0.0
        else:
            self.function = WEIGHT_FUNCTIONS[kind]
            self.step = steps[0] if steps is not None else 0.0
            self.delta_min, self.delta_max = np.array(self.function.delta_min), np.array(self.function.delta_max)
            self.p_min = self.function.p_min
        self.p_values = np.clip(selection_p_values(yi, vi, alternative), self.p_min, 1 - self.p_min)
        if kind == "stepfun":
            self.group = interval_of(self.p_values, self.steps)
            # z-quantiles of the interval bounds: one-sided p <= s  <=>  sign * y / sqrt(v) >= -ndtri(s);
            # two-sided p <= s  <=>  |y| / sqrt(v) >= -ndtri(s / 2)
            tail_share = self.steps[:-1] / len(self.signs)
            self.inner_offsets = np.sqrt(vi)[:, None] * special.ndtri(tail_share)[None, :]
            self.counts = np.bincount(self.group, minlength=self.steps.size)

    # -- parameter mapping (metafor: tau2 = exp(theta), delta = min + (max - min) plogis(x)) --
    def natural(self, theta):
        mu = theta[0]
        tau2 = 0.0 if self.fixed_tau2 is not None else float(np.exp(min(theta[1], 700.0)))
        if tau2 < 10 * _EPS:
            tau2 = 0.0
        x = theta[1 if self.fixed_tau2 is not None else 2:]
        delta = self.delta_min + (self.delta_max - self.delta_min) * special.expit(x)
        return mu, tau2, delta

    def transformed_start(self, mu, tau2, delta):
        delta = np.asarray(delta, dtype=float)
        x = np.log((delta - self.delta_min) / (self.delta_max - delta))
        head = [mu] if self.fixed_tau2 is not None else [mu, np.log(tau2 + 0.001)]
        return np.concatenate([head, x])

    def all_delta(self, delta):
        return np.concatenate([[1.0], delta]) if self.kind == "stepfun" else np.asarray(delta)

    def __call__(self, mu, tau2, delta):
        """log L at natural parameters (free deltas only)."""
        tau2 = max(tau2, 0.0) if self.fixed_tau2 is None else self.fixed_tau2
        if self.kind == "stepfun":
            return self.step_value_and_gradient(mu, tau2, delta)[0]
        delta = self.all_delta(delta)
        total_var = self.vi + tau2
        sd = np.sqrt(total_var)
        log_density = -0.5 * (np.log(2 * np.pi * total_var) + (self.yi - mu) ** 2 / total_var)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # -inf / nan: rejected by the optimiser
            log_weight = np.log(self.function.weight(self.p_values, delta, self.step))
            return float(np.sum(log_weight + log_density - np.log(self._integrated_area(mu, sd, delta))))

    def _step_terms(self, mu, tau2, delta):
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
            terms.probability = terms.probability + special.ndtr(u)
            terms.signed_density = terms.signed_density + sign * density
            terms.u_density = terms.u_density + u * density
        terms.area = delta[-1] + terms.probability @ terms.drop
        return terms

    def step_value_and_gradient(self, mu, tau2, delta, terms=None):
        """Step-function log L and its analytic gradient in (mu, tau^2, free deltas):
        A_i = sum_j delta_j [P_ij - P_i,j-1] = delta_J + sum_j P_ij (delta_j - delta_j+1), with P as in
        :meth:`_step_terms`."""
        t = terms or self._step_terms(mu, tau2, delta)
        residual = self.yi - mu
        value = (self.counts @ np.log(t.delta) - 0.5 * (np.log(2 * np.pi * t.total_var) + residual ** 2 / t.total_var).sum()
                 - np.log(t.area).sum())
        d_mu = (residual / t.total_var - (t.signed_density @ t.drop) / (t.sd * t.area)).sum()
        d_tau2 = ((residual ** 2 / t.total_var - 1 + (t.u_density @ t.drop) / t.area) / (2 * t.total_var)).sum()
        share = np.append((t.probability / t.area[:, None]).sum(axis=0), (1 / t.area).sum())
        d_delta = self.counts[1:] / t.delta[1:] - np.diff(share)
        return float(value), np.concatenate([[d_mu], [d_tau2] if self.fixed_tau2 is None else [], d_delta])

    def step_hessian(self, mu, tau2, delta, terms=None):
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
        hessian = -(np.einsum("ijk,i->jk", second, 1 / area) - np.einsum("ij,ik,i->jk", first, first, 1 / area ** 2))
        hessian[0, 0] -= np.sum(1 / total_var)
        hessian[0, 1] -= np.sum(residual / total_var ** 2)
        hessian[1, 1] += np.sum(0.5 / total_var ** 2 - residual ** 2 / total_var ** 3)
        hessian[1, 0] = hessian[0, 1]
        hessian[2:, 2:] -= np.diag(self.counts[1:] / t.delta[1:] ** 2)
        if self.fixed_tau2 is not None:
            hessian = np.delete(np.delete(hessian, 1, axis=0), 1, axis=1)
        return hessian

    def _transform_slopes(self, theta):
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

    def transformed_value_and_gradient(self, theta):
        """log L and its gradient in the optimiser's parameters (chain rule through exp and plogis)."""
        natural, first, _ = self._transform_slopes(theta)
        value, gradient = self.step_value_and_gradient(*natural)
        return value, gradient * first

    def transformed_derivatives(self, theta):
        """log L, its gradient and its Hessian in the optimiser's parameters, from one evaluation of
        the step terms: J g and J H J + diag(g * second derivatives of the mapping), J = diag(first
        derivatives), g and H those on the natural scale."""
        natural, first, second = self._transform_slopes(theta)
        terms = self._step_terms(*natural)
        value, gradient = self.step_value_and_gradient(*natural, terms=terms)
        hessian = self.step_hessian(*natural, terms=terms) * np.outer(first, first) + np.diag(gradient * second)
        return value, gradient * first, hessian

    def _integrated_area(self, mu, sd, delta):
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
        y_points = [-sign * se[:, None] * special.ndtri(kinks_p / len(self.signs))[None, :]
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
        tails = (self._weight_at(mu + sd * lowest, se, delta) * special.ndtr(lowest)
                 + self._weight_at(mu + sd * highest, se, delta) * special.ndtr(-highest))
        return np.einsum("ijn,n,ij->i", integrand, _WEIGHTS, half) + tails

    def _weight_at(self, y, se, delta):
        """w(p(y)) with p clamped to [p_min, 1 - p_min] as metafor's .selmodel.int does."""
        p = np.clip(_p_of_z(y / se, self.alternative), self.p_min, 1 - self.p_min)
        return self.function.weight(p, delta, self.step)


def _central_gradient(func, x, step=1e-6):
    gradient = np.empty_like(x)
    for i in range(x.size):
        h = step * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        gradient[i] = (func(up) - func(down)) / (2 * h)
    return gradient


def _hessian(func, x, rounds=4):
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
    first_step = 1e-2 * np.abs(x) + 1e-4 * (np.abs(x) < np.sqrt(_EPS / 7e-7))
    f0 = func(x)

    def second_difference(h, indices):
        """f(x + h_I) - 2 f(x) + f(x - h_I), h_I the steps of ``indices`` (one or two parameters)."""
        shift = np.zeros(n)
        shift[list(indices)] = h[list(indices)]
        return func(x + shift) - 2 * f0 + func(x - shift)

    def extrapolated(estimate_at, indices):
        rounds_estimates = [estimate_at(first_step / 2 ** r, indices) for r in range(rounds)]
        for m in range(1, rounds):
            rounds_estimates = [(4 ** m * finer - coarser) / (4 ** m - 1)
                                for coarser, finer in zip(rounds_estimates, rounds_estimates[1:])]
        return rounds_estimates[0]

    def diagonal(h, indices):
        (i,) = indices
        return second_difference(h, indices) / h[i] ** 2

    def mixed(h, indices):
        i, j = indices
        return (second_difference(h, indices) - hessian[i, i] * h[i] ** 2 - hessian[j, j] * h[j] ** 2) / (2 * h[i] * h[j])

    hessian = np.empty((n, n))
    for i in range(n):
        hessian[i, i] = extrapolated(diagonal, (i,))
    for i in range(n):
        for j in range(i):
            hessian[i, j] = hessian[j, i] = extrapolated(mixed, (i, j))
    return hessian


def _newton(likelihood, theta, max_iterations=100):
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
            if trial_value >= value + 1e-4 * scale * ascent:  # Armijo condition
                break
            scale /= 2
            if scale < 1e-10:
                return None
        theta, value, gradient, hessian = trial, trial_value, trial_gradient, trial_hessian
    return None


def _maximise(likelihood, start):
    """Maximise log L over the transformed parameters: Newton for step functions; otherwise, or
    where Newton stalls, BFGS (as metafor's optim default), and a Nelder-Mead restart if BFGS stops
    with a large gradient.  Raises if none converges."""
    from scipy.optimize import minimize

    if likelihood.kind == "stepfun":
        newton = _newton(likelihood, start)
        if newton is not None:
            return newton

        def objective(theta):
            value, gradient = likelihood.transformed_value_and_gradient(theta)
            return (-value, -gradient) if np.isfinite(value) else (1e300, np.zeros_like(theta))
    else:
        def value_only(theta):
            value = likelihood(*likelihood.natural(theta))
            return -value if np.isfinite(value) else 1e300

        def objective(theta):
            return value_only(theta), _central_gradient(value_only, theta)

    def converged(result):
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


def _check_steps(steps, kind):
    """metafor's handling of ``steps``: sorted, unique, 1 appended; stepfun needs one below 1."""
    if steps is not None and len(steps) == 0:
        steps = None
    if steps is None:
        if kind == "stepfun":
            raise InputError("a step-function selection model needs --steps (e.g. 0.025 for the 3PSM)")
        return None
    steps = np.asarray(steps, dtype=float)
    if np.any((steps < 0) | (steps > 1)) or np.any(~np.isfinite(steps)):
        raise InputError("steps must lie between 0 and 1")
    steps = np.unique(steps)
    if steps[-1] != 1:
        steps = np.append(steps, 1.0)
    if kind == "beta":
        return None  # metafor ignores steps for the beta model (with a warning)
    if kind == "stepfun" and steps.size < 2:
        raise InputError("a step-function selection model needs at least one step below 1")
    if kind != "stepfun" and steps.size != 2:
        raise InputError(f"the {kind} selection model takes a single step (below which w = 1)")
    return tuple(float(s) for s in steps)


def selection_model(yi, vi, *, type="stepfun", steps=None, method="ML", alternative="greater", level=95):
    """Fit a selection model to effects ``yi`` with sampling variances ``vi`` (metafor selmodel()
    applied to rma(yi, vi, method="ML") or method="FE")."""
    yi, vi = check_effects(yi, vi)
    kind, method = type, method.upper()
    if kind not in TYPES:
        raise InputError(f"unknown selection model type '{kind}'; choose one of {', '.join(TYPES)}")
    if method not in ("ML", "FE"):
        raise InputError(f"a selection model is fitted by ML (random effects) or FE, not {method}")
    if alternative not in ALTERNATIVES:
        raise InputError(f"alternative must be 'greater', 'less' or 'two.sided', not '{alternative}'")
    level = as_fraction(level)
    warnings = []
    if kind == "beta" and steps is not None:
        warnings.append("steps are ignored by the beta selection model")
    steps = _check_steps(steps, kind)
    k = yi.size
    fixed_tau2 = 0.0 if method == "FE" else None
    likelihood = _Likelihood(yi, vi, kind, steps, alternative, fixed_tau2)
    n_free = likelihood.delta_min.size
    if k < 1 + (method != "FE") + n_free:
        raise InputError(f"number of studies (k = {k}) is too small to fit the selection model")
    counts = None
    if steps is not None:
        counts = np.bincount(interval_of(likelihood.p_values, steps), minlength=len(steps))
        # metafor refuses an empty interval whose delta is estimated (all but stepfun's first)
        estimated = np.arange(len(steps)) >= (1 if kind == "stepfun" else 0)
        empty = [f"{low:g} < p <= {high:g}" for low, high, n, free in
                 zip((0,) + steps[:-1], steps, counts, estimated) if n == 0 and free]
        if empty:
            raise InputError(f"no observed p-value in the interval(s) {', '.join(empty)}; "
                             "choose other steps (metafor refuses this model too)")

    unadjusted = pool(yi, vi, method=method, with_tau2_ci=False)
    tau2_start = unadjusted.tau2
    delta_start = (np.ones(n_free) if kind == "stepfun" else np.array(WEIGHT_FUNCTIONS[kind].delta_init))
    theta, log_likelihood = _maximise(likelihood, likelihood.transformed_start(unadjusted.estimate, tau2_start,
                                                                             delta_start))
    mu, tau2, delta = likelihood.natural(theta)

    near_bound = (delta <= likelihood.delta_min + np.finfo(float).eps ** 0.25) | \
                 (delta >= likelihood.delta_max - 100 * np.finfo(float).eps ** 0.25)
    if near_bound.any():
        warnings.append("one or more delta estimates are (almost) equal to their lower or upper bound; "
                        "treat the results with caution")

    margin = 2 * np.sqrt(vi.max())
    if not yi.min() - margin <= mu <= yi.max() + margin:
        warnings.append(f"the adjusted estimate {mu:.4g} lies more than two standard errors outside the range of "
                        f"the observed effects [{yi.min():.4g}, {yi.max():.4g}]: the likelihood is nearly flat "
                        "there; treat it with caution")

    # Hessian on the natural scale over the estimated parameters (metafor: numDeriv, htransf = FALSE)
    tau2_free = method != "FE"
    natural = np.concatenate([[mu], [tau2] if tau2_free else [], delta])

    def natural_log_likelihood(params):
        return likelihood(params[0], params[1] if tau2_free else 0.0, params[1 + tau2_free:])

    hessian = (likelihood.step_hessian(mu, tau2, delta) if kind == "stepfun"
               else _hessian(natural_log_likelihood, natural))
    covariance = np.full((natural.size, natural.size), np.nan)
    try:
        covariance = np.linalg.inv(-hessian)
        if np.any(np.diag(covariance) < 0) or not np.all(np.isfinite(covariance)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        covariance = np.full((natural.size, natural.size), np.nan)
        warnings.append("the Hessian could not be inverted: no standard errors")
    variances = np.diag(covariance)
    se = float(np.sqrt(variances[0]))
    tau2_se = float(np.sqrt(variances[1])) if tau2_free else float("nan")
    free_delta_se = np.sqrt(variances[1 + tau2_free:])

    crit = dist.critical_value(level)
    all_delta = likelihood.all_delta(delta)
    delta_se = np.concatenate([[np.nan], free_delta_se]) if kind == "stepfun" else free_delta_se
    null_delta = np.ones(all_delta.size) if kind == "stepfun" else np.array(WEIGHT_FUNCTIONS[kind].null_delta)
    delta_lower = np.maximum(all_delta - crit * delta_se, 0.0)  # metafor: every delta is >= 0
    delta_upper = all_delta + crit * delta_se
    delta_z = (all_delta - null_delta) / delta_se
    delta_p = dist.normal_two_sided_p(delta_z)

    log_likelihood_unadjusted = _normal_log_likelihood(yi, vi, unadjusted)
    lrt = max(0.0, 2 * (log_likelihood - log_likelihood_unadjusted))
    lrt_tau2 = lrt_tau2_p = None
    if tau2_free:
        homogeneous = _Likelihood(yi, vi, kind, steps, alternative, 0.0)
        start = homogeneous.transformed_start(mu, 0.0, np.clip(delta, likelihood.delta_min + 1e-6,
                                                                likelihood.delta_max - 1e-6))
        _, log_likelihood_fe = _maximise(homogeneous, start)
        lrt_tau2 = max(0.0, 2 * (log_likelihood - log_likelihood_fe))
        lrt_tau2_p = float(dist.chi2_sf(lrt_tau2, 1))
    return SelectionModel(
        type=kind, method=method, alternative=alternative, steps=steps, level=100 * level, k=k,
        estimate=float(mu), se=se, statistic=float(mu / se), p_value=float(dist.normal_two_sided_p(mu / se)),
        ci_lower=float(mu - crit * se), ci_upper=float(mu + crit * se), tau2=float(tau2), tau2_se=tau2_se,
        delta=tuple(all_delta.tolist()), delta_se=tuple(delta_se.tolist()),
        delta_ci_lower=tuple(delta_lower.tolist()), delta_ci_upper=tuple(delta_upper.tolist()),
        delta_statistic=tuple(np.asarray(delta_z, dtype=float).tolist()), delta_p_value=tuple(np.asarray(delta_p, dtype=float).tolist()),
        studies_per_interval=tuple(int(n) for n in counts) if (counts is not None and kind == "stepfun") else None,
        lrt=lrt, lrt_df=n_free, lrt_p=float(dist.chi2_sf(lrt, n_free)), lrt_tau2=lrt_tau2, lrt_tau2_p=lrt_tau2_p,
        log_likelihood=log_likelihood, log_likelihood_unadjusted=log_likelihood_unadjusted,
        warnings=tuple(warnings), p_values=likelihood.p_values)


def three_psm_or_note(yi, vi, *, method="ML", level=95, notes=None):
    """The 3PSM (stepfun, steps 0.025) as ``compassmeta bias`` reports it: ML, or FE under FE;
    None with a note in ``notes`` when it cannot be fitted (empty interval, too few studies,
    no convergence)."""
    try:
        return selection_model(yi, vi, type="stepfun", steps=(0.025,), method="FE" if method.upper() == "FE" else "ML",
                               level=level)
    except (InputError, ConvergenceError) as error:
        notes.append(f"3PSM selection model not reported: {error}")
        return None


def _normal_log_likelihood(yi, vi, fit):
    """ML log-likelihood of the unadjusted random-effects (or FE) model at its estimates."""
    total_var = vi + fit.tau2
    return float(-0.5 * np.sum(np.log(2 * np.pi * total_var) + (yi - fit.estimate) ** 2 / total_var))
