"""Small-study effects and publication bias, as metafor's regtest(), ranktest(), trimfill()
and fsn() compute them.

Sources: Egger et al. (1997, BMJ 315:629); Begg & Mazumdar (1994, Biometrics 50:1088);
Duval & Tweedie (2000, Biometrics 56:455); Stanley & Doucouliagos (2014, Res Synth Methods
5:60) for PET-PEESE; fail-safe N in analyses.failsafe; for
dependent effects, Egger's test with the multilevel model (Rodgers & Pustejovsky 2021, Psychol
Methods 26:141), which metafor's regtest() does not offer for rma.mv models.
"""
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..common import distributions as dist
from ..common.errors import InputError
from ..common.results import Estimate, Result
from ..data.aggregate import cluster_composites
from ..models.dependent import check_options, meta_regression_dependent
from ..models.model import fit_model
from ..models.multilevel import SHARED_GROUP_NOTE, ClusterLabels
from ..models.pooling import PooledResult, as_fraction, check_effects, pool
from ..models.sharedgroups import ArmGroups
from ..models.wls import ordinary_wls
from .failsafe import FailSafeN, fail_safe_n
from .henmi_copas import HenmiCopas, henmi_copas
from .selection import SelectionModel, three_psm_or_note

#: Below this many studies the tests have too little power (Cochrane Handbook 13.3.5.4).
FEW_STUDIES = 10


@dataclass(frozen=True)
class RegressionTest(Result):
    """Egger-type regression of the effects on their SE ('sei') or variance ('vi').

    ``intercept`` is Egger's bias coefficient: the slope on the predictor in the weighted
    regression y = b0 + b1 se, which equals the intercept of Egger's regression of y/se on
    1/se.  ``limit_estimate`` is b0, the effect predicted for a study with se = 0 (PET for
    'sei', PEESE for 'vi').
    """

    model: str
    predictor: str
    k: int
    intercept: float
    se: float
    statistic: float
    df: float | None
    p_value: float
    limit_estimate: float
    limit_ci_lower: float
    limit_ci_upper: float


def regression_test(yi: ArrayLike, vi: ArrayLike, *, model: str = "lm", predictor: str = "sei",
                    method: str = "REML", ci_method: str = "z", level: float = 95) -> RegressionTest:
    """metafor regtest(): ``model="lm"`` is the classic weighted regression (t on k - 2 df);
    ``model="rma"`` the mixed-effects version with the predictor as moderator."""
    yi, vi = check_effects(yi, vi)
    k = yi.size
    if k < 3:
        raise InputError(f"a regression test needs k >= 3 studies, got {k}")
    values = np.sqrt(vi) if predictor == "sei" else vi
    X = np.column_stack([np.ones(k), values])
    level = as_fraction(level)
    df: float | None
    if model == "lm":
        beta, se, df, _ = ordinary_wls(X, yi, 1.0 / vi)  # t on k - 2 df, as lm() in regtest()
        statistic = beta[1] / se[1]
        p_value = float(dist.t_two_sided_p(statistic, df))
        crit = dist.critical_value(level, df)
    else:
        fit = fit_model(X, yi, vi, terms=("intercept", predictor), method=method, ci_method=ci_method,
                        level=level)
        beta, se, df = fit.beta, fit.se, fit.df
        statistic, p_value, crit = fit.statistic[1], float(fit.p_values[1]), fit.critical_value
    return RegressionTest(model=model, predictor=predictor, k=k, intercept=float(beta[1]), se=float(se[1]),
                          statistic=float(statistic), df=df, p_value=p_value,
                          limit_estimate=float(beta[0]), limit_ci_lower=float(beta[0] - crit * se[0]),
                          limit_ci_upper=float(beta[0] + crit * se[0]))


def multilevel_regression_test(yi: ArrayLike, vi: ArrayLike, cluster: ClusterLabels, *,
                               predictor: str = "sei", method: str = "REML", rho: float | None = None,
                               ci_method: str = "z", level: float = 95,
                               groups: ArmGroups | None = None) -> RegressionTest:
    """Egger's regression test for dependent effects: the three-level model (or CHE with ``rho``)
    with the standard error (or variance) as moderator, metafor rma.mv(yi, V, mods = ~ sqrt(vi),
    random = ~ 1 | cluster/es); ``ci_method`` "cr2" gives the CR2 robust t-test of clubSandwich,
    the test Rodgers & Pustejovsky (2021) found to hold its size with dependent effects.  With
    ``groups`` (the rows' arms and sizes) V holds the shared control group's covariance, metafor
    vcalc(grp1, grp2, w1, w2), as in every multilevel fit (models.sharedgroups)."""
    return _multilevel_egger(yi, vi, cluster, predictor=predictor, method=method, rho=rho,
                             ci_method=ci_method, level=level, groups=groups)[0]


def _multilevel_egger(yi: ArrayLike, vi: ArrayLike, cluster: ClusterLabels, *, predictor: str, method: str,
                      rho: float | None, ci_method: str, level: float,
                      groups: ArmGroups | None) -> tuple[RegressionTest, tuple[str, ...]]:
    """(:func:`multilevel_regression_test`, the notes on its covariance: the shared groups)."""
    yi, vi = check_effects(yi, vi)
    k = yi.size
    if k < 3:
        raise InputError(f"a regression test needs k >= 3 effects, got {k}")
    values = np.sqrt(vi) if predictor == "sei" else vi
    fit = meta_regression_dependent(yi, vi, np.column_stack([np.ones(k), values]), ("intercept", predictor),
                                    cluster, method=method, rho=rho, ci_method=ci_method,
                                    level=as_fraction(level), groups=groups)
    limit, slope = fit.coefficients
    shared = fit.fit.shared_pairs if fit.fit is not None else 0
    notes = (f"Egger's test with the multilevel model: {SHARED_GROUP_NOTE.format(shared)}",) if shared else ()
    return RegressionTest(model="multilevel", predictor=predictor, k=k, intercept=slope.estimate, se=slope.se,
                          statistic=slope.statistic, df=slope.df, p_value=slope.p_value,
                          limit_estimate=limit.estimate, limit_ci_lower=limit.ci_lower,
                          limit_ci_upper=limit.ci_upper), notes


def _tie_sums(values: np.ndarray) -> tuple[float, float, float]:
    """sum t(t-1), sum t(t-1)(t-2) and sum t(t-1)(2t+5) over the sizes t of groups of tied values."""
    _, sizes = np.unique(values, return_counts=True)
    t = sizes[sizes > 1].astype(float)
    return (float(np.sum(t * (t - 1))), float(np.sum(t * (t - 1) * (t - 2))),
            float(np.sum(t * (t - 1) * (2 * t + 5))))


def _inversions_cdf(n: int, d: int) -> float:
    """P(D <= d) for D the number of inversions of a random permutation of n items (the null
    distribution of the discordant pairs, Kendall 1970, Rank Correlation Methods, ch. 4), by the
    recurrence I_j(d) = sum_{i=0}^{min(d, j-1)} I_{j-1}(d - i), kept as probabilities."""
    probability = np.zeros(d + 1)
    probability[0] = 1.0
    for j in range(2, n + 1):
        cumulative = np.cumsum(probability)
        shifted = np.concatenate([np.zeros(j), cumulative[:d + 1 - j]]) if j <= d else np.zeros(d + 1)
        probability = (cumulative - shifted) / j
    return float(probability.sum())


def kendall_tau_test(x: np.ndarray, y: np.ndarray, exact: bool) -> tuple[float, float]:
    """Kendall's tau-b of x and y with its two-sided p-value (Kendall 1970, ch. 3-4): exact from the
    distribution of the number of discordant pairs (no ties), or the normal approximation to
    S = concordant - discordant with the tie-corrected variance
    Var S = [n(n-1)(2n+5) - sum t(t-1)(2t+5) - sum u(u-1)(2u+5)] / 18
            + sum t(t-1)(t-2) sum u(u-1)(u-2) / (9 n(n-1)(n-2)) + sum t(t-1) sum u(u-1) / (2 n(n-1))."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = x.size
    s = 0.0
    for i in range(n - 1):
        s += float(np.sum(np.sign(x[i + 1:] - x[i]) * np.sign(y[i + 1:] - y[i])))
    pairs = n * (n - 1) / 2
    x2, x3, x5 = _tie_sums(x)
    y2, y3, y5 = _tie_sums(y)
    if x2 / 2 == pairs or y2 / 2 == pairs:  # one variable constant: tau undefined
        return float("nan"), float("nan")
    tau = min(1.0, max(-1.0, s / np.sqrt(pairs - x2 / 2) / np.sqrt(pairs - y2 / 2)))
    if exact:
        discordant = int(round((pairs - s) / 2))
        return float(tau), float(min(1.0, 2 * _inversions_cdf(n, min(discordant, int(pairs) - discordant))))
    m = n * (n - 1.0)
    variance = (m * (2 * n + 5) - x5 - y5) / 18 + x2 * y2 / (2 * m) + x3 * y3 / (9 * m * (n - 2))
    return float(tau), float(dist.normal_two_sided_p(s / np.sqrt(variance)))


@dataclass(frozen=True)
class RankCorrelation(Result):
    """Begg & Mazumdar's rank correlation between standardised effects and variances."""

    k: int
    tau: float
    p_value: float
    exact: bool


def rank_correlation(yi: ArrayLike, vi: ArrayLike) -> RankCorrelation:
    """metafor ranktest(): Kendall's tau of (y - theta_FE) / sqrt(v - 1/sum w) with v;
    the exact p (metafor asks cor.test for it) unless there are ties, else the normal
    approximation with the tie-corrected variance."""
    yi, vi = check_effects(yi, vi)
    w = 1.0 / vi
    theta = float(np.dot(w, yi) / w.sum())
    standardised = (yi - theta) / np.sqrt(vi - 1.0 / w.sum())
    ties = len(set(standardised)) < yi.size or len(set(vi)) < yi.size
    exact = not ties
    tau, p_value = kendall_tau_test(standardised, vi, exact)
    return RankCorrelation(k=int(yi.size), tau=tau, p_value=p_value, exact=exact)


@dataclass(frozen=True)
class TrimAndFill(Estimate):
    """Duval & Tweedie's trim-and-fill: k0 studies imputed on ``side``, and the refit (whose
    estimate and inference it carries)."""

    leading_keys = ("estimator", "side", "k0", "k0_se")

    estimator: str
    side: str
    k0: int
    k0_se: float
    tau2: float
    filled_yi: tuple[float, ...]
    filled_vi: tuple[float, ...]
    adjusted: PooledResult


def _missing_studies(centred: np.ndarray, estimator: str) -> tuple[float, float]:
    """k0 and its SE from effects centred at the trimmed estimate (metafor trimfill)."""
    k = centred.size
    ranks = np.empty(k)
    ranks[np.argsort(np.abs(centred), kind="stable")] = np.arange(1, k + 1)
    signed = np.sign(centred) * ranks
    if estimator == "R0":
        negatives = -signed[signed < 0]
        k0 = k - (negatives.max() if negatives.size else 0) - 1
        return k0, math.sqrt(2 * max(0, k0) + 2)
    rank_sum = signed[signed > 0].sum()
    k0 = (4 * rank_sum - k * (k + 1)) / (2 * k - 1)
    var_rank_sum = (k * (k + 1) * (2 * k + 1) + 10 * k0 ** 3 + 27 * k0 ** 2 + 17 * k0
                    - 18 * k * k0 ** 2 - 18 * k * k0 + 6 * k ** 2 * k0) / 24
    return k0, 4 * math.sqrt(max(0.0, var_rank_sum)) / (2 * k - 1)


def trim_and_fill(yi: ArrayLike, vi: ArrayLike, *, side: str | None = None, estimator: str = "L0",
                  method: str = "REML", ci_method: str = "z", level: float = 95,
                  max_iter: int = 100) -> TrimAndFill:
    """metafor trimfill(): side from the sign of Egger's slope (mixed-effects regression on
    sqrt(v)) unless given; iterate trimming the k0 most extreme studies; mirror them about
    the trimmed estimate; refit with the filled data."""
    yi, vi = check_effects(yi, vi)
    if estimator not in ("L0", "R0"):
        raise InputError(f"unknown trim-and-fill estimator '{estimator}'; choose L0 or R0")
    k = yi.size
    if k < 3:
        raise InputError(f"trim-and-fill needs k >= 3 studies, got {k}")
    if side is None:
        if np.ptp(vi) == 0:  # Egger's regression on sqrt(v) is singular; metafor trimfill() stops too
            raise InputError("trim-and-fill cannot choose its side: every study has the same standard error")
        slope = fit_model(np.column_stack([np.ones(k), np.sqrt(vi)]), yi, vi, terms=("intercept", "sei"),
                          method=method).beta[1]
        side = "right" if slope < 0 else "left"
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * yi, kind="stable")
    flipped, variances = sign * yi[order], vi[order]
    k0, previous = 0, -1
    for _ in range(max_iter):
        if k0 == previous:
            break
        previous = k0
        trimmed = pool(flipped[:k - k0], variances[:k - k0], method=method, with_tau2_ci=False).estimate
        raw_k0, k0_se = _missing_studies(flipped - trimmed, estimator)
        k0 = max(0, int(round(raw_k0)))
        k0_se = max(0.0, k0_se)
    else:
        raise InputError("trim-and-fill did not converge")
    if k0 > 0:
        mirrored = sign * (2 * trimmed - flipped[k - k0:])
        filled_vi = variances[k - k0:]
        adjusted = pool(np.concatenate([yi, mirrored]), np.concatenate([vi, filled_vi]), method=method,
                        ci_method=ci_method, level=level, with_tau2_ci=False)
    else:
        mirrored, filled_vi = np.array([]), np.array([])
        adjusted = pool(yi, vi, method=method, ci_method=ci_method, level=level, with_tau2_ci=False)
    return TrimAndFill(estimator=estimator, side=side, k0=k0, k0_se=k0_se, **adjusted.estimate_fields(),
                       tau2=adjusted.tau2, filled_yi=tuple(mirrored.tolist()),
                       filled_vi=tuple(filled_vi.tolist()), adjusted=adjusted)


@dataclass(frozen=True)
class PetPeese(Estimate):
    """PET and PEESE limit estimates (weighted least squares) and the conditional choice, whose
    limit estimate (t on the regression's k - 2 df) it carries."""

    leading_keys = ("pet", "peese", "chosen")

    pet: RegressionTest
    peese: RegressionTest
    chosen: str
    rule: str


def _limit_estimate(test: RegressionTest, level: float) -> Estimate:
    """The limit estimate b0 of a weighted least-squares regression test with its t inference
    (its se from the half-width of its interval: c se with c the t quantile on the test's df)."""
    fraction = as_fraction(level)
    assert test.df is not None, "a least-squares regression test has t df"
    se = (test.limit_ci_upper - test.limit_estimate) / dist.critical_value(fraction, test.df)
    statistic = test.limit_estimate / se
    return Estimate(estimate=test.limit_estimate, se=se, statistic=statistic, df=test.df,
                    p_value=float(dist.t_two_sided_p(statistic, test.df)), ci_lower=test.limit_ci_lower,
                    ci_upper=test.limit_ci_upper, level=100 * fraction)


def pet_peese(yi: ArrayLike, vi: ArrayLike, *, alpha: float = 0.05, level: float = 95) -> PetPeese:
    """PEESE when PET's limit estimate differs from zero (two-sided p < alpha), else PET
    (Stanley & Doucouliagos 2014)."""
    pet = regression_test(yi, vi, model="lm", predictor="sei", level=level)
    peese = regression_test(yi, vi, model="lm", predictor="vi", level=level)
    limit_p = _limit_estimate(pet, level).p_value
    chosen = peese if limit_p < alpha else pet
    return PetPeese(pet=pet, peese=peese, chosen="PEESE" if chosen is peese else "PET",
                    **_limit_estimate(chosen, level).estimate_fields(),
                    rule=f"PEESE when PET's limit estimate differs from 0 at p < {alpha:g}; here p = "
                         f"{limit_p:.4f}, so {'PEESE' if chosen is peese else 'PET'}")


@dataclass(frozen=True)
class BiasReport(Result):
    """Everything ``compassmeta bias`` prints; a test that cannot run carries None and a note."""

    k: int
    method: str
    egger: RegressionTest | None
    egger_mixed: RegressionTest | None
    rank_correlation: RankCorrelation | None
    trim_and_fill: TrimAndFill | None
    pet_peese: PetPeese | None
    fail_safe_n: FailSafeN
    notes: tuple[str, ...]
    three_psm: SelectionModel | None = None
    egger_multilevel: RegressionTest | None = None
    henmi_copas: HenmiCopas | None = None

    def __str__(self) -> str:
        from .printing import bias_table

        return bias_table(self)


def bias_report(yi: ArrayLike, vi: ArrayLike, *, method: str = "REML", ci_method: str = "z",
                level: float = 95, cluster: Sequence[object] | None = None, rho: float | None = None,
                fsn_target: float | None = None, groups: ArmGroups | None = None) -> BiasReport:
    """All small-study and publication-bias analyses of one set of effects.

    With ``cluster`` (a label per effect; dependent effects), Egger's test is also run on every
    effect with the multilevel model (:func:`multilevel_regression_test`, ``rho`` for CHE,
    ``groups`` the rows' arms and sizes for a shared control group's covariance); the other
    analyses, which assume independent effects, use one composite effect per cluster (its effects
    averaged with r = ``rho``, or 0.5; Borenstein et al. 2009, ch. 24).
    ``fsn_target``: the effect Orwin's fail-safe N brings the mean to (default half of it)."""
    yi, vi = check_effects(yi, vi)
    check_options(cluster, rho, ci_method)
    notes: list[str] = []
    egger_multilevel = None
    if cluster is not None:
        if yi.size >= 3:
            egger_multilevel, shared_notes = _multilevel_egger(
                yi, vi, cluster, predictor="sei", method=method, rho=rho, ci_method=ci_method, level=level,
                groups=groups)
            notes.extend(shared_notes)
        _, yi, vi, note = cluster_composites(
            cluster, yi, vi, rho=rho, ci_method=ci_method,
            multilevel_use="Egger's test with the {model} model on every effect",
            composite_use="the other analyses on")
        notes.append(note)
        ci_method = "z"
    k = yi.size
    if k < FEW_STUDIES:
        notes.append(f"k = {k} < {FEW_STUDIES}: tests for funnel-plot asymmetry have too little power "
                     "to tell chance from real asymmetry (Cochrane Handbook 13.3.5.4)")
    enough = k >= 3
    if not enough:
        notes.append(f"k = {k}: regression tests, trim-and-fill and PET-PEESE need k >= 3 "
                     "and are not computed")
    three_psm = three_psm_or_note(yi, vi, method=method, level=level, notes=notes)
    return BiasReport(
        k=k, method=method.upper(), three_psm=three_psm,
        egger=regression_test(yi, vi, model="lm", level=level) if enough else None,
        egger_mixed=regression_test(yi, vi, model="rma", method=method, ci_method=ci_method, level=level)
        if enough else None,
        rank_correlation=rank_correlation(yi, vi) if k >= 3 else None,
        trim_and_fill=trim_and_fill(yi, vi, method=method, ci_method=ci_method, level=level)
        if enough else None,
        pet_peese=pet_peese(yi, vi, level=level) if enough else None,
        henmi_copas=henmi_copas(yi, vi, level=level) if k >= 2 else None,
        fail_safe_n=fail_safe_n(yi, vi, method=method, target=fsn_target), notes=tuple(notes),
        egger_multilevel=egger_multilevel)
