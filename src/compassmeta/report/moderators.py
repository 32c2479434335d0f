"""The moderator explorer's analyses: subgroups (text moderator) or meta-regression (numeric)."""
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..common.errors import CompassmetaError
from ..common.results import Result
from ..data.aggregate import aggregate_by
from ..models.moderators import is_numeric, meta_regression, subgroup_analysis
from .results import ModeratorAnalysis, ModeratorEffects
from .settings import METHOD, WITHIN_TRIAL_R


def _pairs(column: str, rows: Sequence[Mapping[str, Any]]) -> dict:
    """Every (trial, value) pair of ``column`` in ``rows``, blank values included, in order of
    first appearance (the keys of a dict)."""
    return dict.fromkeys(zip([row["study_id"] for row in rows], [row.get(column) for row in rows]))


def moderator_keys(column: str, rows: Sequence[Mapping[str, Any]]) -> list:
    """The (trial, value) pairs of ``column`` in order of first appearance: one per trial
    comparison of a moderator analysis; rows without a value are left out."""
    return [pair for pair in _pairs(column, rows) if pair[1] not in (None, "")]


def moderator_effects(column: str, rows: Sequence[Mapping[str, Any]], labels: dict,
                      trial_effects: Mapping[str, tuple[float, float]] | None = None) -> ModeratorEffects:
    """One effect per trial and value of ``column`` (a trial's rows of one value averaged as in
    :func:`compassmeta.report.subsets.choose_model`); rows without a value are left out.

    ``trial_effects`` (trial -> (g, v), each trial's rows of ``rows`` averaged, in their order):
    where every trial has one value (or none) on all its rows, those are its effects (the same
    arithmetic on the same rows), taken instead of averaged again."""
    pairs = _pairs(column, rows)
    if trial_effects is not None and len(pairs) == len({study for study, _ in pairs}):
        keys = [pair for pair in pairs if pair[1] not in (None, "")]
        effects = [trial_effects[study] for study, _ in keys]
        return ModeratorEffects(labels=tuple(labels[study] for study, _ in keys),
                                values=tuple(value for _, value in keys),
                                yi=tuple(g for g, _ in effects), vi=tuple(v for _, v in effects))
    present = [row for row in rows if row.get(column) not in (None, "")]
    combined = aggregate_by([(row["study_id"], row[column]) for row in present],
                            [row["yi"] for row in present], [row["vi"] for row in present], r=WITHIN_TRIAL_R)
    return ModeratorEffects(labels=tuple(labels[key[0]] for key, _, _, _ in combined),
                            values=tuple(key[1] for key, _, _, _ in combined),
                            yi=tuple(float(c[1]) for c in combined), vi=tuple(float(c[2]) for c in combined))


def moderator_fit(effects: ModeratorEffects, column: str, name: str) -> tuple[str, Result]:
    """Meta-regression (numeric values) or subgroup analysis (separate tau^2 per subgroup) of
    the effects: (kind, result)."""
    yi, vi = np.array(effects.yi), np.array(effects.vi)
    if is_numeric(effects.values):
        return "meta-regression", meta_regression(yi, vi, {column: list(effects.values)}, method=METHOD)
    return "subgroup", subgroup_analysis(yi, vi, [str(v) for v in effects.values], by=name, method=METHOD)


def _levels_too_small(keys: list, minimum_level: int) -> list:
    """The levels of a categorical moderator (``keys``: its (trial, value) pairs) with fewer than
    ``minimum_level`` trials, with their counts."""
    trials: dict[str, set[str]] = {}
    for study, value in keys:
        trials.setdefault(str(value), set()).add(study)
    return [f"'{level}' has {len(names)} trial(s)" for level, names in sorted(trials.items())
            if len(names) < minimum_level]


def _insufficient(keys: list, name: str, minimum_level: int) -> str | None:
    """Why the trial comparisons ``keys`` allow no moderator test (Cochrane Handbook 10.11.5), or None."""
    k, levels = len(keys), sorted({str(value) for _, value in keys})
    if not levels:
        return ""
    if len(levels) < 2:
        return f"insufficient: the {k} trial(s) with a value share one value ('{levels[0]}')"
    if k < 3:
        return f"insufficient: {k} trials (a moderator analysis needs at least 3)"
    small = [] if is_numeric([value for _, value in keys]) else _levels_too_small(keys, minimum_level)
    if small:
        return f"insufficient: {'; '.join(small)} (each level needs at least {minimum_level}); no test"
    return None


def analyse_moderator(outcome: str, column: str, name: str, rows: Sequence[Mapping[str, Any]], labels: dict,
                      *, minimum_level: int = 2, timepoint: str | None = None, collection: str | None = None,
                      trial_effects: Mapping[str, tuple[float, float]] | None = None) -> ModeratorAnalysis:
    """Subgroup analysis (text moderator) or meta-regression (numeric) of one outcome's trials.

    Each trial enters once per moderator value (rows of a trial with one value are averaged as in
    :func:`compassmeta.report.subsets.choose_model`); trials without a value are left out and
    counted in the note.  A level with fewer than ``minimum_level`` trials (the analysis plan's
    minimum_k.moderator_level; Cochrane Handbook 10.11.5) makes the analysis "insufficient":
    no test.  The ``effects`` (the data of its figure) are computed only for an analysed
    moderator, the one whose panel draws them (issue 29: the explorer precomputed only where
    it is shown); ``trial_effects`` as in :func:`moderator_effects`."""
    keys = moderator_keys(column, rows)
    missing = len({row["study_id"] for row in rows}) - len({study for study, _ in keys})
    k = len(keys)
    note = f"{missing} trial(s) without a {name} value left out; " if missing else ""
    if k > len({study for study, _ in keys}):
        note += "a trial with several values enters several levels (the levels are not independent); "

    def not_analysed(reason: str) -> ModeratorAnalysis:
        return ModeratorAnalysis(outcome=outcome, moderator=name, column=column, kind="not analysed",
                                 k_trials=k, result=None, note=note + reason, effects=None,
                                 status="insufficient", timepoint=timepoint, collection=collection)

    reason = _insufficient(keys, name, minimum_level)
    if reason == "":
        return replace(not_analysed(""), note=f"insufficient: no trial has a {name} value")
    if reason is not None:
        return not_analysed(reason)
    effects = moderator_effects(column, rows, labels, trial_effects)
    try:
        kind, result = moderator_fit(effects, column, name)
    except CompassmetaError as error:
        return not_analysed(f"insufficient: {error}")
    return ModeratorAnalysis(outcome=outcome, moderator=name, column=column, kind=kind, k_trials=k,
                             result=result, note=note + f"{kind} analysis of {k} trial comparisons",
                             effects=effects, timepoint=timepoint, collection=collection)
