"""Bayesian random-effects meta-analysis, computed exactly as R's bayesmeta (Roever 2020).

The normal-normal hierarchical model y_i ~ N(theta_i, sigma_i^2), theta_i ~ N(mu, tau^2), with
a prior on tau (models.bayes_priors) and on mu (improper uniform or normal).  Integrating mu
out gives the marginal likelihood p(y | tau) in closed form (Roever 2020, J Stat Softw 93(6),
eq. 10); tau's posterior p(tau | y) ~ p(tau) p(y | tau) is integrated numerically
(models.bayes_grid.AdaptiveDensity); mu | tau, y is normal (eq. 11-12), so mu's marginal
posterior is a mixture of normals over tau, discretised by the DIRECT grid (Roever & Friede
2017).  The predictive theta_new | tau, y is N(mean, var + tau^2) and each study's shrinkage
estimate theta_i | tau, y is normal (eq. 13-14).  Bayes factors and the marginal likelihood as
bayesmeta computes them (sec. 2.5): defined when both priors are proper.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import TypedDict

import numpy as np
from numpy.typing import ArrayLike

from ..common.errors import InputError
from ..common.results import INTERNAL, Estimate, Heterogeneity, PooledModel, Result, VarianceComponent
from ..common.roots import brent_minimize
from .bayes_grid import AdaptiveDensity, direct_grid, mixture_cdf, mixture_quantiles, shortest_interval
from .bayes_priors import TauPrior, parse_mu_prior, parse_tau_prior
from .bayes_sums import CHECK, CompressedSums, ExactSums

LEVEL = 0.95
COMPRESS_K = 1000     # from this many studies the sums are compressed (models.bayes_sums)
SUMMARY_KEYS = ("mode", "median", "mean", "sd", "ci_lower", "ci_upper", "hpd_lower", "hpd_upper")


@dataclasses.dataclass(frozen=True)
class Summary(Result):
    """Posterior summary of one parameter: mode, median, mean, sd, the 95% central (ci) and the
    95% shortest (hpd) interval.  A moment the posterior lacks (a heavy tail) is None."""

    mode: float
    median: float
    mean: float | None
    sd: float | None
    ci_lower: float
    ci_upper: float
    hpd_lower: float
    hpd_upper: float


@dataclasses.dataclass(frozen=True)
class Shrinkage(Result):
    """Posterior of one study's true effect theta_i (the shrinkage estimate)."""

    es_id: str
    mean: float
    median: float
    sd: float
    ci_lower: float
    ci_upper: float


class PriorSpec(TypedDict):
    """The priors of a fit: the tau prior's spec, label and whether it is proper; the mu prior."""

    tau: str
    tau_label: str
    tau_proper: bool
    mu: str


@dataclasses.dataclass(frozen=True)
class BayesResult(Result, PooledModel):
    """A fitted Bayesian random-effects model (see the module docstring)."""

    tau: Summary
    mu: Summary
    theta_new: Summary
    bayes_factor_tau0: float | None
    bayes_factor_mu0: float | None
    prob_mu_above: float | None
    prob_theta_new_above: float | None
    above: float | None
    shrinkage: tuple[Shrinkage, ...]
    prior: PriorSpec
    k: int
    marginal_likelihood: float | None
    i2: float
    grid_size: int
    converged: bool
    n_clusters: int | None = None
    densities: Densities | None = dataclasses.field(default=None, metadata=INTERNAL, repr=False,
                                                    compare=False)

    def pooled_estimate(self) -> Estimate:
        """Posterior median of mu, posterior sd, and the 95% central credible interval."""
        se = math.nan if self.mu.sd is None else self.mu.sd   # a mixture of normals: always set
        return Estimate(estimate=self.mu.median, se=se, statistic=math.nan, p_value=math.nan,
                        ci_lower=self.mu.ci_lower, ci_upper=self.mu.ci_upper)

    def prediction_interval(self) -> tuple[float, float]:
        """95% central interval of the predictive distribution of a new study's effect."""
        return self.theta_new.ci_lower, self.theta_new.ci_upper

    def heterogeneity(self) -> Heterogeneity:
        """tau^2 as the square of tau's posterior median, with tau's central interval squared."""
        return Heterogeneity(components=(VarianceComponent(
            name="tau^2", variance=self.tau.median ** 2, ci_lower=self.tau.ci_lower ** 2,
            ci_upper=self.tau.ci_upper ** 2, i2=self.i2),))

    def probability_above(self, x: float, predictive: bool = False) -> float:
        """P(mu > x | y), or P(theta_new > x | y) with ``predictive`` (e.g. x = 0 and 0.2)."""
        assert self.densities is not None, "bayes_meta() keeps its densities"
        return self.densities.probability_above(x, predictive)

    def describe(self) -> str:
        mu = self.prior["mu"]
        return (f"Bayesian random-effects model (bayesmeta), k = {self.k}; "
                f"tau prior: {self.prior['tau_label']}; mu prior: {mu}")


@dataclasses.dataclass(frozen=True)
class Densities:
    """The posterior and prior densities behind a BayesResult (for its figures)."""

    model: NormalNormal
    post: AdaptiveDensity
    weights: np.ndarray
    means: np.ndarray
    sds: np.ndarray
    grid_tau: np.ndarray

    def tau(self, x: ArrayLike) -> np.ndarray:
        return self.post.pdf(x)

    def tau_prior(self, x: ArrayLike) -> np.ndarray:
        return np.exp(self.model.tau_prior.logpdf(np.asarray(x, dtype=float), self.model.sigma))

    def mu(self, x: ArrayLike, predict: bool = False) -> np.ndarray:
        sds = np.sqrt(self.sds ** 2 + self.grid_tau ** 2) if predict else self.sds
        z = (np.asarray(x, dtype=float)[:, None] - self.means) / sds
        return (np.exp(-0.5 * z ** 2) / (sds * math.sqrt(2 * math.pi))) @ self.weights

    def probability_above(self, x: float, predictive: bool = False) -> float:
        sds = np.sqrt(self.sds ** 2 + self.grid_tau ** 2) if predictive else self.sds
        return 1.0 - float(mixture_cdf(np.array([x]), self.weights, self.means[None], sds[None])[0])

    def mu_prior(self, x: ArrayLike) -> np.ndarray | None:
        """Normal prior density of mu, or None for the flat prior."""
        if self.model.mu_prior is None:
            return None
        mean, sd = self.model.mu_prior
        return np.exp(-0.5 * ((np.asarray(x) - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


class NormalNormal:
    """The model's conditional quantities for given data and priors (vectorised over tau)."""

    def __init__(self, y: np.ndarray, sigma: np.ndarray, tau_prior: TauPrior,
                 mu_prior: tuple[float, float] | None) -> None:
        self.y, self.sigma, self.s2 = y, sigma, sigma ** 2
        self.tau_prior, self.mu_prior = tau_prior, mu_prior
        self.center = float(np.sum(y / self.s2) / np.sum(1 / self.s2))
        yc = y - self.center
        columns = np.column_stack([np.ones_like(yc), yc, yc ** 2])
        self.sums: ExactSums | CompressedSums = ExactSums(self.s2, columns)
        if y.size >= COMPRESS_K:
            compressed = CompressedSums(self.s2, columns)
            if compressed.error <= CHECK:
                self.sums = compressed

    def _prior_sums(self, tau: float | np.ndarray, with_logdet: bool = True) -> tuple[
            np.ndarray | None, np.ndarray, np.ndarray, np.ndarray, int]:
        """log det, sum w, sum w yc, sum w yc^2 and the count, the normal prior of mu counted as
        one more observation (Roever 2020, eq. 10-12); without ``with_logdet`` at one tau, log det None."""
        if with_logdet:
            logdet, sums = self.sums(tau)
        else:
            logdet, sums = None, self.sums.inverse(float(tau))[None, :]
        sw, swy, swyy, n = sums[:, 0], sums[:, 1], sums[:, 2], self.y.size
        if self.mu_prior is not None:
            pm, psd = self.mu_prior[0] - self.center, self.mu_prior[1]
            sw, swy, swyy = sw + psd ** -2, swy + pm / psd ** 2, swyy + pm ** 2 / psd ** 2
            logdet, n = (None if logdet is None else logdet + 2 * math.log(psd)), n + 1
        return logdet, sw, swy, swyy, n

    def log_likelihood(self, tau: float | np.ndarray, mu: float | None = None) -> np.ndarray:
        """log p(y | tau) with mu integrated over its prior (Roever 2020, eq. 10), or the joint
        log p(y | tau, mu) when ``mu`` is given; vectorised over tau."""
        logdet: np.ndarray | None
        if mu is not None:
            logdet, sums = self.sums(tau)
            m = mu - self.center
            resid = sums[:, 2] - 2 * m * sums[:, 1] + m * m * sums[:, 0]
            return -0.5 * (self.y.size * math.log(2 * math.pi) + logdet + resid)
        logdet, sw, swy, swyy, n = self._prior_sums(tau)
        assert logdet is not None, "_prior_sums gives log det with_logdet"
        return -0.5 * ((n - 1) * math.log(2 * math.pi) + logdet + swyy - swy ** 2 / sw + np.log(sw))

    def conditional_mu(self, tau: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of mu | tau, y (Roever 2020, eq. 11-12), arrays over tau."""
        _, sw, swy, _, _ = self._prior_sums(tau)
        return self.center + swy / sw, 1.0 / sw

    def divergence_moments(self, tau: float,
                           studies: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Means and variances of every conditional DIRECT watches (bayesmeta's ``alldivs``):
        mu, theta_new and each theta_i (or the theta_i of ``studies``) at one tau (eq. 11-14)."""
        t2 = tau * tau
        _, sw, swy, _, _ = self._prior_sums(tau, with_logdet=False)
        mean, var = self.center + float(swy[0] / sw[0]), float(1.0 / sw[0])
        y, s2 = (self.y, self.s2) if studies is None else (self.y[studies], self.s2[studies])
        b = t2 / (t2 + s2)
        return (np.concatenate(([mean, mean], b * y + (1 - b) * mean)),
                np.concatenate(([var, var + t2], s2 * b + (1 - b) ** 2 * var)))

    def log_posterior_kernel(self, tau: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = self.tau_prior.logpdf(tau, self.sigma) + self.log_likelihood(tau)
        return np.where(np.isnan(value), -np.inf, value)


def check_data(yi: ArrayLike, vi: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y, v = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    if y.ndim != 1 or y.shape != v.shape or y.size < 1:
        raise InputError("yi and vi must be equal-length vectors with at least one study")
    bad = np.flatnonzero(~np.isfinite(y) | ~np.isfinite(v) | (v <= 0))
    if bad.size:
        raise InputError("effect size or sampling variance missing, not finite or not positive",
                         row=int(bad[0]) + 1, column="vi" if np.isfinite(y[bad[0]]) else "yi")
    return y, np.sqrt(v)


def posterior_tail(model: NormalNormal, d: int = 1) -> float:
    """Power p with p(tau | y) ~ tau^-p for large tau: the prior's tail plus k - d for flat
    coefficient priors (k with a proper one); inf for a light prior tail or bounded support."""
    if model.tau_prior.tail is None or math.isfinite(model.tau_prior.upper):
        return math.inf
    return model.tau_prior.tail + model.y.size - (0 if model.mu_prior is not None else d)


def tau_posterior(model: NormalNormal, d: int = 1) -> AdaptiveDensity:
    """The normalisable posterior of tau (an error when the priors leave it improper)."""
    if posterior_tail(model, d) <= 1:
        raise InputError(f"the posterior of tau is improper with the {model.tau_prior.label} and "
                         f"k = {model.y.size} (use a proper tau prior)")
    scale = float(np.sqrt(np.median(model.s2)))
    return AdaptiveDensity(model.log_posterior_kernel, model.tau_prior.lower, model.tau_prior.upper, scale,
                           terms=model.y.size)


def tau_summary(post: AdaptiveDensity, tail: float) -> Summary:
    mean = post.moment(1) if tail > 2 else None
    sd = math.sqrt(max(post.moment(2) - mean ** 2, 0.0)) if tail > 3 and mean is not None else None
    lower = post.quantile(0.0)
    hpd = shortest_interval(post.quantile, lambda x: float(post.cdf(x)[0]), LEVEL, lower,
                            post.quantile(1 - LEVEL))
    return Summary(mode=post.mode, median=post.quantile(0.5), mean=mean, sd=sd,
                   ci_lower=post.quantile((1 - LEVEL) / 2), ci_upper=post.quantile((1 + LEVEL) / 2),
                   hpd_lower=hpd[0], hpd_upper=hpd[1])


def mixture_summary(weights: np.ndarray, means: np.ndarray, sds: np.ndarray) -> Summary:
    """Summary of one normal mixture (means, sds over the grid): the mode by Brent's method
    between the 10% and 90% quantiles, the shortest interval as bayesmeta's post.interval()."""
    means, sds = means[None, :], sds[None, :]
    quantile = lambda p: float(mixture_quantiles(np.array([p]), weights, means, sds)[0])  # noqa: E731
    cdf = lambda x: float(mixture_cdf(np.array([x]), weights, means, sds)[0])  # noqa: E731
    mean = float(means[0] @ weights)
    sd = math.sqrt(float(((means[0] - mean) ** 2 + sds[0] ** 2) @ weights))
    q10, q90 = quantile(0.1), quantile(0.9)
    density = lambda x: float((np.exp(-0.5 * ((x - means[0]) / sds[0]) ** 2) / sds[0]) @ weights)  # noqa: E731
    mode, _ = brent_minimize(lambda x: -density(x), q10, q90, xatol=1e-12 * max(1, sd))
    hpd = shortest_interval(quantile, cdf, LEVEL, quantile((1 - LEVEL) / 50), quantile(1 - LEVEL))
    return Summary(mode=float(mode), median=quantile(0.5), mean=mean, sd=sd,
                   ci_lower=quantile((1 - LEVEL) / 2), ci_upper=quantile((1 + LEVEL) / 2),
                   hpd_lower=hpd[0], hpd_upper=hpd[1])


def _shrinkage(model: NormalNormal, grid_tau: np.ndarray, weights: np.ndarray, mean: np.ndarray,
               var: np.ndarray, labels: Sequence[object], chunk: int = 2048) -> tuple[Shrinkage, ...]:
    """Each study's theta_i | y: the mixture over the grid of its conditional normals, in chunks
    of studies (so that the (studies x grid) arrays stay in cache)."""
    rows = []
    used = weights > 0                  # DIRECT bins without posterior mass add nothing to a mixture
    grid_tau, weights, mean, var = grid_tau[used], weights[used], mean[used], var[used]
    for start in range(0, model.y.size, chunk):
        part = slice(start, start + chunk)
        b = grid_tau[:, None] ** 2 / (grid_tau[:, None] ** 2 + model.s2[part])
        means = (b * model.y[part] + (1 - b) * mean[:, None]).T                   # (studies, J)
        sds = np.sqrt(model.s2[part] * b + (1 - b) ** 2 * var[:, None]).T
        avg = means @ weights
        sd = np.sqrt(((means - avg[:, None]) ** 2 + sds ** 2) @ weights)
        q = [mixture_quantiles(p, weights, means, sds) for p in (0.5, 0.025, 0.975)]
        columns = [x.tolist() for x in (avg, q[0], sd, q[1], q[2])]   # Shrinkage's field order
        rows += [Shrinkage(str(label), *row) for label, *row in zip(labels[part], *columns)]
    return tuple(rows)


def _bayes_factors(model: NormalNormal,
                   post: AdaptiveDensity) -> tuple[float | None, float | None, float | None]:
    """Marginal likelihood and the Bayes factors of tau = 0 and mu = 0 against the model
    (bayesmeta: p(y | tau = 0) / p(y) and p(y | mu = 0) / p(y)); None unless both priors are proper."""
    if model.mu_prior is None or not model.tau_prior.proper:
        return None, None, None
    log_marginal = post.log_integral
    bf_tau = math.exp(float(model.log_likelihood(0.0)[0]) - log_marginal)
    prior = model.tau_prior
    at_zero = AdaptiveDensity(lambda t: prior.logpdf(t, model.sigma) + model.log_likelihood(t, mu=0.0),
                              model.tau_prior.lower, model.tau_prior.upper, post.scale, terms=model.y.size)
    return math.exp(log_marginal), bf_tau, math.exp(at_zero.log_integral - log_marginal)


def bayes_meta(yi: ArrayLike, vi: ArrayLike, tau_prior: str | TauPrior = "halfnormal:0.5",
               mu_prior: str | tuple[float, float] | None = None, *, labels: Iterable[object] | None = None,
               above: float | None = None, delta: float = 0.01, epsilon: float = 1e-4,
               shrinkage: bool = True) -> BayesResult:
    """Fit the Bayesian random-effects model as bayesmeta(y, sigma, tau.prior, mu.prior) does.

    ``tau_prior`` a spec (see models.bayes_priors.parse_tau_prior) or a TauPrior; ``mu_prior``
    None/"uniform" or "normal:MEAN,SD" or (mean, sd); ``above`` adds P(mu > above) and
    P(theta_new > above); ``delta``, ``epsilon`` as bayesmeta's DIRECT settings; ``shrinkage``
    False leaves out the studies' shrinkage estimates (an empty tuple: the report, which shows
    none, skips three mixture quantiles per study, most of the fit's time at 10^4 studies).
    """
    y, sigma = check_data(yi, vi)
    prior = tau_prior if isinstance(tau_prior, TauPrior) else parse_tau_prior(tau_prior)
    mu_spec = mu_prior if isinstance(mu_prior, tuple) else parse_mu_prior(mu_prior)
    model = NormalNormal(y, sigma, prior, mu_spec)
    post = tau_posterior(model)
    tail = posterior_tail(model)
    grid_tau, weights = direct_grid(model.divergence_moments, post.cdf, post.quantile(1 - epsilon), delta)
    mean, var = model.conditional_mu(grid_tau)
    sd_pred = np.sqrt(var + grid_tau ** 2)
    marginal, bf_tau, bf_mu = _bayes_factors(model, post)
    densities = Densities(model, post, weights, mean, np.sqrt(var), grid_tau)
    labels = list(labels) if labels is not None else [f"{i + 1:02d}" for i in range(y.size)]
    tau_median = post.quantile(0.5)
    precision = 1 / sigma ** 2     # sigma^2-hat of Higgins & Thompson (2002, eq. 9), as bayesmeta's I2()
    sigma2hat = (y.size - 1) * precision.sum() / (precision.sum() ** 2 - (precision ** 2).sum()) \
        if y.size > 1 else sigma[0] ** 2
    mu_label = ("uniform(min=-Inf, max=Inf)" if mu_spec is None
                else f"normal(mean={mu_spec[0]:g}, sd={mu_spec[1]:g})")
    return BayesResult(
        tau=tau_summary(post, tail), mu=mixture_summary(weights, mean, np.sqrt(var)),
        theta_new=mixture_summary(weights, mean, sd_pred),
        bayes_factor_tau0=bf_tau, bayes_factor_mu0=bf_mu,
        prob_mu_above=None if above is None else densities.probability_above(above),
        prob_theta_new_above=None if above is None else densities.probability_above(above, True),
        above=above, shrinkage=_shrinkage(model, grid_tau, weights, mean, var, labels) if shrinkage else (),
        prior={"tau": prior.spec, "tau_label": prior.label, "tau_proper": prior.proper,
               "mu": mu_label},
        k=int(y.size), marginal_likelihood=marginal,
        i2=100 * tau_median ** 2 / (tau_median ** 2 + sigma2hat), grid_size=int(grid_tau.size),
        converged=post.converged, densities=densities)
