"""Pooling effect sizes: the intercept-only model (fixed or random effects)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import overload

import numpy as np
from numpy.typing import ArrayLike

from ..common.distributions import as_fraction
from ..common.errors import InputError
from ..common.results import INTERNAL, Estimate, Heterogeneity, PooledModel, VarianceComponent, finite_or_none
from .dependent import MultilevelPooledResult, check_options, pool_dependent
from .fitstats import pooled_inference_fields
from .model import ModelFit, fit_model, prediction_interval
from .multilevel import ClusterLabels
from .predictions import Blup
from .robust import RobustResult, robust_univariate
from .sharedgroups import ArmGroups
from .tau2 import lookup


def check_effects(yi: ArrayLike, vi: ArrayLike, *, yi_name: str = "yi", vi_name: str = "vi",
                  source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate effect sizes and sampling variances; return them as float arrays.

    Errors name the 1-based row and the column, as a spreadsheet user counts them.
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    if yi.ndim != 1 or yi.shape != vi.shape:
        raise InputError(f"{yi_name} and {vi_name} must be vectors of equal length", file=source)
    if yi.size == 0:
        raise InputError("no studies to analyse", file=source)
    for name, values in ((yi_name, yi), (vi_name, vi)):
        finite = np.isfinite(values)
        if not finite.all():
            row = int(np.argmin(finite))
            raise InputError(f"value is missing or not finite ({values[row]})",
                             file=source, row=row + 1, column=name)
    positive = vi > 0
    if not positive.all():
        row = int(np.argmin(positive))
        raise InputError(f"sampling variance must be positive, got {vi[row]:g}",
                         file=source, row=row + 1, column=vi_name)
    return yi, vi


@dataclass(frozen=True)
class PooledResult(PooledModel, Estimate):
    """A pooled effect with its heterogeneity statistics (metafor rma() + predict() + confint());
    ``df`` is k - 1 under Knapp-Hartung, None under z."""

    leading_keys = ("k", "method", "ci_method", "level")
    n_clusters = None           # independent effects

    k: int
    method: str
    ci_method: str
    pi_lower: float
    pi_upper: float
    tau2: float
    tau: float
    tau2_ci_lower: float
    tau2_ci_upper: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_p: float
    iterations: int
    converged: bool
    notes: tuple[str, ...] = ()
    tau2_se: float = float("nan")   # metafor's se.tau2
    # likelihood, heterogeneity and prediction inference (models.fitstats.pooled_inference_fields)
    log_likelihood: float | None = None
    deviance: float | None = None
    aic: float | None = None
    bic: float | None = None
    aicc: float | None = None
    tau2_ci_method: str | None = None
    i2_ci_lower: float | None = None
    i2_ci_upper: float | None = None
    h2_ci_lower: float | None = None
    h2_ci_upper: float | None = None
    above: float | None = None
    prob_above: float | None = None
    blups: tuple[Blup, ...] = ()
    robust: RobustResult | None = None   # --robust: CR0/CR1/CR2 with every study a cluster
    fit: ModelFit | None = field(default=None, repr=False, compare=False, metadata=INTERNAL)

    def pooled_estimate(self) -> Estimate:
        return Estimate(**self.estimate_fields())

    def prediction_interval(self) -> tuple[float, float]:
        return self.pi_lower, self.pi_upper

    def heterogeneity(self) -> Heterogeneity:
        """tau^2 (0 under FE) with its confidence interval where computed, I^2 and Cochran's Q."""
        tau2 = VarianceComponent("tau2", self.tau2, finite_or_none(self.tau2_ci_lower),
                                 finite_or_none(self.tau2_ci_upper), self.i2)
        return Heterogeneity(components=(tau2,), q=self.q, q_df=self.q_df, q_p=self.q_p)

    def describe(self) -> str:
        """E.g. "random-effects model (REML, Knapp-Hartung), k = 18"."""
        fixed = self.method == "FE"
        details = ([] if fixed else [self.method]) + (["Knapp-Hartung"] if self.ci_method == "knha" else [])
        model = "fixed-effect model" if fixed else "random-effects model"
        return model + (f" ({', '.join(details)})" if details else "") + f", k = {self.k}"

    def __str__(self) -> str:
        from .printing import pool_table

        return pool_table(self)

    @classmethod
    def from_fit(cls, fit: ModelFit, *, with_tau2_ci: bool = True, tau2_ci: str = "qprofile",
                 above: float | None = None, labels: Sequence[str] | None = None) -> PooledResult:
        """Summarise an intercept-only :class:`ModelFit` (the last three: see pooled_inference_fields)."""
        crit = fit.critical_value
        estimate, se = float(fit.beta[0]), float(fit.se[0])
        pi_lower, pi_upper = (prediction_interval(fit, np.ones(1)) if fit.method != "FE"
                              else (float("nan"), float("nan")))  # metafor: no PI without tau^2
        return cls(k=fit.k, method=fit.method, ci_method=fit.ci_method, level=100 * fit.level,
                   estimate=estimate, se=se, statistic=float(fit.statistic[0]), df=fit.df,
                   p_value=float(fit.p_values[0]), ci_lower=estimate - crit * se,
                   ci_upper=estimate + crit * se, pi_lower=pi_lower, pi_upper=pi_upper,
                   tau2=fit.tau2, tau=float(np.sqrt(fit.tau2)), i2=fit.i2, h2=fit.h2, q=fit.q, q_df=fit.q_df,
                   q_p=fit.q_p, iterations=fit.tau2_estimate.iterations,
                   converged=fit.tau2_estimate.converged, tau2_se=fit.tau2_se, notes=fit.notes, fit=fit,
                   **pooled_inference_fields(fit, with_tau2_ci=with_tau2_ci, tau2_ci=tau2_ci, above=above,
                                             labels=labels))


@overload
def pool(yi: ArrayLike, vi: ArrayLike, *, method: str = "REML", ci_method: str = "z", level: float = 95,
         with_tau2_ci: bool = True, cluster: None = None, rho: float | None = None,
         variance_tests: bool = False, weights: ArrayLike | None = None, tau2_ci: str = "qprofile",
         above: float | None = None, blup_labels: Sequence[str] | None = None,
         robust: str | None = None, groups: ArmGroups | None = None,
         weighted: bool = True) -> PooledResult: ...


@overload
def pool(yi: ArrayLike, vi: ArrayLike, *, method: str = "REML", ci_method: str = "z", level: float = 95,
         with_tau2_ci: bool = True, cluster: ClusterLabels, rho: float | None = None,
         variance_tests: bool = False, weights: ArrayLike | None = None, tau2_ci: str = "qprofile",
         above: float | None = None, blup_labels: Sequence[str] | None = None,
         robust: str | None = None, groups: ArmGroups | None = None,
         weighted: bool = True) -> MultilevelPooledResult: ...


def pool(yi: ArrayLike, vi: ArrayLike, *, method: str = "REML", ci_method: str = "z", level: float = 95,
         with_tau2_ci: bool = True, cluster: ClusterLabels | None = None, rho: float | None = None,
         variance_tests: bool = False, weights: ArrayLike | None = None, tau2_ci: str = "qprofile",
         above: float | None = None, blup_labels: Sequence[str] | None = None,
         robust: str | None = None, groups: ArmGroups | None = None,
         weighted: bool = True) -> PooledResult | MultilevelPooledResult:
    """Pool effect sizes ``yi`` with sampling variances ``vi``.

    ``method``: FE or a tau^2 estimator of models.tau2.METHODS (DL, REML, PM, ...);
    ``ci_method``: "z" (Wald) or "knha" (Knapp-Hartung); ``level`` in percent.
    With ``cluster`` (a label per effect) the three-level model, or with ``rho`` the CHE
    model, is fitted instead (REML or ML; ``ci_method`` z, t or cr2), see models.dependent;
    ``variance_tests`` adds its likelihood-ratio tests of sigma^2 between and within clusters;
    ``groups`` (models.sharedgroups.ArmGroups) gives comparisons sharing a control group its covariance.
    ``weights``: the user's weights of the studies (metafor rma(weights=); needed by GENQ and GENQM).
    ``weighted=False``: the unweighted model (metafor rma(weighted = FALSE)): every weight 1, beta the
    plain mean with variance sum(v_i + tau^2) / k^2; tau^2, Q and I^2 as in the weighted model.
    ``tau2_ci``: "qprofile" or "pl" (profile likelihood); ``above``: report the share of true effects
    above it; ``blup_labels`` (one per effect): report every effect's BLUP; ``robust`` (CR0, CR1,
    CR2): add cluster-robust inference with every study its own cluster (models.robust).
    """
    yi, vi = check_effects(yi, vi)
    if not weighted:
        weights = _unit_weights(yi.size, weights, method)
    if weights is not None:
        if cluster is not None:
            raise InputError("user weights (--weights, --unweighted) are for independent effects; they "
                             "cannot be combined with --cluster")
        weights, _ = check_effects(weights, vi, yi_name="weights")
        if (weights < 0).any():
            row = int(np.argmax(weights < 0))
            raise InputError(f"weights must not be negative, got {weights[row]:g}", row=row + 1,
                             column="weights")
    check_options(cluster, rho, ci_method)
    if weights is not None and (cluster is not None or tau2_ci != "qprofile" or above is not None
                                or blup_labels is not None or robust):
        raise InputError("user weights (--weights, --unweighted) weight the univariate pooled estimate only: "
                         "they do not go with --cluster, --tau2-ci pl, --above, --blup or --robust")
    if cluster is not None:
        if tau2_ci != "qprofile":
            raise InputError("--tau2-ci pl is for independent effects: the multilevel model (--cluster) "
                             "has no profile-likelihood CIs of its sigma^2")
        if robust:
            raise InputError("--robust is for independent effects (no --cluster; there use --ci-method cr2)")
        return pool_dependent(yi, vi, cluster, method=method, rho=rho, ci_method=ci_method,
                              level=as_fraction(level), variance_tests=variance_tests,
                              blup_labels=blup_labels, above=above, groups=groups)
    if variance_tests:
        raise InputError("the variance-component tests (--variance-tests) are for the multilevel model: "
                         "give the cluster column (--cluster)")
    X = np.ones((yi.size, 1))
    fit = fit_model(X, yi, vi, terms=("intercept",), method=method, ci_method=ci_method,
                    level=as_fraction(level), weights=weights)
    result = PooledResult.from_fit(fit, with_tau2_ci=with_tau2_ci, tau2_ci=tau2_ci, above=above,
                                   labels=blup_labels)
    if not weighted:
        result = replace(result, notes=result.notes + (UNWEIGHTED_NOTE,))
    return replace(result, robust=robust_univariate(fit, robust)) if robust else result


UNWEIGHTED_NOTE = ("unweighted model (metafor weighted = FALSE): every study weighs the same in the "
                   "pooled estimate; tau^2, Q and I^2 are those of the weighted model")


def _unit_weights(k: int, weights: ArrayLike | None, method: str) -> np.ndarray:
    """The weights of the unweighted model (all 1), refusing what metafor's weighted = FALSE refuses or
    ignores: user weights beside it, and GENQ / GENQM, which estimate tau^2 with user weights."""
    if weights is not None:
        raise InputError("give user weights (--weights) or the unweighted model (--unweighted), not both")
    if lookup(method).needs_weights:
        raise InputError(f"method {lookup(method).name} estimates tau^2 with user weights: give them "
                         "(--weights COL) instead of --unweighted")
    return np.ones(k)
