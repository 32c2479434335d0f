"""The certainty of a subset's evidence: its trials' RoB 2 judgements (``studies/rob2.csv``), its
GRADE rating (:mod:`compassmeta.analyses.grade`, rules from the plan's ``[grade]`` table) and its
Bayesian random-effects estimate (:mod:`compassmeta.models.bayes`, tau prior from the plan's
``[bayes]`` table)."""
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..analyses.grade import GradeRating, GradeRules, grade_model
from ..common.errors import CompassmetaError, InputError
from ..common.results import PooledModel
from ..data.plan import Plan
from ..data.rob2 import DOMAINS, load_rob2, ratings_for_rows
from .results import BayesianEstimate, BiasCheck, RobJudgement, SubsetEffects
from .subsets import ModelChoice

ROB2_FILE = "rob2.csv"
#: The thresholds of the Bayesian answer (P(g > x)): no effect and the GRADE default MID.
THRESHOLDS = (0.0, 0.2)


@dataclass(frozen=True)
class Evidence:
    """What a report reads once for every subset: the RoB 2 ratings by es_id ((d1..d5, overall),
    None where rob2.csv does not judge the row), the GRADE rules and the Bayesian tau prior."""

    rob2: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    rules: GradeRules = field(default_factory=GradeRules)
    tau_prior: str = "halfnormal:0.5"
    rob2_file: str | None = None


def load_evidence(plan: Plan, rows: Sequence[Mapping[str, Any]], folder: str | os.PathLike[str]) -> Evidence:
    """The :class:`Evidence` of a report: ``folder``/rob2.csv (if there) judged against ``rows``,
    the plan's [grade] rules and [bayes] tau prior (a bad prior is an error naming the plan)."""
    from ..models.bayes_priors import parse_tau_prior

    try:
        parse_tau_prior(plan.bayes_tau_prior)
    except InputError as error:
        raise InputError(f"bayes.tau_prior: {error}", file=plan.path, column="bayes.tau_prior") from None
    rules = GradeRules.from_mapping(plan.grade, file=plan.path)
    path = Path(folder) / ROB2_FILE
    rob2: dict[str, tuple[str, ...] | None] = {}
    if path.is_file():
        rob2 = dict(zip((row["es_id"] for row in rows), ratings_for_rows(load_rob2(path), rows)))
    return Evidence(rob2=rob2, rules=rules, tau_prior=plan.bayes_tau_prior,
                    rob2_file=str(path) if path.is_file() else None)


def rob2_overall(evidence: Evidence | None, es_id: str) -> str | None:
    """The RoB 2 overall judgement of a row (None where rob2.csv does not judge it)."""
    ratings = (evidence.rob2 if evidence is not None else {}).get(es_id)
    return ratings[-1] if ratings else None


def judged_rows(effects: SubsetEffects, evidence: Evidence) -> tuple:
    """The RoB 2 judgements of a subset's rows (those rob2.csv judges), in the subset's row order."""
    judged: list[RobJudgement] = []
    for es_id, label, trial in zip(effects.es_ids, effects.row_labels, effects.row_trials):
        ratings = evidence.rob2.get(es_id)
        if ratings:
            judged.append(RobJudgement(es_id=es_id, label=f"{trial}: {label}" if label else trial,
                                       domains=dict(zip(DOMAINS, ratings[:-1])), overall=ratings[-1]))
    return tuple(judged)


def row_weights(choice: ModelChoice, pooled: PooledModel) -> list:
    """Each row's share in the pooled estimate: the row sums of the inverse marginal covariance
    of its trial, M = tau^2 (or sigma^2 between) J + sigma^2 within I + V, V the sampling
    covariance (rho sqrt(v_i v_j) off the diagonal for the CHE model); the pooled estimate is
    sum w_i y_i / sum w_i (generalised least squares; Konstantopoulos 2011).  One effect per
    trial: 1 / (v_i + tau^2)."""
    components = {c.name: c.variance for c in pooled.heterogeneity().components}
    between = components.get("tau2", components.get("sigma2_between", 0.0))
    within = components.get("sigma2_within", 0.0)
    effects = choice.effects
    if not choice.dependent:
        return [1.0 / (v + between) for v in effects.vi]
    vi = np.array(effects.rows_vi)
    weights = np.empty(vi.size)
    rows_of: dict = {}   # each trial's row indices, in one pass
    for index, trial in enumerate(effects.row_trials):
        rows_of.setdefault(trial, []).append(index)
    of_size: dict = {}   # the trials of m rows together: their m x m matrices inverted as one stack
    for members in rows_of.values():
        of_size.setdefault(len(members), []).append(members)
    for m, trials in of_size.items():
        members = np.array(trials)                       # (trials, m) row indices
        roots = np.sqrt(vi[members])
        sampling = roots[:, :, None] * roots[:, None, :] * (choice.rho or 0.0)
        sampling[:, np.arange(m), np.arange(m)] = vi[members]
        marginal = between + within * np.eye(m) + sampling
        weights[members] = np.linalg.inv(marginal).sum(axis=2)
    return weights.tolist()


def subset_grade(key: str, choice: ModelChoice, pooled: PooledModel, bias: Iterable[BiasCheck],
                 evidence: Evidence, n_total: float | None) -> GradeRating:
    """The GRADE rating of a pooled subset: per row (one per trial where no trial gives several)
    its pooled weight and RoB 2 overall, the trials' participants and Egger's p (when run)."""
    rob = [rob2_overall(evidence, es_id) for es_id in choice.effects.es_ids]
    egger = next((check.p_value for check in bias if check.analysis == "Egger's regression test"), None)
    return grade_model(key, pooled, weights=row_weights(choice, pooled), rob=rob, n_total=n_total,
                       bias_p=egger, rules=evidence.rules)


def subset_bayes(choice: ModelChoice, evidence: Evidence) -> BayesianEstimate | None:
    """The Bayesian random-effects estimate on one effect per trial (bayesmeta's model, the plan's
    tau prior, flat prior on mu): posterior median and 95% central interval of mu, the 95%
    predictive interval, tau, P(mu > 0) and P(mu > 0.2); None below 2 trials."""
    from ..models.bayes import bayes_meta

    if len(choice.yi) < 2:
        return None
    try:
        fit = bayes_meta(choice.yi, choice.vi, evidence.tau_prior, shrinkage=False)
    except CompassmetaError:
        return None
    mu, pi = fit.pooled_estimate(), fit.prediction_interval()
    return BayesianEstimate(
        prior=fit.prior["tau_label"], tau_prior=fit.prior["tau"], mu_prior=fit.prior["mu"], k=fit.k,
        estimate=mu.estimate, ci_lower=mu.ci_lower, ci_upper=mu.ci_upper, pi_lower=pi[0], pi_upper=pi[1],
        tau=fit.tau.median, tau_ci_lower=fit.tau.ci_lower, tau_ci_upper=fit.tau.ci_upper,
        prob_above_0=fit.probability_above(THRESHOLDS[0]), prob_above_02=fit.probability_above(THRESHOLDS[1]),
        converged=fit.converged)
