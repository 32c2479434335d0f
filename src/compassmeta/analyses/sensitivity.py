"""Sensitivity analyses of a pooled fit, as metafor's leave1out(), influence(), baujat()
and cumul() compute them (Viechtbauer & Cheung 2010, Res Synth Methods 1:112; Baujat et
al. 2002, Stat Med 21:2641), and for dependent effects the multilevel model refitted without
each cluster in turn (which metafor's leave1out() does not offer for rma.mv models)."""
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from ..common.errors import InputError
from ..common.results import Estimate, Result
from ..data.aggregate import cluster_composites
from ..models.dependent import check_options
from ..models.design import Moderators, design_matrix
from ..models.multilevel import covariance_at
from ..models.pooling import as_fraction, check_effects, pool
from .case_deletion import case_deletion

INTERCEPT = ("intercept",)


@dataclass(frozen=True)
class SubsetFit(Estimate):
    """The pooled fit of a subset of the studies."""

    k: int
    q: float
    q_p: float
    tau2: float
    i2: float
    h2: float


@dataclass(frozen=True)
class LeaveOneOut(SubsetFit):
    """The fit without study ``omitted``."""

    omitted: str


@dataclass(frozen=True)
class CumulativeStep(SubsetFit):
    """The fit of the studies up to and including ``added``."""

    added: str


Step = TypeVar("Step", LeaveOneOut, CumulativeStep)


def _summary(kind: type[Step], label: str, yi: np.ndarray, vi: np.ndarray, method: str, ci_method: str,
             level: float) -> Step:
    """A LeaveOneOut or CumulativeStep (``kind``) for the studies given."""
    fit = pool(yi, vi, method=method, ci_method=ci_method, level=level, with_tau2_ci=False)
    labelled: dict[str, Any] = {"omitted" if kind is LeaveOneOut else "added": label}
    return kind(**labelled, k=fit.k, **fit.estimate_fields(), q=fit.q, q_p=fit.q_p, tau2=fit.tau2,
                i2=fit.i2, h2=fit.h2)


def _labels(labels: Iterable[object] | None, k: int) -> list[str]:
    return [str(label) for label in labels] if labels is not None else [f"study {i + 1}" for i in range(k)]


def leave_one_out(yi: ArrayLike, vi: ArrayLike, labels: Iterable[object] | None = None, *,
                  method: str = "REML", ci_method: str = "z", level: float = 95) -> tuple[LeaveOneOut, ...]:
    """Every statistic of the pooled fit with each study left out in turn (metafor leave1out())."""
    yi, vi = check_effects(yi, vi)
    if yi.size < 2 + (ci_method == "knha"):
        raise InputError(f"leave-one-out needs at least {2 + (ci_method == 'knha')} studies, got {yi.size}")
    keep = np.ones(yi.size, dtype=bool)
    results: list[LeaveOneOut] = []
    for index, label in enumerate(_labels(labels, yi.size)):
        keep[index] = False
        results.append(_summary(LeaveOneOut, label, yi[keep], vi[keep], method, ci_method, level))
        keep[index] = True
    return tuple(results)


def cumulative(yi: ArrayLike, vi: ArrayLike, labels: Iterable[object] | None = None,
               order: ArrayLike | None = None, *, method: str = "REML", ci_method: str = "z",
               level: float = 95) -> tuple[CumulativeStep, ...]:
    """Pooled fits adding one study at a time in ``order`` (indices; default as given), as
    metafor cumul().  A step that cannot be fitted (k = 1 under Knapp-Hartung) is left out."""
    yi, vi = check_effects(yi, vi)
    order = np.arange(yi.size) if order is None else np.asarray(order)
    names = _labels(labels, yi.size)
    results: list[CumulativeStep] = []
    for step in range(1, yi.size + 1):
        chosen = order[:step]
        if step == 1 and ci_method == "knha":
            continue
        results.append(_summary(CumulativeStep, names[chosen[-1]], yi[chosen], vi[chosen], method,
                                ci_method, level))
    return tuple(results)


@dataclass(frozen=True)
class StudyInfluence(Result):
    """Case deletion diagnostics of one study (metafor influence())."""

    study: str
    rstudent: float
    dffits: float
    cook_d: float
    cov_r: float
    tau2_del: float
    q_del: float
    hat: float
    weight: float
    dfbetas: float
    influential: bool
    baujat_x: float
    baujat_y: float


def influence(yi: ArrayLike, vi: ArrayLike, labels: Iterable[object] | None = None, *, method: str = "REML",
              ci_method: str = "z", level: float = 95) -> tuple[StudyInfluence, ...]:
    """Externally standardised residuals, DFFITS, Cook's distance, covariance ratio,
    leave-one-out tau^2 and Q, hat values, weights (%), DFBETAS and metafor's flag of
    influential studies (|DFFITS| > 3 sqrt(p/(k-p)), P(chi2_p < Cook's D) > 0.5,
    hat > 3p/k or |DFBETAS| > 1); Baujat's coordinates alongside."""
    yi, vi = check_effects(yi, vi)
    k = yi.size
    if k < 3:
        raise InputError(f"influence diagnostics need k >= 3 studies, got {k}")
    out, dfbetas, full = case_deletion(np.ones((k, 1)), yi, vi, terms=INTERCEPT, method=method,
                                       ci_method=ci_method, level=as_fraction(level))
    estimate = full.beta[0]
    change = out["change"][:, 0]
    var_del = out["cov_r"] * full.vcov[0, 0]          # det Vb_(-i) / det Vb times Vb, p = 1
    return tuple(StudyInfluence(
        study=label, rstudent=float(out["rstudent"][i]), dffits=float(out["dffits"][i]),
        cook_d=float(out["cook_d"][i]), cov_r=float(out["cov_r"][i]), tau2_del=float(out["tau2_del"][i]),
        q_del=float(out["qe_del"][i]), hat=float(out["hat"][i]), weight=float(out["weight"][i]),
        dfbetas=float(dfbetas[i, 0]), influential=bool(out["influential"][i]),
        baujat_x=float((yi[i] - estimate) ** 2 / (full.tau2 + vi[i])),
        baujat_y=float(change[i] ** 2 / var_del[i]))
        for i, label in enumerate(_labels(labels, k)))


@dataclass(frozen=True)
class ClusterOmitted(Estimate):
    """The multilevel model (three-level, or CHE) refitted without one cluster; df is None under z."""

    leading_keys = ("omitted", "k", "n_clusters")

    omitted: str
    k: int
    n_clusters: int
    sigma2_between: float
    sigma2_within: float
    cook_d: float               # (b - b without) ^ 2 / var(b), metafor cooks.distance(cluster = )
    dfbetas: float              # (b - b without) / se(b at the sigma^2 without), metafor dfbetas(cluster = )


def leave_one_cluster_out(yi: ArrayLike, vi: ArrayLike, cluster: Iterable[object], *, method: str = "REML",
                          rho: float | None = None, ci_method: str = "z",
                          level: float = 95) -> tuple[ClusterOmitted, ...]:
    """The multilevel model (metafor rma.mv(yi, V, random = ~ 1 | cluster/es)) without each
    cluster in turn, clusters in order of first appearance, with each cluster's Cook's distance
    and DFBETAS (model-based, whatever ``ci_method``)."""
    yi, vi = check_effects(yi, vi)
    cluster = np.array([str(label) for label in cluster])
    labels = list(dict.fromkeys(cluster))
    if len(labels) < 3:
        raise InputError(f"leaving one cluster out needs at least 3 clusters, got {len(labels)}")
    full = pool(yi, vi, method=method, level=level, cluster=list(cluster), rho=rho).fit
    assert full is not None, "pool() keeps its fit"
    rows = []
    for label in labels:
        keep = cluster != label
        fit = pool(yi[keep], vi[keep], method=method, ci_method=ci_method, level=level,
                   cluster=list(cluster[keep]), rho=rho)
        change = float(full.beta[0]) - fit.estimate
        rows.append(ClusterOmitted(
            omitted=label, k=fit.k, n_clusters=fit.n_clusters, **fit.estimate_fields(),
            sigma2_between=fit.sigma2_between, sigma2_within=fit.sigma2_within,
            cook_d=change ** 2 / float(full.vcov[0, 0]),
            dfbetas=change / float(np.sqrt(
                covariance_at(full, (fit.sigma2_between, fit.sigma2_within))[0, 0]))))
    return tuple(rows)


@dataclass(frozen=True)
class SensitivityReport(Result):
    """What ``compassmeta sensitivity`` prints; with clusters, ``leave_one_cluster_out`` holds the
    multilevel refits and the other analyses run on one composite effect per cluster."""

    k: int
    method: str
    ci_method: str
    leave_one_out: tuple[LeaveOneOut, ...]
    influence: tuple[StudyInfluence, ...]
    cumulative: tuple[CumulativeStep, ...]
    cumulative_order: str
    leave_one_cluster_out: tuple[ClusterOmitted, ...] = ()
    notes: tuple[str, ...] = ()

    def records(self) -> list[dict]:
        """One row per study: its influence diagnostics and the fit without it (``without_``)."""
        return [{**row.to_dict(), **{f"without_{key}": value for key, value in without.to_dict().items()
                                     if key != "omitted"}}
                for row, without in zip(self.influence, self.leave_one_out)]

    def __str__(self) -> str:
        from .printing import sensitivity_table

        return sensitivity_table(self)


def sensitivity_report(yi: ArrayLike, vi: ArrayLike, labels: Iterable[object] | None = None, *,
                       order: str = "as given", method: str = "REML", ci_method: str = "z", level: float = 95,
                       cluster: Sequence[object] | None = None,
                       rho: float | None = None) -> SensitivityReport:
    """Leave-one-out, influence (with Baujat coordinates) and a cumulative analysis.

    ``order``: "as given", "precision" (most precise first) or "effect".  With ``cluster``
    (dependent effects): the multilevel model without each cluster (:func:`leave_one_cluster_out`),
    and the other analyses on one composite effect per cluster (its effects averaged with
    r = ``rho``, or 0.5; Borenstein et al. 2009, ch. 24), labelled by cluster.
    """
    yi, vi = check_effects(yi, vi)
    check_options(cluster, rho, ci_method)
    without_cluster: tuple[ClusterOmitted, ...] = ()
    notes: tuple[str, ...] = ()
    if cluster is not None:
        without_cluster = leave_one_cluster_out(yi, vi, cluster, method=method, rho=rho, ci_method=ci_method,
                                                level=level)
        labels, yi, vi, note = cluster_composites(
            cluster, yi, vi, rho=rho, ci_method=ci_method,
            multilevel_use="leave-one-cluster-out refits the {model} model",
            composite_use="leave-one-out, influence and the cumulative analysis use")
        notes, ci_method = (note,), "z"
    orders = {"as given": None, "precision": np.argsort(vi, kind="stable"),
              "effect": np.argsort(yi, kind="stable")}
    if order not in orders:
        raise InputError(f"unknown cumulative order '{order}'; choose from {', '.join(orders)}")
    kwargs: dict[str, Any] = dict(method=method, ci_method=ci_method, level=level)
    return SensitivityReport(k=int(yi.size), method=method.upper(), ci_method=ci_method,
                             leave_one_out=leave_one_out(yi, vi, labels, **kwargs),
                             influence=influence(yi, vi, labels, **kwargs),
                             cumulative=cumulative(yi, vi, labels, orders[order], **kwargs),
                             cumulative_order=order, leave_one_cluster_out=without_cluster, notes=notes)


@dataclass(frozen=True)
class StudyRegressionInfluence(Result):
    """Case deletion diagnostics of one study in a meta-regression (metafor influence(),
    rstandard()); ``dfbetas`` maps each model term to its DFBETAS."""

    study: str
    rstudent: float
    rstandard: float
    dffits: float
    cook_d: float
    cov_r: float
    tau2_del: float
    qe_del: float
    hat: float
    weight: float
    dfbetas: dict[str, float]
    influential: bool


@dataclass(frozen=True)
class RegressionInfluenceReport(Result):
    """What ``compassmeta sensitivity --mods`` prints: the diagnostics of every study."""

    k: int
    method: str
    ci_method: str
    terms: tuple[str, ...]
    influence: tuple[StudyRegressionInfluence, ...]

    def records(self) -> list[dict]:
        """One row per study, DFBETAS as ``dfbetas_<term>`` columns."""
        return [{**{key: value for key, value in row.items() if key != "dfbetas"},
                 **{f"dfbetas_{term}": value for term, value in row["dfbetas"].items()}}
                for row in self.to_dict()["influence"]]

    def __str__(self) -> str:
        from .printing import regression_influence_table

        return regression_influence_table(self)


DIAGNOSTICS = ("rstudent", "rstandard", "dffits", "cook_d", "cov_r", "tau2_del", "qe_del", "hat", "weight")


def regression_influence(yi: ArrayLike, vi: ArrayLike, moderators: Moderators,
                         labels: Iterable[object] | None = None, *, method: str = "REML",
                         ci_method: str = "z", level: float = 95) -> RegressionInfluenceReport:
    """metafor influence() and rstandard() of the meta-regression on ``moderators`` (name -> values)."""
    yi, vi = check_effects(yi, vi)
    X, terms = design_matrix(moderators, yi.size)
    if yi.size < X.shape[1] + 2:
        raise InputError(f"influence diagnostics of {X.shape[1]} coefficients need k >= {X.shape[1] + 2} "
                         f"studies, got {yi.size}")
    out, dfbetas, full = case_deletion(X, yi, vi, terms=terms, method=method, ci_method=ci_method,
                                       level=as_fraction(level))
    rows = tuple(StudyRegressionInfluence(
        study=label, **{key: float(out[key][i]) for key in DIAGNOSTICS},
        dfbetas={term: float(value) for term, value in zip(terms, dfbetas[i])},
        influential=bool(out["influential"][i])) for i, label in enumerate(_labels(labels, yi.size)))
    return RegressionInfluenceReport(k=int(yi.size), method=full.method, ci_method=ci_method,
                                     terms=tuple(terms), influence=rows)
