"""Sensitivity analyses of a pooled fit, as metafor's leave1out(), influence(), baujat()
and cumul() compute them (Viechtbauer & Cheung 2010, Res Synth Methods 1:112; Baujat et
al. 2002, Stat Med 21:2641), and for dependent effects the multilevel model refitted without
each cluster in turn (which metafor's leave1out() does not offer for rma.mv models)."""
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from ..common import distributions as dist
from ..common.errors import InputError
from ..common.results import Estimate, Result
from ..data.aggregate import cluster_composites
from ..models.dependent import check_options
from ..models.design import Moderators, design_matrix
from ..models.model import ModelFit, fit_model
from ..models.multilevel import covariance_at
from ..models.pooling import as_fraction, check_effects, pool
from ..models.wls import inverse

if TYPE_CHECKING:
    from ..models.batch import BatchResult

INTERCEPT = ("intercept",)
BATCH_CELLS = 1_000_000   # studies x fits per batch of case-deletion fits (8 MB per array)


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


def case_deletion(X: np.ndarray, yi: np.ndarray, vi: np.ndarray, *, terms: Iterable[str],
                  method: str = "REML", ci_method: str = "z",
                  level: float = 0.95) -> tuple[dict[str, np.ndarray], np.ndarray, ModelFit]:
    """metafor influence() of a mixed-effects model with design ``X`` (Viechtbauer & Cheung 2010):
    a dict of arrays over the studies, ``dfbetas`` (k x p), and the fitted full model.

    With b_(-i), Vb_(-i), tau^2_(-i), s^2_(-i) (the Knapp-Hartung factor, 1 under z) of the fit
    without study i, and H = X (X'WX)^-1 X'W of the full fit:
    rstudent = (y_i - x_i'b_(-i)) / sqrt(s^2_(-i) (v_i + tau^2_(-i)) + x_i'Vb_(-i) x_i);
    DFFITS = x_i'(b - b_(-i)) / sqrt(s^2_(-i) h_i (tau^2_(-i) + v_i));
    Cook's D = (b - b_(-i))' Vb^-1 (b - b_(-i)); COVRATIO = det Vb_(-i) / det Vb;
    DFBETAS = (b - b_(-i)) / sqrt(s^2_(-i) diag (X'W_(-i)X)^-1), W_(-i) = diag 1/(v + tau^2_(-i));
    rstandard = (y_i - x_i'b) / sqrt([(I - H) M (I - H)']_ii), M = diag(v + tau^2).
    """
    k, p = X.shape
    full = fit_model(X, yi, vi, terms=terms, method=method, ci_method=ci_method, level=level)
    w = full.weights
    unscaled = inverse(X.T @ (w[:, None] * X))
    H = X @ unscaled @ (X * w[:, None]).T
    residual_maker = np.eye(k) - H
    marginal_var = np.einsum("ij,j,ij->i", residual_maker, vi + full.tau2, residual_maker)
    out: dict[str, np.ndarray] = {name: np.empty(k) for name in ("rstudent", "dffits", "cook_d", "cov_r",
                                                                  "tau2_del", "qe_del")}
    dfbetas, changes = np.empty((k, p)), np.empty((k, p))
    precision = inverse(full.vcov)
    for i, deleted in enumerate(_deleted_fits(X, yi, vi, terms, method, ci_method, level)):
        scale = _knapp_hartung_scale(deleted)
        tau2_del = deleted.tau2
        change = changes[i] = full.beta - deleted.beta
        predicted, var_predicted = X[i] @ deleted.beta, X[i] @ deleted.vcov @ X[i]
        out["rstudent"][i] = (yi[i] - predicted) / np.sqrt(scale * (vi[i] + tau2_del) + var_predicted)
        out["dffits"][i] = X[i] @ change / np.sqrt(scale * H[i, i] * (tau2_del + vi[i]))
        out["cook_d"][i] = change @ precision @ change
        out["cov_r"][i] = np.linalg.det(deleted.vcov) / np.linalg.det(full.vcov)
        out["tau2_del"][i], out["qe_del"][i] = tau2_del, deleted.q
        at_tau2_del = inverse(X.T @ (X / (vi + tau2_del)[:, None]))
        dfbetas[i] = change / np.sqrt(scale * np.diag(at_tau2_del))
    out["rstandard"] = (yi - X @ full.beta) / np.sqrt(marginal_var)
    out["hat"], out["weight"] = np.diag(H).copy(), 100.0 * w / w.sum()
    out["influential"] = (np.abs(out["dffits"]) > 3 * np.sqrt(p / (k - p)))
    out["influential"] |= dist.chi2_cdf(out["cook_d"], p) > 0.5
    out["influential"] |= (out["hat"] > 3 * p / k) | (np.abs(dfbetas) > 1).any(axis=1)
    out["change"] = changes
    return out, dfbetas, full


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


def batched_leave_one_out(yi: np.ndarray, vi: np.ndarray, *, method: str = "REML",
                          level: float = 0.95) -> Iterator[tuple[np.ndarray, "BatchResult"]]:
    """The intercept-only fits (Wald z) without each study in turn, run together on the batched
    engine (models.batch: the same tau^2 estimators as one fit, tests/test_batch.py; a fit that
    does not converge raises), in chunks of at most BATCH_CELLS studies x fits: yields (the
    indices left out, their BatchResult)."""
    from ..models.batch import Batch, fit_batch

    k = yi.size
    step = max(1, BATCH_CELLS // k)
    for start in range(0, k, step):
        left_out = np.arange(start, min(k, start + step))
        mask = np.ones((left_out.size, k))
        mask[np.arange(left_out.size), left_out] = 0.0
        yield left_out, fit_batch(Batch(yi, vi, mask), method=method, level=level)


def _deleted_fits(X: np.ndarray, yi: np.ndarray, vi: np.ndarray, terms: Iterable[str], method: str,
                  ci_method: str, level: float) -> Iterator[Any]:
    """The fit without each study in turn (its tau2, beta, vcov, q, ci_method): batched
    (:func:`batched_leave_one_out`) for an intercept-only model under Wald z, else one at a time
    (a ModelFit, or a namespace with those fields)."""
    from types import SimpleNamespace

    k = yi.size
    if X.shape[1] == 1 and ci_method == "z":
        for left_out, fits in batched_leave_one_out(yi, vi, method=method, level=level):
            yield from (SimpleNamespace(tau2=fits.tau2[r], beta=fits.beta[r], vcov=fits.se[r, :, None] ** 2,
                                        q=fits.q[r], ci_method="z") for r in range(left_out.size))
        return
    keep = np.ones(k, dtype=bool)
    for i in range(k):
        keep[i] = False
        yield fit_model(X[keep], yi[keep], vi[keep], terms=terms, method=method, ci_method=ci_method,
                        level=level)
        keep[i] = True


def _knapp_hartung_scale(fit: ModelFit) -> float:
    """s^2 of the Knapp-Hartung adjustment of a fit (1 under Wald z): vcov = s^2 (X'WX)^-1."""
    if fit.ci_method != "knha":
        return 1.0
    unscaled = inverse(fit.X.T @ (fit.weights[:, None] * fit.X))
    return float(fit.vcov[0, 0] / unscaled[0, 0])


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
