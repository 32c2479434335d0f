"""Writing a study table safely: the table's lock held from read to write, the whole new
table checked, an atomic replace (a crash leaves the old file or the new one, never a mix).

:func:`append_row` adds a row; :func:`rewrite_table` applies any change to the rows (remove,
edit, merge).  The CSV is written as compassmeta writes it everywhere (:func:`format_table`).
"""
import contextlib
import csv
import fcntl
import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path

from ..common.errors import InputError
from ..common.files import remove_stale_temporaries, replacing, write_atomically
from .instruments import load_instruments
from .row_effects import row_effect
from .schema import Schema, raise_first_error
from .tables import read_table
from .validation import all_problems

LOCK_TIMEOUT = 60.0   # seconds a writer waits for another write of the same table before giving up
LOCK_NOTICE = 1.0     # seconds of waiting before the writer says so
LOCK_POLL = 0.05


class _Line:
    """A 'file' for csv.writer whose write returns the text, so that writerow returns the line."""

    @staticmethod
    def write(text: str) -> str:
        return text


LINE_WRITER = csv.writer(_Line, lineterminator="\r\n")


def format_record(header, record: dict) -> str:
    """One CSV line as compassmeta writes it: minimal quoting, '\\n' line ends.

    The row is written with a '\\r\\n' terminator so that the csv module quotes any cell
    holding either character (with '\\n' alone, a bare '\\r' would go out unquoted and split
    the row when read back); the terminator is then replaced by '\\n'.
    """
    return _line([record.get(name, "") for name in header])


def _line(cells) -> str:
    """One row of cells as a CSV line (see :func:`format_record`)."""
    return LINE_WRITER.writerow(cells)[:-2] + "\n"


def format_table(header, records) -> str:
    """A whole CSV table (header line, then one line per record dict) as compassmeta writes it."""
    return "".join(table_lines(header, ([record.get(name, "") for name in header] for record in records)))


def table_lines(header, rows):
    """The lines of a CSV table (the header, then ``rows`` of cells in its order) as
    :func:`format_record` writes them, one at a time."""
    return map(_line, itertools.chain([header], rows))


class TableLock:
    """An exclusive advisory lock on ``<table>.lock`` for the read-check-write of a change.

    The lock file is removed on release, so none is left beside the table.  A process that
    was waiting on the removed file sees that the path no longer names the file it locked
    and locks the new one instead.  A writer that waits tells ``on_wait`` after
    ``LOCK_NOTICE`` seconds and gives up after ``timeout`` seconds (an InputError: nothing
    written).  Once locked, temporary files that killed writes left beside the table are removed.
    """

    def __init__(self, path, timeout: float = LOCK_TIMEOUT, on_wait: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.lock_path = Path(str(path) + ".lock")
        self.timeout = timeout
        self.on_wait = on_wait
        self.handle = None

    def __enter__(self) -> "TableLock":
        started = time.monotonic()
        while True:
            handle = open(self.lock_path, "a")
            try:
                self._wait_for(handle, started)
                current = os.stat(self.lock_path).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                current = False
            except BaseException:
                handle.close()
                raise
            if current:
                self.handle = handle
                remove_stale_temporaries(self.path)
                return self
            handle.close()

    def _wait_for(self, handle, started):
        """Lock ``handle``, polling; notice after LOCK_NOTICE seconds, an error after the timeout."""
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                waited = time.monotonic() - started
            if waited >= self.timeout:
                raise InputError(f"another write holds the lock {self.lock_path.name} and did not finish "
                                 f"within {self.timeout:g} s; nothing written (try again later)",
                                 file=self.path)
            if not told and waited >= LOCK_NOTICE and self.on_wait:
                self.on_wait(f"waiting for another write to {self.path} to finish "
                             f"(giving up after {self.timeout:g} s)...")
                told = True
            time.sleep(LOCK_POLL)

    def __exit__(self, *exc):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.lock_path)
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def same_trial_result(a: dict, b: dict) -> bool:
    """Two rows that report the same result of the same trial (a duplicate under another es_id)."""
    keys = ("study_id", "outcome", "instrument", "timepoint", "stat_type", "n1", "n2", "mean1", "sd1",
            "mean2", "sd2", "statistic", "g", "se")
    return all(a.get(key) == b.get(key) for key in keys)


_LAST = {}   # the last table read and the last check, keyed by the file's identity (one entry each)


def _identity(path) -> tuple:
    """What changes whenever a table file is replaced or written: inode, size, modification time."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return (str(path), None)
    return (str(Path(path).resolve()), status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def _inputs(path, package) -> tuple:
    """The identities of everything a check reads: the table, its data package and instruments."""
    package = Path(package) if package else Path(path).parent / "datapackage.json"
    return _identity(path), _identity(package), _identity(package.parent / "instruments.csv")


def current_table(path):
    """The table file as read now; read once per version of the file (a command that previews a
    change and then writes it under the lock reads and checks a large table once, not twice)."""
    identity = _identity(path)
    cached = _LAST.get("table")
    if cached and cached[0] == identity:
        return cached[1]
    table = read_table(path, allow_empty=True)
    _LAST["table"] = (identity, table)
    return table


def _remembered(key, compute):
    """``compute()``, or its result for the same ``key`` (which holds the file's identity) if the
    last call had it; results that raise are not kept."""
    cached = _LAST.get("check")
    if cached and cached[0] == key:
        return cached[1]
    result = compute()
    _LAST["check"] = (key, result)
    return result


def checked_records(path, header, records, package=None, resource="trials") -> tuple:
    """(problems, typed rows) of a table given as text: every check of ``compassmeta validate``."""
    path = Path(path)
    package = Path(package) if package else path.parent / "datapackage.json"
    schema = Schema.load(package, resource)
    return all_problems(path, header, records, schema, load_instruments(package))


def check_new_row(path, record: dict, package=None, resource: str = "trials") -> tuple:
    """Check the table with a new row (text cells) appended, as ``validate`` would; return the
    header, the new typed row, its (g, v) and its warnings, or raise InputError naming the field.
    A second call for the same row on the same version of the file returns the first's result."""
    path = Path(path)
    package = Path(package) if package else path.parent / "datapackage.json"
    key = ("add", _inputs(path, package), resource, tuple(sorted(record.items())))
    return _remembered(key, lambda: _check_new_row(path, record, package, resource))


def _check_new_row(path, record, package, resource):
    """:func:`check_new_row` itself."""
    existing = current_table(path) if path.exists() else None
    header = existing.header if existing else Schema.load(package, resource).names
    records = list(existing.rows) if existing else []
    new_number = len(records) + 1
    new_record = tuple(record.get(name, "") for name in header)
    problems, typed = checked_records(path, header, records + [new_record], package, resource)
    errors = [p for p in problems if p.level == "error"]
    if errors:
        new_errors = [p for p in errors if p.row == new_number] or errors
        first = new_errors[0]
        where = "new row" if first.row == new_number else f"row {first.row}"
        raise InputError(f"{where}: {first.message}", file=first.file, column=first.column)
    new_row = typed[-1]
    for number, row in enumerate(typed[:-1], start=1):
        if row["study_id"] == new_row["study_id"] and same_trial_result(row, new_row):
            raise InputError(f"new row repeats row {number} ({row['es_id']}): same trial, outcome and "
                             "statistics", file=path)
    warnings = [p for p in problems if p.level == "warning" and p.row == new_number]
    return header, new_row, row_effect(new_row), warnings


def append_row(path, record: dict, package=None, resource: str = "trials", on_wait=None) -> tuple:
    """Append a row under the table's lock once the whole new table passes every check of
    ``validate``; the file is replaced atomically.  Returns (g, v, warnings of the new row)."""
    path = Path(path)
    with TableLock(path, on_wait=on_wait):
        header, _, effect, warnings = check_new_row(path, record, package, resource)
        _LAST.clear()
        if path.exists():
            with open(path, encoding="utf-8") as handle:
                _write_streamed(path, _appended(handle, format_record(header, record)))
        else:
            write_atomically(path, format_table(header, [record]))
    return effect[0], effect[1], warnings


def _appended(handle, line: str):
    """The text of an open table file in blocks (line ends read as '\n'), then ``line``, with a
    line end added before it if the file lacked its last one."""
    last = ""
    while block := handle.read(1 << 20):
        last = block[-1]
        yield block
    yield ("\n" if last and last != "\n" else "") + line


def _write_streamed(path, blocks) -> None:
    """Write text ``blocks`` to ``path`` atomically (:func:`common.files.replacing`), synced to disk,
    without holding the whole text in memory."""
    with replacing(path) as temporary:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            for block in blocks:
                handle.write(block)
            handle.flush()
            os.fsync(handle.fileno())


def changed_table(path, change, package=None, resource: str = "trials") -> tuple:
    """(header, new records, typed rows, warnings) of the table after ``change(table, records)``,
    checked as a whole as ``validate`` checks it; raises the first error.  Writes nothing.
    A change with a ``key`` attribute (:mod:`editing`) is checked once per version of the file."""
    def compute():
        table = current_table(path)
        records = change(table, list(table.rows))
        problems, typed = checked_records(path, table.header, records, package, resource)
        raise_first_error(problems)
        return table.header, records, typed, [p for p in problems if p.level == "warning"]

    key = getattr(change, "key", None)
    if key is None:
        return compute()
    return _remembered((key, _inputs(path, package), resource), compute)


def rewrite_table(path, change, package=None, resource: str = "trials", on_wait=None) -> list:
    """Apply ``change(table, records) -> records`` under the table's lock, check the whole result
    as ``validate`` does and replace the file atomically.  Returns the warnings of the new table."""
    with TableLock(path, on_wait=on_wait):
        header, records, _, warnings = changed_table(path, change, package, resource)
        _LAST.clear()
        _write_streamed(path, table_lines(header, records))
    return warnings
