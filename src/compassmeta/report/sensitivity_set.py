"""A subset's sensitivity set, as metapsyTools' ``runMetaAnalysis()`` reports it: all trials;
outliers removed; influential cases removed; low risk of bias only; the lowest and the highest
effect per trial; the three-level and the CHE model.  Each is one :class:`SensitivityFit`."""

import numpy as np

from ..common.errors import CompassmetaError
from ..models.pooling import pool
from .evidence import rob2_overall
from .results import SensitivityFit
from .settings import METHOD
from .subsets import ModelChoice, choose_model

Z95 = 1.959963984540054


def _none(analysis, k, k_rows, note) -> SensitivityFit:
    """An analysis of the set that gives no estimate, with the reason."""
    return SensitivityFit(analysis=analysis, k=k, k_rows=k_rows, estimate=None, ci_lower=None, ci_upper=None,
                          note=note)


def _fit(analysis, yi, vi, k_rows, note="", cluster=None, rho=None, groups=None) -> SensitivityFit:
    """The random-effects (or, with ``cluster``, multilevel: ``groups`` the rows' arms and sizes)
    fit of one analysis of the set."""
    k = len(set(cluster)) if cluster is not None else len(yi)
    if k < 2:
        return _none(analysis, k, k_rows, (note + "; " if note else "") + "fewer than 2 trials: not pooled")
    try:
        fit = pool(np.asarray(yi, dtype=float), np.asarray(vi, dtype=float), method=METHOD,
                   cluster=list(cluster) if cluster is not None else None, rho=rho, groups=groups)
    except CompassmetaError as error:
        return _none(analysis, k, k_rows, f"not estimable: {error}")
    return SensitivityFit(analysis=analysis, k=k, k_rows=k_rows, estimate=float(fit.estimate),
                          ci_lower=float(fit.ci_lower), ci_upper=float(fit.ci_upper), note=note)


def _without(analysis, choice: ModelChoice, drop, rule):
    """One effect per trial, refitted without the trials in ``drop`` (their labels in the note)."""
    keep = [i for i in range(len(choice.yi)) if i not in drop]
    names = ", ".join(choice.effects.labels[i] for i in sorted(drop)) or "none"
    return _fit(analysis, choice.yi[keep], choice.vi[keep], len(keep), f"{rule}; removed: {names}")


def outliers(choice: ModelChoice, pooled) -> set:
    """Trials whose 95% CI does not overlap the pooled 95% CI (Harrer et al. 2021, ch. 5.4.1)."""
    half = Z95 * np.sqrt(choice.vi)
    return {i for i, (g, h) in enumerate(zip(choice.yi, half))
            if g + h < pooled.ci_lower or g - h > pooled.ci_upper}


def influential(choice: ModelChoice) -> set:
    """Trials metafor's influence() flags (Viechtbauer & Cheung 2010; DFFITS, Cook's D, hat, DFBETAS)."""
    from ..analyses.sensitivity import influence

    return {i for i, row in enumerate(influence(choice.yi, choice.vi, method=METHOD)) if row.influential}


def _per_trial(analysis, rows, pick):
    """One row per trial: the row with the lowest (``min``) or highest (``max``) g."""
    chosen = {}
    for row in rows:
        best = chosen.get(row["study_id"])
        if best is None or pick(row["yi"], best["yi"]) == row["yi"] != best["yi"]:
            chosen[row["study_id"]] = row
    picked = list(chosen.values())
    return _fit(analysis, [row["yi"] for row in picked], [row["vi"] for row in picked], len(picked))


def _is_low_risk(row, low_values, evidence) -> bool:
    """RoB 2 overall low where rob2.csv judges the row; else its risk-of-bias note
    (``risk_of_bias_source`` of a study table, ``risk_of_bias`` of a teaching table) starting with
    one of ``low_values``."""
    overall = rob2_overall(evidence, row.get("es_id"))
    if overall is not None:
        return overall == "low"
    note = str(row.get("risk_of_bias_source") or row.get("risk_of_bias") or "").lower()
    return note.startswith(tuple(value.lower() for value in low_values))


def _low_risk(rows, labels, low_values, rho, ci_method, evidence=None):
    """The trials at low risk of bias (:func:`_is_low_risk`)."""
    low = [row for row in rows if _is_low_risk(row, low_values, evidence)]
    judged = sum(rob2_overall(evidence, row.get("es_id")) is not None for row in rows)
    note = f"risk-of-bias note starting with {' or '.join(low_values)}"
    if judged:
        note = f"RoB 2 overall low ({judged} of {len(rows)} rows judged in rob2.csv)" + (
            f"; other rows: {note}" if judged < len(rows) else "")
    if len({row["study_id"] for row in low}) < 2:
        return _none("low risk of bias", len({row["study_id"] for row in low}), len(low),
                     note + "; fewer than 2 trials")
    choice = choose_model(low, labels, rho=rho, ci_method=ci_method)
    if choice.dependent:
        return _fit("low risk of bias", choice.effects.rows_yi, choice.effects.rows_vi, len(low),
                    note + "; " + choice.name, cluster=choice.effects.row_trials, rho=rho,
                    groups=choice.effects.row_groups)
    return _fit("low risk of bias", choice.yi, choice.vi, len(low), note)


def case_deletion_note(k: int, plan) -> str | None:
    """Why leave-one-out and the influence diagnostics (k refits of k trials) are not computed for
    ``k`` trials: above the plan's large_subsets.case_deletion_max_trials; else None."""
    limit = plan.large_subsets["case_deletion_max_trials"]
    if k <= limit:
        return None
    return (f"k = {k} > {limit}: leave-one-out and influence diagnostics not computed (analysis plan, "
            "large_subsets.case_deletion_max_trials)")


def _removals(choice: ModelChoice, pooled, k_rows, plan) -> list:
    """Outliers removed and influential cases removed (each needs k >= 3 trials; influence
    diagnostics up to the plan's large_subsets.case_deletion_max_trials)."""
    k = len(choice.yi)
    if k < 3:
        return [_none(name, k, k_rows, f"needs at least 3 trials (k = {k})")
                for name in ("outliers removed", "influential removed")]
    fits = [_without("outliers removed", choice, outliers(choice, pooled),
                     "trial 95% CI outside the pooled 95% CI")]
    too_many = case_deletion_note(k, plan)
    if too_many:
        return fits + [_none("influential removed", k, k_rows, too_many)]
    try:
        fits.append(_without("influential removed", choice, influential(choice), "metafor influence()"))
    except CompassmetaError as error:
        fits.append(_none("influential removed", k, k_rows, f"not estimable: {error}"))
    return fits


def sensitivity_set(choice: ModelChoice, pooled, rows, labels, plan, *, rho=None, ci_method="z",
                    evidence=None) -> tuple:
    """The sensitivity set of a pooled subset (``choice`` its model, ``pooled`` its fit), each
    entry a :class:`SensitivityFit` with k: outlier and influence rules need k >= 3 trials; the
    three-level and CHE models (rho from the plan) run on every row where a trial gives several (the
    one that is the subset's pooled model, with z inference, is that fit, not fitted twice).
    Only the analyses the plan lists (``sensitivity.analyses``) are returned; ``evidence`` holds
    the RoB 2 judgements that decide "low risk of bias"."""
    k, effects = len(choice.yi), choice.effects
    fits = [SensitivityFit(analysis="all trials", k=k, k_rows=len(rows), estimate=float(pooled.estimate),
                           ci_lower=float(pooled.ci_lower), ci_upper=float(pooled.ci_upper),
                           note=choice.name)]
    fits += _removals(choice, pooled, len(rows), plan)
    fits += [_low_risk(rows, labels, plan.low_risk_of_bias, rho, ci_method, evidence),
             _per_trial("lowest per trial", rows, min), _per_trial("highest per trial", rows, max)]
    several = len(effects.row_trials) > len(effects.trials)
    for name, model_rho in (("three-level", None), ("CHE", plan.rho if rho is None else rho)):
        if not several:
            fits.append(_none(name, k, len(rows), "not applicable: every trial gives one row"))
            continue
        note = "every row" + (f", rho = {model_rho:g}" if model_rho is not None else "")
        if choice.dependent and model_rho == choice.rho and choice.ci_method == "z":   # the pooled model
            fits.append(SensitivityFit(analysis=name, k=k, k_rows=len(rows), estimate=float(pooled.estimate),
                                       ci_lower=float(pooled.ci_lower), ci_upper=float(pooled.ci_upper),
                                       note=note))
            continue
        fits.append(_fit(name, effects.rows_yi, effects.rows_vi, len(rows), note, cluster=effects.row_trials,
                         rho=model_rho, groups=effects.row_groups))
    return tuple(fit for fit in fits if fit.analysis in plan.sensitivity)
