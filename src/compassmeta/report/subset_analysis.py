"""The analyses of one subset: the pooled model, publication bias and leave-one-out.

:func:`bias_analyses` holds the decision which publication-bias analyses run on a subset."""
from dataclasses import replace

import numpy as np

from ..common.errors import CompassmetaError, ConvergenceError, InputError
from ..common.results import PooledModel
from ..data.plan import load_plan, small_df_warning
from ..models.sharedgroups import ArmGroups
from .evidence import Evidence, judged_rows, subset_bayes, subset_grade
from .numbers import interval_text, p_text
from .results import BiasCheck, LeaveOneOutRange, SubsetAnalysis
from .rows import participants
from .sensitivity_set import case_deletion_note, sensitivity_set
from .settings import FEW_FOR_BIAS, METHOD
from .subsets import ModelChoice, choose_model


def model_converged(pooled: PooledModel) -> bool:
    """Whether the pooled model's estimation converged (:class:`PooledModel`'s ``converged``)."""
    return pooled.converged


def model_notes(choice: ModelChoice, pooled: PooledModel) -> list:
    """The notes of a multilevel model's fit (its boundary and estimation remarks); none for
    one effect per trial."""
    return list(pooled.notes) if choice.dependent else []


def _checks_of_independent_effects(choice, pooled):
    """Egger's regression test, trim-and-fill and PET-PEESE on one effect per trial."""
    from ..analyses.bias import pet_peese, regression_test, trim_and_fill

    egger = regression_test(choice.yi, choice.vi, model="lm", predictor="sei")
    filled = trim_and_fill(choice.yi, choice.vi, method=METHOD)
    limits = pet_peese(choice.yi, choice.vi)
    return (
        BiasCheck(analysis="Egger's regression test", p_value=egger.p_value, adjusted_estimate=None,
                  adjusted_ci_lower=None, adjusted_ci_upper=None, flag=egger.p_value < 0.10,
                  summary=f"bias coefficient {egger.intercept:.2f} (SE {egger.se:.2f}), "
                          f"{p_text(egger.p_value)}"),
        BiasCheck(analysis="Trim-and-fill", p_value=None, adjusted_estimate=filled.estimate,
                  adjusted_ci_lower=filled.ci_lower, adjusted_ci_upper=filled.ci_upper, flag=filled.k0 > 0,
                  summary=f"{filled.k0} trial(s) imputed on the {filled.side}; adjusted g = "
                          f"{interval_text(filled.estimate, filled.ci_lower, filled.ci_upper)}"),
        BiasCheck(analysis="PET-PEESE", p_value=None, adjusted_estimate=limits.estimate,
                  adjusted_ci_lower=limits.ci_lower, adjusted_ci_upper=limits.ci_upper,
                  flag=(limits.ci_lower <= 0 <= limits.ci_upper
                        and not pooled.ci_lower <= 0 <= pooled.ci_upper),
                  summary=f"{limits.chosen} limit estimate g = "
                          f"{interval_text(limits.estimate, limits.ci_lower, limits.ci_upper)}; "
                          f"{limits.rule}"),
    )


def _selection_check(choice):
    """The 3PSM selection model (Vevea & Hedges 1995) on one effect per trial, or None; and its notes."""
    from ..analyses.selection import three_psm_or_note

    notes = []
    selection = three_psm_or_note(choice.yi, choice.vi, method="ML", notes=notes)
    if selection is None:
        return None, tuple(notes)
    check = BiasCheck(
        analysis="3PSM selection model", p_value=selection.lrt_p, adjusted_estimate=selection.estimate,
        adjusted_ci_lower=selection.ci_lower, adjusted_ci_upper=selection.ci_upper,
        flag=selection.lrt_p < 0.10,
        summary=f"adjusted g = {interval_text(selection.estimate, selection.ci_lower, selection.ci_upper)}; "
                "trials with one-sided p > 0.025 published with relative likelihood "
                f"{selection.delta[1]:.2f}; "
                f"LRT({selection.lrt_df}) = {selection.lrt:.2f}, {p_text(selection.lrt_p)}")
    return check, tuple(notes) + tuple(f"3PSM: {warning}" for warning in selection.warnings)


def bias_analyses(choice: ModelChoice, pooled) -> tuple[tuple, tuple]:
    """The publication-bias analyses of a subset, on one effect per trial: Egger's regression
    test, trim-and-fill, PET-PEESE (each needs k >= 3) and the 3PSM selection model (Vevea &
    Hedges 1995; metafor selmodel(type = "stepfun", steps = 0.025) on rma(method = "ML")),
    whose refusals (too few trials, no p-value in an interval) become notes; where trials
    contribute several rows, first Egger's test with the multilevel model on every row.
    Returns (checks, notes).

    Flags: Egger p < 0.10; trim-and-fill imputes trials; PET-PEESE's limit CI holds 0 while
    the pooled CI (``pooled``) does not (the effect may be a small-study effect); the 3PSM's
    likelihood-ratio test of selection p < 0.10."""
    k = choice.yi.size
    if k < 3:
        return (), (f"k = {k}: publication-bias analyses need at least 3 trials",)
    notes = ((f"k = {k} < {FEW_FOR_BIAS}: asymmetry tests have little power to tell chance from real "
              "asymmetry (Cochrane Handbook 13.3.5.4)"),) if k < FEW_FOR_BIAS else ()
    if np.ptp(choice.vi) == 0:
        return (), notes + ("every trial has the same standard error: the funnel has no spread, so "
                            "Egger's test, trim-and-fill and PET-PEESE are undefined",)
    try:
        checks = _checks_of_independent_effects(choice, pooled)
    except CompassmetaError as error:
        return (), notes + (f"publication-bias analyses failed: {error}",)
    selection, selection_notes = _selection_check(choice)
    checks += (selection,) if selection is not None else ()
    notes += selection_notes
    if choice.dependent:
        try:
            checks = (_multilevel_egger_check(choice),) + checks
        except CompassmetaError as error:
            notes += (f"Egger's test with the multilevel model not run: {error}",)
    return checks, notes


def _multilevel_egger_check(choice):
    """Egger's test on every row of a subset whose trials contribute several rows: the subset's
    multilevel model, with its shared control groups' covariance, and the standard error as
    moderator (Rodgers & Pustejovsky 2021)."""
    from ..analyses.bias import multilevel_regression_test

    effects = choice.effects
    test = multilevel_regression_test(np.array(effects.rows_yi), np.array(effects.rows_vi),
                                      list(effects.row_trials), method=METHOD, rho=choice.rho,
                                      ci_method=choice.ci_method, groups=effects.row_groups)
    return BiasCheck(analysis="Egger's test, multilevel model", p_value=test.p_value, adjusted_estimate=None,
                     adjusted_ci_lower=None, adjusted_ci_upper=None, flag=test.p_value < 0.10,
                     summary=f"every row ({test.k}): bias coefficient {test.intercept:.2f} "
                             f"(SE {test.se:.2f}), {p_text(test.p_value)}")


def leave_one_out_range(choice: ModelChoice) -> LeaveOneOutRange:
    """The lowest and highest pooled g with each trial left out (one effect per trial; metafor
    leave1out()), the k fits of k - 1 trials run together on the batched engine
    (:func:`compassmeta.analyses.sensitivity.batched_leave_one_out`)."""
    from ..analyses.case_deletion import batched_leave_one_out

    k = len(choice.yi)
    if k < 2:
        raise InputError(f"leave-one-out needs at least 2 studies, got {k}")
    estimates = np.empty(k)
    for left_out, fits in batched_leave_one_out(np.asarray(choice.yi), np.asarray(choice.vi), method=METHOD):
        estimates[left_out] = fits.estimate
    low, high = int(np.argmin(estimates)), int(np.argmax(estimates))
    labels = choice.effects.labels
    return LeaveOneOutRange(lowest=float(estimates[low]), lowest_without=str(labels[low]),
                            highest=float(estimates[high]), highest_without=str(labels[high]))


def _plan_notes(choice: ModelChoice, pooled, rows, plan) -> list:
    """The plan's small-k and dependence remarks on a pooled subset: CR2 df below the plan's
    minimum (Tipton 2015) and comparisons sharing a control group (Cochrane Handbook 23.3.4)."""
    warning = small_df_warning([pooled.pooled_estimate().df], plan) if choice.dependent and \
        choice.ci_method == "cr2" else None
    notes = [warning] if warning else []
    return notes + _shared_control_notes(choice, rows)


def _shared_control_notes(choice: ModelChoice, rows) -> list:
    """Which covariance a multi-arm trial's comparisons sharing a control group get: in the
    multilevel model, the shared group's from the arm sizes (Gleser & Olkin 2009; metafor
    vcalc(grp1, grp2, w1, w2)) where every such row gives them; else the trial's random effect
    or rho."""
    shared: dict = {}
    for row in rows:
        if row.get("control_arm") and row.get("arm"):
            shared.setdefault((row["study_id"], row["control_arm"]), []).append(row)
    notes = []
    for (study, control), members in shared.items():
        arms = {row["arm"] for row in members}
        if len(arms) < 2:
            continue
        label = next(row.get("label", study) for row in rows if row["study_id"] == study).split(":")[0]
        head = (f"{label}: {len(arms)} comparisons share one control group ({control}); their sampling "
                "errors are correlated (Gleser & Olkin 2009; Cochrane Handbook 23.3.4): ")
        arm_groups = ArmGroups.from_rows(members)
        sized = arm_groups is not None and bool(arm_groups.known.all())
        if choice.dependent and sized:
            notes.append(head + "the model (and Egger's multilevel test) uses the exact covariance of the "
                         "shared group from the arm sizes (metafor vcalc(grp1, grp2, w1, w2)), with the "
                         "trial's random effect"
                         + (" and rho (CHE) between different measures" if choice.rho is not None else ""))
        elif choice.dependent:
            notes.append(head + "a row lacks its arm sizes (n1, n2), so the model takes that dependence as "
                         "the trial's random effect (three-level) or the within-trial correlation rho (CHE), "
                         "not as the exact shared-group covariance")
        else:
            notes.append(head + "the trial's rows are averaged into one composite effect, not weighted by "
                         "the exact shared-group covariance")
    return notes


def _small_k(k, minimum) -> tuple[list, tuple]:
    """Notes and bias notes of a pooled subset below the plan's minimum k."""
    notes = []
    if k < minimum.heterogeneity:
        notes.append(f"k = {k} < {minimum.heterogeneity}: no prediction interval (null in the report's "
                     "JSON), heterogeneity, funnel plot or leave-one-out: too few trials to estimate the "
                     "spread of true effects (analysis plan, minimum_k.heterogeneity)")
    return notes, (f"not assessable (k < {minimum.publication_bias})",)


def _analysed(choice: ModelChoice, rows, labels: dict, plan, rho, ci_method, evidence, key, n_total) -> tuple:
    """The pooled model, notes, bias checks and notes, leave-one-out range, sensitivity set and
    GRADE rating of one subset by the plan's minimum k (see :func:`analyse_subset`; ``n_total``
    its participants)."""
    minimum = plan.minimum_k
    k = len(choice.effects.trials)
    notes, pooled, bias, bias_notes, loo, sensitivity, grade = [choice.note], None, (), (), None, (), None
    if k < minimum.pool:
        notes.append(f"k = {k} trial{'s' if k > 1 else ''}: not pooled (a pooled estimate needs at least "
                     f"{minimum.pool} trials)" + ("; the Bayesian estimate is given" if k > 1 else ""))
    else:
        try:
            pooled = choice.pool()
        except ConvergenceError as error:
            notes.append(f"not pooled: {error}")
    if pooled is not None:
        if not model_converged(pooled):
            notes.append(f"the {METHOD} estimate of tau^2 did not converge; the numbers are not reliable")
        notes += model_notes(choice, pooled) + _plan_notes(choice, pooled, rows, plan)
        small, bias_notes = _small_k(k, minimum)
        notes += small
        if k >= minimum.publication_bias:
            bias, bias_notes = bias_analyses(choice, pooled)
        too_many = case_deletion_note(k, plan)
        if too_many:
            notes.append(too_many)
        elif k >= max(3, minimum.heterogeneity):
            loo = leave_one_out_range(choice)
        sensitivity = sensitivity_set(choice, pooled, rows, labels, plan, rho=rho, ci_method=ci_method,
                                      evidence=evidence)
        grade = subset_grade(key, choice, pooled, bias, evidence, n_total)
        if k < minimum.heterogeneity:
            pooled = replace(pooled, pi_lower=None, pi_upper=None)
    return pooled, notes, bias, bias_notes, loo, sensitivity, grade


def analyse_subset(outcome: str, control: str, rows, labels: dict, *, rho: float | None = None,
                   ci_method: str = "z", plan=None, subset=None, evidence: Evidence | None = None
                   ) -> SubsetAnalysis:
    """Pool one subset (``subset``, a :class:`compassmeta.report.subsets.Subset`, names its
    timepoint window, SCS part and collection), with bias, leave-one-out and the sensitivity
    set; its ``effects`` are the data of its forest and funnel plots.

    The plan's minimum k (``plan``, default the shipped plan): no pooling below
    minimum_k.pool trials, no prediction interval, heterogeneity, funnel or leave-one-out below
    minimum_k.heterogeneity, publication-bias tests "not assessable" below minimum_k.publication_bias.
    A subset whose analysis fails (e.g. a leave-one-out fit that does not converge) is returned
    unpooled with the reason in its notes, so that the rest of the report is still written.
    ``evidence`` (RoB 2 judgements, GRADE rules, Bayesian prior; default: none judged, the GRADE
    defaults) gives the GRADE rating of a pooled subset and the Bayesian estimate from 2 trials."""
    plan = plan or load_plan()
    evidence = evidence or Evidence(tau_prior=plan.bayes_tau_prior)
    choice = choose_model(rows, labels, rho=rho, ci_method=ci_method)
    section_key = subset.key if subset is not None else f"{outcome} | {control}"
    n_total = participants(rows)
    try:
        analysed = _analysed(choice, rows, labels, plan, rho, ci_method, evidence, section_key, n_total)
        pooled, notes, bias, bias_notes, loo, sensitivity, grade = analysed
    except CompassmetaError as error:
        pooled, bias, bias_notes, loo, sensitivity, grade = None, (), (), None, (), None
        notes = [choice.note, f"analysis failed, no result reported for this subset: {error}"]
    return SubsetAnalysis(key=section_key, outcome=outcome, control=control,
                          timepoint=subset.section.window if subset is not None else None,
                          component=subset.component if subset is not None else None, comparator=control,
                          collection=subset.section.collection if subset is not None else None,
                          es_ids=tuple(row.get("es_id") for row in rows), k_trials=len(choice.effects.trials),
                          k_rows=len(rows), n_participants=n_total, model=choice.name,
                          dependent=choice.dependent, pooled=pooled, bias=bias, bias_notes=bias_notes,
                          leave_one_out=loo, same_trials_as=None, notes=tuple(notes), effects=choice.effects,
                          sensitivity=sensitivity, grade=grade, bayes=subset_bayes(choice, evidence),
                          rob2=judged_rows(choice.effects, evidence))
