"""The living-evidence report's analysis: every number of the study tables, no markup.

:func:`analyse` runs one :class:`ReportSettings` (fits, bias analyses, leave-one-out,
moderators, reproduction, provenance, changes since a previous run) and returns an immutable
:class:`Report`; ``Report.to_dict()`` is the JSON written beside the page and all that
:func:`compassmeta.report.render.render_html` needs.  :func:`load_report` reads that JSON back.
"""
import datetime
from dataclasses import replace

from ..common.errors import InputError
from ..common.files import read_json
from .moderators import analyse_moderator
from .results import Changes, PooledMove, Report, TableVersion
from .rows import load_rows, row_digest, trial_sources, unique_labels
from .settings import MODERATORS, WITHIN_TRIAL_R, ReportSettings
from .subset_analysis import analyse_subset
from .subsets import outcome_groups, outcome_subsets

#: The keys of every report JSON (``Report.to_dict()``).
REPORT_KEYS = frozenset(("generated", "method", "within_trial_r", "rho", "ci_method", "tables", "analyses",
                         "moderators", "trials", "reproduction", "reproduction_note", "row_digests",
                         "changes", "warnings"))


def load_report(path) -> dict:
    """A report's JSON as written beside its page (``Report.to_dict()``): what
    :func:`compassmeta.report.render.render_html` draws a page from and ``--since`` compares with."""
    report = read_json(path, "report JSON")
    missing = sorted(REPORT_KEYS - set(report)) if isinstance(report, dict) else ["row_digests"]
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


def outcome_analyses(outcome: str, rows, labels: dict, settings: ReportSettings) -> list:
    """The analyses of one outcome's subsets; a subset holding the same rows as another shares its numbers."""
    analyses = {}
    for subset in outcome_subsets(outcome, rows):
        if subset.same_trials_as is not None:
            analyses[subset.key] = replace(analyses[f"{outcome} | {subset.same_trials_as}"], key=subset.key,
                                           control=subset.control, same_trials_as=subset.same_trials_as)
        else:
            analyses[subset.key] = analyse_subset(outcome, subset.control, list(subset.rows), labels,
                                                  rho=settings.rho, ci_method=settings.ci_method)
    return list(analyses.values())


def analyse(settings: ReportSettings, progress=None) -> Report:
    """Analyse the study tables of ``settings``; ``progress(n)`` is called after each unit of work
    (:func:`work_units` counts them)."""
    progress = progress or (lambda n: None)
    rows, versions, warnings = load_rows(settings.tables, settings.evidence_level)
    if not rows:
        raise InputError("the tables hold no rows", file=versions[0].path if versions else None)
    labels = unique_labels(rows)
    analyses, moderators = [], []
    for outcome, outcome_rows in outcome_groups(rows).items():
        analyses += outcome_analyses(outcome, outcome_rows, labels, settings)
        progress(1)
        moderators += [analyse_moderator(outcome, column, name, outcome_rows, labels)
                       for column, name in MODERATORS if column in outcome_rows[0]]
        progress(1)
    reproduction, reproduction_note = _reproduction(settings)
    progress(1)
    digests = {row["es_id"]: row_digest(row) for row in rows}
    since = settings.since
    previous = (since if isinstance(since, dict) else load_report(since)) if since is not None else None
    return Report(generated=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  method=settings.method_text(), within_trial_r=WITHIN_TRIAL_R, rho=settings.rho,
                  ci_method=settings.ci_method, tables=versions, analyses=tuple(analyses),
                  moderators=tuple(moderators), trials=trial_sources(rows, labels), reproduction=reproduction,
                  reproduction_note=reproduction_note, row_digests=digests,
                  changes=changes_since(previous, digests, analyses) if previous is not None else None,
                  warnings=warnings)


def build_report(tables, since=None, *, studies_folder=None, mirror=None, progress=None, rho=None,
                 ci_method="z", evidence_level=None) -> Report:
    """Analyse the study ``tables`` (paths); the arguments are those of :class:`ReportSettings`."""
    return analyse(ReportSettings(tables=tuple(tables), since=since, studies_folder=studies_folder,
                                  mirror=mirror, rho=rho, ci_method=ci_method, evidence_level=evidence_level),
                   progress)


def work_units(tables, evidence_level=None) -> int:
    """How many progress steps :func:`analyse` takes for these tables (for a progress bar)."""
    rows, _, _ = load_rows(tables, evidence_level)
    return 2 * len(outcome_groups(rows)) + 1
