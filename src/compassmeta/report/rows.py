"""The study rows of a report: loading, trial labels, fingerprints and provenance."""
import functools
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..common.errors import InputError
from ..data.measure_routes import DEFAULT_MEASURE, check_one_measure
from ..data.plan import Plan, comparator_of, comparison_labels, scs_part, timepoint_windows
from ..data.studytable import load_study_table
from ..plots.labels import author_year
from .results import TableVersion, TrialSource
from .settings import EVIDENCE_LEVELS, TEACHING_TABLES

#: What :func:`classify_rows` adds to a row (left out of its fingerprint).
PLAN_KEYS = ("window", "comparator", "comparator_kind", "scs_part", "collection", "label", "comparison")


def _sha256(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


#: What a row's fingerprint leaves out: the effect size computed from its cells, its table, the plan's keys.
_NOT_DIGESTED = frozenset(("yi", "vi", "table", *PLAN_KEYS))
#: ``json.dumps(cells, default=str)``, its encoder made once.
_DIGEST_JSON = json.JSONEncoder(default=str)


@functools.lru_cache(maxsize=64)
def _digested(names: tuple) -> tuple:
    """The cells of a row with columns ``names`` that its fingerprint reads, sorted (a table's rows
    share their columns: sorted once, not per row)."""
    return tuple(sorted(name for name in names if name not in _NOT_DIGESTED))


def row_digest(row: Mapping[str, Any]) -> str:
    """A short fingerprint of a row's cells (the sha256 of their JSON, sorted by column), so the next
    report can tell a changed row."""
    text = _DIGEST_JSON.encode({name: row[name] for name in _digested(tuple(row))})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def trial_label(row: Mapping[str, Any]) -> str:
    """"Author Year", "A & B Year" or "Author et al. Year" from the citation, as the CLI's figures
    label a trial (:func:`compassmeta.plots.labels.author_year`); the study id as a fallback."""
    return author_year(row.get("citation") or "", row.get("year") or "") or row["study_id"]


def load_rows(paths: Iterable[str | os.PathLike[str]],
              evidence_level: str | None = None) -> tuple[list, tuple, tuple]:
    """Typed rows of every table (with ``yi``, ``vi`` and ``table``), each table's version and
    the validation warnings; with ``evidence_level`` (a key of :data:`EVIDENCE_LEVELS`) only the
    rows whose numbers are printed there (rows without the column, or blank, are left out)."""
    rows: list[dict[str, Any]]
    versions: list[TableVersion]
    warnings: list[str]
    rows, versions, warnings = [], [], []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise InputError("no such file", file=path)
        table = load_study_table(path, resource="thirdwave" if path.stem == "thirdwave" else "trials")
        check_one_measure(table.rows, path, expected=DEFAULT_MEASURE,   # the report pools Hedges' g
                          advice="the report pools Hedges' g: pool such rows with pool --where")
        versions.append(TableVersion(path=str(path), sha256=_sha256(path), rows=len(table)))
        warnings += [str(problem) for problem in table.warnings]
        for row, g, v in zip(table.rows, table.yi, table.vi):
            rows.append(dict(row, yi=float(g), vi=float(v), table=str(path)))
    seen: dict[str, str] = {}
    for row in rows:
        if row["es_id"] in seen:
            raise InputError(f"es_id '{row['es_id']}' is also in {seen[row['es_id']]}", file=row["table"],
                             column="es_id")
        seen[row["es_id"]] = row["table"]
    if evidence_level is not None:
        rows = [row for row in rows if row.get("evidence_level") == EVIDENCE_LEVELS[evidence_level]]
        if not rows:
            raise InputError(f"no row has evidence_level '{EVIDENCE_LEVELS[evidence_level]}'",
                             file=versions[0].path if versions else None, column="evidence_level")
    return rows, tuple(versions), tuple(warnings)


def classify_rows(rows: Sequence[dict[str, Any]], plan: Plan) -> Sequence[dict[str, Any]]:
    """The rows with what the analysis plan makes of them: ``window`` (timepoint window),
    ``comparator`` (passive or active) and ``comparator_kind`` (waitlist, ...), ``scs_part``
    (the SCS part of a self-compassion row, else None) and ``collection`` (the title of a
    teaching table such as ThirdWave, kept apart from the curated trials; None for those).
    The keys are added to the rows themselves (:func:`load_rows`' own dictionaries: 10^5 rows
    are not copied)."""
    windows = timepoint_windows(rows, plan)
    for row, window in zip(rows, windows):
        kind, cls = comparator_of(row, plan)
        row.update(window=window, comparator=cls, comparator_kind=kind, scs_part=scs_part(row),
                   collection=TEACHING_TABLES.get(Path(row["table"]).stem))
    return rows


def label_rows(rows: Sequence[dict[str, Any]], labels: dict, plan: Plan) -> Sequence[dict[str, Any]]:
    """The rows with their ``label``: the trial's label, and for a trial of several comparisons
    (a multi-arm trial) the comparison too ('Hypo & Test 2024: MSC vs waitlist'), as the CLI's
    figures label them; ``comparison`` the comparison alone (None for a trial of one).  The keys
    are added to the rows themselves, as :func:`classify_rows` does."""
    for row, comparison in zip(rows, comparison_labels(rows, plan)):
        row.update(comparison=comparison,
                   label=labels[row["study_id"]] + (f": {comparison}" if comparison else ""))
    return rows


def unique_labels(rows: Iterable[Mapping[str, Any]]) -> dict:
    """One label per trial; equal labels of different trials get their study id added."""
    labels: dict[str, str] = {}
    for row in rows:
        labels.setdefault(row["study_id"], trial_label(row))
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    return {study: (label if counts[label] == 1 else f"{label} ({study})") for study, label in labels.items()}


def participants(rows: Iterable[Mapping[str, Any]]) -> int | None:
    """Participants over trials, each group counted once: a trial's intervention arms (by ``arm``)
    and control groups (by ``control_arm``) each add their largest n among the trial's rows, so
    a control shared by two comparisons counts once (Cochrane Handbook 23.3.4); rows without arm
    labels count the largest n1 + n2 of the trial.  None if a row lacks n."""
    groups: dict[tuple[str, tuple[str, str | None]], int] = {}
    for row in rows:
        if row.get("n1") is None or row.get("n2") is None:
            return None
        if row.get("arm") and row.get("control_arm"):
            for group, n in ((("arm", row["arm"]), row["n1"]), (("control", row["control_arm"]), row["n2"])):
                key = (row["study_id"], group)
                groups[key] = max(groups.get(key, 0), n)
        else:
            key = (row["study_id"], ("both", None))
            groups[key] = max(groups.get(key, 0), row["n1"] + row["n2"])
    return int(sum(groups.values()))


def trial_sources(rows: Iterable[Mapping[str, Any]], labels: Mapping[str, str]) -> tuple:
    """Provenance of every trial, in order of first appearance."""
    trials: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        trials.setdefault(row["study_id"], []).append(row)
    return tuple(TrialSource(study_id=study, label=labels[study], citation=members[0]["citation"],
                             doi=members[0].get("doi"), es_ids=tuple(row["es_id"] for row in members),
                             sources=tuple(dict.fromkeys(row["source"] for row in members)),
                             source_doi=members[0].get("source_doi"), table=members[0]["table"],
                             evidence_levels=tuple(dict.fromkeys(row.get("evidence_level") or ""
                                                                 for row in members)))
                 for study, members in trials.items())


def plan_rows(tables: Iterable[str | os.PathLike[str]], plan: Plan,
              evidence_level: str | None = None) -> tuple:
    """The rows of the ``tables`` (those of ``evidence_level``, see :func:`load_rows`) classified
    and labelled by the analysis ``plan`` (:func:`classify_rows`, :func:`label_rows`), the trial
    labels, the tables' versions and the validation warnings."""
    rows, versions, warnings = load_rows(tables, evidence_level)
    if not rows:
        raise InputError("the tables hold no rows", file=versions[0].path if versions else None)
    labels = unique_labels(rows)
    return list(label_rows(classify_rows(rows, plan), labels, plan)), labels, versions, warnings
