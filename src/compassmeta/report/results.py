"""The report's results: numbers and the data its figures are drawn from, no markup.

``Report.to_dict()`` is the report JSON, and it is all :mod:`compassmeta.report.render`
needs to draw the page.
"""
from dataclasses import dataclass, field

from ..analyses.grade import GradeRating
from ..common.results import INTERNAL, PooledModel, Result
from ..models.sharedgroups import ArmGroups


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
    evidence_levels: tuple = ()   # where the rows' numbers are printed (blank: a database row)


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
class SubsetEffects(Result):
    """The effects of a subset, as its analyses and figures use them.

    One effect per trial (``trials``, ``labels``, ``yi``, ``vi``; a trial's rows averaged,
    Borenstein et al. 2009, ch. 24): the input of the analyses that assume independent effects
    (bias, leave-one-out), of the funnel plot and of the forest plot of a subset whose trials
    give one row each.  Every row in trial order (``es_ids``, ``row_trials``, ``row_labels``,
    ``rows_yi``, ``rows_vi``): the input of the multilevel model and of its forest plot, with
    ``row_groups`` (the rows' arms and sizes, models.sharedgroups; None without arms)."""

    trials: tuple
    labels: tuple
    yi: tuple
    vi: tuple
    es_ids: tuple
    row_trials: tuple
    row_labels: tuple
    rows_yi: tuple
    rows_vi: tuple
    row_groups: ArmGroups | None = field(default=None, repr=False, compare=False, metadata=INTERNAL)


@dataclass(frozen=True)
class SensitivityFit(Result):
    """One row of a subset's sensitivity set (as metapsyTools' runMetaAnalysis()): the analysis,
    its k (trials) and rows, the pooled g with its 95% CI (None where not estimable) and a note."""

    analysis: str
    k: int
    k_rows: int
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    note: str


@dataclass(frozen=True)
class BayesianEstimate(Result):
    """A subset's Bayesian random-effects estimate (bayesmeta's normal-normal model on one effect
    per trial): the tau prior (``prior`` its name, ``tau_prior`` its spec) and the flat or normal
    mu prior; posterior median of mu with its 95% central interval, the 95% predictive interval of
    a new trial's effect, tau's posterior median and 95% interval, P(mu > 0) and P(mu > 0.2)."""

    prior: str
    tau_prior: str
    mu_prior: str
    k: int
    estimate: float
    ci_lower: float
    ci_upper: float
    pi_lower: float
    pi_upper: float
    tau: float
    tau_ci_lower: float
    tau_ci_upper: float
    prob_above_0: float
    prob_above_02: float
    converged: bool


@dataclass(frozen=True)
class RobJudgement(Result):
    """The RoB 2 judgement of one row of a subset (``domains`` d1..d5, ``overall``), as the
    traffic-light plot draws it."""

    es_id: str
    label: str
    domains: dict
    overall: str


@dataclass(frozen=True)
class SubsetAnalysis(Result):
    """Everything about one outcome x timepoint window x comparator subset (one SCS part at most):
    ``es_ids`` the rows it pooled, ``timepoint`` the window, ``component`` the SCS part (or None),
    ``comparator`` the comparator class ("all", "passive", "active"; ``control`` the same),
    ``collection`` the teaching table it comes from (None: the curated trials); ``effects``
    holds its figures' data; ``sensitivity`` its sensitivity set."""

    key: str
    outcome: str
    control: str
    timepoint: str
    component: str | None
    comparator: str
    collection: str | None
    es_ids: tuple
    k_trials: int
    k_rows: int
    n_participants: int | None
    model: str
    dependent: bool
    pooled: PooledModel | None
    bias: tuple
    bias_notes: tuple
    leave_one_out: LeaveOneOutRange | None
    same_trials_as: str | None
    notes: tuple
    effects: SubsetEffects | None = None
    sensitivity: tuple = ()
    grade: GradeRating | None = None
    bayes: BayesianEstimate | None = None
    rob2: tuple = ()                     # RobJudgement of each row rob2.csv judges

    def to_dict(self) -> dict:
        """The fields, plus the pooled model's ``heterogeneity`` (its variance components and Q
        test) and ``model_description`` (its describe()), the members of
        :class:`~compassmeta.common.results.PooledModel` the page is rendered from (None unpooled),
        and the GRADE rating's summary-of-findings ``footnotes``."""
        pooled, data = self.pooled, super().to_dict()
        if self.grade is not None:
            data["grade"] = {**data["grade"], "footnotes": self.grade.footnotes()}
        return {**data, "heterogeneity": pooled.heterogeneity().to_dict() if pooled is not None else None,
                "model_description": pooled.describe() if pooled is not None else None}


@dataclass(frozen=True)
class ModeratorEffects(Result):
    """The trial comparisons of a moderator analysis: one effect per trial and moderator value
    (``labels`` the trials' names, ``values`` the moderator's value), as its figure draws them."""

    labels: tuple
    values: tuple
    yi: tuple
    vi: tuple


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
    effects: ModeratorEffects | None = None
    status: str = "tested"      # "tested", or "insufficient" (too few trials: no test)
    timepoint: str | None = None
    collection: str | None = None


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
    """All numbers of one report run; ``to_dict()`` is the JSON written beside the HTML, and
    the page is drawn from it alone (:func:`compassmeta.report.render.render_html`)."""

    generated: str
    title: str
    plan: dict
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
    joint_models: tuple = ()      # report.joint_models.JointModel: SCS components, trajectories
