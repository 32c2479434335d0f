"""Writing a study table safely: the table's lock held from read to write, the whole new
table checked, an atomic replace (a crash leaves the old file or the new one, never a mix).

:func:`append_row` adds a row; :func:`rewrite_table` applies any change to the rows (remove,
edit, merge).  The CSV is written as compassmeta writes it everywhere (:func:`format_table`).
"""
import contextlib
import csv
import io
import os
from pathlib import Path

from ..common.errors import InputError
from ..common.files import write_atomically
from .instruments import load_instruments
from .row_effects import row_effect
from .schema import Schema, raise_first_error
from .tables import read_table
from .validation import validate_text


def format_record(header, record: dict) -> str:
    """One CSV line as compassmeta writes it: minimal quoting, '\\n' line ends.

    The row is written with a '\\r\\n' terminator so that the csv module quotes any cell
    holding either character (with '\\n' alone, a bare '\\r' would go out unquoted and split
    the row when read back); the terminator is then replaced by '\\n'.
    """
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([record.get(name, "") for name in header])
    return buffer.getvalue()[:-2] + "\n"


def format_table(header, records) -> str:
    """A whole CSV table (header line, then one line per record dict) as compassmeta writes it."""
    return format_record(header, dict(zip(header, header))) + "".join(
        format_record(header, record) for record in records)


class TableLock:
    """An exclusive advisory lock on ``<table>.lock`` for the read-check-write of a change.

    The lock file is removed on release, so none is left beside the table.  A process that
    was waiting on the removed file sees that the path no longer names the file it locked
    and locks the new one instead.
    """

    def __init__(self, path):
        self.lock_path = Path(str(path) + ".lock")
        self.handle = None

    def __enter__(self):
        import fcntl

        while True:
            handle = open(self.lock_path, "a")
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                current = os.stat(self.lock_path).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                current = False
            if current:
                self.handle = handle
                return self
            handle.close()

    def __exit__(self, *exc):
        import fcntl

        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.lock_path)
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def same_trial_result(a, b):
    """Two rows that report the same result of the same trial (a duplicate under another es_id)."""
    keys = ("study_id", "outcome", "instrument", "timepoint", "stat_type", "n1", "n2", "mean1", "sd1",
            "mean2", "sd2", "statistic", "g", "se")
    return all(a.get(key) == b.get(key) for key in keys)


def check_new_row(path, record, package=None, resource="trials"):
    """Validate a new row (text cells) against the table as it is now; return its typed row,
    effect and warnings, or raise InputError naming the field."""
    path = Path(path)
    package = Path(package) if package else path.parent / "datapackage.json"
    schema = Schema.load(package, resource)
    existing = read_table(path, allow_empty=True) if path.exists() else None
    header = existing.header if existing else schema.names
    records = list(existing.rows) if existing else []
    new_number = len(records) + 1
    new_record = tuple(record.get(name, "") for name in header)
    problems, typed = validate_text(path, header, records + [new_record], schema, load_instruments(package))
    errors = [p for p in problems if p.level == "error"]
    if errors:
        new_errors = [p for p in errors if p.row == new_number] or errors
        first = new_errors[0]
        where = "new row" if first.row == new_number else f"row {first.row}"
        raise InputError(f"{where}: {first.message}", file=first.file, column=first.column)
    new_row = typed[-1]
    for number, row in enumerate(typed[:-1], start=1):
        if same_trial_result(row, new_row):
            raise InputError(f"new row repeats row {number} ({row['es_id']}): same trial, outcome and "
                             "statistics", file=path)
    warnings = [p for p in problems if p.level == "warning" and p.row == new_number]
    return header, new_row, row_effect(new_row), warnings


def append_row(path, record, package=None, resource="trials"):
    """Append a validated row under an exclusive lock, atomically; return (g, v, warnings)."""
    path = Path(path)
    with TableLock(path):
        header, _, effect, warnings = check_new_row(path, record, package, resource)
        current = path.read_text(encoding="utf-8") if path.exists() else format_table(header, [])
        if current and not current.endswith("\n"):
            current += "\n"
        write_atomically(path, current + format_record(header, record))
    return effect[0], effect[1], warnings


def changed_table(path, change, package=None, resource="trials"):
    """(header, new records, typed rows, warnings) of the table after ``change(header, records)``,
    validated as a whole; raises the first error.  Writes nothing."""
    path = Path(path)
    package = Path(package) if package else path.parent / "datapackage.json"
    schema = Schema.load(package, resource)
    table = read_table(path, allow_empty=True)
    records = change(table, list(table.rows))
    problems, typed = validate_text(path, table.header, records, schema, load_instruments(package))
    raise_first_error(problems)
    return table.header, records, typed, [p for p in problems if p.level == "warning"]


def rewrite_table(path, change, package=None, resource="trials"):
    """Apply ``change(table, records) -> records`` under the table's lock, validate the whole
    result and replace the file atomically.  Returns the warnings of the new table."""
    with TableLock(path):
        header, records, _, warnings = changed_table(path, change, package, resource)
        write_atomically(path, format_table(list(header), [dict(zip(header, record)) for record in records]))
    return warnings


