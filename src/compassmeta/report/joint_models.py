"""The report's multivariate models (issue 23): where trials report both SCS components, the
bivariate compassionate / uncompassionate model; where an outcome has rows in several timepoint
windows, its trajectory.  Both are metafor's rma.mv with ``random = ~ inner | study_id``
(:func:`compassmeta.models.multivariate.multivariate`), one estimate per inner level (no intercept)."""
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..common.errors import CompassmetaError
from ..common.results import Result
from ..data.plan import SCS_OUTCOMES, WINDOWS
from .settings import METHOD

COMPONENTS = ("compassionate", "uncompassionate")
#: The windows a trajectory follows, in time order (post, short and long follow-up).
TRAJECTORY_WINDOWS = WINDOWS[:3]
MINIMUM_TRIALS = 2


@dataclass(frozen=True)
class JointModel(Result):
    """One multivariate model of the report: ``kind`` "components" or "trajectory", the outcome and
    window(s) it covers, the model in words, ``levels`` (the inner levels in order), its k rows and
    trials, the fitted ``result`` (a MultivariateResult; None where the data cannot identify it,
    with the reason in ``note``)."""

    kind: str
    outcome: str
    window: str
    model: str
    levels: tuple
    k_rows: int
    n_trials: int
    result: Result | None
    note: str


def _fit(kind: str, outcome: str, window: str, model: str, rows: Sequence[Mapping[str, Any]],
         inner: Sequence[str], levels: Iterable[str], **options: Any) -> JointModel:
    from ..models.multivariate import multivariate

    trials = list(dict.fromkeys(row["study_id"] for row in rows))
    result, note = None, ""
    try:
        result = multivariate([row["yi"] for row in rows], [row["vi"] for row in rows],
                              cluster=[row["study_id"] for row in rows], inner=inner, method=METHOD,
                              moderators={"level": inner}, intercept=False, ci_method="z",
                              cluster_column="study_id", **options)
    except CompassmetaError as error:
        note = f"not fitted: {error}"
    return JointModel(kind=kind, outcome=outcome, window=window, model=model, levels=tuple(levels),
                      k_rows=len(rows), n_trials=len(trials), result=result, note=note)


def component_models(rows: Sequence[Mapping[str, Any]], rho: float) -> list:
    """Per timepoint window, the bivariate model of the trials that report both SCS components:
    UN over the two components across trials, the components' sampling errors within a trial
    correlated ``rho`` (the plan's within-trial correlation), one estimate per component and the
    contrast compassionate - uncompassionate (Wald z)."""
    models = []
    for window in WINDOWS:
        chosen = [row for row in rows if row["outcome"] in SCS_OUTCOMES and row["window"] == window
                  and row.get("scs_component") in COMPONENTS and row.get("collection") is None]
        parts: dict = {}   # each trial's components, in one pass over the rows
        for row in chosen:
            parts.setdefault(row["study_id"], set()).add(row["scs_component"])
        both = {study for study, found in parts.items() if found == set(COMPONENTS)}
        chosen = [row for row in chosen if row["study_id"] in both]
        if len(both) < MINIMUM_TRIALS:
            continue
        model = (f"bivariate random-effects model ({METHOD}; metafor rma.mv, random = ~ component | trial, "
                 f"struct UN: a tau^2 per component and their correlation), sampling errors of a trial's "
                 f"two components correlated r = {rho:g} (analysis plan), one estimate per component")
        models.append(_fit("components", "self-compassion", window, model, chosen,
                           [row["scs_component"] for row in chosen], COMPONENTS, struct="UN", rho=rho,
                           contrasts=["compassionate-uncompassionate"]))
    return models


def trajectory_models(section_rows: dict) -> list:
    """Per outcome with rows in post and at least one follow-up window, the trajectory: one
    estimate per window from the trials with rows in two windows or more, AR(1) over the windows
    in time order (metafor struct "AR": true effects of a trial at windows j steps apart correlate
    rho^j; Ishak et al. 2007)."""
    by_outcome: dict[str, list] = {}
    for section, rows in section_rows.items():
        if section.collection is None and section.window in TRAJECTORY_WINDOWS:
            by_outcome.setdefault(section.outcome, []).extend(rows)
    models = []
    for outcome, rows in by_outcome.items():
        windows = [w for w in TRAJECTORY_WINDOWS if any(row["window"] == w for row in rows)]
        if len(windows) < 2 or windows[0] != TRAJECTORY_WINDOWS[0]:
            continue
        spans = {study for study in {row["study_id"] for row in rows}
                 if len({row["window"] for row in rows if row["study_id"] == study}) > 1}
        chosen = [row for row in rows if row["study_id"] in spans]
        if len(spans) < MINIMUM_TRIALS:
            continue
        order = {window: f"{i + 1} {window}" for i, window in enumerate(windows)}  # AR needs the time order
        model = (f"longitudinal random-effects model ({METHOD}; metafor rma.mv, random = ~ window | trial, "
                 "struct AR: one tau^2, true effects of a trial correlated rho^j at windows j steps apart), "
                 "one estimate per timepoint window, rows of a window independent within a trial")
        models.append(_fit("trajectory", outcome, ", ".join(windows), model, chosen,
                           [order[row["window"]] for row in chosen], windows, struct="AR"))
    return models
