"""Bayesian random-effects meta-regression, as R's bayesmeta ``bmr()`` (Roever & Friede 2023,
"Using the bayesmeta R package for Bayesian random-effects meta-regression", Comput Methods
Programs Biomed 229:107303).

y ~ N(X beta, diag(sigma^2 + tau^2)), normal or flat priors on the coefficients beta, a prior on
tau.  Given tau, beta is normal with covariance V = (X'WX + P0)^-1 and mean V (X'Wy + P0 b0)
(W = diag(1 / (sigma_i^2 + tau^2)), P0 the prior precision); p(y | tau) follows in closed form,
tau's posterior is integrated numerically and beta's marginal is the DIRECT mixture over tau
(with the multivariate symmetrised KL divergence of the conditionals, as bmr()).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..common.errors import InputError
from ..common.results import Result
from .bayes import NormalNormal, Summary, check_data, posterior_tail, tau_posterior, tau_summary
from .bayes_grid import mixture_quantiles, solve_divergence
from .bayes_priors import TauPrior, parse_tau_prior
from .moderators import ModeratorsArg, Table, design_matrix, moderator_columns

#: Mean, covariance and precision of beta | tau, y at one tau.
BetaMoments = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True)
class BayesCoefficient(Result):
    """Posterior of one regression coefficient: mean, sd, median and the 95% central interval."""

    term: str
    mean: float
    sd: float
    median: float
    ci_lower: float
    ci_upper: float


@dataclasses.dataclass(frozen=True)
class BayesRegressionResult(Result):
    """A fitted Bayesian meta-regression (bmr())."""

    coefficients: tuple[BayesCoefficient, ...]
    tau: Summary
    prior: dict[str, str | list[str]]
    k: int
    grid_size: int
    converged: bool


class Regression(NormalNormal):
    """The conditional quantities of the meta-regression, for given data, design and priors."""

    def __init__(self, y: np.ndarray, sigma: np.ndarray, X: np.ndarray, tau_prior: TauPrior,
                 beta_mean: Sequence[float] | None, beta_sd: Sequence[float | None] | None) -> None:
        super().__init__(y, sigma, tau_prior, None)
        self.X = X
        d = X.shape[1]
        self.prior_precision = np.diag([0.0 if sd is None else sd ** -2 for sd in beta_sd]) if beta_sd \
            else np.zeros((d, d))
        self.prior_mean = np.asarray(beta_mean if beta_mean is not None else np.zeros(d), dtype=float)

    def conditional_beta(self, tau: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Means (n, d) and covariances (n, d, d) of beta | tau, y for each tau."""
        w = 1.0 / (np.atleast_1d(tau)[:, None] ** 2 + self.s2)
        precision = np.einsum("ki,nk,kj->nij", self.X, w, self.X) + self.prior_precision
        rhs = (w * self.y) @ self.X + self.prior_precision @ self.prior_mean
        cov = np.linalg.inv(precision)
        return np.einsum("nij,nj->ni", cov, rhs), cov, precision

    def log_likelihood(self, tau: float | np.ndarray, mu: float | None = None) -> np.ndarray:
        """log p(y | tau) up to a constant, beta integrated over its prior."""
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        mean, _, precision = self.conditional_beta(tau)
        v = tau[:, None] ** 2 + self.s2
        resid = ((self.y - mean @ self.X.T) ** 2 / v).sum(axis=1)
        diff = mean - self.prior_mean
        resid += np.einsum("ni,ij,nj->n", diff, self.prior_precision, diff)
        return -0.5 * (np.log(v).sum(axis=1) + resid + np.linalg.slogdet(precision)[1])

    # bmr watches the moments of beta, not those of mu and each theta_i: another signature
    def divergence_moments(self, tau: float) -> BetaMoments:  # type: ignore[override]
        mean, cov, precision = self.conditional_beta(tau)
        return mean[0], cov[0], precision[0]


def _kl_divergence(first: BetaMoments, second: BetaMoments) -> float:
    """Symmetrised KL divergence of two multivariate normals (bmr's ``kldiv(symmetrized=TRUE)``)."""
    (m1, c1, p1), (m2, c2, p2) = first, second
    diff = m1 - m2
    return 0.5 * (np.trace(p2 @ c1) + np.trace(p1 @ c2) - 2 * m1.size + diff @ (p1 + p2) @ diff)


def bmr_grid(model: Regression, cdf: Callable[[np.ndarray], np.ndarray], maxtau: float,
             delta: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """bmr()'s DIRECT grid: as bayesmeta's, but bins stop at maxtau when the divergence within
    the remaining range stays below delta (its "early stop")."""
    def divergence_from(point: float) -> Callable[[float], float]:
        first = model.divergence_moments(point)
        return lambda t: float(_kl_divergence(first, model.divergence_moments(t)))

    div0 = divergence_from(0.0)
    margin = solve_divergence(div0, 0.0, maxtau / 64, delta) if div0(maxtau) > delta else maxtau
    points, margins = [0.0], [margin]
    while margin < maxtau or len(points) < 2:
        last = margin - points[-1]
        root, early = _next_root(divergence_from(margin), margin, last, maxtau, delta)
        if early or root is None:
            point = margin + max(last, (maxtau - margin) / 2)
            margin = max(point + last, maxtau)
        else:
            point, last = root, root - margin
            root, early = _next_root(divergence_from(point), point, last, maxtau, delta)
            margin = max(point + last, maxtau) if early or root is None else root
        points.append(point)
        margins.append(margin)
    probs = cdf(np.array(margins))
    weights = np.maximum(np.diff(np.concatenate([[0.0], probs])), 0.0)
    return np.array(points), weights / weights.sum()


def _next_root(divergence: Callable[[float], float], start: float, last: float, maxtau: float,
               delta: float) -> tuple[float | None, bool]:
    """bmr's bracket search from start + 2 last in steps of last up to maxtau; (root, False),
    or (None, True) when the divergence stays below delta there."""
    upper = start + 2 * last
    while divergence(upper) <= delta and upper <= maxtau:
        upper += last
    if divergence(upper) <= delta:
        return None, True
    return solve_divergence(divergence, start, (upper - start) / 1.5, delta), False


def bayes_regression(yi: ArrayLike, vi: ArrayLike, moderators: ModeratorsArg,
                     tau_prior: str | TauPrior = "halfnormal:0.5", *,
                     beta_prior: tuple[float, float] | None = None, data: Table | None = None,
                     delta: float = 0.01, epsilon: float = 1e-4) -> BayesRegressionResult:
    """Bayesian meta-regression as bmr(y, sigma, X, tau.prior, beta.prior.mean, beta.prior.sd).

    ``moderators`` as models.moderators.meta_regression (intercept added, categorical ones
    dummy coded); ``beta_prior`` None for flat priors on every coefficient, or (mean, sd) for
    that normal prior on each coefficient.
    """
    y, sigma = check_data(yi, vi)
    X, terms = design_matrix(moderator_columns(moderators, data), y.size)
    beta_mean = None if beta_prior is None else [beta_prior[0]] * len(terms)
    beta_sd = None if beta_prior is None else [beta_prior[1]] * len(terms)
    if y.size <= len(terms) and beta_sd is None:
        raise InputError(f"{y.size} studies for {len(terms)} coefficients with flat priors")
    prior = tau_prior if isinstance(tau_prior, TauPrior) else parse_tau_prior(tau_prior)
    model = Regression(y, sigma, X, prior, beta_mean, beta_sd)
    d = 0 if beta_sd is not None else len(terms)
    post = tau_posterior(model, d)
    grid_tau, weights = bmr_grid(model, post.cdf, post.quantile(1 - epsilon), delta)
    means, covs, _ = model.conditional_beta(grid_tau)
    sds = np.sqrt(np.diagonal(covs, axis1=1, axis2=2))          # (J, d)
    avg = weights @ means
    sd = np.sqrt(weights @ ((means - avg) ** 2 + sds ** 2))
    q = [mixture_quantiles(np.full(len(terms), p), weights, means.T, sds.T) for p in (0.5, 0.025, 0.975)]
    coefficients = tuple(BayesCoefficient(term=t, mean=float(a), sd=float(s), median=float(m),
                                          ci_lower=float(lo), ci_upper=float(hi))
                         for t, a, s, m, lo, hi in zip(terms, avg, sd, *q))
    beta_label = "uniform" if beta_sd is None else [
        f"normal(mean={m:g}, sd={s:g})" for m, s in zip(model.prior_mean, beta_sd)]
    return BayesRegressionResult(coefficients=coefficients, tau=tau_summary(post, posterior_tail(model, d)),
                                 prior={"tau": prior.spec, "tau_label": prior.label, "beta": beta_label},
                                 k=int(y.size), grid_size=int(grid_tau.size), converged=post.converged)

