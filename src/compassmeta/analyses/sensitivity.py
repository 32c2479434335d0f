"""Sensitivity analyses of a pooled fit, as metafor's leave1out(), influence(), baujat()
and cumul() compute them (Viechtbauer & Cheung 2010, Res Synth Methods 1:112; Baujat et
al. 2002, Stat Med 21:2641), and for dependent effects the multilevel model refitted without
each cluster in turn (which metafor's leave1out() does not offer for rma.mv models)."""
from dataclasses import dataclass

import numpy as np

from ..common import distributions as dist
from ..common.errors import InputError
from ..common.results import Estimate, Result
from ..data.aggregate import cluster_composites
from ..models.dependent import check_options
from ..models.model import fit_model
from ..models.multilevel import covariance_at
from ..models.pooling import as_fraction, check_effects, pool

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


def _summary(kind, label, yi, vi, method, ci_method, level):
    """A LeaveOneOut or CumulativeStep (``kind``) for the studies given."""
    fit = pool(yi, vi, method=method, ci_method=ci_method, level=level, with_tau2_ci=False)
    label_field = "omitted" if kind is LeaveOneOut else "added"
    return kind(**{label_field: label}, k=fit.k, **fit.estimate_fields(), q=fit.q, q_p=fit.q_p, tau2=fit.tau2,
                i2=fit.i2, h2=fit.h2)


def _labels(labels, k):
    return [str(label) for label in labels] if labels is not None else [f"study {i + 1}" for i in range(k)]


def leave_one_out(yi, vi, labels=None, *, method="REML", ci_method="z", level=95):
    """Every statistic of the pooled fit with each study left out in turn (metafor leave1out())."""
    yi, vi = check_effects(yi, vi)
    if yi.size < 2 + (ci_method == "knha"):
        raise InputError(f"leave-one-out needs at least {2 + (ci_method == 'knha')} studies, got {yi.size}")
    keep = np.ones(yi.size, dtype=bool)
    results = []
    for index, label in enumerate(_labels(labels, yi.size)):
        keep[index] = False
        results.append(_summary(LeaveOneOut, label, yi[keep], vi[keep], method, ci_method, level))
        keep[index] = True
    return tuple(results)


def cumulative(yi, vi, labels=None, order=None, *, method="REML", ci_method="z", level=95):
    """Pooled fits adding one study at a time in ``order`` (indices; default as given), as
    metafor cumul().  A step that cannot be fitted (k = 1 under Knapp-Hartung) is left out."""
    yi, vi = check_effects(yi, vi)
    order = np.arange(yi.size) if order is None else np.asarray(order)
    names = _labels(labels, yi.size)
    results = []
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


def influence(yi, vi, labels=None, *, method="REML", ci_method="z", level=95):
    """Externally standardised residuals, DFFITS, Cook's distance, covariance ratio,
    leave-one-out tau^2 and Q, hat values, weights (%), DFBETAS and metafor's flag of
    influential studies (|DFFITS| > 3 sqrt(p/(k-p)), P(chi2_1 < Cook's D) > 0.5,
    hat > 3p/k or |DFBETAS| > 1); Baujat's coordinates alongside."""
    yi, vi = check_effects(yi, vi)
    k, p = yi.size, 1
    if k < 3:
        raise InputError(f"influence diagnostics need k >= 3 studies, got {k}")
    X = np.ones((k, 1))
    fraction = as_fraction(level)
    full = fit_model(X, yi, vi, terms=INTERCEPT, method=method, ci_method=ci_method, level=fraction)
    weights = full.weights
    hat = weights / weights.sum()
    estimate, variance = full.beta[0], full.vcov[0, 0]
    rows = []
    keep = np.ones(k, dtype=bool)
    for index, label in enumerate(_labels(labels, k)):
        keep[index] = False
        deleted = fit_model(X[keep], yi[keep], vi[keep], terms=INTERCEPT, method=method,
                            ci_method=ci_method, level=fraction)
        keep[index] = True
        scale = _knapp_hartung_scale(deleted)
        tau2_del, beta_del, var_del = deleted.tau2, deleted.beta[0], deleted.vcov[0, 0]
        difference = estimate - beta_del
        # variance of the estimate with all k studies weighted at the deleted fit's tau^2
        var_all_at_tau2_del = 1.0 / np.sum(1.0 / (vi + tau2_del))
        dfbetas = difference / np.sqrt(scale * var_all_at_tau2_del)
        rstudent = (yi[index] - beta_del) / np.sqrt(vi[index] * scale + var_del + tau2_del * scale)
        dffits = difference / np.sqrt(scale * hat[index] * (tau2_del + vi[index]))
        cook = difference ** 2 / variance
        rows.append(dict(study=label, rstudent=float(rstudent), dffits=float(dffits), cook_d=float(cook),
                         cov_r=float(var_del / variance), tau2_del=float(tau2_del), q_del=float(deleted.q),
                         hat=float(hat[index]), weight=float(100 * hat[index]), dfbetas=float(dfbetas),
                         baujat_x=float((yi[index] - estimate) ** 2 / (full.tau2 + vi[index])),
                         baujat_y=float(difference ** 2 / var_del)))
    threshold_dffits = 3 * np.sqrt(p / (k - p))
    return tuple(StudyInfluence(**row, influential=bool(
        abs(row["dffits"]) > threshold_dffits or dist.special.chdtr(1, row["cook_d"]) > 0.5
        or row["hat"] > 3 * p / k or abs(row["dfbetas"]) > 1)) for row in rows)


def _knapp_hartung_scale(fit):
    """s^2 of the Knapp-Hartung adjustment of a fit (1 under Wald z): vcov = s^2 (X'WX)^-1."""
    if fit.ci_method != "knha":
        return 1.0
    return float(fit.vcov[0, 0] * np.sum(fit.weights))


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


def leave_one_cluster_out(yi, vi, cluster, *, method="REML", rho=None, ci_method="z", level=95):
    """The multilevel model (metafor rma.mv(yi, V, random = ~ 1 | cluster/es)) without each
    cluster in turn, clusters in order of first appearance, with each cluster's Cook's distance
    and DFBETAS (model-based, whatever ``ci_method``)."""
    yi, vi = check_effects(yi, vi)
    cluster = np.array([str(label) for label in cluster])
    labels = list(dict.fromkeys(cluster))
    if len(labels) < 3:
        raise InputError(f"leaving one cluster out needs at least 3 clusters, got {len(labels)}")
    full = pool(yi, vi, method=method, level=level, cluster=list(cluster), rho=rho).fit
    rows = []
    for label in labels:
        keep = cluster != label
        fit = pool(yi[keep], vi[keep], method=method, ci_method=ci_method, level=level, cluster=list(cluster[keep]),
                   rho=rho)
        change = float(full.beta[0]) - fit.estimate
        rows.append(ClusterOmitted(
            omitted=label, k=fit.k, n_clusters=fit.n_clusters, **fit.estimate_fields(),
            sigma2_between=fit.sigma2_between, sigma2_within=fit.sigma2_within,
            cook_d=change ** 2 / float(full.vcov[0, 0]),
            dfbetas=change / float(np.sqrt(covariance_at(full, fit.fit.sigma2)[0, 0]))))
    return tuple(rows)


@dataclass(frozen=True)
class SensitivityReport(Result):
    """What ``compassmeta sensitivity`` prints; with clusters, ``leave_one_cluster_out`` holds the
    multilevel refits and the other analyses run on one composite effect per cluster."""

    k: int
    method: str
    ci_method: str
    leave_one_out: tuple
    influence: tuple
    cumulative: tuple
    cumulative_order: str
    leave_one_cluster_out: tuple = ()
    notes: tuple = ()

    def records(self) -> list[dict]:
        """One row per study: its influence diagnostics and the fit without it (``without_``)."""
        return [{**row.to_dict(), **{f"without_{key}": value for key, value in without.to_dict().items()
                                     if key != "omitted"}}
                for row, without in zip(self.influence, self.leave_one_out)]

    def __str__(self):
        from .printing import sensitivity_table

        return sensitivity_table(self)


def sensitivity_report(yi, vi, labels=None, *, order="as given", method="REML", ci_method="z", level=95,
                       cluster=None, rho=None):
    """Leave-one-out, influence (with Baujat coordinates) and a cumulative analysis.

    ``order``: "as given", "precision" (most precise first) or "effect".  With ``cluster``
    (dependent effects): the multilevel model without each cluster (:func:`leave_one_cluster_out`),
    and the other analyses on one composite effect per cluster (its effects averaged with
    r = ``rho``, or 0.5; Borenstein et al. 2009, ch. 24), labelled by cluster.
    """
    yi, vi = check_effects(yi, vi)
    check_options(cluster, rho, ci_method)
    without_cluster, notes = (), ()
    if cluster is not None:
        without_cluster = leave_one_cluster_out(yi, vi, cluster, method=method, rho=rho, ci_method=ci_method,
                                                level=level)
        labels, yi, vi, note = cluster_composites(
            cluster, yi, vi, rho=rho, ci_method=ci_method, multilevel_use="leave-one-cluster-out refits the {model} model",
            composite_use="leave-one-out, influence and the cumulative analysis use")
        notes, ci_method = (note,), "z"
    orders = {"as given": None, "precision": np.argsort(vi, kind="stable"),
              "effect": np.argsort(yi, kind="stable")}
    if order not in orders:
        raise InputError(f"unknown cumulative order '{order}'; choose from {', '.join(orders)}")
    kwargs = dict(method=method, ci_method=ci_method, level=level)
    return SensitivityReport(k=int(yi.size), method=method.upper(), ci_method=ci_method,
                             leave_one_out=leave_one_out(yi, vi, labels, **kwargs),
                             influence=influence(yi, vi, labels, **kwargs),
                             cumulative=cumulative(yi, vi, labels, orders[order], **kwargs),
                             cumulative_order=order, leave_one_cluster_out=without_cluster, notes=notes)
