"""Double extraction: compare two independent extractions of the same trials, merge agreed rows.

Two reviewers each enter the trials they extracted into a table with the study table's
columns.  :func:`compare` lists every cell on which they disagree (trial, outcome, arm,
field, both values), as Metapsy's ``checkConflicts`` does for its databases; rows are matched
by ``es_id``.  Numbers agree when they are equal as numbers ("16.20" and "16.2"), text when
equal after trimming.  :func:`merge` writes the rows into the study table only when no
conflict is open, records both extractors in ``extractors``, and uses the table's lock and
atomic write, so a crash or Ctrl-C leaves the old table or the new one.
"""
from dataclasses import dataclass
from pathlib import Path

from ..common.errors import InputError
from ..common.results import Result
from . import store
from .audit import Author
from .instruments import load_instruments
from .schema import Schema, raise_first_error
from .tables import read_table
from .validation import validate_text

IGNORED_FIELDS = ("extractors",)     # who extracted may differ: that is the point


@dataclass(frozen=True)
class Conflict(Result):
    """One cell on which the two extractions disagree (a whole row missing: field '(row)')."""

    es_id: str
    study_id: str
    outcome: str
    arm: str
    field: str
    first: str
    second: str


@dataclass(frozen=True)
class ExtractionComparison(Result):
    """The outcome of ``compassmeta extract compare``."""

    first: str
    second: str
    rows_compared: int
    conflicts: tuple

    @property
    def agreed(self):
        return not self.conflicts

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([conflict.to_dict() for conflict in self.conflicts],
                            columns=[name for name in Conflict.__dataclass_fields__])


def read_extraction(path, package):
    """An extraction file, checked against the study table's schema: (header, text records by
    es_id).  Any schema error is raised with its file, row and column."""
    path = Path(path)
    schema = Schema.load(package, "trials")
    try:
        table = read_table(path)
    except FileNotFoundError:
        raise InputError("no such file", file=path) from None
    problems, _ = validate_text(path, table.header, table.rows, schema,
                                           load_instruments(package))
    raise_first_error(problems)
    return table.header, {record[0]: dict(zip(table.header, record)) for record in table.rows}, schema


def _same(first, second, field_type):
    first, second = first.strip(), second.strip()
    if field_type in ("number", "integer") and first and second:
        return float(first) == float(second)
    return first == second


def compare(first_path, second_path, package):
    """Every disagreeing cell of two extractions (rows matched by es_id)."""
    _, first, schema = read_extraction(first_path, package)
    _, second, _ = read_extraction(second_path, package)
    types = {spec["name"]: spec["type"] for spec in schema.fields}
    conflicts = []
    for es_id in list(first) + [key for key in second if key not in first]:
        a, b = first.get(es_id), second.get(es_id)
        row = a or b
        where = dict(es_id=es_id, study_id=row["study_id"], outcome=row["outcome"], arm=row["arm"])
        if a is None or b is None:
            conflicts.append(Conflict(**where, field="(row)", first="present" if a else "missing",
                                      second="present" if b else "missing"))
            continue
        for name in schema.names:
            if name not in IGNORED_FIELDS and not _same(a[name], b[name], types[name]):
                conflicts.append(Conflict(**where, field=name, first=a[name], second=b[name]))
    return ExtractionComparison(first=str(first_path), second=str(second_path),
                                rows_compared=len(set(first) | set(second)), conflicts=tuple(conflicts))


@dataclass(frozen=True)
class MergeResult(Result):
    """The outcome of ``compassmeta extract merge``."""

    into: str
    extractors: str
    rows_written: tuple


def parse_extractors(text):
    """'A,B' -> 'A;B' (two distinct, non-empty names)."""
    names = [name.strip() for name in text.split(",")]
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise InputError(f"--extractors takes two different names separated by a comma, got '{text}'")
    if any(";" in name for name in names):
        raise InputError("extractor names cannot contain ';'")
    return ";".join(names)


def merge(first_path, second_path, into, extractors: str, package=None, on_wait=None,
          author: Author | None = None) -> MergeResult:
    """Append the agreed rows of two extractions to the study table ``into``.

    Refused while any conflict is open, when a row is already in the table, or when the
    merged table would not pass every check of ``validate``; the table is locked for the
    read-check-write and replaced atomically (:func:`store.rewrite_table`).
    """
    into = Path(into)
    package = Path(package) if package else into.parent / "datapackage.json"
    recorded = parse_extractors(extractors)
    comparison = compare(first_path, second_path, package)
    if comparison.conflicts:
        first = comparison.conflicts[0]
        raise InputError(f"{len(comparison.conflicts)} conflict(s) still open, e.g. {first.es_id} "
                         f"{first.field}: '{first.first}' vs '{first.second}'; resolve them "
                         "(compassmeta extract compare) before merging", file=second_path, column=first.field)
    _, rows, _ = read_extraction(first_path, package)

    def with_merged_rows(table, records):
        existing = {record[0] for record in records}
        for number, es_id in enumerate(rows, start=1):
            if es_id in existing:
                raise InputError(f"es_id '{es_id}' is already in {into}", file=first_path, row=number,
                                 column="es_id")
        return records + [tuple(dict(record, extractors=recorded).get(name, "") for name in table.header)
                          for record in rows.values()]

    store.rewrite_table(into, with_merged_rows, package, "trials", on_wait=on_wait,
                        author=author or Author("extract merge"))
    return MergeResult(into=str(into), extractors=recorded, rows_written=tuple(rows))
