"""Predictions, tests of chosen coefficients, marginal means and contrasts of a mixed-effects fit,
as metafor's predict(newmods =, prob =), anova(btt =), anova(X =) and blup() compute them.

* prediction at x: x'b with se sqrt(x'Vb x), the CI x'b -/+ c se and the PI x'b -/+ c sqrt(se^2 +
  tau^2) (c normal, or t on k - p df under Knapp-Hartung); the share of true effects above a
  threshold a is P(N(x'b, se^2 + tau^2) > a) (t under Knapp-Hartung; metafor 5.1 predict(prob =));
* BLUPs (Raudenbush & Bryk 1985, J Educ Stat 10:75; metafor blup()): with l_i = tau^2/(tau^2 + v_i),
  theta_i = l_i y_i + (1 - l_i) x_i'b, Var = l_i v_i + (1 - l_i)^2 x_i'Vb x_i;
* marginal means of a categorical moderator (Searle, Speed & Milliken 1980, Am Stat 34:216; the
  equal weighting of emmeans): other numeric moderators at their mean, other factors' levels
  weighted equally; pairwise contrasts with Holm's (1979, Scand J Stat 6:65) adjusted p-values.
"""
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..common import distributions as dist
from ..common.errors import InputError
from ..common.results import Result
from .design import Moderators, design_row, is_numeric, levels_of, reference_row
from .model import ModelFit
from .multilevel import MultilevelFit


@dataclass(frozen=True)
class Prediction(Result):
    """metafor predict(newmods =) at the moderator ``values``."""

    values: dict[str, object]
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    pi_lower: float
    pi_upper: float


def predict_row(fit: ModelFit, row: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """(estimate, se, ci_lower, ci_upper, pi_lower, pi_upper) at design row ``row``."""
    estimate = float(row @ fit.beta)
    se = float(np.sqrt(row @ fit.vcov @ row))
    crit = fit.critical_value
    spread = crit * np.sqrt(se * se + fit.tau2)
    return estimate, se, estimate - crit * se, estimate + crit * se, estimate - spread, estimate + spread


def share_above(threshold: float, estimate: float, se: float, heterogeneity: float,
                df: float | None = None) -> float:
    """P(theta > threshold) for theta ~ N(estimate, se^2 + heterogeneity), or t on ``df``
    (metafor predict(prob = ">a"); ``heterogeneity`` is tau^2, or the sum of the sigma^2)."""
    z = (threshold - estimate) / np.sqrt(se * se + heterogeneity)
    return float(dist.normal_cdf(-z) if df is None else dist.t_cdf(-z, df))


def probability_above(fit: ModelFit, threshold: float, row: np.ndarray | None = None) -> float:
    """Share of true effects above ``threshold`` at design row ``row`` (default the intercept)."""
    estimate, se = predict_row(fit, np.ones(1) if row is None else row)[:2]
    return share_above(threshold, estimate, se, fit.tau2, fit.df)


@dataclass(frozen=True)
class Blup(Result):
    """Best linear unbiased prediction of one study's true effect, with its prediction interval."""

    es_id: str
    estimate: float
    se: float
    pi_lower: float
    pi_upper: float


def blups(fit: ModelFit, labels: Iterable[object]) -> tuple[Blup, ...]:
    """metafor blup() of every study of a univariate fit."""
    shrink = fit.tau2 / (fit.tau2 + fit.v)
    fitted = fit.X @ fit.beta
    leverage = np.einsum("ij,jk,ik->i", fit.X, fit.vcov, fit.X)
    estimate = shrink * fit.y + (1 - shrink) * fitted
    se = np.sqrt(shrink * fit.v + (1 - shrink) ** 2 * leverage)
    return blup_rows(labels, estimate, se, fit.critical_value)


def blup_rows(labels: Iterable[object], estimate: np.ndarray, se: np.ndarray,
              crit: float) -> tuple[Blup, ...]:
    """Blup results from estimates and their prediction-error SEs."""
    return tuple(Blup(es_id=str(label), estimate=float(e), se=float(s), pi_lower=float(e - crit * s),
                      pi_upper=float(e + crit * s)) for label, e, s in zip(labels, estimate, se))


def predictions(fit: ModelFit, moderators: Moderators, terms: Sequence[str],
                newmods: Iterable[Mapping[str, str | float]]) -> tuple[Prediction, ...]:
    """A :class:`Prediction` for every dict of moderator values in ``newmods``."""
    out = []
    for values in newmods:
        fields = predict_row(fit, design_row(moderators, terms, values))
        out.append(Prediction(dict(values), *fields))
    return tuple(out)


@dataclass(frozen=True)
class WaldTest(Result):
    """Wald test that the coefficients ``terms`` are all zero (metafor anova(btt =)); F on
    (df, df2) under Knapp-Hartung, chi-square on df otherwise (df2 None)."""

    terms: tuple[str, ...]
    statistic: float
    df: int
    df2: float | None
    p_value: float


def btt_columns(terms: Sequence[str], names: Sequence[str]) -> list[int]:
    """The columns of the terms named in ``names``: a term, or a moderator (all of its terms)."""
    def named(term: str, name: str) -> bool:
        return term == name or term.startswith(f"{name}[")

    unknown = [name for name in names if not any(named(term, name) for term in terms)]
    if unknown or not names:
        raise InputError(f"--btt: no model term '{(unknown or [''])[0]}' (terms: {', '.join(terms)})")
    return [index for index, term in enumerate(terms) if any(named(term, name) for name in names)]


def btt_test(fit: ModelFit, terms: Sequence[str], names: Sequence[str]) -> WaldTest:
    """Wald test of the terms named in ``names``: a term, or a moderator (all of its terms)."""
    columns = btt_columns(terms, names)
    statistic, df, p_value = fit.wald_test(columns)
    return WaldTest(terms=tuple(terms[c] for c in columns), statistic=statistic, df=df[0],
                    df2=df[1] if len(df) > 1 else None, p_value=p_value)


@dataclass(frozen=True)
class MarginalMean(Result):
    """The model's estimate at one level of a categorical moderator (numeric moderators at their
    mean, other factors' dummies at 1 / their number of levels: design.reference_row); ``level``
    names the moderator's level, not a CI level."""

    moderator: str
    level: str
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class Contrast(Result):
    """Difference of two marginal means; ``p_holm`` adjusted over the moderator's contrasts."""

    moderator: str
    label: str
    estimate: float
    se: float
    statistic: float
    df: float | None
    p_value: float
    p_holm: float


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (as R's p.adjust(method = "holm"))."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    m = p.size
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def marginal_means(fit: ModelFit, moderators: Moderators,
                   terms: Sequence[str]) -> tuple[tuple[MarginalMean, ...], tuple[Contrast, ...]]:
    """Marginal means and all pairwise contrasts of every categorical moderator."""
    means, contrasts = [], []
    for factor, column in moderators.items():
        if is_numeric(column):
            continue
        levels = levels_of(column)
        rows = [reference_row(moderators, terms, factor, level) for level in levels]
        for level, row in zip(levels, rows):
            estimate, se, lower, upper = predict_row(fit, row)[:4]
            means.append(MarginalMean(factor, level, estimate, se, lower, upper))
        pairs = [(i, j) for i in range(len(levels)) for j in range(i + 1, len(levels))]
        fields = []
        for i, j in pairs:
            difference = rows[i] - rows[j]
            estimate, se = predict_row(fit, difference)[:2]
            statistic = estimate / se
            p_value = (dist.normal_two_sided_p(statistic) if fit.df is None
                       else dist.t_two_sided_p(statistic, fit.df))
            fields.append((f"{levels[i]} - {levels[j]}", estimate, se, statistic, float(p_value)))
        adjusted = holm([row[-1] for row in fields])
        contrasts += [Contrast(factor, *row[:4], fit.df, row[4], float(p_holm))
                      for row, p_holm in zip(fields, adjusted)]
    return tuple(means), tuple(contrasts)


def multilevel_blups(fit: MultilevelFit, labels: Iterable[object], crit: float) -> tuple[Blup, ...]:
    """BLUPs of every effect's true value x_i'b + u_cluster + u_i in the three-level (or CHE) model:
    theta = X b + G W (y - X b) with G_j = sigma^2_1 J + sigma^2_2 I, and prediction-error variance
    diag(G - G W G + A X Vb X'A'), A = I - G W (Henderson 1975, Biometrics 31:423; for one level it
    is blup()'s l v + (1 - l)^2 x'Vb x)."""
    gls = fit.gls
    between, within = fit.sigma2
    estimate, variance = np.empty(fit.k), np.empty(fit.k)
    for rows, W, X, resid in zip(fit.blocks.groups, gls.weights, gls.X_groups, gls.resid):
        n = rows.shape[1]
        G = between * np.ones((n, n)) + within * np.eye(n)
        GW = G @ W                                              # (m, n, n)
        AX = X - GW @ X
        estimate[rows] = X @ fit.beta + np.einsum("mij,mj->mi", GW, resid)
        variance[rows] = (np.diagonal(G - GW @ G, axis1=1, axis2=2)
                          + np.einsum("mia,ab,mib->mi", AX, fit.vcov, AX))
    return blup_rows(labels, estimate, np.sqrt(variance), crit)
