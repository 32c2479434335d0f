"""The living-evidence report's analysis: every number of the study tables, no markup.

:func:`analyse` runs one :class:`ReportSettings` (fits, bias analyses, leave-one-out,
moderators, reproduction, provenance, changes since a previous run) and returns an immutable
:class:`Report`; ``Report.to_dict()`` is the JSON written beside the page and all that
:func:`compassmeta.report.render.render_html` needs.  :func:`load_report` reads that JSON back.
"""
import datetime
from dataclasses import dataclass, replace
from typing import Any

from ..common.errors import InputError
from ..common.files import read_json
from ..data.plan import load_plan
from ..data.plan_text import plan_text
from .evidence import load_evidence
from .joint_models import component_models, trajectory_models
from .moderators import analyse_moderator
from .results import Changes, PooledMove, Report, TableVersion
from .rows import plan_rows, row_digest, trial_sources
from .settings import MODERATORS, WITHIN_TRIAL_R, ReportSettings
from .subset_analysis import analyse_subset
from .subsets import outcome_subsets, sections

#: The keys of every report JSON (``Report.to_dict()``).
REPORT_KEYS = frozenset(("generated", "title", "plan", "method", "within_trial_r", "rho", "ci_method",
                         "tables", "analyses", "moderators", "trials", "reproduction", "reproduction_note",
                         "row_digests", "changes", "warnings", "joint_models"))
#: Keys a report written before the analysis plan (or before its multivariate models) lacks; it can
#: still be the input of ``--since``.
PLAN_REPORT_KEYS = frozenset(("title", "plan", "joint_models"))


def load_report(path) -> dict:
    """A report's JSON as written beside its page (``Report.to_dict()``): what
    :func:`compassmeta.report.render.render_html` draws a page from and ``--since`` compares with
    (a report written before the analysis plan, without ``title`` and ``plan``, serves ``--since``
    only)."""
    report = read_json(path, "report JSON")
    required = REPORT_KEYS - PLAN_REPORT_KEYS
    missing = sorted(required - set(report)) if isinstance(report, dict) else ["row_digests"]
    if missing:
        raise InputError(f"not a compassmeta report JSON (no {', '.join(missing)})", file=path)
    return report


def changes_since(previous: dict, row_digests: dict, analyses) -> Changes:
    """Rows added, changed and removed (by es_id) and how each pooled g moved since ``previous``
    (the dictionary of an earlier report's JSON)."""
    before = previous.get("row_digests") or {}
    old_estimates = {item["key"]: (item.get("pooled") or {}).get("estimate")
                     for item in previous.get("analyses", ())}
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


def _reproduction(settings):
    from .reproduce import reproduce

    folder = settings.reproduction_folder
    if not (folder / "published_results.csv").is_file():
        return None, "no studies/published_results.csv beside the tables: reproduction table left out"
    return reproduce(folder, mirror=settings.mirror), ""


def section_analyses(section, rows, labels: dict, settings: ReportSettings, plan, evidence=None) -> list:
    """The analyses of one section's subsets (all, passive and active comparators); a subset
    holding the same rows as another shares its numbers.  ``evidence``: see
    :func:`compassmeta.report.evidence.load_evidence`."""
    analyses = {}
    for subset in outcome_subsets(section, rows):
        if subset.same_trials_as is not None:
            shared = analyses[subset.key.rsplit(" | ", 1)[0] + f" | {subset.same_trials_as}"]
            analyses[subset.key] = replace(shared, key=subset.key, control=subset.control,
                                           comparator=subset.control, same_trials_as=subset.same_trials_as)
        else:
            analyses[subset.key] = analyse_subset(section.outcome, subset.control, list(subset.rows), labels,
                                                  rho=settings.rho, ci_method=settings.ci_method, plan=plan,
                                                  subset=subset, evidence=evidence)
    return list(analyses.values())


@dataclass(frozen=True)
class PreparedTables:
    """The plan of a report and the study rows it reads (:func:`prepare`), read once for both
    :func:`work_units` and :func:`analyse`."""

    plan: Any
    rows: list
    labels: dict
    versions: tuple
    warnings: tuple


def prepare(settings: ReportSettings) -> PreparedTables:
    """Read the analysis plan and the study tables of ``settings`` (classified by the plan)."""
    plan = load_plan(settings.plan)
    return PreparedTables(plan, *plan_rows(settings.tables, plan, settings.evidence_level))


def analyse(settings: ReportSettings, progress=None, prepared: PreparedTables | None = None) -> Report:
    """Analyse the study tables of ``settings`` by its analysis plan (``prepared``: what
    :func:`prepare` read of them, else read here); ``progress(n)`` is called after each unit of
    work (:func:`work_units` counts them)."""
    progress = progress or (lambda n: None)
    prepared = prepared or prepare(settings)
    plan, rows, labels = prepared.plan, prepared.rows, prepared.labels
    versions, warnings = prepared.versions, prepared.warnings
    if settings.rho is None and plan.dependent_model == "che":
        settings = replace(settings, rho=plan.rho)
    analyses, moderators = [], []
    evidence = load_evidence(plan, rows, settings.reproduction_folder)
    grouped = sections(rows, plan)
    for section, section_rows in grouped.items():
        section_items = section_analyses(section, section_rows, labels, settings, plan, evidence)
        analyses += section_items
        progress(1)
        every = section_items[0].effects   # all comparators: the section's rows, one effect per trial
        trial_effects = dict(zip(every.trials, zip(every.yi, every.vi)))
        moderators += [analyse_moderator(section.outcome, column, name, section_rows, labels,
                                         minimum_level=plan.minimum_k.moderator_level,
                                         timepoint=section.window, collection=section.collection,
                                         trial_effects=trial_effects)
                       for column, name in MODERATORS if column in section_rows[0]]
        progress(1)
    reproduction, reproduction_note = _reproduction(settings)
    progress(1)
    digests = {row["es_id"]: row_digest(row) for row in rows}
    since = settings.since
    previous = (since if isinstance(since, dict) else load_report(since)) if since is not None else None
    plan_data = dict(plan.to_dict(), text=plan_text(plan))
    return Report(generated=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  title=_title(plan, rows), plan=plan_data,
                  method=settings.method_text(), within_trial_r=WITHIN_TRIAL_R, rho=settings.rho,
                  ci_method=settings.ci_method, tables=versions, analyses=tuple(analyses),
                  moderators=tuple(moderators), trials=trial_sources(rows, labels), reproduction=reproduction,
                  reproduction_note=reproduction_note, row_digests=digests,
                  changes=changes_since(previous, digests, analyses) if previous is not None else None,
                  warnings=warnings,
                  joint_models=tuple(component_models(rows, plan.rho) + trajectory_models(grouped)))


def _title(plan, rows) -> str:
    """The page's title: the plan's, or a teaching table's own where the report holds only that."""
    collections = list(dict.fromkeys(row["collection"] for row in rows))
    if collections == [None]:
        return plan.title
    if None not in collections:
        return " and ".join(collection.split(" (")[0] for collection in collections)
    return plan.title + " (with " + " and ".join(c.split(" (")[0] for c in collections if c) + ", apart)"


def build_report(tables, since=None, *, studies_folder=None, mirror=None, progress=None, rho=None,
                 ci_method="z", evidence_level=None, plan=None) -> Report:
    """Analyse the study ``tables`` (paths); the arguments are those of :class:`ReportSettings`."""
    return analyse(ReportSettings(tables=tuple(tables), since=since, studies_folder=studies_folder,
                                  mirror=mirror, rho=rho, ci_method=ci_method, evidence_level=evidence_level,
                                  plan=plan), progress)


def work_units(prepared: PreparedTables) -> int:
    """How many progress steps :func:`analyse` takes for the tables :func:`prepare` read (for a
    progress bar)."""
    return 2 * len(sections(prepared.rows, prepared.plan)) + 1
