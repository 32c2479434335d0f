"""Multivariate and longitudinal meta-analysis: metafor's
rma.mv(yi, V, mods, random = ~ inner | outer, struct = S).

Several outcomes (inner = outcome or SCS component) or timepoints (inner = ordered time; CAR:
continuous time) per cluster (outer = trial).  V from a constant sampling correlation, a
time autocorrelation or published covariances (:mod:`.mvsampling`); G from the struct
(:mod:`.mvstructs`); ML / REML estimation (:mod:`.mvfit`).  Inference: Wald z, t on k - p df
(metafor test = "t") or CR2 (clubSandwich vcovCR(type = "CR2"), Satterthwaite df, HTZ tests;
Pustejovsky & Tipton 2018); linear contrasts (metafor anova(X = ...)); profile-likelihood
CIs of every variance and correlation parameter (confint() of an rma.mv).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

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
)
from .dependent import Inference, inference_for
from .design import DesignShape, Moderators
from .moderators import design_matrix, sorted_levels
from .multilevel import SHARED_GROUP_NOTE, ClusterBlocks, ClusterLabels, cluster_codes
from .mvfit import (
    Problem,
    check_identifiable,
    fixed_tau2,
    log_likelihood_terms,
    maximise,
    starting_values,
)
from .mvgls import MultivariateGLS, RandomEffectLayout
from .mvnested import nested_terms, numbered
from .mvpredict import level_predictions
from .mvsampling import sampling_covariance
from .mvstructs import STRUCTURES, Parameters, Structure
from .sharedgroups import ArmGroups, shared_pairs

if TYPE_CHECKING:
    import pandas as pd

    from .mvprofile import ProfileInterval

MULTIVARIATE_METHODS = ("REML", "ML")
MULTIVARIATE_CI_METHODS = ("z", "t", "cr2")


@dataclass(frozen=True)
class MultivariateFit(DesignShape):
    """A fitted multivariate model; the result is a view of it (and CR2 reads ``gls``)."""

    X: np.ndarray
    terms: tuple[str, ...]
    problem: Problem
    parameters: Parameters
    structure: Structure
    levels: tuple[str, ...]
    tau2: np.ndarray
    rho: np.ndarray
    gls: MultivariateGLS
    iterations: int
    log_likelihood: float
    sigma2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    nested: tuple = ()              # NestedTerm per sigma^2
    level_codes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @property
    def variances(self) -> np.ndarray:
        """tau^2 then sigma^2: the variance vector of the layout and the parameters."""
        return np.concatenate([self.tau2, self.sigma2])

    @property
    def n_clusters(self) -> int:
        return self.problem.blocks.n_clusters

    @property
    def beta(self) -> np.ndarray:
        return self.gls.beta

    @property
    def vcov(self) -> np.ndarray:
        return self.gls.cov


@dataclass(frozen=True)
class Contrast(Result):
    """A linear combination of the coefficients with its Wald (or CR2 HTZ) test."""

    label: str
    estimate: float
    se: float
    statistic: float
    df: float | None
    p_value: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class MultivariateResult(Result, PooledModel):
    """rma.mv(yi, V, mods, random = ~ inner | outer, struct): the keys of issue 23 in metafor's
    order.  ``qm_df`` is metafor's QMdf: [m, None] under z, [m, df2] under t and cr2."""

    coefficients: tuple
    tau2: tuple
    rho: tuple
    sigma2: tuple
    log_likelihood: float
    deviance: float
    aic: float
    bic: float
    q: float
    q_df: int
    q_p: float
    qm: float
    qm_df: tuple
    qm_p: float
    k: int
    n_clusters: int
    struct: str
    method: str
    contrasts: tuple
    profile: tuple
    predictions: tuple
    converged: bool
    iterations: int
    levels: tuple = field(default=(), metadata=INTERNAL)
    ci_method: str = field(default="z", metadata=INTERNAL)
    level: float = field(default=0.95, metadata=INTERNAL)
    notes: tuple = field(default=(), metadata=INTERNAL)
    outer_name: str = field(default="cluster", metadata=INTERNAL)
    inner_name: str = field(default="inner", metadata=INTERNAL)
    fit: MultivariateFit | None = field(default=None, repr=False, compare=False, metadata=INTERNAL)

    def pooled_estimate(self) -> Estimate:
        """The first coefficient (the intercept, or the first level's effect without one)."""
        c = self.coefficients[0]
        return Estimate(c.estimate, c.se, c.statistic, c.p_value, c.ci_lower, c.ci_upper)

    def prediction_interval(self) -> tuple[float, float]:
        """For the first coefficient's row: estimate +- crit sqrt(se^2 + tau^2 of the first
        inner level) (metafor predict(), tau2.levels = 1)."""
        c = self.coefficients[0]
        half = float(dist.critical_value(self.level, c.df) * np.sqrt(c.se ** 2 + self.tau2[0]))
        return c.estimate - half, c.estimate + half

    def heterogeneity(self) -> Heterogeneity:
        names = ([f"tau^2.{level}" for level in self.levels] if len(self.tau2) > 1 else ["tau^2"])
        names += numbered("sigma^2", len(self.sigma2))
        return Heterogeneity(tuple(VarianceComponent(name, float(t))
                                   for name, t in zip(names, self.tau2 + self.sigma2)),
                             self.q, self.q_df, self.q_p)

    def describe(self) -> str:
        return (f"multivariate model (struct {self.struct} over {len(self.levels)} inner levels, "
                f"{self.method}), {self.k} rows in {self.n_clusters} clusters")

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table."""
        import pandas as pd

        return pd.DataFrame([c.to_dict() for c in self.coefficients])

    def __str__(self) -> str:
        from .mvprinting import multivariate_table

        return multivariate_table(self)


def _inner_levels(inner: ArrayLike, column: str) -> tuple[tuple[str, ...], np.ndarray, np.ndarray | None]:
    """Sorted levels (numeric order for numbers, R's factor order for text) and row codes."""
    values = np.asarray(inner, dtype=object)
    try:
        numeric = values.astype(float)
    except (TypeError, ValueError):
        numeric = None
    if numeric is not None and np.all(np.isfinite(numeric)):
        levels, codes = np.unique(numeric, return_inverse=True)
        return tuple(f"{level:g}" for level in levels), codes.ravel(), numeric
    labels = np.array([str(value).strip() for value in values])
    missing = np.flatnonzero(np.isin(labels, ["", "nan", "NA", "None"]))
    if missing.size:
        raise InputError("inner value is missing", row=int(missing[0]) + 1, column=column)
    distinct, codes = np.unique(labels, return_inverse=True)
    names = tuple(sorted_levels(distinct.tolist()))
    position = np.array([names.index(level) for level in distinct.tolist()])
    return names, position[codes.ravel()], None


def build_design(moderators: Moderators | None, k: int, intercept: bool) -> tuple[np.ndarray, list[str]]:
    """(X, terms): metafor's mods; without ``intercept`` the first categorical moderator gets
    a column per level (``~ 0 + outcome``), a numeric one loses the intercept column."""
    moderators = dict(moderators or {})
    if not intercept and not moderators:
        raise InputError("a model without intercept needs a moderator (--mods)")
    X, terms = design_matrix(moderators, k)
    if intercept:
        return X, terms
    name, values = next(iter(moderators.items()))
    dummies = [t for t in terms if t.startswith(f"{name}[")]
    if not dummies:
        return X[:, 1:], terms[1:]
    labels = np.array([str(value) for value in values])
    base = sorted_levels(np.unique(labels).tolist())[0]
    X = X.copy()
    X[:, 0] = (labels == base).astype(float)
    return X, [f"{name}[{base}]"] + list(terms[1:])


def fit_multivariate(yi: ArrayLike, vi: ArrayLike, X: np.ndarray, terms: Iterable[str], *,
                     cluster: ClusterLabels, inner: ArrayLike, struct: str, method: str = "REML",
                     time: ArrayLike | None = None, rho: float | None = None, phi: float | None = None,
                     pairs: Iterable[tuple[float, float, float]] | None = None,
                     nested: Mapping[str, ClusterLabels] | None = None, source: str | None = None,
                     cluster_column: str = "cluster", inner_column: str = "inner",
                     groups: ArmGroups | None = None) -> MultivariateFit:
    """Fit rma.mv(yi, V, mods = X, random = ~ inner | cluster, struct = struct), with
    random = list(~ inner | cluster, ~ 1 | a/b) when ``nested`` maps a (and b) to values."""
    structure = STRUCTURES.get(str(struct).upper())
    if structure is None:
        raise InputError(f"unknown struct '{struct}'; choose from {', '.join(STRUCTURES)}")
    if method not in MULTIVARIATE_METHODS:
        raise InputError(f"the multivariate model is fitted by REML or ML, not {method}")
    y, v = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    codes = cluster_codes(cluster, column=cluster_column, source=source)
    levels, level_codes, numeric_inner = _inner_levels(inner, inner_column)
    times = np.asarray(time, dtype=float) if time is not None else numeric_inner
    check_identifiable(structure, level_codes, codes, len(levels), levels, times is not None)
    if phi is not None and times is None:
        raise InputError("phi (time autocorrelation) needs the time of every row (--time)")
    for name, value in (("rho", rho), ("phi", phi)):
        if value is not None and not -1.0 < value < 1.0:
            raise InputError(f"{name} must lie strictly between -1 and 1, got {value:g}")
    k, p = X.shape
    blocks = ClusterBlocks(codes)
    S_groups = sampling_covariance(blocks, v, rho=rho, times=times, phi=phi, pairs=pairs,
                                   cluster_labels=np.asarray(cluster), source=source, arm_groups=groups)
    terms_nested = nested_terms(nested, codes, source=source)
    layout = RandomEffectLayout(blocks, level_codes, len(levels), structure, times,
                                [term.codes for term in terms_nested])
    problem = Problem(k, blocks, blocks.stack(X), blocks.stack(y), S_groups, layout, method == "REML")
    fixed = fixed_tau2(structure, level_codes, codes, len(levels))
    parameters = Parameters(structure, len(levels), float(np.mean(v)), fixed, n_sigma=len(terms_nested))
    n_free = int(parameters.free.sum())
    if k - p < n_free and method == "REML" or k < p + n_free:
        raise InputError(f"{k} rows cannot fit {p} coefficient(s) and {n_free} variance parameters")
    tau2, rho_hat = starting_values(X, y, v, parameters.n_tau2, parameters.n_rho, structure)
    tau2[list(fixed)] = 0.0
    variances, rho_hat, iterations = maximise(problem, parameters, (tau2, rho_hat))
    gls = problem.gls(variances, rho_hat)
    n_tau2 = structure.n_tau2(len(levels))
    return MultivariateFit(X=X, terms=tuple(terms), problem=problem, parameters=parameters,
                           structure=structure, levels=levels, tau2=variances[:n_tau2], rho=rho_hat, gls=gls,
                           iterations=iterations, log_likelihood=gls.log_likelihood(method == "REML"),
                           sigma2=variances[n_tau2:], nested=terms_nested, level_codes=level_codes)


def wald(fit: MultivariateFit, inference: Inference,
         C: np.ndarray) -> tuple[float, tuple[int, float | None], float]:
    """Wald test of C beta = 0 (rows of C): (statistic, [df1, df2 or None], p) as metafor's
    QM (chi-square under z, F under t) or clubSandwich's HTZ F under cr2."""
    C = np.atleast_2d(C)
    if inference.robust is not None:
        F, q, df2, p_value = inference.robust.wald_htz_matrix(fit.beta, C)
        return F, (q, df2), p_value
    b = C @ fit.beta
    chi2 = float(b @ np.linalg.solve(C @ fit.vcov @ C.T, b))
    q = C.shape[0]
    if inference.df is None:
        return chi2, (q, None), float(dist.chi2_sf(chi2, q))
    df2 = float(fit.k - fit.p)
    return chi2 / q, (q, df2), float(dist.f_sf(chi2 / q, q, df2))


def contrast_vector(label: str, terms: Sequence[str]) -> np.ndarray:
    """The vector of contrast "A-B" (or "A"): A and B name a term, or the level in a term
    ``name[level]``."""
    def find(name: str) -> int | None:
        name = name.strip()
        for i, term in enumerate(terms):
            if term == name or term.endswith(f"[{name}]"):
                return i
        return None

    vector = np.zeros(len(terms))
    pieces = label.split("-")
    for cut in range(1, len(pieces) + 1):
        first, second = "-".join(pieces[:cut]), "-".join(pieces[cut:])
        a, b = find(first), (find(second) if second else None)
        if a is not None and (b is not None or not second):
            vector[a] += 1.0
            if b is not None:
                vector[b] -= 1.0
            return vector
    raise InputError(f"contrast '{label}' does not name model terms (terms: {', '.join(terms)})")


def contrast_results(fit: MultivariateFit, inference: Inference, contrasts: Iterable[str],
                     level: float) -> tuple[Contrast, ...]:
    """metafor anova(fit, X = c): estimate, se, z (or t) and CI; under cr2 the robust se and
    the Satterthwaite df (the HTZ test of one constraint)."""
    out = []
    for label in contrasts:
        c = contrast_vector(label, fit.terms)
        estimate = float(c @ fit.beta)
        se = float(np.sqrt(c @ inference.vcov @ c))
        df = None
        if inference.robust is not None:
            df = float(inference.robust.wald_htz_matrix(fit.beta, c[None])[2])
        elif inference.df is not None:
            df = float(fit.k - fit.p)
        statistic = estimate / se
        p_value = float(dist.normal_two_sided_p(statistic) if df is None
                        else dist.t_two_sided_p(statistic, df))
        crit = dist.critical_value(level, df)
        out.append(Contrast(label, estimate, se, statistic, df, p_value, estimate - crit * se,
                            estimate + crit * se))
    return tuple(out)


def summarise(fit: MultivariateFit, ci_method: str = "z", level: float = 0.95, contrasts: Iterable[str] = (),
              profile: bool = False, names: tuple[str, str] = ("cluster", "inner")) -> MultivariateResult:
    """The result of ``fit`` under ``ci_method`` with its contrasts and profile CIs."""
    if ci_method not in MULTIVARIATE_CI_METHODS:
        raise InputError(f"unknown CI method '{ci_method}'; choose from {', '.join(MULTIVARIATE_CI_METHODS)}")
    inference: Inference = inference_for(fit, ci_method)
    se, crit = inference.se, inference.critical_values(level)
    dfs = [None] * fit.p if inference.df is None else [float(df) for df in inference.df]
    coefficients = tuple(
        Coefficient(term=term, estimate=float(b), se=float(s), statistic=float(b / s), df=df,
                    p_value=float(pv), ci_lower=float(b - c * s), ci_upper=float(b + c * s),
                    level=100 * level)
        for term, b, s, df, pv, c in zip(fit.terms, fit.beta, se, dfs, inference.p_values(fit.beta), crit))
    # metafor's QM: every coefficient but the intercept; the intercept alone in an intercept-only model
    tested = [i for i, term in enumerate(fit.terms) if term != "intercept"] or [0]
    qm, qm_df, qm_p = wald(fit, inference, np.eye(fit.p)[tested])
    sampling = fit.problem.sampling_only()
    q_df = fit.k - fit.p
    deviance, aic, bic = log_likelihood_terms(fit.k, fit.p, fit.log_likelihood, sampling,
                                              fit.problem.reml, int(fit.parameters.free.sum()))
    profile_rows: tuple[ProfileInterval, ...] = ()
    if profile:
        from .mvprofile import profile_intervals

        profile_rows = profile_intervals(fit, level)
    notes = tuple(f"tau^2 of level {fit.levels[a]} held at 0: it occurs in one cluster only (as metafor)"
                  for a in fit.parameters.fixed)
    return MultivariateResult(
        coefficients=coefficients, tau2=tuple(float(t) for t in fit.tau2),
        rho=tuple(float(r) for r in fit.rho), sigma2=tuple(float(s) for s in fit.sigma2),
        log_likelihood=fit.log_likelihood,
        deviance=deviance, aic=aic, bic=bic, q=sampling.rss(), q_df=q_df,
        q_p=float(dist.chi2_sf(sampling.rss(), q_df)) if q_df > 0 else 1.0, qm=qm, qm_df=qm_df,
        qm_p=qm_p, k=fit.k, n_clusters=fit.n_clusters, struct=fit.structure.name,
        method="REML" if fit.problem.reml else "ML",
        contrasts=contrast_results(fit, inference, contrasts, level), profile=profile_rows,
        predictions=level_predictions(fit, level, ci_method == "t"), converged=True,
        iterations=fit.iterations, levels=fit.levels, ci_method=ci_method, level=level,
        notes=notes, outer_name=names[0], inner_name=names[1], fit=fit)


def multivariate(yi: ArrayLike, vi: ArrayLike, *, cluster: ClusterLabels, inner: ArrayLike, struct: str,
                 moderators: Moderators | None = None, intercept: bool = True, time: ArrayLike | None = None,
                 rho: float | None = None, phi: float | None = None,
                 pairs: Iterable[tuple[float, float, float]] | None = None,
                 nested: Mapping[str, ClusterLabels] | None = None, method: str = "REML",
                 ci_method: str = "z", level: float = 0.95, contrasts: Iterable[str] = (),
                 profile: bool = False, source: str | None = None, cluster_column: str = "cluster",
                 inner_column: str = "inner", groups: ArmGroups | None = None) -> MultivariateResult:
    """rma.mv(yi, V, mods, random = ~ inner | cluster, struct = struct) and its inference.

    ``moderators`` maps a name to values (text: categorical); ``pairs`` lists published
    sampling covariances (row i, row l, cov), rows 0-based; ``nested`` maps column names to
    values, outermost first, for metafor's random = list(~ inner | cluster, ~ 1 | a/b)
    (``{"row": ids}`` for ~ 1 | row); ``level`` a fraction; ``groups``
    (models.sharedgroups.ArmGroups): comparisons sharing a control group get its covariance in V.
    """
    y = np.asarray(yi, dtype=float)
    X, terms = build_design(moderators, y.size, intercept)
    fit = fit_multivariate(y, vi, X, terms, cluster=cluster, inner=inner, struct=struct,
                           method=str(method).upper(), time=time, rho=rho, phi=phi, pairs=pairs,
                           nested=nested, source=source, cluster_column=cluster_column,
                           inner_column=inner_column, groups=groups)
    result = summarise(fit, ci_method, level, contrasts, profile, (cluster_column, inner_column))
    shared = 0 if groups is None else shared_pairs(groups, cluster_codes(cluster))
    return replace(result, notes=result.notes + (SHARED_GROUP_NOTE.format(shared),)) if shared else result
