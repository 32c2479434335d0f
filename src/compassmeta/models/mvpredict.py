"""Per-level predictions and I^2 of a multivariate model: metafor
predict(fit, newmods = x_a, tau2.levels = a) for every inner level a.

x_a is the design row shared by the rows of level a (a level whose rows differ in their
moderators has no single prediction and is left out).  The prediction interval adds the
heterogeneity of a row of level a: x_a' beta +- crit sqrt(se^2 + tau^2_a + sum sigma^2)
(tau^2_a: the level's own tau^2 for HCS, UN, DIAG and HAR, the one tau^2 otherwise; crit: z,
or t on k - p df under test = "t"; model-based se, as metafor's predict()).

I^2 of level a = (tau^2_a + sum sigma^2) / (tau^2_a + sum sigma^2 + v~), with Higgins &
Thompson's (2002, Stat Med 21:1539) typical sampling variance v~ = (k - p) / tr(P),
P = W - W X (X'W X)^-1 X'W, W = S^-1 the inverse sampling covariance (metafor's page "I^2 for
multilevel and multivariate models", Viechtbauer; Nakagawa & Santos 2012, Evol Ecol 26:1253).
"""
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..common import distributions as dist
from ..common.results import Result
from .multilevel import _cross
from .mvfit import Problem


class PredictedFit(Protocol):
    """What the predictions read of a :class:`~compassmeta.models.multivariate.MultivariateFit`
    (a protocol: that module imports this one)."""

    @property
    def k(self) -> int: ...
    @property
    def p(self) -> int: ...
    @property
    def problem(self) -> Problem: ...
    @property
    def X(self) -> np.ndarray: ...
    @property
    def beta(self) -> np.ndarray: ...
    @property
    def vcov(self) -> np.ndarray: ...
    @property
    def tau2(self) -> np.ndarray: ...
    @property
    def sigma2(self) -> np.ndarray: ...
    @property
    def levels(self) -> tuple[str, ...]: ...
    @property
    def level_codes(self) -> np.ndarray: ...


@dataclass(frozen=True)
class LevelPrediction(Result):
    """The predicted effect of one inner level with its CI, PI and I^2 (percent)."""

    level: str
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    pi_lower: float
    pi_upper: float
    i2: float


def typical_sampling_variance(fit: PredictedFit) -> float:
    """v~ = (k - p) / tr(P), tr(P) = sum_j tr(W_j) - tr((X'WX)^-1 sum_j X_j'W_j W_j X_j)."""
    sampling = fit.problem.sampling_only()
    trace_w = sum(float(np.einsum("mii->", W)) for W in sampling.weights)
    cross = sum(_cross(WX, WX) for WX in sampling.WX)
    return (fit.k - fit.p) / (trace_w - float(np.einsum("ab,ba->", sampling.cov, cross)))


def level_predictions(fit: PredictedFit, level: float, t_test: bool) -> tuple[LevelPrediction, ...]:
    """LevelPrediction per inner level whose rows share one design row."""
    crit = dist.critical_value(level, float(fit.k - fit.p) if t_test else None)
    typical = typical_sampling_variance(fit)
    nested = float(np.sum(fit.sigma2))
    out = []
    for a, name in enumerate(fit.levels):
        rows = np.unique(fit.X[fit.level_codes == a], axis=0)
        if rows.shape[0] != 1:
            continue
        x = rows[0]
        estimate, se = float(x @ fit.beta), float(np.sqrt(x @ fit.vcov @ x))
        heterogeneity = float(fit.tau2[a] if fit.tau2.size > 1 else fit.tau2[0]) + nested
        half_ci, half_pi = crit * se, crit * np.sqrt(se * se + heterogeneity)
        out.append(LevelPrediction(name, estimate, se, estimate - half_ci, estimate + half_ci,
                                   float(estimate - half_pi), float(estimate + half_pi),
                                   100.0 * heterogeneity / (heterogeneity + typical)))
    return tuple(out)
