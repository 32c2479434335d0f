"""Double extraction: compare two independent extractions of the same trials, merge agreed rows.

Two reviewers each enter the trials they extracted into a table with the study table's
columns.  :func:`compare` lists every cell on which they disagree (trial, outcome, arm,
field, both values), as Metapsy's ``checkConflicts`` does for its databases, and every cell
that fails validation (marked 'invalid:' with the rule); rows are paired by the comparison they
report (trial, outcome, instrument, component, arm, control arm, timepoint), not by es_id.
Numbers agree when they are equal as numbers ("16.20" and "16.2"), text when
equal after trimming.  :func:`merge` writes the rows into the study table only when no
conflict is open, records both extractors in ``extractors``, and uses the table's lock and
atomic write, so a crash or Ctrl-C leaves the old table or the new one.
"""
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..common.errors import InputError
from ..common.results import Result
from . import store
from .audit import Author
from .instruments import load_instruments
from .schema import Schema, raise_first_error
from .table_text import Patch
from .tables import Table, read_table, shown
from .validation import validate_text

if TYPE_CHECKING:
    import pandas as pd

PathLike = str | os.PathLike[str]
Cells = dict[str, str]   # a row's text cells by column

IGNORED_FIELDS = ("extractors",)     # who extracted may differ: that is the point
PAIR_FIELDS = ("study_id", "outcome", "instrument", "scs_component", "arm", "control_arm", "timepoint",
               "weeks_after_baseline")


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
    conflicts: tuple[Conflict, ...]
    invalid_values: int = 0

    @property
    def agreed(self) -> bool:
        return not self.conflicts

    def to_frame(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame([conflict.to_dict() for conflict in self.conflicts],
                            columns=[name for name in Conflict.__dataclass_fields__])


def read_extraction(path: PathLike, package: PathLike
                    ) -> tuple[tuple[str, ...], dict[str, Cells], Schema, dict[tuple[str, str], str]]:
    """An extraction file checked against the study table's schema and row rules: (header, text
    records by es_id, schema, problems by (es_id, column)).  A file whose header does not fit the
    schema is refused; a cell that fails a rule is kept and its problem returned."""
    path = Path(path)
    schema = Schema.load(package, "trials")
    try:
        table = read_table(path)
    except FileNotFoundError:
        raise InputError("no such file", file=path) from None
    problems, _ = validate_text(path, table.header, table.rows, schema, load_instruments(package))
    raise_first_error([p for p in problems if p.row is None or p.column is None])
    ids = [record[0] for record in table.rows]
    found: dict[tuple[str, str], str] = {}
    for problem in problems:
        if problem.level == "error":
            found.setdefault((ids[problem.row - 1], problem.column), problem.message)
    return table.header, {record[0]: dict(zip(table.header, record)) for record in table.rows}, schema, found


def _same(first: str, second: str, field_type: str) -> bool:
    first, second = first.strip(), second.strip()
    if field_type in ("number", "integer") and first and second:
        try:
            return float(first) == float(second)
        except ValueError:
            return False
    return first == second


def pair_key(row: Cells) -> tuple[str, ...]:
    """What pairs the rows of two extractions: the comparison (trial, outcome, instrument,
    component, arm, control arm, timepoint), whatever es_id each extractor gave it."""
    return tuple(row.get(name, "").strip() for name in PAIR_FIELDS)


def _shown(value: str, problem: str | None) -> str:
    return f"{value} (invalid: {problem})" if problem else value


def _cut(value: str) -> str:
    """A conflict's value for a one-line message: its text cut (a 1 MB cell was printed whole, twice),
    the rule it breaks kept."""
    text, marker, problem = value.partition(" (invalid: ")
    return shown(text) + marker + problem


def compare(first_path: PathLike, second_path: PathLike, package: PathLike) -> ExtractionComparison:
    """Every disagreeing cell of two extractions, and every cell that fails validation (marked
    'invalid:' with the rule), rows paired by :func:`pair_key`."""
    _, first, schema, first_problems = read_extraction(first_path, package)
    _, second, _, second_problems = read_extraction(second_path, package)
    types = {spec["name"]: spec["type"] for spec in schema.fields}
    by_key = {pair_key(row): row for row in second.values()}
    paired = {es_id: by_key.get(pair_key(row)) for es_id, row in first.items()}
    matched = {row["es_id"] for row in paired.values() if row}
    pairs = list(paired.items()) + [(None, row) for row in second.values() if row["es_id"] not in matched]
    conflicts = []
    for es_id, b in pairs:
        a = first.get(es_id) if es_id else None
        row = a or b
        assert row is not None  # every pair has a row on one side at least
        where = dict(es_id=row["es_id"], study_id=row["study_id"], outcome=row["outcome"], arm=row["arm"])
        if a is None or b is None:
            conflicts.append(Conflict(**where, field="(row)", first="present" if a else "missing",
                                      second="present" if b else "missing"))
            continue
        for name in schema.names:
            wrong = first_problems.get((a["es_id"], name)), second_problems.get((b["es_id"], name))
            if name not in IGNORED_FIELDS and (not _same(a[name], b[name], types[name]) or any(wrong)):
                conflicts.append(Conflict(**where, field=name, first=_shown(a[name], wrong[0]),
                                          second=_shown(b[name], wrong[1])))
    invalid = sum(1 for c in conflicts for text in (c.first, c.second) if " (invalid: " in text)
    return ExtractionComparison(first=str(first_path), second=str(second_path), rows_compared=len(pairs),
                                conflicts=tuple(conflicts), invalid_values=invalid)


@dataclass(frozen=True)
class MergeResult(Result):
    """The outcome of ``compassmeta extract merge``."""

    into: str
    extractors: str
    rows_written: tuple[str, ...]


def parse_extractors(text: str) -> str:
    """'A,B' -> 'A;B' (two distinct, non-empty names)."""
    names = [name.strip() for name in text.split(",")]
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise InputError(f"--extractors takes two different names separated by a comma, got '{text}'")
    if any(";" in name for name in names):
        raise InputError("extractor names cannot contain ';'")
    return ";".join(names)


def merge(first_path: PathLike, second_path: PathLike, into: PathLike, extractors: str,
          package: PathLike | None = None, on_wait: Callable[[str], None] | None = None,
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
                         f"{first.field}: '{_cut(first.first)}' vs '{_cut(first.second)}'; resolve them "
                         "(compassmeta extract compare) before merging", file=second_path, column=first.field)
    _, rows, _, _ = read_extraction(first_path, package)

    def with_merged_rows(table: Table) -> Patch:
        existing = set(table.column(table.header[0]))    # (the es_id: a study table's first column)
        for number, es_id in enumerate(rows, start=1):
            if es_id in existing:
                raise InputError(f"es_id '{es_id}' is already in {into}", file=first_path, row=number,
                                 column="es_id")
        merged = (dict(record, extractors=recorded) for record in rows.values())
        return Patch(added=tuple(tuple(record.get(name, "") for name in table.header) for record in merged))

    store.rewrite_table(into, with_merged_rows, package, "trials", on_wait=on_wait,
                        author=author or Author("extract merge"))
    return MergeResult(into=str(into), extractors=recorded, rows_written=tuple(rows))
