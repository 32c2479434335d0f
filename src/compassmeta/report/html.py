"""The living-evidence report: every analysis of the study tables, as numbers and as one HTML page.

:func:`build_report` does the work (fits, bias analyses, leave-one-out, moderators, figures,
reproduction, provenance, changes since a previous run) and returns an immutable
:class:`Report`; ``Report.to_dict()`` is the JSON written beside the page, and
:func:`render_html` turns the report into a self-contained page (inline SVG, CSS and a
little vanilla JavaScript; no network).

Two functions hold the analysis decisions the project will change as models are added:
:func:`choose_model` (how one outcome x control subset is pooled) and
:func:`bias_analyses` (which publication-bias analyses run on it).
"""
import datetime
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..common.errors import CompassmetaError, InputError
from ..common.files import read_json
from ..common.results import INTERNAL, Result
from ..data.aggregate import DEFAULT_WITHIN_STUDY_R, aggregate_by
from ..data.studytable import load_study_table
from ..models.dependent import MultilevelPooledResult
from ..models.moderators import is_numeric, meta_regression, subgroup_analysis
from ..models.pooling import PooledResult, pool

METHOD = "REML"
WITHIN_TRIAL_R = DEFAULT_WITHIN_STUDY_R  # assumed correlation of a trial's outcomes (Borenstein et al. 2009, ch. 24)
CONTROLS = ("all", "passive", "active")
FEW_FOR_BIAS = 10               # under this, asymmetry tests have little power (Cochrane Handbook 13.3.5.4)
#: Moderator columns explored, with the name shown on the page.
MODERATORS = (("control_type", "control type"), ("population", "population"),
              ("intervention_class", "intervention class"), ("format", "format"), ("sessions", "sessions"),
              ("intervention_duration", "duration"), ("risk_of_bias", "risk of bias"),
              ("analysis_set", "analysis set"), ("year", "year"))
SELF_COMPASSION = ("self_compassion", "self-compassion")
LEADING_OUTCOMES = ("self-compassion", "depression", "anxiety")   # the report's first sections


# ----------------------------------------------------------------------------- result objects

@dataclass(frozen=True)
class TableVersion(Result):
    """One input table: where it is, its sha256 (the data version) and its number of rows."""

    path: str
    sha256: str
    rows: int


@dataclass(frozen=True)
class TrialSource(Result):
    """Provenance of one trial: citation, DOI and where each of its numbers came from."""

    study_id: str
    label: str
    citation: str
    doi: str | None
    es_ids: tuple
    sources: tuple
    source_doi: str | None
    table: str


@dataclass(frozen=True)
class BiasCheck(Result):
    """One publication-bias analysis of a subset; ``flag`` marks a sign of small-study effects."""

    analysis: str
    summary: str
    p_value: float | None
    adjusted_estimate: float | None
    adjusted_ci_lower: float | None
    adjusted_ci_upper: float | None
    flag: bool


@dataclass(frozen=True)
class LeaveOneOutRange(Result):
    """The lowest and highest pooled g when each trial is left out in turn."""

    lowest: float
    lowest_without: str
    highest: float
    highest_without: str


@dataclass(frozen=True)
class SubsetAnalysis(Result):
    """Everything about one outcome x control-type subset."""

    key: str
    outcome: str
    control: str
    k_trials: int
    k_rows: int
    n_participants: int | None
    model: str
    dependent: bool
    pooled: PooledResult | MultilevelPooledResult | None
    bias: tuple
    bias_notes: tuple
    leave_one_out: LeaveOneOutRange | None
    same_trials_as: str | None
    notes: tuple
    figures: dict = field(default_factory=dict, repr=False, compare=False, metadata=INTERNAL)


@dataclass(frozen=True)
class ModeratorAnalysis(Result):
    """A subgroup analysis (categorical) or meta-regression (numeric) of one outcome on one moderator."""

    outcome: str
    moderator: str
    column: str
    kind: str                   # "subgroup", "meta-regression" or "not analysed"
    k_trials: int
    result: Result | None
    note: str
    figure: str = field(default="", repr=False, compare=False, metadata=INTERNAL)


@dataclass(frozen=True)
class PooledMove(Result):
    """How one pooled g moved since the previous report (None where a side has no estimate)."""

    key: str
    previous: float | None
    current: float | None
    change: float | None


@dataclass(frozen=True)
class Changes(Result):
    """What changed since the previous report (rows by ``es_id``, tables by sha256)."""

    previous_generated: str | None
    previous_tables: tuple
    added: tuple
    changed: tuple
    removed: tuple
    pooled_moves: tuple


@dataclass(frozen=True)
class Report(Result):
    """All numbers of one report run; ``to_dict()`` is the JSON written beside the HTML."""

    generated: str
    method: str
    within_trial_r: float
    rho: float | None
    ci_method: str
    tables: tuple
    analyses: tuple
    moderators: tuple
    trials: tuple
    reproduction: Result | None
    reproduction_note: str
    row_digests: dict
    changes: Changes | None
    warnings: tuple


# ----------------------------------------------------------------------------- the rows

def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _row_digest(row):
    """A short fingerprint of a row's cells, so the next report can tell a changed row."""
    text = json.dumps({name: row[name] for name in sorted(row) if name not in ("yi", "vi", "table")},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def outcome_of(row):
    """The outcome group of a row: its ``outcome``, split by SCS component for self-compassion."""
    outcome = row["outcome"]
    component = row.get("scs_component")
    if outcome in SELF_COMPASSION:
        return f"self-compassion: {component.replace('_', ' ')}" if component else "self-compassion"
    return outcome.replace("_", " ")


def trial_label(row):
    """First author and year from the citation ('Aguilar-Raab 2023'); the study id as a fallback."""
    head = re.split(r"[,(]", row.get("citation") or "")[0].replace("et al.", "")
    words = head.split()
    while words and re.fullmatch(r"(?:[A-Z]{1,3}|(?:[A-Z]\.-?)+)", words[-1]):
        words.pop()  # trailing initials
    name = " ".join(words) or row["study_id"]
    return f"{name} {row['year']}" if row.get("year") else name


def load_rows(paths):
    """Typed rows of every table (with ``yi``, ``vi`` and ``table``), each table's version and
    the validation warnings."""
    rows, versions, warnings = [], [], []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise InputError("no such file", file=path)
        table = load_study_table(path, resource="thirdwave" if path.stem == "thirdwave" else "trials")
        versions.append(TableVersion(path=str(path), sha256=_sha256(path), rows=len(table)))
        warnings += [str(problem) for problem in table.warnings]
        for row, g, v in zip(table.rows, table.yi, table.vi):
            rows.append(dict(row, yi=float(g), vi=float(v), table=str(path)))
    seen = {}
    for row in rows:
        if row["es_id"] in seen:
            raise InputError(f"es_id '{row['es_id']}' is also in {seen[row['es_id']]}", file=row["table"],
                             column="es_id")
        seen[row["es_id"]] = row["table"]
    return rows, tuple(versions), tuple(warnings)


def _unique_labels(rows):
    """One label per trial; equal labels of different trials get their study id added."""
    labels = {}
    for row in rows:
        labels.setdefault(row["study_id"], trial_label(row))
    counts = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    return {study: (label if counts[label] == 1 else f"{label} ({study})") for study, label in labels.items()}


# ----------------------------------------------------------------------------- the decisions

@dataclass(frozen=True)
class ModelChoice:
    """How one subset is pooled.

    ``yi``, ``vi``, ``labels``, ``trials``: one effect per trial (a trial's several rows
    averaged), the input of the analyses that assume independent effects (bias, leave-one-out).
    ``rows_yi``, ``rows_vi``, ``row_trials``, ``row_labels``: every row, in trial order, for the
    multilevel model when ``dependent`` (some trial contributes several rows)."""

    name: str
    note: str
    yi: np.ndarray
    vi: np.ndarray
    labels: tuple
    trials: tuple
    dependent: bool = False
    rows_yi: np.ndarray = None
    rows_vi: np.ndarray = None
    row_trials: tuple = ()
    row_labels: tuple = ()
    rho: float | None = None
    ci_method: str = "z"

    def pool(self):
        """One effect per trial: rma(yi, vi, method="REML"); dependent rows: the three-level model
        (metafor rma.mv, random = ~ 1 | study_id/es_id) or, with ``rho``, the CHE model."""
        if self.dependent:
            return pool(self.rows_yi, self.rows_vi, cluster=list(self.row_trials), method=METHOD, rho=self.rho,
                        ci_method=self.ci_method)
        return pool(self.yi, self.vi, method=METHOD)


def _row_label(row):
    """What tells a trial's rows apart: instrument, SCS component, time point."""
    parts = [row.get("instrument") or row["es_id"], row.get("scs_component"),
             row.get("timepoint") if row.get("timepoint") not in (None, "", "post") else None]
    return ", ".join(str(part) for part in parts if part)


def choose_model(rows, labels=None, *, rho=None, ci_method="z"):
    """The model the rows need.  Where every trial gives one row: a random-effects model (REML,
    Wald z) on one effect per trial.  Where a trial contributes several rows: the three-level
    model (REML; Konstantopoulos 2011, metafor rma.mv with random = ~ 1 | study_id/es_id) on
    every row, or with ``rho`` the correlated-and-hierarchical-effects model (Pustejovsky &
    Tipton 2022; ``ci_method`` "cr2" for CR2 robust inference).  The one-effect-per-trial
    composites (averaged within trial assuming r = WITHIN_TRIAL_R, Borenstein et al. 2009,
    ch. 24) are kept for the analyses that assume independent effects."""
    labels = labels or _unique_labels(rows)
    combined = aggregate_by([row["study_id"] for row in rows], [row["yi"] for row in rows],
                            [row["vi"] for row in rows], r=WITHIN_TRIAL_R)
    trials = tuple(c[0] for c in combined)
    several = [(study, m) for study, _, _, m in combined if m > 1]
    trial_labels = tuple(labels[study] + (f" ({m} measures)" if m > 1 else "") for study, _, _, m in combined)
    per_trial = dict(yi=np.array([c[1] for c in combined]), vi=np.array([c[2] for c in combined]),
                     labels=trial_labels, trials=trials)
    if not several or len(trials) < 2:
        name = f"random effects ({METHOD}), one effect per trial"
        if several:
            note = (f"the one trial's {len(rows)} rows are averaged into one composite effect (r = "
                    f"{WITHIN_TRIAL_R}, Borenstein et al. 2009, ch. 24)")
        else:
            note = "every trial contributes one row"
        return ModelChoice(name=name, note=note, **per_trial)
    ordered = sorted(rows, key=lambda row: trials.index(row["study_id"]))
    model = (f"three-level model ({METHOD})" if rho is None
             else f"correlated and hierarchical effects model ({METHOD}, rho = {rho:g})")
    inference = ", CR2 robust inference" if ci_method == "cr2" else ""
    name = f"{model}{inference}, {len(rows)} rows in {len(trials)} trials"
    note = (f"{len(several)} trial(s) contribute several rows ({sum(m for _, m in several)} rows): the rows are "
            f"pooled by the {model.split(' (')[0]} (random effects for trial and for row within trial); "
            "Egger's test is also run on every row with that model; the other publication-bias analyses and "
            "leave-one-out assume independent effects, so they use one effect "
            f"per trial (a trial's rows averaged, r = {WITHIN_TRIAL_R}, Borenstein et al. 2009, ch. 24)")
    return ModelChoice(name=name, note=note, dependent=True, rho=rho, ci_method=ci_method,
                       rows_yi=np.array([row["yi"] for row in ordered]),
                       rows_vi=np.array([row["vi"] for row in ordered]),
                       row_trials=tuple(row["study_id"] for row in ordered),
                       row_labels=tuple(_row_label(row) for row in ordered), **per_trial)


def bias_analyses(choice, pooled):
    """The publication-bias analyses of a subset, on one effect per trial: Egger's regression
    test, trim-and-fill, PET-PEESE (each needs k >= 3) and the 3PSM selection model (Vevea &
    Hedges 1995; metafor selmodel(type = "stepfun", steps = 0.025) on rma(method = "ML")),
    whose refusals (too few trials, no p-value in an interval) become notes; where trials
    contribute several rows, first Egger's test with the multilevel model on every row.
    Returns (checks, notes).

    Flags: Egger p < 0.10; trim-and-fill imputes trials; PET-PEESE's limit CI holds 0 while
    the pooled CI (``pooled``) does not (the effect may be a small-study effect); the 3PSM's
    likelihood-ratio test of selection p < 0.10."""
    from ..analyses.bias import pet_peese, regression_test, trim_and_fill
    from ..analyses.selection import three_psm_or_note

    k = choice.yi.size
    if k < 3:
        return (), (f"k = {k}: publication-bias analyses need at least 3 trials",)
    notes = ((f"k = {k} < {FEW_FOR_BIAS}: asymmetry tests have little power to tell chance from real "
              "asymmetry (Cochrane Handbook 13.3.5.4)"),) if k < FEW_FOR_BIAS else ()
    if np.ptp(choice.vi) == 0:
        return (), notes + ("every trial has the same standard error: the funnel has no spread, so "
                            "Egger's test, trim-and-fill and PET-PEESE are undefined",)
    try:
        egger = regression_test(choice.yi, choice.vi, model="lm", predictor="sei")
        filled = trim_and_fill(choice.yi, choice.vi, method=METHOD)
        limits = pet_peese(choice.yi, choice.vi)
    except CompassmetaError as error:
        return (), notes + (f"publication-bias analyses failed: {error}",)
    checks = (
        BiasCheck(analysis="Egger's regression test", p_value=egger.p_value, adjusted_estimate=None,
                  adjusted_ci_lower=None, adjusted_ci_upper=None, flag=egger.p_value < 0.10,
                  summary=f"bias coefficient {egger.intercept:.2f} (SE {egger.se:.2f}), "
                          f"{_p_text(egger.p_value)}"),
        BiasCheck(analysis="Trim-and-fill", p_value=None, adjusted_estimate=filled.estimate,
                  adjusted_ci_lower=filled.ci_lower, adjusted_ci_upper=filled.ci_upper, flag=filled.k0 > 0,
                  summary=f"{filled.k0} trial(s) imputed on the {filled.side}; adjusted g = "
                          f"{_interval(filled.estimate, filled.ci_lower, filled.ci_upper)}"),
        BiasCheck(analysis="PET-PEESE", p_value=None, adjusted_estimate=limits.estimate,
                  adjusted_ci_lower=limits.ci_lower, adjusted_ci_upper=limits.ci_upper,
                  flag=(limits.ci_lower <= 0 <= limits.ci_upper
                        and not pooled.ci_lower <= 0 <= pooled.ci_upper),
                  summary=f"{limits.chosen} limit estimate g = "
                          f"{_interval(limits.estimate, limits.ci_lower, limits.ci_upper)}; {limits.rule}"),
    )
    selection_notes = []
    selection = three_psm_or_note(choice.yi, choice.vi, method="ML", notes=selection_notes)
    if selection is not None:
        checks += (BiasCheck(
            analysis="3PSM selection model", p_value=selection.lrt_p, adjusted_estimate=selection.estimate,
            adjusted_ci_lower=selection.ci_lower, adjusted_ci_upper=selection.ci_upper, flag=selection.lrt_p < 0.10,
            summary=f"adjusted g = {_interval(selection.estimate, selection.ci_lower, selection.ci_upper)}; "
                    f"trials with one-sided p > 0.025 published with relative likelihood {selection.delta[1]:.2f}; "
                    f"LRT({selection.lrt_df}) = {selection.lrt:.2f}, {_p_text(selection.lrt_p)}"),)
    notes += tuple(selection_notes) + tuple(f"3PSM: {warning}" for warning in (selection.warnings if selection else ()))
    if choice.dependent:
        try:
            checks = (_multilevel_egger_check(choice),) + checks
        except CompassmetaError as error:
            notes += (f"Egger's test with the multilevel model not run: {error}",)
    return checks, notes


def _multilevel_egger_check(choice):
    """Egger's test on every row of a subset whose trials contribute several rows: the subset's
    multilevel model with the standard error as moderator (Rodgers & Pustejovsky 2021)."""
    from ..analyses.bias import multilevel_regression_test

    test = multilevel_regression_test(choice.rows_yi, choice.rows_vi, list(choice.row_trials), method=METHOD,
                                      rho=choice.rho, ci_method=choice.ci_method)
    return BiasCheck(analysis="Egger's test, multilevel model", p_value=test.p_value, adjusted_estimate=None,
                     adjusted_ci_lower=None, adjusted_ci_upper=None, flag=test.p_value < 0.10,
                     summary=f"every row ({test.k}): bias coefficient {test.intercept:.2f} (SE {test.se:.2f}), "
                             f"{_p_text(test.p_value)}")


def _p_text(p):
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _interval(estimate, lower, upper):
    return f"{estimate:.2f} [{lower:.2f}, {upper:.2f}]"


# ----------------------------------------------------------------------------- building

def _participants(rows):
    """Participants over trials (the largest n1 + n2 among a trial's rows); None if a trial lacks n."""
    per_trial = {}
    for row in rows:
        n = None if row.get("n1") is None or row.get("n2") is None else row["n1"] + row["n2"]
        if n is None:
            return None
        per_trial[row["study_id"]] = max(per_trial.get(row["study_id"], 0), n)
    return int(sum(per_trial.values()))


def _leave_one_out_range(choice):
    from ..analyses.sensitivity import leave_one_out

    fits = leave_one_out(choice.yi, choice.vi, choice.labels, method=METHOD)
    low = min(fits, key=lambda fit: fit.estimate)
    high = max(fits, key=lambda fit: fit.estimate)
    return LeaveOneOutRange(lowest=low.estimate, lowest_without=low.omitted, highest=high.estimate,
                            highest_without=high.omitted)


def analyse_subset(outcome, control, rows, labels, *, rho=None, ci_method="z"):
    """Pool one outcome x control subset, with bias, leave-one-out and its forest and funnel plots.

    Subsets too small say so: k < 2 trials are not pooled, bias needs k >= 3, leave-one-out k >= 3."""
    from ..common.errors import ConvergenceError

    choice = choose_model(rows, labels, rho=rho, ci_method=ci_method)
    k = len(choice.trials)
    notes, pooled, bias, bias_notes, loo, figures = [choice.note], None, (), (), None, {}
    if k < 2:
        notes.append(f"k = {k} trial: not pooled (a pooled estimate needs at least 2 trials)")
    else:
        try:
            pooled = choice.pool()
        except ConvergenceError as error:
            notes.append(f"not pooled: {error}")
    if pooled is not None:
        if not getattr(pooled, "converged", True):
            notes.append(f"the {METHOD} estimate of tau^2 did not converge; the numbers are not reliable")
        notes += list(pooled.notes) if choice.dependent else []
        bias, bias_notes = bias_analyses(choice, pooled)
        if k >= 3:
            loo = _leave_one_out_range(choice)
        else:
            notes.append("leave-one-out needs at least 3 trials")
        figures = _subset_figures(choice, pooled, outcome, control)
    return SubsetAnalysis(key=f"{outcome} | {control}", outcome=outcome, control=control, k_trials=k,
                          k_rows=len(rows), n_participants=_participants(rows), model=choice.name,
                          dependent=choice.dependent, pooled=pooled, bias=bias, bias_notes=bias_notes,
                          leave_one_out=loo, same_trials_as=None, notes=tuple(notes), figures=figures)


def _dependent_forest(choice, pooled, title):
    """Forest plot of a dependent subset: a trial's rows together under its name, the multilevel
    pooled g as the diamond.  Returns (figure, caption)."""
    from .. import plots

    labels = dict(zip(choice.trials, choice.labels))
    figure = plots.cluster_forest_plot(choice.rows_yi, choice.rows_vi, choice.row_labels, choice.row_trials,
                                       labels, method=METHOD, overall=pooled,
                                       overall_label=choice.name.split(",")[0], title=title)
    return figure, ("A trial's rows are grouped under its name (squares sized by their univariate weight); "
                    "diamond: the multilevel pooled g; bar below it: its 95% prediction interval.")


def _subset_figures(choice, pooled, outcome, control):
    """SVG forest and funnel plots and the forest's caption.  The funnel shows one effect per
    trial, as the bias analyses use."""
    from ..plots import forest_plot, funnel_plot
    from ..plots.common import svg_text

    title = f"{outcome}, {control} controls" if control != "all" else f"{outcome}, all controls"
    if choice.dependent:
        forest, caption = _dependent_forest(choice, pooled, f"Forest plot: {title}")
    else:
        forest, caption = forest_plot(choice.yi, choice.vi, choice.labels, method=METHOD,
                                      title=f"Forest plot: {title}"), FIGURE_CAPTIONS["forest"]
    return {"forest": svg_text(forest), "forest-caption": caption,
            "funnel": svg_text(funnel_plot(choice.yi, choice.vi, method=METHOD, trimfill=choice.yi.size >= 3,
                                           title=f"Funnel plot: {title}"))}


def analyse_moderator(outcome, column, name, rows, labels):
    """Subgroup analysis (text moderator) or meta-regression (numeric) of one outcome's trials.

    Each trial enters once per moderator value (rows of a trial with one value are averaged as in
    :func:`choose_model`); trials without a value are left out and counted in the note."""
    from ..plots import bubble_plot, subgroup_forest_plot
    from ..plots.common import svg_text

    present = [row for row in rows if row.get(column) not in (None, "")]
    missing = len({row["study_id"] for row in rows}) - len({row["study_id"] for row in present})
    keys = [(row["study_id"], row[column]) for row in present]
    combined = aggregate_by(keys, [row["yi"] for row in present], [row["vi"] for row in present],
                            r=WITHIN_TRIAL_R)
    values = [key[1] for key, _, _, _ in combined]
    yi, vi = np.array([c[1] for c in combined]), np.array([c[2] for c in combined])
    trial_names = [labels[key[0]] for key, _, _, _ in combined]
    k, levels = len(combined), sorted(set(map(str, values)))
    note = f"{missing} trial(s) without a {name} value left out; " if missing else ""
    numeric = bool(values) and is_numeric(values)

    def not_analysed(reason):
        return ModeratorAnalysis(outcome=outcome, moderator=name, column=column, kind="not analysed",
                                 k_trials=k, result=None, note=note + reason)

    if not levels:
        return replace(not_analysed(""), note=f"not analysed: no trial has a {name} value")
    if len(levels) < 2:
        return not_analysed(f"not analysed: the {k} trial(s) with a value share one value ('{levels[0]}')")
    if k < 3:
        return not_analysed(f"not analysed: {k} trials (a moderator analysis needs at least 3)")
    try:
        if numeric:
            result = meta_regression(yi, vi, {column: values}, method=METHOD)
            figure = bubble_plot(yi, vi, values, name, method=METHOD, title=f"{outcome}: meta-regression on {name}")
        else:
            result = subgroup_analysis(yi, vi, [str(v) for v in values], by=name, method=METHOD)
            figure = subgroup_forest_plot(yi, vi, trial_names, [str(v) for v in values], by=name, method=METHOD,
                                          title=f"{outcome}: subgroups by {name}")
    except CompassmetaError as error:
        return not_analysed(f"not analysed: {error}")
    kind = "meta-regression" if numeric else "subgroup"
    return ModeratorAnalysis(outcome=outcome, moderator=name, column=column, kind=kind, k_trials=k,
                             result=result, note=note + f"{kind} analysis of {k} trial comparisons",
                             figure=svg_text(figure))


def trial_sources(rows, labels):
    """Provenance of every trial, in order of first appearance."""
    trials = {}
    for row in rows:
        trials.setdefault(row["study_id"], []).append(row)
    return tuple(TrialSource(study_id=study, label=labels[study], citation=members[0]["citation"],
                             doi=members[0].get("doi"), es_ids=tuple(row["es_id"] for row in members),
                             sources=tuple(dict.fromkeys(row["source"] for row in members)),
                             source_doi=members[0].get("source_doi"), table=members[0]["table"])
                 for study, members in trials.items())


def changes_since(previous, row_digests, analyses):
    """Rows added, changed and removed (by es_id) and how each pooled g moved since ``previous``
    (the dictionary of an earlier report's JSON)."""
    before = previous.get("row_digests") or {}
    old_estimates = {item["key"]: (item.get("pooled") or {}).get("estimate") for item in previous.get("analyses", ())}
    new_estimates = {item.key: item.pooled.estimate if item.pooled else None for item in analyses}
    moves = []
    for key in dict.fromkeys([*new_estimates, *old_estimates]):
        old, new = old_estimates.get(key), new_estimates.get(key)
        moves.append(PooledMove(key=key, previous=old, current=new,
                                change=None if old is None or new is None else new - old))
    return Changes(previous_generated=previous.get("generated"),
                   previous_tables=tuple(TableVersion(**table) for table in previous.get("tables", ())),
                   added=tuple(es for es in row_digests if es not in before),
                   changed=tuple(es for es in row_digests if es in before and before[es] != row_digests[es]),
                   removed=tuple(es for es in before if es not in row_digests), pooled_moves=tuple(moves))


def read_previous(path):
    """The JSON of an earlier report (for ``--since``)."""
    previous = read_json(path, "report JSON")
    if not isinstance(previous, dict) or "row_digests" not in previous:
        raise InputError("not a compassmeta report JSON (no row_digests)", file=path)
    return previous


def _reproduction(studies_folder, mirror):
    from .reproduce import reproduce

    if studies_folder is None or not (Path(studies_folder) / "published_results.csv").is_file():
        return None, "no studies/published_results.csv beside the tables: reproduction table left out"
    return reproduce(studies_folder, mirror=mirror), ""


def outcome_groups(rows):
    """The outcome groups of the rows: self-compassion (by SCS component), depression and
    anxiety first, then the others in order of first appearance."""
    groups = {}
    for row in rows:
        groups.setdefault(outcome_of(row), []).append(row)

    def rank(outcome):
        first = next((i for i, name in enumerate(LEADING_OUTCOMES) if outcome.startswith(name)), len(LEADING_OUTCOMES))
        return first, list(groups).index(outcome)

    return {outcome: groups[outcome] for outcome in sorted(groups, key=rank)}


def build_report(tables, since=None, *, studies_folder=None, mirror=None, progress=None, rho=None, ci_method="z"):
    """Analyse the study ``tables`` (paths); ``since``: an earlier report's JSON (path or dict).

    ``studies_folder``: the folder holding published_results.csv for the reproduction table
    (default: the first table's folder); ``progress(n)`` is called after each unit of work.
    ``rho`` (CHE model) and ``ci_method`` ("z" or "cr2") apply to subsets where trials
    contribute several rows (see :func:`choose_model`)."""
    progress = progress or (lambda n: None)
    if ci_method not in ("z", "cr2"):
        raise InputError(f"the report's --ci-method is z or cr2, not {ci_method}")
    if rho is not None and not -1 <= rho <= 1:
        raise InputError(f"rho is a correlation between -1 and 1, not {rho}")
    rows, versions, warnings = load_rows(tables)
    if not rows:
        raise InputError("the tables hold no rows", file=versions[0].path if versions else None)
    labels = _unique_labels(rows)
    analyses, moderators = [], []
    for outcome, outcome_rows in outcome_groups(rows).items():
        overall = analyse_subset(outcome, "all", outcome_rows, labels, rho=rho, ci_method=ci_method)
        analyses.append(overall)
        for control in CONTROLS[1:]:
            subset = [row for row in outcome_rows if row["control_type"] == control]
            if len(subset) == len(outcome_rows):
                analyses.append(replace(overall, key=f"{outcome} | {control}", control=control,
                                        same_trials_as="all", figures={}))
            elif subset:
                analyses.append(analyse_subset(outcome, control, subset, labels, rho=rho, ci_method=ci_method))
        progress(1)
        for column, name in MODERATORS:
            if column in outcome_rows[0]:
                moderators.append(analyse_moderator(outcome, column, name, outcome_rows, labels))
        progress(1)
    folder = Path(studies_folder) if studies_folder else Path(tables[0]).parent
    reproduction, reproduction_note = _reproduction(folder, mirror)
    progress(1)
    digests = {row["es_id"]: _row_digest(row) for row in rows}
    previous = (since if isinstance(since, dict) else read_previous(since)) if since is not None else None
    return Report(generated=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  method=f"{METHOD}, Wald z, 95% CI" + (" (CR2 robust for the multilevel models)" if ci_method == "cr2"
                                                        else ""),
                  within_trial_r=WITHIN_TRIAL_R, rho=rho, ci_method=ci_method, tables=versions,
                  analyses=tuple(analyses), moderators=tuple(moderators), trials=trial_sources(rows, labels),
                  reproduction=reproduction, reproduction_note=reproduction_note, row_digests=digests,
                  changes=changes_since(previous, digests, analyses) if previous is not None else None,
                  warnings=warnings)


def work_units(tables):
    """How many progress steps :func:`build_report` takes for these tables (for a progress bar)."""
    rows, _, _ = load_rows(tables)
    return 2 * len(outcome_groups(rows)) + 1


# ----------------------------------------------------------------------------- the page

def _e(value):
    import html

    return html.escape("" if value is None else str(value))


def _g(value, digits=2):
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def _table(header, rows, css=""):
    """An HTML table; ``rows`` hold ready markup; header cells starting with '#' are numeric."""
    head = "".join(f'<th class="num">{_e(h[1:])}</th>' if h.startswith("#") else f"<th>{_e(h)}</th>"
                   for h in header)
    numeric = [h.startswith("#") for h in header]
    body = "".join("<tr>" + "".join(f'<td class="num">{cell}</td>' if num else f"<td>{cell}</td>"
                                    for cell, num in zip(row, numeric)) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _flags(analysis):
    flagged = [check.analysis for check in analysis.bias if check.flag]
    if not analysis.bias:
        return '<span class="muted">not assessed (k &lt; 3)</span>'
    text = ", ".join(_e(name) for name in flagged) if flagged else "none"
    few = " (k &lt; 10)" if analysis.k_trials < FEW_FOR_BIAS else ""
    return (f'<span class="flag">{text}</span>' if flagged else text) + few


def _summary_section(report):
    rows = []
    same = {item.key.replace(f"| {item.control}", "| all"): item.control
            for item in report.analyses if item.same_trials_as}
    for item in report.analyses:
        if item.same_trials_as:
            continue  # shown on the row of all controls
        pooled = item.pooled
        cell = (f'<span class="g" data-key="{_e(item.key)}" data-estimate="{pooled.estimate!r}">'
                f"{_interval(pooled.estimate, pooled.ci_lower, pooled.ci_upper)}</span>" if pooled
                else '<span class="muted">not pooled</span>')
        loo = item.leave_one_out
        rows.append([
            f'<a href="#{slug(item.key)}">{_e(item.outcome)}</a>',
            _e(item.control) + (f' <span class="muted">(all {_e(same[item.key])})</span>'
                                if item.key in same else ""),
            f"{item.k_trials} ({item.k_rows})", _short_model(item),
            _e(item.n_participants if item.n_participants else "–"), cell,
            f"[{_g(pooled.pi_lower)}, {_g(pooled.pi_upper)}]" if pooled else "–",
            _i2_text(item) if pooled else "–", _flags(item) if pooled else "–",
            f"{_g(loo.lowest)} to {_g(loo.highest)}" if loo else "–"])
    table = _table(["Outcome", "Control", "#Trials (rows)", "Model", "#Participants", "#g [95% CI]", "#95% PI", "#I²",
                    "Bias flags", "#Leave-one-out g"], rows, "wide summary")
    return (f'<section id="summary"><h2>Summary of findings</h2>{table}'
            f'<p class="note">g: Hedges\' g, positive favours the intervention; {_e(report.method)}. '
            "Model: one effect per trial where each trial gives one row; where a trial contributes several "
            f"rows, the {_e(_dependent_model_name(report))} on every row (I² between + within trials), with "
            f"bias analyses and leave-one-out on one effect per trial (a trial's rows averaged, "
            f"r = {report.within_trial_r}) since they assume independent effects. "
            "PI: 95% prediction interval. Bias flags: Egger p &lt; 0.10; trim-and-fill imputes trials; "
            "PET-PEESE limit CI holds 0 while the pooled CI does not; 3PSM likelihood-ratio test p &lt; 0.10. "
            "Participants: the largest n1 + n2 "
            "of each trial's rows (– when a row lacks n).</p></section>")


def _short_model(item):
    """The model in a few words for the summary table."""
    if not item.pooled:
        return "–"
    if not item.dependent:
        return '<span class="nowrap">one per trial</span>'
    return '<span class="nowrap">' + ("three-level" if item.model.startswith("three-level") else "CHE") + "</span>"


def _dependent_model_name(report):
    model = "three-level model" if report.rho is None else f"CHE model (rho = {report.rho:g})"
    return model + (", CR2 robust inference" if report.ci_method == "cr2" else "")


def _pooled_block(item):
    pooled = item.pooled
    rows = [["Pooled g [95% CI]", f'<span class="g" data-key="{_e(item.key)}">'
                                  f"{_interval(pooled.estimate, pooled.ci_lower, pooled.ci_upper)}</span>"]]
    if item.dependent:
        test = "z" if pooled.df is None else f"t({pooled.df:.2f})"
        rows += [[f"{test}, p", f"{pooled.statistic:.2f}, {_p_text(pooled.p_value)}"],
                 ["95% prediction interval", f"[{_g(pooled.pi_lower)}, {_g(pooled.pi_upper)}]"],
                 ["σ² between trials, within trials", f"{pooled.sigma2_between:.3f}, {pooled.sigma2_within:.3f}"],
                 ["I² between trials, within trials", f"{pooled.i2_between:.1f}%, {pooled.i2_within:.1f}%"],
                 ["Q (df), p", f"{pooled.q:.2f} ({pooled.q_df}), {_p_text(pooled.q_p)}"]]
    else:
        rows += [["z, p", f"{pooled.statistic:.2f}, {_p_text(pooled.p_value)}"],
                 ["95% prediction interval", f"[{_g(pooled.pi_lower)}, {_g(pooled.pi_upper)}]"],
                 ["τ² [95% CI] (τ)", f"{pooled.tau2:.3f} [{_g(pooled.tau2_ci_lower, 3)}, "
                                     f"{_g(pooled.tau2_ci_upper, 3)}] ({pooled.tau:.3f})"],
                 ["I², H²", f"{pooled.i2:.1f}%, {pooled.h2:.2f}"],
                 ["Q (df), p", f"{pooled.q:.2f} ({pooled.q_df}), {_p_text(pooled.q_p)}"]]
    if item.leave_one_out:
        loo = item.leave_one_out
        rows.append(["Leave-one-out range" + (" (one effect per trial)" if item.dependent else ""),
                     f"{loo.lowest:.2f} (without {_e(loo.lowest_without)}) to "
                     f"{loo.highest:.2f} (without {_e(loo.highest_without)})"])
    return _table(["Quantity", "Value"], rows, "pooled")


def _i2_text(item):
    """I² of a subset: one number, or between + within trials for the multilevel model."""
    pooled = item.pooled
    if item.dependent:
        return f"{_g(pooled.i2_between, 0)}% + {_g(pooled.i2_within, 0)}%"
    return f"{_g(pooled.i2, 0)}%"


def _bias_block(item):
    notes = "".join(f'<p class="note">{_e(note)}</p>' for note in item.bias_notes)
    if not item.bias:
        return notes
    rows = [[_e(check.analysis), _e(check.summary), '<span class="flag">yes</span>' if check.flag else "no"]
            for check in item.bias]
    return _table(["Publication bias", "Result", "Flag"], rows, "bias") + notes


FIGURE_CAPTIONS = {
    "forest": "Squares: each trial's g with its 95% CI, sized by weight; diamond: the pooled g; "
              "bar below it: the 95% prediction interval.",
    "funnel": "Each trial's g against its standard error; dashed: the pseudo 95% confidence region "
              "around the pooled g; open circles: trials imputed by trim-and-fill.",
    "subgroup-forest": "Trials grouped by the moderator, each subgroup pooled with its own τ²; "
                       "the test compares the subgroup estimates.",
    "bubble": "Each trial's g against the moderator (circles sized by weight), the fitted "
              "meta-regression line and its 95% confidence band.",
}


def _figure(svg, caption, kind):
    return f'<figure class="fig fig-{kind}">{svg}<figcaption>{_e(caption)}</figcaption></figure>'


def _subset_block(item):
    title = f"{item.outcome}: {'all controls' if item.control == 'all' else item.control + ' controls'}"
    head = f'<div class="subset" id="{slug(item.key)}"><h3>{_e(title)}</h3>'
    if item.same_trials_as:
        return (head + f'<p class="note">The same {item.k_trials} trial(s) as with all controls (every trial of '
                       f"this outcome has a {_e(item.control)} control); see above.</p></div>")
    size = "" if item.dependent else f"k = {item.k_trials} trial(s), {item.k_rows} row(s); "
    parts = [f'<p class="note">{size}model: {_e(item.model)}.</p>']
    parts += [f'<p class="note">{_e(note[:1].upper() + note[1:])}.</p>' for note in item.notes]
    if item.pooled:
        parts.append(_pooled_block(item))
        parts.append(_bias_block(item))
        captions = {"forest": item.figures.get("forest-caption", FIGURE_CAPTIONS["forest"]),
                    "funnel": FIGURE_CAPTIONS["funnel"] + (" A trial's rows are averaged into one point, as the "
                                                           "bias analyses use them." if item.dependent else "")}
        figures = [_figure(item.figures[kind], captions[kind], kind)
                   for kind in ("forest", "funnel") if kind in item.figures]
        parts.append(f'<div class="figures">{"".join(figures)}</div>')
    return head + "".join(parts) + "</div>"


def _outcome_sections(report):
    sections, current = [], None
    for item in report.analyses:
        if item.outcome != current:
            if current is not None:
                sections.append("</section>")
            current = item.outcome
            sections.append(f'<section class="outcome" id="outcome-{slug(current)}"><h2>{_e(current.capitalize())}</h2>')
        sections.append(_subset_block(item))
    return "".join(sections + (["</section>"] if current is not None else []))


def _moderator_result(item):
    result = item.result
    if item.kind == "subgroup":
        rows = [[_e(group.level), str(group.k), _interval(group.estimate, group.ci_lower, group.ci_upper),
                 f"{group.i2:.1f}%"] for group in result.groups]
        table = _table(["Subgroup", "#k", "#g [95% CI]", "#I²"], rows, "moderator")
        test = (f"Test for subgroup differences: Q({result.q_between_df}) = {result.q_between:.2f}, "
                f"{_p_text(result.q_between_p)}")
    else:
        rows = [[_e(c.term), f"{c.estimate:.3f}", f"[{c.ci_lower:.3f}, {c.ci_upper:.3f}]", _p_text(c.p_value)]
                for c in result.coefficients]
        table = _table(["Term", "#Estimate", "#95% CI", "#p"], rows, "moderator")
        test = (f"QM({result.qm_df}) = {result.qm:.2f}, {_p_text(result.qm_p)}; residual I² = {result.i2:.1f}%; "
                f"R² = {_g(result.r2, 0)}%")
    return f'{table}<p class="test">{_e(test)}</p>'


def _explorer_section(report):
    if not report.moderators:
        return ""
    outcomes = list(dict.fromkeys(item.outcome for item in report.moderators))
    names = list(dict.fromkeys(item.moderator for item in report.moderators))
    first = next((item for item in report.moderators if item.result is not None), report.moderators[0])
    menus = ('<div class="explorer-menus">'
             '<label for="explore-outcome">Outcome</label><select id="explore-outcome">'
             + "".join(f'<option value="{slug(o)}"{" selected" if o == first.outcome else ""}>{_e(o)}</option>'
                       for o in outcomes)
             + '</select><label for="explore-moderator">Moderator</label><select id="explore-moderator">'
             + "".join(f'<option value="{slug(n)}"{" selected" if n == first.moderator else ""}>{_e(n)}</option>'
                       for n in names)
             + "</select></div>")
    panels = []
    for item in report.moderators:
        body = _moderator_result(item) if item.result is not None else ""
        kind = "bubble" if item.kind == "meta-regression" else "subgroup-forest"
        figure = _figure(item.figure, FIGURE_CAPTIONS[kind], kind) if item.figure else ""
        hidden = "" if item is first else " hidden"
        panels.append(f'<div class="mod-panel" id="mod-{slug(item.outcome)}--{slug(item.moderator)}"'
                      f' data-kind="{_e(item.kind)}"{hidden}><h3>{_e(item.outcome)}: {_e(item.moderator)}</h3>'
                      f'<p class="note">{_e(item.note)}</p>{body}{figure}</div>')
    return ('<section id="explorer"><h2>Moderator explorer</h2>'
            '<p class="note screen-only">Choose an outcome and a moderator: every analysis is computed in '
            "advance (subgroup analysis with separate τ² per subgroup for a categorical moderator, "
            "meta-regression for a numeric one, on one effect per trial and moderator value: a trial's rows "
            "averaged), so the page needs no server. Printed, all panels follow "
            "one another.</p>" + menus + "".join(panels) + "</section>")


def _reproduction_section(report):
    if report.reproduction is None:
        return (f'<section id="reproduction"><h2>Reproduction of published results</h2>'
                f'<p class="note">{_e(report.reproduction_note)}</p></section>')
    rows, previous_target = [], None
    for check in report.reproduction.targets:
        digits = check.decimals
        first_of_target, previous_target = check.target_id != previous_target, check.target_id
        rows.append([f"<b>{_e(check.target_id)}</b>" if first_of_target else "", _e(check.quantity), f"{check.published:.{digits}f}",
                     "–" if check.recomputed is None else f"{check.recomputed:.{digits + 2}f}",
                     "–" if check.difference is None else f"{check.difference:+.{digits + 2}f}",
                     f"{'–' if check.k_used is None else check.k_used}/"
                     f"{'–' if check.k_published is None else check.k_published}",
                     f'<span class="verdict-{slug(check.verdict)}">{_e(check.verdict)}</span>'])
    counts = {}
    for check in report.reproduction.targets:
        counts[check.verdict] = counts.get(check.verdict, 0) + 1
    publications = {}
    for check in report.reproduction.targets:
        publications.setdefault((check.citation, check.doi), {}).setdefault(check.target_id, check.note)
    notes = "".join(f"<li>{_e(citation)} {_doi_link(doi)}<ul>"
                    + "".join(f'<li class="note"><b>{_e(target)}</b>: {_e(note)}</li>' for target, note in targets.items())
                    + "</ul></li>" for (citation, doi), targets in publications.items())
    return ('<section id="reproduction"><h2>Reproduction of published results</h2>'
            '<p class="note">Each published number recomputed from study-level data and compared at the '
            "publication's rounding (" + _e(", ".join(f"{n} {v}" for v, n in counts.items())) + ").</p>"
            + _table(["Target", "Quantity", "#Published", "#Recomputed", "#Difference", "#k used/published",
                      "Verdict"], rows, "wide reproduction")
            + f"<details open><summary>Targets and data</summary><ul>{notes}</ul></details></section>")


def _doi_link(doi):
    return f'<a href="https://doi.org/{_e(doi)}">doi:{_e(doi)}</a>' if doi else ""


def _provenance_section(report):
    tables = _table(["Table", "#Rows", "sha256"], [[_e(t.path), str(t.rows), f'<span class="mono">{t.sha256}</span>']
                                                   for t in report.tables], "tables")
    rows = [[_e(trial.label), _e(trial.citation) + (" " + _doi_link(trial.doi) if trial.doi else ""),
             '<ul class="sources">' + "".join(f"<li>{_e(source)}</li>" for source in trial.sources) + "</ul>"
             + (f"Database: {_doi_link(trial.source_doi)}" if trial.source_doi else ""),
             "<br>".join(f'<span class="mono">{_e(es)}</span>' for es in trial.es_ids)]
            for trial in report.trials]
    return ('<section id="provenance"><h2>Provenance</h2><h3>Data version</h3>' + tables
            + f'<p class="note">Generated {_e(report.generated)}. The sha256 of each table identifies the data; '
              "the JSON beside this page holds every number and a fingerprint of each row.</p>"
            + _changes_block(report.changes)
            + "<h3>Trials</h3>" + _table(["Trial", "Citation", "Source of the numbers", "Rows (es_id)"], rows,
                                         "wide trials") + "</section>")


def _changes_block(changes):
    if changes is None:
        return ""
    lists = "".join(f"<p><b>{title}</b> ({len(ids)}): "
                    + (", ".join(f'<span class="mono">{_e(es)}</span>' for es in ids) or "none") + "</p>"
                    for title, ids in (("Added", changes.added), ("Changed", changes.changed),
                                       ("Removed", changes.removed)))
    moves = [[_e(move.key), _g(move.previous, 3), _g(move.current, 3),
              "–" if move.change is None else f"{move.change:+.3f}"] for move in changes.pooled_moves]
    return ('<div id="changes"><h3>Changes since the previous report</h3>'
            f'<p class="note">Previous report: {_e(changes.previous_generated or "date unknown")}; tables '
            + _e(", ".join(f"{Path(t.path).name} {t.sha256[:12]}" for t in changes.previous_tables)) + ".</p>"
            + lists + _table(["Subset", "#Previous g", "#Current g", "#Change"], moves, "moves") + "</div>")


def render_html(report):
    """The report as one self-contained HTML page."""
    from .page_assets import SCRIPT, STYLE

    outcomes = list(dict.fromkeys(item.outcome for item in report.analyses))
    nav = ('<nav><a href="#summary">Summary</a>'
           + "".join(f'<a href="#outcome-{slug(o)}">{_e(o)}</a>' for o in outcomes)
           + ('<a href="#explorer">Moderators</a>' if report.moderators else "")
           + '<a href="#reproduction">Reproduction</a><a href="#provenance">Provenance</a>'
           + ('<a href="#changes">Changes</a>' if report.changes else "") + "</nav>")
    tables = ", ".join(f"{Path(t.path).name} ({t.rows} rows, sha256 {t.sha256[:12]})" for t in report.tables)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>Self-compassion interventions: living evidence report</title>"
            f"<style>{STYLE}</style></head><body>"
            "<header><h1>Self-compassion interventions: living evidence report</h1>"
            f'<p class="lede">Generated {_e(report.generated)} by compassmeta from {_e(tables)}. Random-effects '
            f"meta-analysis ({_e(report.method)}): one effect per trial, or the {_e(_dependent_model_name(report))} "
            "where trials contribute several rows; effects are Hedges' g, positive favours the intervention.</p>"
            + "".join(f'<p class="note flag">Warning: {_e(w)}</p>' for w in report.warnings)
            + f"</header>{nav}"
            + _summary_section(report) + _outcome_sections(report) + _explorer_section(report)
            + _reproduction_section(report) + _provenance_section(report)
            + f"<script>{SCRIPT}</script></body></html>\n")
