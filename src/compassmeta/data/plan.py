"""The analysis plan (``studies/analysis_plan.toml``): which rows are pooled together, how, and
what is printed at small k, as frozen dataclasses read from the file (:func:`load_plan`).

The plan classifies a study row by its timepoint window (:func:`timepoint_windows`), its
comparator (:func:`comparator_of`) and its SCS part (:func:`scs_part`), and
:func:`mixing_warnings` says when selected rows mix what the plan keeps apart.  Rows are
mappings of column to value: the typed rows of a study table or the text cells of a CSV.
"""

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from ..common.errors import InputError

PLAN_FILE = "analysis_plan.toml"
POST, SHORT, LONG = "post", "short follow-up", "long follow-up"
FOLLOW_UP_UNKNOWN, UNSPECIFIED = "follow-up, length not given", "unspecified"
#: The windows in report order.
WINDOWS = (POST, SHORT, LONG, FOLLOW_UP_UNKNOWN, UNSPECIFIED)
DEPENDENT_MODELS = ("three-level", "che")
#: The sensitivity analyses a plan can ask for (metapsyTools' runMetaAnalysis() set).
SENSITIVITY_ANALYSES = ("all trials", "outliers removed", "influential removed", "low risk of bias",
                        "lowest per trial", "highest per trial", "three-level", "CHE")
SCS_OUTCOMES = ("self-compassion", "self_compassion")
#: The tau prior of the Bayesian model where a plan has no [bayes] table (Roever 2020).
DEFAULT_TAU_PRIOR = "halfnormal:0.5"
#: [large_subsets] where a plan has none: trials a forest plot draws, trials case deletion refits.
LARGE_SUBSETS = {"forest_max_trials": 100, "case_deletion_max_trials": 1000}


@dataclass(frozen=True)
class ComparatorKind:
    """A comparator kind (e.g. waitlist), its class (passive or active) and the words that mark it."""

    name: str
    cls: str
    match: tuple


@dataclass(frozen=True)
class InterventionClass:
    """One value of ``intervention_class`` and what it means."""

    name: str
    label: str


@dataclass(frozen=True)
class MinimumK:
    """The smallest numbers of trials for each output (see the plan's [minimum_k])."""

    pool: int
    heterogeneity: int
    publication_bias: int
    moderator_level: int
    cr2_min_df: float


@dataclass(frozen=True)
class Plan:
    """An analysis plan; ``citations`` holds each section's source, ``path`` the file it was read from."""

    path: str
    title: str
    outcome_order: tuple
    short_follow_up_max_weeks: float
    comparators: tuple
    intervention_classes: tuple
    compassion_classes: tuple
    scs_compassionate: tuple
    scs_uncompassionate: tuple
    dependent_model: str
    rho: float
    minimum_k: MinimumK
    sensitivity: tuple
    low_risk_of_bias: tuple
    citations: dict
    grade: dict = field(default_factory=dict)   # the [grade] table as read (analyses.grade.GradeRules)
    bayes_tau_prior: str = DEFAULT_TAU_PRIOR
    large_subsets: dict = field(default_factory=lambda: dict(LARGE_SUBSETS))

    def to_dict(self) -> dict:
        """The plan as plain data (what the report JSON records)."""
        return {
            "path": self.path,
            "title": self.title,
            "outcome_order": list(self.outcome_order),
            "timepoint_windows": list(WINDOWS),
            "short_follow_up_max_weeks": self.short_follow_up_max_weeks,
            "comparators": [{"name": c.name, "class": c.cls, "match": list(c.match)}
                            for c in self.comparators],
            "intervention_classes": {c.name: c.label for c in self.intervention_classes},
            "compassion_classes": list(self.compassion_classes),
            "scs": {"compassionate": list(self.scs_compassionate),
                    "uncompassionate": list(self.scs_uncompassionate)},
            "model": {"dependent": self.dependent_model, "rho": self.rho},
            "minimum_k": vars(self.minimum_k).copy(),
            "sensitivity": list(self.sensitivity),
            "low_risk_of_bias": list(self.low_risk_of_bias),
            "grade": dict(self.grade),
            "bayes": {"tau_prior": self.bayes_tau_prior},
            "large_subsets": dict(self.large_subsets),
            "citations": dict(self.citations),
        }


def default_plan_path() -> Path:
    """The shipped plan: studies/analysis_plan.toml in the working folder, else beside the source."""
    for folder in (Path.cwd() / "studies", Path(__file__).resolve().parents[3] / "studies"):
        if (folder / PLAN_FILE).is_file():
            return folder / PLAN_FILE
    raise InputError(f"no studies/{PLAN_FILE} here or beside the source; pass --plan FILE")


def _toml(text: str, path: Path) -> dict:
    """The TOML document of the plan file (``tomllib``)."""
    import tomllib

    try:
        return tomllib.loads(text)
    except ValueError as error:  # tomllib.TOMLDecodeError is a ValueError
        raise InputError(f"not a valid TOML file: {error}", file=path) from None


T = TypeVar("T")


class _Reader:
    """Typed access to the plan's keys; a missing or mistyped key is a one-line error naming it."""

    def __init__(self, document: dict, path: Path):
        self.document, self.path = document, path

    def get(self, dotted: str, kind: type[T]) -> T:
        value: Any = self.document
        for part in dotted.split("."):
            if not isinstance(value, dict) or part not in value:
                raise InputError(f"the plan has no key {dotted}", file=self.path, column=dotted)
            value = value[part]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise InputError(
                f"{dotted} must be a {kind.__name__}, not {value!r}", file=self.path, column=dotted
            )
        return value

    def strings(self, dotted: str) -> tuple:
        values = self.get(dotted, list)
        if not all(isinstance(value, str) and value for value in values):
            raise InputError(f"{dotted} must be a list of non-empty strings", file=self.path, column=dotted)
        return tuple(values)

    def count(self, dotted: str) -> int:
        value = self.get(dotted, int)
        if value < 1:
            raise InputError(f"{dotted} must be at least 1, not {value}", file=self.path, column=dotted)
        return value

    def fail(self, dotted: str, message: str) -> NoReturn:
        raise InputError(f"{dotted}: {message}", file=self.path, column=dotted)


def _comparators(reader: _Reader) -> tuple:
    kinds = []
    for i, entry in enumerate(reader.get("comparators.kind", list)):
        if not isinstance(entry, dict):
            reader.fail(f"comparators.kind[{i}]", "must be a table")
        sub = _Reader(entry, reader.path)
        kind = ComparatorKind(name=sub.get("name", str), cls=sub.get("class", str),
                              match=sub.strings("match"))
        if kind.cls not in ("passive", "active"):
            reader.fail(f"comparators.kind[{i}].class", f"passive or active, not {kind.cls!r}")
        kinds.append(kind)
    return tuple(kinds)


def _interventions(reader: _Reader) -> tuple[tuple, tuple]:
    classes = tuple(InterventionClass(name=_Reader(entry, reader.path).get("name", str),
                                      label=_Reader(entry, reader.path).get("label", str))
                    for entry in reader.get("interventions.class", list))
    compassion = reader.strings("interventions.compassion")
    unknown = sorted(set(compassion) - {c.name for c in classes})
    if unknown:
        reader.fail("interventions.compassion", f"not a listed class: {', '.join(unknown)}")
    return classes, compassion


def _minimum_k(reader: _Reader) -> MinimumK:
    minimum = MinimumK(
        pool=reader.count("minimum_k.pool"),
        heterogeneity=reader.count("minimum_k.heterogeneity"),
        publication_bias=reader.count("minimum_k.publication_bias"),
        moderator_level=reader.count("minimum_k.moderator_level"),
        cr2_min_df=reader.get("minimum_k.cr2_min_df", float),
    )
    if minimum.pool < 2:
        reader.fail("minimum_k.pool", "a pooled estimate needs at least 2 trials")
    return minimum


def load_plan(path: str | os.PathLike[str] | None = None) -> Plan:
    """The analysis plan in ``path`` (default: the shipped studies/analysis_plan.toml), validated:
    a missing, mistyped or out-of-range key is an :class:`InputError` naming file and key."""
    path = Path(path) if path is not None else default_plan_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read the analysis plan: {error.strerror}", file=path) from None
    reader = _Reader(_toml(text, path), path)
    dependent = reader.get("model.dependent", str)
    if dependent not in DEPENDENT_MODELS:
        reader.fail("model.dependent", f"one of {', '.join(DEPENDENT_MODELS)}, not {dependent!r}")
    rho = reader.get("model.rho", float)
    if not -1 <= rho <= 1:
        reader.fail("model.rho", f"a correlation between -1 and 1, not {rho}")
    weeks = reader.get("timepoints.short_follow_up_max_weeks", float)
    if weeks <= 0:
        reader.fail("timepoints.short_follow_up_max_weeks", f"must be positive, not {weeks}")
    classes, compassion = _interventions(reader)
    unknown = sorted(set(reader.strings("sensitivity.analyses")) - set(SENSITIVITY_ANALYSES))
    if unknown:
        reader.fail("sensitivity.analyses",
                    f"unknown {', '.join(unknown)}; use {', '.join(SENSITIVITY_ANALYSES)}")
    optional = ("grade", "bayes", "large_subsets")
    sections = ("outcomes", "timepoints", "comparators", "interventions", "scs", "model", "minimum_k",
                "sensitivity", *(name for name in optional if name in reader.document))
    return Plan(
        path=str(path),
        title=reader.get("title", str),
        outcome_order=reader.strings("outcomes.order"),
        short_follow_up_max_weeks=weeks,
        comparators=_comparators(reader),
        intervention_classes=classes,
        compassion_classes=compassion,
        scs_compassionate=reader.strings("scs.compassionate"),
        scs_uncompassionate=reader.strings("scs.uncompassionate"),
        dependent_model=dependent,
        rho=rho,
        minimum_k=_minimum_k(reader),
        sensitivity=reader.strings("sensitivity.analyses"),
        low_risk_of_bias=reader.strings("sensitivity.low_risk_of_bias"),
        citations={name: reader.get(f"{name}.citation", str) for name in sections},
        grade=_grade(reader),
        bayes_tau_prior=(reader.get("bayes.tau_prior", str) if "bayes" in reader.document
                         else DEFAULT_TAU_PRIOR),
        large_subsets={key: reader.count(f"large_subsets.{key}") if "large_subsets" in reader.document
                       else default for key, default in LARGE_SUBSETS.items()},
    )


def _grade(reader: _Reader) -> dict:
    """The [grade] table but its citation, checked when read by analyses.grade.GradeRules."""
    table = reader.document.get("grade", {})
    if not isinstance(table, dict):
        reader.fail("grade", "must be a table")
    return {key: value for key, value in table.items() if key != "citation"}


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _weeks(value: Any) -> float | None:
    try:
        return float(value) if _text(value) else None
    except ValueError:
        return None


def timepoint_windows(rows: Iterable[Mapping[str, Any]], plan: Plan) -> list:
    """The timepoint window of every row (see the plan's [timepoints]): post; a follow-up by its
    weeks after the end of treatment (its weeks_after_baseline minus that of the latest post row
    of the same trial) as short (<= short_follow_up_max_weeks) or long; else "follow-up, length not
    given"; a row whose time point is not coded: "unspecified"."""
    return column_windows(_columns(rows, ("study_id", "timepoint", "weeks_after_baseline")), plan)


def _columns(rows: Iterable[Mapping[str, Any]], names: Iterable[str]) -> dict:
    """{name: the value of that field in each row (None where a row lacks it)}."""
    rows = list(rows)
    return {name: [row.get(name) for row in rows] for name in names}


def _each(reader: Callable[[Any], T], column: Sequence[Any]) -> list[T]:
    """``reader`` of each cell of ``column``, called once per distinct cell (fewer than rows)."""
    read = {cell: reader(cell) for cell in set(column)}
    return list(map(read.__getitem__, column))


def column_windows(columns: Mapping[str, Sequence[Any]], plan: Plan) -> list:
    """:func:`timepoint_windows` of rows as columns (study_id, timepoint, weeks_after_baseline;
    None for no value), each distinct timepoint and weeks read once."""
    trials = columns["study_id"]
    timepoints = _each(_text, columns["timepoint"])
    weeks = _each(_weeks, columns["weeks_after_baseline"])
    end: dict[Any, float] = {}
    for trial, timepoint, week in zip(trials, timepoints, weeks):
        if timepoint == POST and week is not None:
            end[trial] = max(week, end.get(trial, week))
    windows: list[str] = []
    for trial, timepoint, week in zip(trials, timepoints, weeks):
        if timepoint == POST:
            windows.append(POST)
        elif timepoint != "follow-up":
            windows.append(UNSPECIFIED)
        elif week is None or trial not in end:
            windows.append(FOLLOW_UP_UNKNOWN)
        else:
            windows.append(SHORT if week - end[trial] <= plan.short_follow_up_max_weeks else LONG)
    return windows


def comparator_of(row: Mapping[str, Any], plan: Plan) -> tuple[str, str]:
    """(kind, class) of a row's comparator: the first plan kind one of whose words its
    control_detail contains (as a whole word, case-insensitive), else its control_type as the
    class and the kind "control"."""
    detail = _text(row.get("control_detail")).lower()
    for kind in plan.comparators:
        if any(re.search(rf"\b{re.escape(word.lower())}\b", detail) for word in kind.match):
            return kind.name, kind.cls
    return "control", _text(row.get("control_type")) or "unknown"


def comparison_label(row: Mapping[str, Any], plan: Plan) -> str:
    """What a row compares: its arm (else its intervention) against its comparator kind
    ('MSC vs waitlist'; the control arm's label where the plan knows no kind)."""
    arm = _text(row.get("arm")) or _text(row.get("intervention")).split(" (")[0] or "intervention"
    kind, _ = comparator_of(row, plan)
    return f"{arm} vs {_text(row.get('control_arm')) or 'control' if kind == 'control' else kind}"


def comparison_labels(rows: Iterable[Mapping[str, Any]], plan: Plan) -> list:
    """Per row, its :func:`comparison_label` where its trial (``study_id``) makes several
    comparisons (a multi-arm trial), else None: what tells the arms of one trial apart."""
    rows = list(rows)
    pairs: dict[str, set[tuple[str, str, str]]] = {}
    for row in rows:
        pairs.setdefault(_text(row.get("study_id")), set()).add(
            (_text(row.get("arm")), _text(row.get("control_arm")), comparator_of(row, plan)[0]))
    return [comparison_label(row, plan) if len(pairs[_text(row.get("study_id"))]) > 1 else None
            for row in rows]


def scs_part(row: Mapping[str, Any]) -> str | None:
    """The SCS part a self-compassion row measures (total, compassionate, uncompassionate or a
    facet, each a separate outcome: Muris & Otgaar 2022); None for other rows."""
    return _part(row.get("outcome"), row.get("scs_component"))


def _part(outcome: object, component: object) -> str | None:
    """:func:`scs_part` of a row's outcome and scs_component."""
    if _text(outcome) not in SCS_OUTCOMES:
        return None
    return _text(component) or None


# the columns mixing_warnings reads
MIXING_COLUMNS = ("study_id", "timepoint", "weeks_after_baseline", "outcome", "scs_component")


def mixing_warnings(rows: Iterable[Mapping[str, Any]], plan: Plan) -> tuple:
    """Warnings (as text) when the selected rows mix what the plan keeps apart: timepoint windows,
    or SCS parts (a total with its components or facets).  Each says how to select."""
    return column_mixing_warnings(_columns(rows, MIXING_COLUMNS), plan)


def column_mixing_warnings(columns: Mapping[str, Sequence[Any]], plan: Plan) -> tuple:
    """:func:`mixing_warnings` of rows as columns (:data:`MIXING_COLUMNS`; None for no value)."""
    warnings: list[str] = []
    windows = sorted(set(column_windows(columns, plan)), key=WINDOWS.index)
    if len(windows) > 1:
        warnings.append(
            f"the selected rows mix timepoint windows ({', '.join(windows)}), which the analysis "
            "plan never pools together; select one, e.g. --where timepoint=post"
        )
    pairs = set(zip(columns["outcome"], columns["scs_component"]))
    parts = sorted({part for part in (_part(*pair) for pair in pairs) if part})
    if len(parts) > 1:
        warnings.append(
            f"the selected rows mix SCS parts ({', '.join(parts)}): the total, each component and "
            "each facet are separate outcomes (Muris & Otgaar 2022); select one, e.g. "
            "--where scs_component=total"
        )
    return tuple(warnings)


def small_df_warning(dfs: Iterable[float | None], plan: Plan) -> str | None:
    """A warning when a CR2 test has Satterthwaite df below the plan's minimum_k.cr2_min_df
    (Tipton 2015: such tests are unreliable); None otherwise.  ``dfs``: the tests' df."""
    small = [df for df in dfs if df is not None and df < plan.minimum_k.cr2_min_df]
    if not small:
        return None
    return (f"CR2 test with Satterthwaite df = {min(small):.2f} < {plan.minimum_k.cr2_min_df:g}: unreliable "
            "(Tipton 2015); too few clusters for robust inference")
