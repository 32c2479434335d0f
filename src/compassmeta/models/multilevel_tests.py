"""Tests and predictions of a multilevel (three-level / CHE) meta-regression, as metafor computes them
for rma.mv: the omnibus and ``--btt`` Wald tests (anova(btt =); clubSandwich Wald_test(test = "HTZ")
under CR2), ``--newmods`` predictions (predict(newmods =)) and the ``--drop`` likelihood-ratio test
(anova(full, reduced) of ML fits).

* Wald test of m coefficients b: Q = b' Vb^-1 b, chi-square on m (z), or F = Q / m on (m, k - p) (t);
  under CR2 the HTZ F of Tipton & Pustejovsky (2015), see models.robust;
* prediction at x: x'b with se sqrt(x'Vb x); CI x'b -/+ c se, PI x'b -/+ c sqrt(se^2 + sigma^2_between
  + sigma^2_within) (c normal, or t on k - p df);
* LRT = 2 (ll_full - ll_reduced) of ML fits, chi-square on the difference in coefficients.
"""
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..common import distributions as dist
from ..common.errors import InputError
from .design import Moderators, design_matrix, design_row
from .fitstats import LikelihoodRatioTest
from .multilevel import ClusterLabels, MultilevelFit, fit_multilevel
from .predictions import Prediction, WaldTest, btt_columns
from .sharedgroups import ArmGroups

#: new moderator values, one dict per prediction (metafor predict(newmods =))
NewMods = Iterable[Mapping[str, str | float]]


def omnibus_test(fit: MultilevelFit, inference: Any,
                 columns: list[int]) -> tuple[float, int, float | None, float]:
    """(QM, df1, df2 or None, p) for the coefficients in ``columns``."""
    if inference.robust is not None:
        return inference.robust.wald_htz(fit.beta, columns)
    b = fit.beta[columns]
    chi2 = float(b @ np.linalg.solve(fit.vcov[np.ix_(columns, columns)], b))
    m = len(columns)
    if inference.df is None:
        return chi2, m, None, float(dist.chi2_sf(chi2, m))
    df2 = fit.k - fit.p
    return chi2 / m, m, float(df2), float(dist.f_sf(chi2 / m, m, df2))


def _predictions(fit: MultilevelFit, inference: Any, moderators: Moderators, newmods: NewMods) -> tuple:
    """A :class:`Prediction` for every dict of moderator values (metafor predict(newmods =))."""
    if inference.robust is not None:
        raise InputError("--newmods with --cluster takes --ci-method z or t (not cr2)")
    df = None if inference.df is None else float(fit.k - fit.p)
    crit = float(dist.critical_value(fit.level, df))
    heterogeneity = sum(fit.sigma2)
    out = []
    for values in newmods:
        row = design_row(moderators, fit.terms, values)
        estimate = float(row @ fit.beta)
        se = float(np.sqrt(row @ fit.vcov @ row))
        spread = crit * np.sqrt(se * se + heterogeneity)
        out.append(Prediction(dict(values), estimate, se, estimate - crit * se, estimate + crit * se,
                              estimate - spread, estimate + spread))
    return tuple(out)


def _drop_test(fit: MultilevelFit, cluster: ClusterLabels, moderators: Moderators, drop: Sequence[str],
               groups: ArmGroups | None) -> LikelihoodRatioTest:
    """metafor anova(full, reduced) of the multilevel model fitted by ML with and without ``drop``."""
    missing = [name for name in drop if name not in moderators]
    if missing:
        raise InputError(f"--drop: '{missing[0]}' is not a moderator of the model", column=missing[0])
    kept = {name: values for name, values in moderators.items() if name not in drop}
    X_reduced, terms_reduced = design_matrix(kept, fit.k)
    refit = functools.partial(fit_multilevel, y=fit.y, v=fit.v, cluster=cluster, method="ML", rho=fit.rho,
                              groups=groups)
    full, reduced = refit(fit.X, terms=fit.terms), refit(X_reduced, terms=terms_reduced)
    statistic = max(0.0, 2.0 * (full.log_likelihood - reduced.log_likelihood))
    df = full.p - reduced.p
    return LikelihoodRatioTest(dropped=tuple(drop), statistic=statistic, df=df,
                               p_value=float(dist.chi2_sf(statistic, df)), ll_full=full.log_likelihood,
                               ll_reduced=reduced.log_likelihood)


def multilevel_comparison(fit: MultilevelFit, inference: Any, cluster: ClusterLabels, moderators: Moderators,
                          *, drop: Sequence[str] = (), btt: Sequence[str] = (), newmods: NewMods = (),
                          groups: ArmGroups | None = None) -> dict:
    """The ``lrt``, ``btt_test`` and ``predictions`` fields of a multilevel meta-regression."""
    out: dict = dict(lrt=None, btt_test=None, predictions=())
    if btt:
        columns = btt_columns(fit.terms, list(btt))
        statistic, df, df2, p_value = omnibus_test(fit, inference, columns)
        out["btt_test"] = WaldTest(terms=tuple(fit.terms[c] for c in columns), statistic=statistic, df=df,
                                   df2=df2, p_value=p_value)
    if newmods:
        out["predictions"] = _predictions(fit, inference, moderators, newmods)
    if drop:
        out["lrt"] = _drop_test(fit, cluster, moderators, drop, groups)
    return out
