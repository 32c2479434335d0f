"""Moderator analyses: meta-regression (mixed-effects) and subgroup analysis."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import numpy as np
from numpy.typing import ArrayLike

from ..common.errors import InputError
from ..common.results import INTERNAL, Coefficient, Result, html_cell
from .dependent import (
    MultilevelMetaRegressionResult,
    MultilevelSubgroupResult,
    check_options,
    meta_regression_dependent,
    subgroup_dependent,
)
from .design import Moderators, design_matrix, is_numeric, sorted_levels  # noqa: F401 (is_numeric: public)
from .fitstats import LikelihoodRatioTest, fit_statistics, likelihood_ratio_test
from .model import ModelFit, fit_model
from .multilevel import ClusterLabels
from .pooling import PooledResult, as_fraction, check_effects, pool
from .predictions import (
    Contrast,
    MarginalMean,
    Prediction,
    WaldTest,
    btt_test,
    marginal_means,
    predictions,
)
from .robust import RobustResult, robust_univariate
from .sharedgroups import ArmGroups
from .wls import ordinary_wls

if TYPE_CHECKING:
    import pandas as pd

#: A table of columns: a pandas DataFrame or a dict of name -> values.
Table: TypeAlias = "pd.DataFrame | Mapping[str, Any]"
#: Moderators: a mapping name -> values, a DataFrame, a Series, or column names of a table.
ModeratorsArg: TypeAlias = "str | Sequence[str] | Mapping[str, Iterable[Any]] | pd.DataFrame | pd.Series"

MODEL_SUMMARY_KEYS = ("k", "qm", "qm_df", "qm_df2", "qm_p", "qe", "qe_df", "qe_p", "tau2", "i2", "h2", "r2",
                      "converged")


@dataclass(frozen=True)
class MetaRegressionResult(Result):
    """Mixed-effects meta-regression (metafor rma(yi, vi, mods = ...))."""

    html_rows = "coefficients"

    k: int
    method: str
    ci_method: str
    level: float
    coefficients: tuple[Coefficient, ...]
    qm: float
    qm_df: int
    qm_df2: float | None      # denominator df of the F test under Knapp-Hartung
    qm_p: float
    qe: float
    qe_df: int
    qe_p: float
    tau2: float
    i2: float
    h2: float
    r2: float | None
    iterations: int
    converged: bool
    log_likelihood: float | None = None
    deviance: float | None = None
    aic: float | None = None
    bic: float | None = None
    aicc: float | None = None
    lrt: LikelihoodRatioTest | None = None
    btt_test: WaldTest | None = None
    predictions: tuple[Prediction, ...] = ()
    marginal_means: tuple[MarginalMean, ...] = ()
    contrasts: tuple[Contrast, ...] = ()
    robust: RobustResult | None = None
    fit: ModelFit | None = field(default=None, repr=False, compare=False, metadata=INTERNAL)

    def records(self) -> list[dict]:
        """The coefficient rows, then one row (term '(model)') with the test of moderators,
        residual heterogeneity, tau^2 and pseudo-R^2 (for CSV and ``to_frame``, where the model
        columns are empty on coefficient rows)."""
        d = self.to_dict()
        return list(d["coefficients"]) + [{"term": "(model)", **{key: d[key] for key in MODEL_SUMMARY_KEYS}}]

    def __str__(self) -> str:
        from .printing import metareg_table

        return metareg_table(self)

    def html_caption(self) -> str:
        return f"Meta-regression (k = {self.k}, {self.method})"

    def html_note(self) -> str:
        """The moderator and residual heterogeneity tests."""
        return (f"QM({self.qm_df}) = {html_cell(self.qm)}, p = {html_cell(self.qm_p)}; "
                f"QE({self.qe_df}) = {html_cell(self.qe)}, p = {html_cell(self.qe_p)}; "
                f"tau2 = {html_cell(self.tau2)}, I2 = {html_cell(self.i2)}%, R2 = {html_cell(self.r2)}%")


def _pseudo_r2(fit: ModelFit, yi: np.ndarray, vi: np.ndarray) -> float:
    """Proportion of tau^2 explained, in percent (metafor's R^2 for rma.uni).

    Random effects: max(0, 100 (tau2_RE - tau2_ME) / tau2_RE), 0 when tau2_RE = 0
    (Raudenbush 2009).  Fixed effect: adjusted R^2 of the weighted regression, as metafor.
    """
    if fit.method == "FE":
        if np.var(yi) == 0:
            return 0.0
        return max(0.0, 100.0 * ordinary_wls(fit.X, yi, 1.0 / vi)[3])
    tau2_re = pool(yi, vi, method=fit.method, ci_method=fit.ci_method, with_tau2_ci=False).tau2
    if tau2_re == 0:
        return 0.0
    return max(0.0, 100.0 * (tau2_re - fit.tau2) / tau2_re)


def moderator_columns(moderators: ModeratorsArg, data: Table | None = None) -> dict[str, list[Any]]:
    """Moderators as a dict name -> list of values, from a mapping (dict, or values that are
    pandas Series), a pandas DataFrame, a Series, or column names (one or a list) of ``data``
    (a DataFrame or a dict)."""
    if isinstance(moderators, str):
        moderators = [moderators]
    if isinstance(moderators, (list, tuple)) and all(isinstance(name, str) for name in moderators):
        if data is None:
            raise InputError("moderators given by column name need data= (a DataFrame or a dict)")
        missing = [name for name in moderators if name not in data]
        if missing:
            raise InputError(f"no column '{missing[0]}' in data", column=missing[0])
        return {name: list(data[name]) for name in moderators}
    if hasattr(moderators, "columns"):          # a pandas DataFrame
        return {str(name): list(moderators[name]) for name in moderators.columns}
    if hasattr(moderators, "name") and hasattr(moderators, "tolist"):   # a pandas Series
        return {str(moderators.name): moderators.tolist()}
    if hasattr(moderators, "items"):
        return {str(name): list(values) for name, values in moderators.items()}
    raise InputError("moderators must be a dict of name -> values, a DataFrame, or column names with data=")


def _drop_test(yi: np.ndarray, vi: np.ndarray, moderators: Moderators, drop: Sequence[str],
               ci_method: str) -> LikelihoodRatioTest:
    """metafor anova(full, reduced) with both models fitted by ML, ``drop`` left out of the reduced one."""
    missing = [name for name in drop if name not in moderators]
    if missing:
        raise InputError(f"--drop: '{missing[0]}' is not a moderator of the model", column=missing[0])
    kept = {name: values for name, values in moderators.items() if name not in drop}
    X, terms = design_matrix(moderators, yi.size)
    X_reduced, terms_reduced = design_matrix(kept, yi.size)
    full = fit_model(X, yi, vi, terms=terms, method="ML", ci_method=ci_method)
    reduced = fit_model(X_reduced, yi, vi, terms=terms_reduced, method="ML", ci_method=ci_method)
    return likelihood_ratio_test(full, reduced, drop)


def _model_comparison(fit: ModelFit, yi: np.ndarray, vi: np.ndarray, moderators: Moderators, *,
                      drop: Sequence[str], btt: Sequence[str],
                      newmods: Iterable[Mapping[str, str | float]] | None,
                      robust: str | None) -> dict[str, Any]:
    """Fit statistics, the --drop likelihood-ratio test, the --btt Wald test, --newmods
    predictions, the marginal means and contrasts of categorical moderators, --robust errors."""
    means, contrasts = marginal_means(fit, moderators, fit.terms)
    return dict(**vars(fit_statistics(fit)),
                lrt=_drop_test(yi, vi, moderators, drop, fit.ci_method) if drop else None,
                btt_test=btt_test(fit, fit.terms, list(btt)) if btt else None,
                predictions=predictions(fit, moderators, fit.terms, newmods or ()),
                marginal_means=means, contrasts=contrasts,
                robust=robust_univariate(fit, robust) if robust else None)


@overload
def meta_regression(yi: ArrayLike | str, vi: ArrayLike | str, moderators: ModeratorsArg, *,
                    data: Table | None = None, method: str = "REML", ci_method: str = "z", level: float = 95,
                    cluster: None = None, rho: float | None = None, drop: Sequence[str] = (),
                    btt: Sequence[str] = (), newmods: Iterable[Mapping[str, str | float]] | None = (),
                    robust: str | None = None, groups: ArmGroups | None = None) -> MetaRegressionResult: ...


@overload
def meta_regression(yi: ArrayLike | str, vi: ArrayLike | str, moderators: ModeratorsArg, *,
                    data: Table | None = None, method: str = "REML", ci_method: str = "z", level: float = 95,
                    cluster: ClusterLabels | str, rho: float | None = None, drop: Sequence[str] = (),
                    btt: Sequence[str] = (), newmods: Iterable[Mapping[str, str | float]] | None = (),
                    robust: str | None = None,
                    groups: ArmGroups | None = None) -> MultilevelMetaRegressionResult: ...


def meta_regression(yi: ArrayLike | str, vi: ArrayLike | str, moderators: ModeratorsArg, *,
                    data: Table | None = None, method: str = "REML", ci_method: str = "z", level: float = 95,
                    cluster: ClusterLabels | str | None = None, rho: float | None = None,
                    drop: Sequence[str] = (), btt: Sequence[str] = (),
                    newmods: Iterable[Mapping[str, str | float]] | None = (),
                    robust: str | None = None,
                    groups: ArmGroups | None = None) -> MetaRegressionResult | MultilevelMetaRegressionResult:
    """Meta-regression of ``yi`` on ``moderators`` (see :func:`moderator_columns`).

    With ``data``, ``yi`` and ``vi`` may also be column names:
    ``meta_regression("yi", "vi", ["risk_of_bias"], data=frame)``.
    With ``cluster`` (and ``rho``) the multilevel (CHE) model, see models.dependent; with
    ``data``, ``cluster`` may be a column name too.  ``drop`` (moderator names): likelihood-ratio test
    of the model without them; ``btt`` (terms or moderators): their Wald test; ``newmods`` (dicts of
    moderator values): predictions there; ``robust`` (CR0, CR1, CR2): cluster-robust inference with every
    study its own cluster (all independent effects only); ``groups`` (models.sharedgroups.ArmGroups):
    comparisons sharing a control group get its covariance in the multilevel model.
    """
    if data is not None:
        yi = data[yi] if isinstance(yi, str) else yi
        vi = data[vi] if isinstance(vi, str) else vi
        cluster = data[cluster] if isinstance(cluster, str) else cluster
    moderators = moderator_columns(moderators, data)
    yi, vi = check_effects(yi, vi)
    if not moderators:
        raise InputError("meta-regression needs at least one moderator")
    X, terms = design_matrix(moderators, yi.size)
    check_options(cluster, rho, ci_method)
    if cluster is not None:
        if robust:
            raise InputError("--robust is for independent effects (no --cluster; there use --ci-method cr2)")
        return meta_regression_dependent(yi, vi, X, terms, cluster, method=method, rho=rho,
                                         ci_method=ci_method, level=as_fraction(level), groups=groups,
                                         moderators=moderators, drop=drop, btt=btt, newmods=newmods or ())
    fit = fit_model(X, yi, vi, terms=terms, method=method, ci_method=ci_method,
                    level=as_fraction(level))
    crit = fit.critical_value
    se, stat, p = fit.se, fit.statistic, fit.p_values
    coefficients = tuple(
        Coefficient(term=term, estimate=float(b), se=float(s), statistic=float(z), df=fit.df,
                    p_value=float(pv), ci_lower=float(b - crit * s), ci_upper=float(b + crit * s),
                    level=100 * fit.level)
        for term, b, s, z, pv in zip(terms, fit.beta, se, stat, p))
    qm, qm_df, qm_p = fit.wald_test(range(1, fit.p))
    return MetaRegressionResult(
        k=fit.k, method=fit.method, ci_method=fit.ci_method, level=100 * fit.level,
        coefficients=coefficients, qm=qm, qm_df=qm_df[0],
        qm_df2=qm_df[1] if len(qm_df) > 1 else None, qm_p=qm_p, qe=fit.q, qe_df=fit.q_df,
        qe_p=fit.q_p, tau2=fit.tau2, i2=fit.i2, h2=fit.h2, r2=_pseudo_r2(fit, yi, vi),
        iterations=fit.tau2_estimate.iterations, converged=fit.tau2_estimate.converged, fit=fit,
        **_model_comparison(fit, yi, vi, moderators, drop=drop, btt=btt, newmods=newmods, robust=robust))


@dataclass(frozen=True)
class SubgroupResult(Result):
    """Separate random-effects fits per level and the test for subgroup differences.

    ``q_between``: Q of a fixed-effect model over the subgroup estimates (df = groups - 1).
    ``qm_common_tau2``: the omnibus test of a meta-regression on the grouping variable,
    which assumes one tau^2 shared by all subgroups.
    """

    html_rows = "groups"

    by: str
    method: str
    ci_method: str
    level: float
    groups: tuple[GroupResult, ...]
    q_between: float
    q_between_df: int
    q_between_p: float
    qm_common_tau2: float
    qm_common_tau2_df: int
    qm_common_tau2_df2: float | None   # denominator df of the F test under Knapp-Hartung
    qm_common_tau2_p: float
    overall: PooledResult

    def records(self) -> list[dict]:
        """One row per subgroup, the 'overall' row, and the two tests of subgroup differences
        (statistic, df, df2, p_value), for CSV and ``to_frame``."""
        d = self.to_dict()
        overall = {key: d["overall"][key] for key in d["groups"][0] if key in d["overall"]}
        tests = [("test: separate tau^2 (Q-between)", d["q_between"], d["q_between_df"], None,
                  d["q_between_p"]),
                 ("test: common tau^2 (QM)", d["qm_common_tau2"], d["qm_common_tau2_df"],
                  d["qm_common_tau2_df2"], d["qm_common_tau2_p"])]
        return (list(d["groups"]) + [{**overall, "level": "overall"}]
                + [{"level": name, "statistic": statistic, "df": df, "df2": df2, "p_value": p}
                   for name, statistic, df, df2, p in tests])

    def __str__(self) -> str:
        from .printing import subgroup_table

        return subgroup_table(self)

    def html_caption(self) -> str:
        return f"Subgroups by {self.by} ({self.method})"

    def html_note(self) -> str:
        return (f"Test for subgroup differences: Q({self.q_between_df}) = {html_cell(self.q_between)}, "
                f"p = {html_cell(self.q_between_p)}; common-tau2 QM({self.qm_common_tau2_df}) = "
                f"{html_cell(self.qm_common_tau2)}, p = {html_cell(self.qm_common_tau2_p)}")


@dataclass(frozen=True)
class GroupResult(Result):
    level: str
    k: int
    estimate: float
    se: float
    df: float | None      # of the group's t under Knapp-Hartung (k - 1)
    ci_lower: float
    ci_upper: float
    pi_lower: float
    pi_upper: float
    p_value: float
    tau2: float
    i2: float
    q: float
    q_df: int
    q_p: float
    notes: tuple[str, ...] = ()


@overload
def subgroup_analysis(yi: ArrayLike, vi: ArrayLike, groups: Iterable[object], *, by: str = "group",
                      method: str = "REML", ci_method: str = "z", level: float = 95,
                      cluster: None = None, rho: float | None = None,
                      arm_groups: ArmGroups | None = None) -> SubgroupResult: ...


@overload
def subgroup_analysis(yi: ArrayLike, vi: ArrayLike, groups: Iterable[object], *, by: str = "group",
                      method: str = "REML", ci_method: str = "z", level: float = 95,
                      cluster: ClusterLabels, rho: float | None = None,
                      arm_groups: ArmGroups | None = None) -> MultilevelSubgroupResult: ...


def subgroup_analysis(yi: ArrayLike, vi: ArrayLike, groups: Iterable[object], *, by: str = "group",
                      method: str = "REML", ci_method: str = "z", level: float = 95,
                      cluster: ClusterLabels | None = None, rho: float | None = None,
                      arm_groups: ArmGroups | None = None) -> SubgroupResult | MultilevelSubgroupResult:
    """Fit the model separately within each level of ``groups`` and test their difference.

    With ``cluster`` (and ``rho``) the multilevel (CHE) model, see models.dependent; ``arm_groups``
    (models.sharedgroups.ArmGroups) gives comparisons sharing a control group its covariance there.
    """
    yi, vi = check_effects(yi, vi)
    labels = np.array([str(value) for value in groups])
    if labels.shape != yi.shape:
        raise InputError(f"{labels.size} group labels for {yi.size} studies", column=by)
    levels = sorted_levels(labels)
    if len(levels) < 2:
        raise InputError(f"subgroup analysis needs at least two groups; all rows are '{levels[0]}'",
                         column=by)
    check_options(cluster, rho, ci_method)
    if cluster is not None:
        X, terms = design_matrix({by: labels}, yi.size)
        return subgroup_dependent(yi, vi, labels, levels, X, terms, cluster, by=by, method=method,
                                  rho=rho, ci_method=ci_method, level=as_fraction(level),
                                  arm_groups=arm_groups)
    group_results = []
    for level_name in levels:
        rows = labels == level_name
        try:
            fitted = pool(yi[rows], vi[rows], method=method, ci_method=ci_method, level=level,
                          with_tau2_ci=False)
        except InputError as error:
            raise InputError(f"subgroup '{level_name}': {error.message}", column=by) from None
        group_results.append(GroupResult(
            level=level_name, k=fitted.k, estimate=fitted.estimate, se=fitted.se, df=fitted.df,
            ci_lower=fitted.ci_lower, ci_upper=fitted.ci_upper, pi_lower=fitted.pi_lower,
            pi_upper=fitted.pi_upper, p_value=fitted.p_value, tau2=fitted.tau2, i2=fitted.i2,
            q=fitted.q, q_df=fitted.q_df, q_p=fitted.q_p, notes=fitted.notes))
    estimates = np.array([g.estimate for g in group_results])
    variances = np.array([g.se ** 2 for g in group_results])
    between = pool(estimates, variances, method="FE", with_tau2_ci=False)
    common = meta_regression(yi, vi, {by: labels}, method=method, ci_method=ci_method, level=level)
    return SubgroupResult(
        by=by, method=method.upper(), ci_method=ci_method, level=100 * as_fraction(level),
        groups=tuple(group_results), q_between=between.q, q_between_df=between.q_df,
        q_between_p=between.q_p, qm_common_tau2=common.qm, qm_common_tau2_df=common.qm_df,
        qm_common_tau2_df2=common.qm_df2, qm_common_tau2_p=common.qm_p,
        overall=pool(yi, vi, method=method, ci_method=ci_method, level=level))
