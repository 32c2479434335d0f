"""The study rows of a report: loading, trial labels, fingerprints and provenance."""
import hashlib
import json
import re
from pathlib import Path

from ..common.errors import InputError
from ..data.studytable import load_study_table
from .results import TableVersion, TrialSource


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def row_digest(row: dict) -> str:
    """A short fingerprint of a row's cells, so the next report can tell a changed row."""
    text = json.dumps({name: row[name] for name in sorted(row) if name not in ("yi", "vi", "table")},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def trial_label(row: dict) -> str:
    """First author and year from the citation ('Aguilar-Raab 2023'); the study id as a fallback."""
    head = re.split(r"[,(]", row.get("citation") or "")[0].replace("et al.", "")
    words = head.split()
    while words and re.fullmatch(r"(?:[A-Z]{1,3}|(?:[A-Z]\.-?)+)", words[-1]):
        words.pop()  # trailing initials
    name = " ".join(words) or row["study_id"]
    return f"{name} {row['year']}" if row.get("year") else name


#: ``--evidence-level`` choices and the ``evidence_level`` values they keep.
EVIDENCE_LEVELS = {"abstract": "abstract", "full": "full results table"}


def load_rows(paths, evidence_level: str | None = None) -> tuple[list, tuple, tuple]:
    """Typed rows of every table (with ``yi``, ``vi`` and ``table``), each table's version and
    the validation warnings; with ``evidence_level`` (a key of :data:`EVIDENCE_LEVELS`) only the
    rows whose numbers are printed there (rows without the column, or blank, are left out)."""
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
    if evidence_level is not None:
        rows = [row for row in rows if row.get("evidence_level") == EVIDENCE_LEVELS[evidence_level]]
        if not rows:
            raise InputError(f"no row has evidence_level '{EVIDENCE_LEVELS[evidence_level]}'",
                             file=versions[0].path if versions else None, column="evidence_level")
    return rows, tuple(versions), tuple(warnings)


def unique_labels(rows) -> dict:
    """One label per trial; equal labels of different trials get their study id added."""
    labels = {}
    for row in rows:
        labels.setdefault(row["study_id"], trial_label(row))
    counts = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    return {study: (label if counts[label] == 1 else f"{label} ({study})") for study, label in labels.items()}


def participants(rows) -> int | None:
    """Participants over trials (the largest n1 + n2 among a trial's rows); None if a trial lacks n."""
    per_trial = {}
    for row in rows:
        n = None if row.get("n1") is None or row.get("n2") is None else row["n1"] + row["n2"]
        if n is None:
            return None
        per_trial[row["study_id"]] = max(per_trial.get(row["study_id"], 0), n)
    return int(sum(per_trial.values()))


def trial_sources(rows, labels) -> tuple:
    """Provenance of every trial, in order of first appearance."""
    trials = {}
    for row in rows:
        trials.setdefault(row["study_id"], []).append(row)
    return tuple(TrialSource(study_id=study, label=labels[study], citation=members[0]["citation"],
                             doi=members[0].get("doi"), es_ids=tuple(row["es_id"] for row in members),
                             sources=tuple(dict.fromkeys(row["source"] for row in members)),
                             source_doi=members[0].get("source_doi"), table=members[0]["table"],
                             evidence_levels=tuple(dict.fromkeys(row.get("evidence_level") or ""
                                                                 for row in members)))
                 for study, members in trials.items())
