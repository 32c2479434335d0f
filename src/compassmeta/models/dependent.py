"""Pooling and meta-regression of dependent effect sizes: results of the multilevel model.

Inference (``ci_method``): "z" (metafor rma.mv test = "z"), "t" (test = "t": t and F on
k - p df) or "cr2" (clubSandwich CR2 standard errors, Satterthwaite df per coefficient,
the HTZ Wald test for the moderators; prediction intervals as metafor predict() on
robust(..., clubSandwich = TRUE): t on the Satterthwaite df with the robust se).
"""
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..common import distributions as dist
from ..common.errors import InputError
from ..common.results import (
    INTERNAL,
    Coefficient,
    Estimate,
    Heterogeneity,
    PooledModel,
    Result,
    VarianceComponent,
    html_cell,
)
from .design import Moderators
from .fitstats import LikelihoodRatioTest, multilevel_fit_statistics
from .multilevel import ClusterLabels, MultilevelFit, fit_multilevel, log_likelihood_without
from .multilevel_tests import multilevel_comparison, omnibus_test
from .predictions import Blup, WaldTest, multilevel_blups, share_above
from .robust import ClusteredFit, RobustInference
from .sharedgroups import ArmGroups

MULTILEVEL_CI_METHODS = ("z", "t", "cr2")


class ClusteredModel(ClusteredFit, Protocol):
    """What inference reads of a multilevel or multivariate fit."""

    @property
    def vcov(self) -> np.ndarray: ...
    @property
    def k(self) -> int: ...
    @property
    def p(self) -> int: ...
    @property
    def n_clusters(self) -> int: ...


@dataclass(frozen=True)
class Inference:
    """Standard errors, df (None under z) and the robust fit (under cr2) of every coefficient."""

    ci_method: str
    vcov: np.ndarray
    df: np.ndarray | None
    robust: RobustInference | None = None

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))

    def critical_values(self, level: float) -> np.ndarray:
        if self.df is None:
            return np.full(self.vcov.shape[0], dist.critical_value(level))
        return np.array([dist.critical_value(level, df) for df in self.df])

    def p_values(self, beta: np.ndarray) -> np.ndarray:
        statistic = beta / self.se
        if self.df is None:
            return dist.normal_two_sided_p(statistic)
        return dist.t_two_sided_p(statistic, self.df)


def inference_for(fit: ClusteredModel, ci_method: str) -> Inference:
    """The :class:`Inference` of ``fit`` under ``ci_method`` (z, t or cr2, already checked)."""
    if ci_method == "z":
        return Inference("z", fit.vcov, None)
    if ci_method == "t":
        return Inference("t", fit.vcov, np.full(fit.p, float(fit.k - fit.p)))
    if fit.n_clusters < 2:
        raise InputError("CR2 robust inference needs at least two clusters")
    from .robust import cr2

    robust = cr2(fit)
    return Inference("cr2", robust.vcov, robust.df, robust)


def check_options(cluster: object, rho: float | None, ci_method: str) -> None:
    """Refuse option combinations that do not fit together, in one line."""
    if cluster is None:
        if rho is not None:
            raise InputError("rho (--rho) is a within-cluster correlation: it needs a cluster (--cluster)")
        if ci_method in ("t", "cr2"):
            raise InputError(f"--ci-method {ci_method} is for dependent effect sizes: give the "
                             "cluster column (--cluster); for independent effects use z or knha")
    elif ci_method not in MULTILEVEL_CI_METHODS:
        raise InputError(f"--ci-method {ci_method} is for independent effects only; with a cluster "
                         f"choose from {', '.join(MULTILEVEL_CI_METHODS)}")


MULTILEVEL_INFERENCE = {"z": (), "t": ("t test",), "cr2": ("CR2 robust inference",)}


def fit_dependent(yi: np.ndarray, vi: np.ndarray, X: np.ndarray, terms: Iterable[str], cluster: ClusterLabels,
                  *, method: str, rho: float | None, ci_method: str,
                  level: float, groups: ArmGroups | None = None) -> tuple[MultilevelFit, Inference]:
    """Validate the options, fit the multilevel model (``groups``: the rows' arms and sizes,
    models.sharedgroups), and return (fit, inference)."""
    check_options(cluster, rho, ci_method)
    fit = fit_multilevel(X, yi, vi, cluster, terms=terms, method=method, rho=rho, level=level,
                         groups=groups)
    return fit, inference_for(fit, ci_method)


@dataclass(frozen=True)
class VarianceComponentTest(Result):
    """Likelihood-ratio test of one variance component against 0 (metafor anova() of the full
    rma.mv against the one with that sigma^2 fixed at 0; 1 df; Assink & Wibbelink 2016): the
    reduced model's sigma^2 and log-likelihood."""

    component: str              # "between" or "within" clusters
    lrt: float
    df: int
    p_value: float
    sigma2_between: float
    sigma2_within: float
    log_likelihood: float


def variance_component_tests(fit: MultilevelFit) -> tuple[VarianceComponentTest, ...]:
    """The tests of sigma^2 between and within clusters that the data can identify: none of
    the between component with one cluster (it is fixed at 0), none where every cluster holds
    one effect (only the sum of the two is identified)."""
    if fit.n_clusters == fit.k:
        return ()
    tests = []
    for component, name in ((0, "between"), (1, "within")):
        if component == 0 and fit.n_clusters == 1:
            continue
        log_likelihood, sigma2 = log_likelihood_without(fit, component)
        lrt = max(0.0, 2.0 * (fit.log_likelihood - log_likelihood))
        tests.append(VarianceComponentTest(component=name, lrt=lrt, df=1, p_value=float(dist.chi2_sf(lrt, 1)),
                                           sigma2_between=sigma2[0], sigma2_within=sigma2[1],
                                           log_likelihood=log_likelihood))
    return tuple(tests)


@dataclass(frozen=True)
class MultilevelPooledResult(PooledModel, Estimate):
    """Pooled effect of the three-level / CHE model (metafor rma.mv + predict()); ``df`` is k - 1
    under t, Satterthwaite under cr2, None under z.  ``converged`` is always true: a fit that does
    not converge raises ConvergenceError."""

    pi_lower: float
    pi_upper: float
    sigma2_between: float
    sigma2_within: float
    i2_between: float
    i2_within: float
    q: float
    q_df: int
    q_p: float
    k: int
    n_clusters: int
    method: str
    ci_method: str
    rho: float
    iterations: int
    converged: bool
    log_likelihood: float        # (restricted) log-likelihood, as metafor's logLik(); with
    deviance: float              # deviance, AIC, BIC and AICc as metafor fitstats()
    aic: float
    bic: float
    aicc: float
    notes: tuple[str, ...] = ()
    variance_tests: tuple[VarianceComponentTest, ...] = ()   # when asked for
    blups: tuple[Blup, ...] = ()        # one per effect, when asked for
    above: float | None = None   # with prob_above, the share of true effects above it
    prob_above: float | None = None
    fit: MultilevelFit | None = field(default=None, repr=False, compare=False, metadata=INTERNAL)

    def pooled_estimate(self) -> Estimate:
        return Estimate(**self.estimate_fields())

    def prediction_interval(self) -> tuple[float, float]:
        return self.pi_lower, self.pi_upper

    def heterogeneity(self) -> Heterogeneity:
        """sigma^2 between and within clusters with their I^2 (metafor's FAQ) and Cochran's Q."""
        components = (VarianceComponent("sigma2_between", self.sigma2_between, i2=self.i2_between),
                      VarianceComponent("sigma2_within", self.sigma2_within, i2=self.i2_within))
        return Heterogeneity(components=components, q=self.q, q_df=self.q_df, q_p=self.q_p)

    def describe(self) -> str:
        """E.g. "three-level model (REML), 9 rows in 6 clusters" or "CHE model (rho = 0.6, REML,
        CR2 robust inference), 9 rows in 6 clusters"."""
        model = "CHE model" if self.rho else "three-level model"
        details: tuple[str, ...] = (f"rho = {self.rho:g}",) if self.rho else ()
        details += (self.method,) + MULTILEVEL_INFERENCE[self.ci_method]
        return f"{model} ({', '.join(details)}), {self.k} rows in {self.n_clusters} clusters"

    def __str__(self) -> str:
        from .printing import multilevel_pool_table

        return multilevel_pool_table(self)


def pool_dependent(yi: np.ndarray, vi: np.ndarray, cluster: ClusterLabels, *, method: str, rho: float | None,
                   ci_method: str, level: float, variance_tests: bool = False,
                   blup_labels: Sequence[str] | None = None,
                   above: float | None = None, groups: ArmGroups | None = None) -> MultilevelPooledResult:
    """Intercept-only multilevel model; ``level`` as a fraction; with ``variance_tests`` the
    likelihood-ratio tests of the two variance components (two more fits); with ``blup_labels``
    every effect's BLUP (models.predictions.multilevel_blups); with ``above`` the share of true
    effects above it (metafor predict(prob =), the PI's distribution); with ``groups`` (the rows'
    arms and sizes) comparisons sharing a control group get its covariance (models.sharedgroups)."""
    fit, inference = fit_dependent(yi, vi, np.ones((yi.size, 1)), ("intercept",), cluster,
                                   method=method, rho=rho, ci_method=ci_method, level=level, groups=groups)
    estimate, se = float(fit.beta[0]), float(inference.se[0])
    crit = float(inference.critical_values(level)[0])
    pi_half_width = crit * np.sqrt(se * se + sum(fit.sigma2))
    return MultilevelPooledResult(
        estimate=estimate, se=se, ci_lower=estimate - crit * se, ci_upper=estimate + crit * se,
        p_value=float(inference.p_values(fit.beta)[0]), pi_lower=estimate - pi_half_width,
        pi_upper=estimate + pi_half_width, sigma2_between=fit.sigma2[0],
        sigma2_within=fit.sigma2[1], i2_between=fit.i2[0], i2_within=fit.i2[1], q=fit.q,
        q_df=fit.q_df, q_p=fit.q_p, k=fit.k, n_clusters=fit.n_clusters,
        df=None if inference.df is None else float(inference.df[0]), statistic=estimate / se,
        method=fit.method, ci_method=ci_method, level=100 * level, rho=fit.rho,
        iterations=fit.iterations, converged=True, **vars(multilevel_fit_statistics(fit)), notes=fit.notes,
        variance_tests=variance_component_tests(fit) if variance_tests else (), fit=fit,
        blups=() if blup_labels is None else multilevel_blups(fit, blup_labels, crit), above=above,
        prob_above=None if above is None else share_above(
            above, estimate, se, sum(fit.sigma2), None if inference.df is None else float(inference.df[0])))


@dataclass(frozen=True)
class MultilevelMetaRegressionResult(Result):
    """Multilevel meta-regression (metafor rma.mv(yi, V, mods, random = ~ 1 | cluster/es)).

    ``qm``: Wald chi-square (z), F on (qm_df, k - p) (t) or the HTZ F on (qm_df, qm_df2) (cr2).
    """

    html_rows = "coefficients"

    coefficients: tuple[Coefficient, ...]
    qm: float
    qm_df: int
    qm_df2: float | None
    qm_p: float
    sigma2_between: float
    sigma2_within: float
    i2_between: float
    i2_within: float
    qe: float
    qe_df: int
    qe_p: float
    k: int
    n_clusters: int
    method: str
    ci_method: str
    level: float
    rho: float
    iterations: int
    log_likelihood: float        # (restricted) log-likelihood and the rest of metafor fitstats()
    deviance: float
    aic: float
    bic: float
    aicc: float
    notes: tuple = ()
    lrt: LikelihoodRatioTest | None = None      # --drop
    btt_test: WaldTest | None = None            # --btt
    predictions: tuple = ()                     # --newmods
    fit: MultilevelFit | None = field(default=None, repr=False, compare=False, metadata=INTERNAL)

    def records(self) -> list[dict]:
        """The coefficient table (for CSV and ``to_frame``)."""
        return [c.to_dict() for c in self.coefficients]

    def html_caption(self) -> str:
        return f"Multilevel meta-regression (k = {self.k}, {self.n_clusters} clusters, {self.method})"

    def html_note(self) -> str:
        """The moderator and residual heterogeneity tests and the variance components."""
        df = f"{self.qm_df}" + (f", {html_cell(self.qm_df2)}" if self.qm_df2 is not None else "")
        return (f"QM({df}) = {html_cell(self.qm)}, p = {html_cell(self.qm_p)}; "
                f"QE({self.qe_df}) = {html_cell(self.qe)}, p = {html_cell(self.qe_p)}; "
                f"sigma2 between, within = {html_cell(self.sigma2_between)}, {html_cell(self.sigma2_within)}")

    def __str__(self) -> str:
        from .printing import multilevel_metareg_table

        return multilevel_metareg_table(self)


def meta_regression_dependent(yi: np.ndarray, vi: np.ndarray, X: np.ndarray, terms: Iterable[str],
                              cluster: ClusterLabels, *, method: str, rho: float | None, ci_method: str,
                              level: float, groups: ArmGroups | None = None,
                              moderators: Moderators | None = None, drop: Sequence[str] = (),
                              btt: Sequence[str] = (),
                              newmods: Iterable[Mapping[str, str | float]] = (),
                              ) -> MultilevelMetaRegressionResult:
    """Multilevel meta-regression on design ``X`` (intercept first); ``level`` a fraction.  ``moderators``
    (name -> values, coded as ``X``) with ``drop``, ``btt``, ``newmods``: see models.multilevel_tests."""
    fit, inference = fit_dependent(yi, vi, X, terms, cluster, method=method, rho=rho,
                                   ci_method=ci_method, level=level, groups=groups)
    se, crit = inference.se, inference.critical_values(level)
    dfs = [None] * fit.p if inference.df is None else [float(df) for df in inference.df]
    coefficients = tuple(
        Coefficient(term=term, estimate=float(b), se=float(s), statistic=float(b / s), df=df,
                    p_value=float(p), ci_lower=float(b - c * s), ci_upper=float(b + c * s), level=100 * level)
        for term, b, s, df, p, c in zip(terms, fit.beta, se, dfs, inference.p_values(fit.beta), crit))
    qm, qm_df, qm_df2, qm_p = omnibus_test(fit, inference, list(range(1, fit.p)))
    return MultilevelMetaRegressionResult(
        coefficients=coefficients, qm=qm, qm_df=qm_df, qm_df2=qm_df2, qm_p=qm_p,
        sigma2_between=fit.sigma2[0], sigma2_within=fit.sigma2[1], i2_between=fit.i2[0],
        i2_within=fit.i2[1], qe=fit.q, qe_df=fit.q_df, qe_p=fit.q_p, k=fit.k, n_clusters=fit.n_clusters,
        method=fit.method, ci_method=ci_method, level=100 * level, rho=fit.rho, iterations=fit.iterations,
        notes=fit.notes, fit=fit, **vars(multilevel_fit_statistics(fit)),
        **multilevel_comparison(fit, inference, cluster, moderators or {}, drop=drop, btt=btt,
                                newmods=newmods, groups=groups))


@dataclass(frozen=True)
class MultilevelGroup(Result):
    """The multilevel model fitted within one subgroup."""

    group: str
    result: MultilevelPooledResult


@dataclass(frozen=True)
class MultilevelSubgroupResult(Result):
    """Multilevel fits per subgroup and the tests of their difference.

    ``q_between``: Q of a fixed-effect model over the subgroup estimates (their variances the
    squared se of ``ci_method``, df = groups - 1).  ``qm_common_sigma2``: the omnibus test of a
    multilevel meta-regression on the grouping variable (one pair of sigma^2 for all groups):
    Wald chi-square (z), F (t) or HTZ F (cr2), with ``qm_common_sigma2_df2`` None under z.
    """

    by: str
    method: str
    ci_method: str
    level: float
    rho: float
    groups: tuple[MultilevelGroup, ...]
    q_between: float
    q_between_df: int
    q_between_p: float
    qm_common_sigma2: float
    qm_common_sigma2_df: int
    qm_common_sigma2_df2: float | None
    qm_common_sigma2_p: float
    overall: MultilevelPooledResult

    def records(self) -> list[dict]:
        """One row per subgroup (for CSV and ``to_frame``)."""
        return [dict(group=g.group, **g.result.to_dict()) for g in self.groups]

    def __str__(self) -> str:
        from .printing import multilevel_subgroup_table

        return multilevel_subgroup_table(self)


def subgroup_dependent(yi: np.ndarray, vi: np.ndarray, labels: np.ndarray, levels: Iterable[str],
                       X: np.ndarray, terms: Iterable[str], cluster: ClusterLabels, *, by: str,
                       method: str, rho: float | None, ci_method: str,
                       level: float, arm_groups: ArmGroups | None = None) -> MultilevelSubgroupResult:
    """Multilevel subgroup analysis; ``X``, ``terms`` code ``labels`` (levels in order); ``arm_groups``
    the rows' arms and sizes (models.sharedgroups)."""
    cluster = np.asarray([str(c) for c in cluster], dtype=object)
    groups = []
    for name in levels:
        rows = labels == name
        try:
            fitted = pool_dependent(yi[rows], vi[rows], cluster[rows], method=method, rho=rho,
                                    ci_method=ci_method, level=level,
                                    groups=None if arm_groups is None else arm_groups.take(rows))
        except InputError as error:
            raise InputError(f"subgroup '{name}': {error.message}", column=by) from None
        groups.append(MultilevelGroup(group=str(name), result=fitted))
    estimates = np.array([g.result.estimate for g in groups])
    weights = 1.0 / np.array([g.result.se for g in groups]) ** 2
    common_mean = float(weights @ estimates / weights.sum())
    q_between = float(weights @ (estimates - common_mean) ** 2)
    common = meta_regression_dependent(yi, vi, X, terms, cluster, method=method, rho=rho,
                                       ci_method=ci_method, level=level, groups=arm_groups)
    return MultilevelSubgroupResult(
        by=by, method=common.method, ci_method=ci_method, level=100 * level, rho=common.rho,
        groups=tuple(groups), q_between=q_between, q_between_df=len(groups) - 1,
        q_between_p=float(dist.chi2_sf(q_between, len(groups) - 1)), qm_common_sigma2=common.qm,
        qm_common_sigma2_df=common.qm_df, qm_common_sigma2_df2=common.qm_df2,
        qm_common_sigma2_p=common.qm_p,
        overall=pool_dependent(yi, vi, cluster, method=method, rho=rho, ci_method=ci_method,
                               level=level, groups=arm_groups))
