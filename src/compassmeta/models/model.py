"""The mixed-effects meta-analytic model and its results.

y_i = x_i' beta + u_i + e_i with u_i ~ N(0, tau^2) and e_i ~ N(0, v_i) (Viechtbauer 2005).
Plain random-effects pooling is the intercept-only case; a fixed-effect (common-effect)
model is tau^2 = 0.  Inference follows metafor's rma.uni(): Wald-z, or Knapp & Hartung
(2003) with t / F on k - p degrees of freedom; prediction intervals as predict.rma();
the tau^2 confidence interval by the Q-profile method (Viechtbauer 2007) as confint.rma.uni().
"""
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..common import distributions as dist
from ..common.errors import InputError
from ..common.roots import expand_upper, solve_monotone
from .design import FittedData
from .tau2 import Tau2Estimate, canonical, estimate_tau2, standard_error
from .wls import generalized_q, inverse, weighted_fit

CI_METHODS = ("z", "knha")


@dataclass(frozen=True)
class ModelFit(FittedData):
    """Everything a mixed-effects fit produces; the public results are views of it."""

    ci_method: str
    tau2_estimate: Tau2Estimate
    beta: np.ndarray
    vcov: np.ndarray
    df: float | None      # t / F denominator df under Knapp-Hartung, None under z
    q: float              # Q (QE) with fixed-effect weights
    i2: float
    h2: float
    notes: tuple[str, ...] = field(default=())
    user_weights: np.ndarray | None = None   # weights given by the user (metafor rma(weights=))

    @property
    def tau2(self) -> float:
        return self.tau2_estimate.tau2

    @cached_property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))

    @cached_property
    def statistic(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.beta / self.se

    @cached_property
    def p_values(self) -> np.ndarray:
        if self.df is None:
            return dist.normal_two_sided_p(self.statistic)
        return dist.t_two_sided_p(self.statistic, self.df)

    @property
    def critical_value(self) -> float:
        return dist.critical_value(self.level, self.df)

    @property
    def q_df(self) -> int:
        return self.k - self.p

    @property
    def q_p(self) -> float:
        return float(dist.chi2_sf(self.q, self.q_df)) if self.q_df > 0 else 1.0

    @property
    def weights(self) -> np.ndarray:
        """Model weights 1/(v + tau^2), the basis of the percentages in a forest plot."""
        return 1.0 / (self.v + self.tau2)

    def wald_test(self, columns: Iterable[int]) -> tuple[float, tuple[int] | tuple[int, float], float]:
        """Omnibus test of the coefficients in ``columns``: QM, its df and p (metafor's QM).

        Under Knapp-Hartung QM is the F statistic (Wald chi-square / m) on (m, k - p) df.
        """
        columns = list(columns)
        b = self.beta[columns]
        statistic = float(b @ inverse(self.vcov[np.ix_(columns, columns)]) @ b)
        m = len(columns)
        if self.df is None:
            return statistic, (m,), float(dist.chi2_sf(statistic, m))
        statistic /= m
        return statistic, (m, self.df), float(dist.f_sf(statistic, m, self.df))

    @cached_property
    def tau2_se(self) -> float:
        """Standard error of the tau^2 estimate (metafor's se.tau2); nan for FE and k = 1."""
        if self.method == "FE" or self.k <= self.p:
            return float("nan")
        return standard_error(self.method, self.X, self.y, self.v, self.tau2, self.user_weights)

    @cached_property
    def tau2_ci(self) -> tuple[float, float]:
        """Q-profile confidence interval for tau^2 (Viechtbauer 2007; metafor confint())."""
        return q_profile_interval(self.X, self.y, self.v, self.level)


def fit_model(X: np.ndarray, y: np.ndarray, v: np.ndarray, *, terms: Iterable[str], method: str = "REML",
              ci_method: str = "z", level: float = 0.95, weights: np.ndarray | None = None) -> ModelFit:
    """Fit the mixed-effects model by weighted least squares at the estimated tau^2.

    ``X`` must hold an intercept column first; ``level`` is a fraction (0.95).  ``weights``: the
    user's weights A (metafor rma(weights=)): beta = (X'AX)^-1 X'Ay with the sandwich covariance
    (X'AX)^-1 X'A(V + tau^2 I)AX (X'AX)^-1; GENQ and GENQM also estimate tau^2 with them.
    """
    method = canonical(method)
    if ci_method not in CI_METHODS:
        raise InputError(f"unknown CI method '{ci_method}'; choose from {', '.join(CI_METHODS)}")
    k, p = X.shape
    notes = []
    if k <= p:
        if k == 1 and p == 1 and ci_method == "z":
            notes.append("k = 1: the estimate is the single study's effect; "
                         "heterogeneity cannot be estimated")
            tau2_estimate = Tau2Estimate(0.0)
        else:
            raise InputError(f"{k} stud{'y' if k == 1 else 'ies'} cannot fit {p} coefficient(s)"
                             + (" with Knapp-Hartung" if ci_method == "knha" else "")
                             + f": need k >= {p + 1}")
    else:
        tau2_estimate = estimate_tau2(method, X, y, v, weights)
    if tau2_estimate.note:
        notes.append(tau2_estimate.note)
    tau2 = tau2_estimate.tau2
    fit = weighted_fit(X, y, 1.0 / (v + tau2))
    beta, vcov = (fit.beta, fit.cov) if weights is None else _user_weighted(X, y, v + tau2, weights)
    df = None
    if ci_method == "knha":  # s^2 from the inverse-variance fit, also with user weights (as metafor)
        df = k - p
        rss = fit.rss()
        vcov = vcov * (rss / df if rss > np.finfo(float).eps else 0.0)
    q, i2, h2 = _heterogeneity(X, y, v, tau2, method)
    return ModelFit(X=X, y=y, v=v, terms=tuple(terms), method=method, ci_method=ci_method,
                    level=level, tau2_estimate=tau2_estimate, beta=beta, vcov=vcov, df=df,
                    q=q, i2=i2, h2=h2, notes=tuple(notes), user_weights=weights)


def _user_weighted(X: np.ndarray, y: np.ndarray, marginal_v: np.ndarray,
                   weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """beta and its sandwich covariance with the user's weights A (metafor rma.uni, weights=)."""
    fit = weighted_fit(X, y, weights)
    bread = fit.cov @ (X * weights[:, None]).T
    return fit.beta, bread @ (bread.T * marginal_v[:, None])


def _heterogeneity(X: np.ndarray, y: np.ndarray, v: np.ndarray, tau2: float,
                   method: str) -> tuple[float, float, float]:
    """Q (QE) with weights 1/v, and I^2 (percent), H^2 as metafor defines them.

    Random effects: I^2 = 100 tau^2 / (tau^2 + s^2), H^2 = 1 + tau^2 / s^2 with the typical
    within-study variance s^2 = (k - p) / tr(P) (Higgins & Thompson 2002, generalised).
    Fixed effect: I^2 = max(0, 100 (Q - df) / Q), H^2 = Q / df.
    """
    k, p = X.shape
    if k <= p:
        return 0.0, 0.0, 1.0
    fe = weighted_fit(X, y, 1.0 / v)
    q = max(0.0, fe.rss())
    if method == "FE":
        return q, (max(0.0, 100.0 * (q - (k - p)) / q) if q > 0 else 0.0), q / (k - p)
    typical_v = (k - p) / fe.trace_p()
    return q, 100.0 * tau2 / (typical_v + tau2), tau2 / typical_v + 1.0


def q_profile_interval(X: np.ndarray, y: np.ndarray, v: np.ndarray, level: float) -> tuple[float, float]:
    """(lower, upper) for tau^2 where Q(tau^2) crosses the chi-square(k - p) quantiles.

    Bounds that would be negative are set to 0 (metafor prints them as '<0').
    """
    k, p = X.shape
    if k <= p:
        return (float("nan"), float("nan"))
    alpha = 1.0 - level
    q_upper_crit = dist.chi2_quantile(1.0 - alpha / 2.0, k - p)
    q_lower_crit = dist.chi2_quantile(alpha / 2.0, k - p)
    q_at_zero = generalized_q(X, y, v, 0.0)
    scale = float(np.mean(v))

    def bound(target: float) -> float:
        if q_at_zero <= target:
            return 0.0
        excess = lambda tau2: generalized_q(X, y, v, tau2) - target  # noqa: E731
        upper = expand_upper(excess, max(100.0 * scale, float(np.var(y)), scale))
        return solve_monotone(excess, 0.0, upper, scale=scale)

    return bound(q_upper_crit), bound(q_lower_crit)


def prediction_interval(fit: ModelFit, x_new: np.ndarray) -> tuple[float, float]:
    """Prediction interval for the true effect at moderator row ``x_new`` (metafor predict())."""
    estimate = float(x_new @ fit.beta)
    se = float(np.sqrt(x_new @ fit.vcov @ x_new))
    half_width = fit.critical_value * np.sqrt(se * se + fit.tau2)
    return estimate - half_width, estimate + half_width
