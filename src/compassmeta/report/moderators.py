"""The moderator explorer's analyses: subgroups (text moderator) or meta-regression (numeric)."""
from dataclasses import replace

import numpy as np

from ..common.errors import CompassmetaError
from ..data.aggregate import aggregate_by
from ..models.moderators import is_numeric, meta_regression, subgroup_analysis
from .results import ModeratorAnalysis, ModeratorEffects
from .settings import METHOD, WITHIN_TRIAL_R


def moderator_effects(column: str, rows, labels: dict) -> ModeratorEffects:
    """One effect per trial and value of ``column`` (a trial's rows of one value averaged as in
    :func:`compassmeta.report.subsets.choose_model`); rows without a value are left out."""
    present = [row for row in rows if row.get(column) not in (None, "")]
    keys = [(row["study_id"], row[column]) for row in present]
    combined = aggregate_by(keys, [row["yi"] for row in present], [row["vi"] for row in present],
                            r=WITHIN_TRIAL_R)
    return ModeratorEffects(labels=tuple(labels[key[0]] for key, _, _, _ in combined),
                            values=tuple(key[1] for key, _, _, _ in combined),
                            yi=tuple(float(c[1]) for c in combined), vi=tuple(float(c[2]) for c in combined))


def moderator_fit(effects: ModeratorEffects, column: str, name: str):
    """Meta-regression (numeric values) or subgroup analysis (separate tau^2 per subgroup) of
    the effects: (kind, result)."""
    yi, vi = np.array(effects.yi), np.array(effects.vi)
    if is_numeric(effects.values):
        return "meta-regression", meta_regression(yi, vi, {column: list(effects.values)}, method=METHOD)
    return "subgroup", subgroup_analysis(yi, vi, [str(v) for v in effects.values], by=name, method=METHOD)


def analyse_moderator(outcome: str, column: str, name: str, rows, labels: dict) -> ModeratorAnalysis:
    """Subgroup analysis (text moderator) or meta-regression (numeric) of one outcome's trials.

    Each trial enters once per moderator value (rows of a trial with one value are averaged as in
    :func:`compassmeta.report.subsets.choose_model`); trials without a value are left out and
    counted in the note.  Its ``effects`` are the data of its figure."""
    effects = moderator_effects(column, rows, labels)
    present = {row["study_id"] for row in rows if row.get(column) not in (None, "")}
    missing = len({row["study_id"] for row in rows}) - len(present)
    k, levels = len(effects.yi), sorted(set(map(str, effects.values)))
    note = f"{missing} trial(s) without a {name} value left out; " if missing else ""

    def not_analysed(reason):
        return ModeratorAnalysis(outcome=outcome, moderator=name, column=column, kind="not analysed",
                                 k_trials=k, result=None, note=note + reason, effects=effects)

    if not levels:
        return replace(not_analysed(""), note=f"not analysed: no trial has a {name} value")
    if len(levels) < 2:
        return not_analysed(f"not analysed: the {k} trial(s) with a value share one value ('{levels[0]}')")
    if k < 3:
        return not_analysed(f"not analysed: {k} trials (a moderator analysis needs at least 3)")
    try:
        kind, result = moderator_fit(effects, column, name)
    except CompassmetaError as error:
        return not_analysed(f"not analysed: {error}")
    return ModeratorAnalysis(outcome=outcome, moderator=name, column=column, kind=kind, k_trials=k,
                             result=result, note=note + f"{kind} analysis of {k} trial comparisons",
                             effects=effects)
