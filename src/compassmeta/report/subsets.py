"""Which subsets a report pools, and how each is pooled (:func:`choose_model`).

The decisions the project will change as its analysis plan grows: :func:`outcome_groups` and
:func:`outcome_subsets` (which rows are pooled together) and :func:`choose_model` (the model).
"""
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.aggregate import aggregate_by
from ..data.plan import WINDOWS, Plan
from ..models.dependent import MultilevelPooledResult
from ..models.pooling import PooledResult, pool
from ..models.sharedgroups import ArmGroups
from .results import SubsetEffects
from .rows import unique_labels
from .settings import CONTROLS, LEADING_OUTCOMES, METHOD, SELF_COMPASSION, WITHIN_TRIAL_R


def outcome_of(row: Mapping[str, Any]) -> str:
    """The outcome group of a row: its ``outcome``, split by SCS component for self-compassion."""
    outcome = row["outcome"]
    component = row.get("scs_component")
    if outcome in SELF_COMPASSION:
        return f"self-compassion: {component.replace('_', ' ')}" if component else "self-compassion"
    return outcome.replace("_", " ")


def outcome_groups(rows: Iterable[Mapping[str, Any]], order: Sequence[str] = LEADING_OUTCOMES) -> dict:
    """The outcome groups of the rows: in the plan's outcome ``order`` (self-compassion, by SCS
    part, then depression and anxiety by default), then the others in order of first appearance."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(outcome_of(row), []).append(row)
    names = [name.replace("_", " ") for name in order]

    def rank(outcome: str) -> tuple[int, int]:
        first = next((i for i, name in enumerate(names) if outcome.startswith(name)), len(names))
        return first, list(groups).index(outcome)

    return {outcome: groups[outcome] for outcome in sorted(groups, key=rank)}


@dataclass(frozen=True)
class Section:
    """The rows of one outcome in one timepoint window, of one collection (None: the curated
    trials; else a teaching table's title): what the plan allows to pool together."""

    outcome: str
    window: str
    collection: str | None = None

    @property
    def label(self) -> str:
        """'depression, post' (a teaching table's short name first)."""
        prefix = f"{self.collection.split(' (')[0]}: " if self.collection else ""
        return f"{prefix}{self.outcome}, {self.window}"


def sections(rows: Sequence[Mapping[str, Any]], plan: Plan) -> dict:
    """The rows by :class:`Section`: curated trials first, outcomes in the plan's order, then
    timepoint windows in order (post, short and long follow-up, ...); rows classified by
    :func:`compassmeta.report.rows.classify_rows`."""
    grouped: dict[Section, list[Mapping[str, Any]]] = {}
    for collection in dict.fromkeys(row["collection"] for row in rows):
        members = [row for row in rows if row["collection"] == collection]
        for outcome, outcome_rows in outcome_groups(members, plan.outcome_order).items():
            for window in WINDOWS:
                kept = [row for row in outcome_rows if row["window"] == window]
                if kept:
                    grouped[Section(outcome, window, collection)] = kept
    return dict(sorted(grouped.items(), key=lambda item: item[0].collection is not None))


@dataclass(frozen=True)
class Subset:
    """The rows one analysis pools: one outcome (and SCS part), one timepoint window, one
    comparator class; ``same_trials_as`` names the comparator subset of the same section that
    holds the same rows, whose analysis it shares."""

    section: Section
    control: str
    rows: tuple
    same_trials_as: str | None = None

    @property
    def outcome(self) -> str:
        return self.section.outcome

    @property
    def key(self) -> str:
        prefix = f"{self.section.collection.split(' (')[0]}: " if self.section.collection else ""
        return f"{prefix}{self.outcome} | {self.section.window} | {self.control}"

    @property
    def component(self) -> str | None:
        """The SCS part the subset pools (None for other outcomes)."""
        return self.rows[0].get("scs_part") if self.rows else None


def outcome_subsets(section: Section, rows: Sequence[Mapping[str, Any]]) -> list:
    """The subsets of one section (one outcome and SCS part in one timepoint window): all
    comparators, then each comparator class of the plan (passive, active) that has rows, marked
    as the same trials as all comparators where every row has that class."""
    subsets = [Subset(section, CONTROLS[0], tuple(rows))]
    for control in CONTROLS[1:]:
        subset = tuple(row for row in rows if row["comparator"] == control)
        if len(subset) == len(rows):
            subsets.append(Subset(section, control, subset, same_trials_as=CONTROLS[0]))
        elif subset:
            subsets.append(Subset(section, control, subset))
    return subsets


@dataclass(frozen=True)
class ModelChoice:
    """How one subset is pooled: the model's ``name``, a ``note`` saying why, and the subset's
    ``effects`` (one per trial, and every row in trial order; see :class:`SubsetEffects`).
    ``dependent``: some trial contributes several rows, so the rows are pooled by the
    multilevel model (the CHE model with ``rho``; ``ci_method`` its inference)."""

    name: str
    note: str
    effects: SubsetEffects
    dependent: bool = False
    rho: float | None = None
    ci_method: str = "z"

    @property
    def yi(self) -> np.ndarray:
        """One effect per trial."""
        return np.array(self.effects.yi, dtype=float)

    @property
    def vi(self) -> np.ndarray:
        """The sampling variance of each trial's effect."""
        return np.array(self.effects.vi, dtype=float)

    def pool(self) -> PooledResult | MultilevelPooledResult:
        """One effect per trial: rma(yi, vi, method="REML"); dependent rows: the three-level model
        (metafor rma.mv, random = ~ 1 | study_id/es_id) or, with ``rho``, the CHE model, comparisons
        sharing a control group with its covariance (vcalc(grp1, grp2, w1, w2))."""
        if self.dependent:
            return pool(np.array(self.effects.rows_yi), np.array(self.effects.rows_vi),
                        cluster=list(self.effects.row_trials), method=METHOD, rho=self.rho,
                        ci_method=self.ci_method, groups=self.effects.row_groups)
        return pool(self.yi, self.vi, method=METHOD)


def _row_label(row: Mapping[str, Any]) -> str:
    """What tells a trial's rows apart: the comparison of a multi-arm trial, instrument, SCS part."""
    parts = [row.get("comparison"), row.get("instrument") or row.get("es_id"), row.get("scs_component")]
    return ", ".join(str(part) for part in parts if part)


def _trial_label(study: str, members: Iterable[Mapping[str, Any]], labels: Mapping[str, str], m: int) -> str:
    """A trial's label in a subset: its rows' common label (which names the comparison of a
    multi-arm trial), else the trial's; with "(m measures)" where its rows are averaged."""
    names = {row["label"] for row in members if row.get("label") is not None}
    name = names.pop() if len(names) == 1 else labels[study]
    return name + (f" ({m} measures)" if m > 1 else "")


def subset_effects(rows: Sequence[Mapping[str, Any]], labels: dict) -> SubsetEffects:
    """One effect per trial (a trial's rows averaged assuming r = WITHIN_TRIAL_R, Borenstein
    et al. 2009, ch. 24; a trial of several rows labelled "(m measures)") and every row in
    trial order."""
    combined = aggregate_by([row["study_id"] for row in rows], [row["yi"] for row in rows],
                            [row["vi"] for row in rows], r=WITHIN_TRIAL_R)
    trials = tuple(c[0] for c in combined)
    # a trial's rows in their order: O(rows), not O(trials x rows)
    members: dict[str, list[Mapping[str, Any]]] = {study: [] for study in trials}
    for row in rows:
        members[row["study_id"]].append(row)
    ordered = [row for study in trials for row in members[study]]
    return SubsetEffects(
        trials=trials,
        labels=tuple(_trial_label(study, members[study], labels, m) for study, _, _, m in combined),
        yi=tuple(float(c[1]) for c in combined), vi=tuple(float(c[2]) for c in combined),
        es_ids=tuple(row.get("es_id") for row in ordered),
        row_trials=tuple(row["study_id"] for row in ordered),
        row_labels=tuple(_row_label(row) for row in ordered),
        rows_yi=tuple(float(row["yi"]) for row in ordered),
        rows_vi=tuple(float(row["vi"]) for row in ordered), row_groups=ArmGroups.from_rows(ordered))


def choose_model(rows: Sequence[Mapping[str, Any]], labels: dict | None = None, *, rho: float | None = None,
                 ci_method: str = "z") -> ModelChoice:
    """The model the rows need.  Where every trial gives one row: a random-effects model (REML,
    Wald z) on one effect per trial.  Where a trial contributes several rows: the three-level
    model (REML; Konstantopoulos 2011, metafor rma.mv with random = ~ 1 | study_id/es_id) on
    every row, or with ``rho`` the correlated-and-hierarchical-effects model (Pustejovsky &
    Tipton 2022; ``ci_method`` "cr2" for CR2 robust inference).  The one-effect-per-trial
    composites (averaged within trial assuming r = WITHIN_TRIAL_R, Borenstein et al. 2009,
    ch. 24) are kept for the analyses that assume independent effects."""
    effects = subset_effects(rows, labels or unique_labels(rows))
    counts = Counter(effects.row_trials)
    measures = [counts[study] for study in effects.trials]
    several = [m for m in measures if m > 1]
    if not several or len(effects.trials) < 2:
        name = f"random effects ({METHOD}), one effect per trial"
        if several:
            note = (f"the one trial's {len(rows)} rows are averaged into one composite effect (r = "
                    f"{WITHIN_TRIAL_R}, Borenstein et al. 2009, ch. 24)")
        else:
            note = "every trial contributes one row"
        return ModelChoice(name=name, note=note, effects=effects)
    model = (f"three-level model ({METHOD})" if rho is None
             else f"correlated and hierarchical effects model ({METHOD}, rho = {rho:g})")
    inference = ", CR2 robust inference" if ci_method == "cr2" else ""
    name = f"{model}{inference}, {len(rows)} rows in {len(effects.trials)} trials"
    note = (f"{len(several)} trial(s) contribute several rows ({sum(several)} rows): the rows are "
            f"pooled by the {model.split(' (')[0]} (random effects for trial and for row within trial); "
            "Egger's test is also run on every row with that model; the other publication-bias analyses and "
            "leave-one-out assume independent effects, so they use one effect "
            f"per trial (a trial's rows averaged, r = {WITHIN_TRIAL_R}, Borenstein et al. 2009, ch. 24)")
    return ModelChoice(name=name, note=note, effects=effects, dependent=True, rho=rho, ci_method=ci_method)
