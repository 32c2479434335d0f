"""Writing a study table safely: the table's lock held from read to write, the whole new
table checked, an atomic replace (a crash leaves the old file or the new one, never a mix),
and the change appended to the audit log beside the table in the same step (:mod:`audit`).
:func:`append_rows` adds rows (all or none); :func:`rewrite_table` applies a change that says
which rows it drops, replaces and adds (remove, edit, trial replace, merge: a
:class:`table_text.Patch`).  The changed rows are written as compassmeta writes CSV everywhere
(:func:`table_text.format_table`), the others copied from the file.
"""
import contextlib
import fcntl
import operator
import os
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from itertools import compress, repeat
from pathlib import Path
from typing import Any, TextIO, TypeVar

from ..common.errors import InputError
from ..common.files import Span, file_version, remove_stale_temporaries, write_files_atomically
from . import audit
from .audit import Author
from .instruments import load_instruments
from .row_effects import row_effect
from .schema import Problem, Schema, raise_first_error, rows_as_columns
from .table_text import Patch, appended_text, format_record, format_table, patched_text
from .tables import Table, read_table
from .validation import all_problems

LOCK_TIMEOUT = 60.0   # seconds a writer waits for another write of the same table before giving up
LOCK_NOTICE = 1.0     # seconds of waiting before the writer says so
LOCK_POLL = 0.05
PathArg = str | os.PathLike[str]
#: A change of a table: the table -> the rows it drops, replaces and adds (:class:`table_text.Patch`).
Change = Callable[[Table], Patch]
T = TypeVar("T")


class TableLock:
    """An exclusive advisory lock on ``<table>.lock`` for the read-check-write of a change.

    The lock file is removed on release, so none is left beside the table.  A process that
    was waiting on the removed file sees that the path no longer names the file it locked
    and locks the new one instead.  A writer that waits tells ``on_wait`` after
    ``LOCK_NOTICE`` seconds and gives up after ``timeout`` seconds (an InputError: nothing
    written).  Once locked, temporary files that killed writes left beside the table are removed.
    """

    def __init__(self, path: PathArg, timeout: float = LOCK_TIMEOUT,
                 on_wait: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.lock_path = Path(str(path) + ".lock")
        self.timeout = timeout
        self.on_wait = on_wait
        self.handle: TextIO | None = None

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

    def _wait_for(self, handle: TextIO, started: float) -> None:
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

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.lock_path)
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def same_trial_result(a: dict, b: dict) -> bool:
    """Two rows that report the same result of the same trial (a duplicate under another es_id)."""
    keys = ("study_id", "outcome", "instrument", "timepoint", "stat_type", "n1", "n2", "mean1", "sd1",
            "mean2", "sd2", "statistic", "g", "se")
    return all(a.get(key) == b.get(key) for key in keys)


# the last table read and the last check, keyed by the file's identity (one entry each)
_LAST: dict[str, tuple[Any, Any]] = {}


def _identity(path: PathArg) -> tuple:
    """What changes whenever a table file is replaced or written: its resolved path and
    :func:`files.file_version`."""
    try:
        return (str(Path(path).resolve()), *file_version(path))
    except FileNotFoundError:
        return (str(path), None)


def _inputs(path: PathArg, package: PathArg | None) -> tuple:
    """The identities of everything a check reads: the table, its data package and instruments."""
    package = Path(package) if package else Path(path).parent / "datapackage.json"
    return _identity(path), _identity(package), _identity(package.parent / "instruments.csv")


def current_table(path: PathArg) -> Table:
    """The table file as read now; read once per version of the file (a command that previews a
    change and then writes it under the lock reads and checks a large table once, not twice)."""
    identity = _identity(path)
    cached = _LAST.get("table")
    if cached and cached[0] == identity:
        return cached[1]
    table = read_table(path, allow_empty=True)
    _LAST["table"] = (identity, table)
    return table


def _remembered(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or its result for the same ``key`` (which holds the file's identity) if the
    last call had it; results that raise are not kept."""
    cached = _LAST.get("check")
    if cached and cached[0] == key:
        return cached[1]
    result = compute()
    _LAST["check"] = (key, result)
    return result


def checked_records(path: PathArg, header: Sequence[str], records: Sequence[Sequence[str]],
                    package: PathArg | None = None, resource: str = "trials") -> tuple:
    """(problems, typed rows) of a table given as text: every check of ``compassmeta validate``."""
    path = Path(path)
    package = Path(package) if package else path.parent / "datapackage.json"
    schema = Schema.load(package, resource)
    return all_problems(path, header, records, schema, load_instruments(package))


def raise_new_row_errors(problems: Iterable[Problem], first_new: int, new_records: list,
                         path: PathArg) -> None:
    """Raise every error of the new rows (rows ``first_new`` ... of the table) in one InputError,
    one line per problem (a row named by its number among the new rows and its es_id), or the
    first error of the table when no new row has one."""
    count = len(new_records)
    errors = [p for p in problems if p.level == "error"]
    new_errors = [p for p in errors if p.row is not None and p.row >= first_new]
    if not errors:
        return
    if not new_errors or len(new_errors) == 1:
        first = (new_errors or errors)[0]
        if first.row is None or first.row < first_new:   # the header, or a row already in the table
            raise InputError(first.message, file=first.file, row=first.row, column=first.column)
        where = "new row" if count == 1 else f"new row {first.row - first_new + 1}"
        raise InputError(f"{where}: {first.message}", file=first.file, column=first.column)
    lines = [f"{len(new_errors)} problems in the new row(s); nothing written:"]
    for problem in new_errors:
        offset = problem.row - first_new
        which = ("new row" if count == 1
                 else f"new row {offset + 1} ({new_records[offset].get('es_id', '').strip() or 'no es_id'})")
        lines.append(f"  {which}, column '{problem.column}': {problem.message}")
    raise InputError("\n".join(lines), file=path)


def _with_new_rows(path: PathArg, new_records: Sequence[Mapping[str, str]], package: PathArg | None,
                   resource: str) -> tuple:
    """(header, existing records, problems, typed rows) of the table with the new rows appended.
    A second call for the same rows on the same version of the files returns the first's result
    (a command that previews rows and then writes them reads and checks the table once)."""
    path = Path(path)
    package = Path(package) if package else path.parent / "datapackage.json"
    rows = tuple(tuple(sorted(record.items())) for record in new_records)
    key = ("add", _inputs(path, package), resource, rows)
    return _remembered(key, lambda: _checked_with_new_rows(path, new_records, package, resource))


def _checked_with_new_rows(path: Path, new_records: Sequence[Mapping[str, str]], package: PathArg,
                           resource: str) -> tuple:
    """:func:`_with_new_rows` itself."""
    existing = current_table(path) if path.exists() else None
    header = existing.header if existing else Schema.load(package, resource).names
    records = existing.rows if existing else []
    added = tuple(tuple(record.get(name, "") for name in header) for record in new_records)
    problems, typed = checked_records(path, header, Patch(added=added).applied(records), package, resource)
    return header, records, problems, typed


def new_row_problems(path: PathArg, new_records: list, package: PathArg | None = None,
                     resource: str = "trials") -> tuple:
    """(problems, number of the first new row) of the table with the new rows appended."""
    _, records, problems, _ = _with_new_rows(path, new_records, package, resource)
    return problems, len(records) + 1


def check_new_rows(path: PathArg, new_records: list, package: PathArg | None = None,
                   resource: str = "trials") -> tuple:
    """Check the table with new rows (dicts of text cells) appended, as ``validate`` would; return
    the header, the existing records, the new typed rows, their (g, v) and the warnings of the
    new rows; raise one InputError listing every error of the new rows."""
    header, records, problems, typed = _with_new_rows(path, new_records, package, resource)
    first_new = len(records) + 1
    raise_new_row_errors(problems, first_new, new_records, path)
    new_rows = typed[first_new - 1:]
    trials = rows_as_columns(typed, ("study_id",))["study_id"]
    for offset, new_row in enumerate(new_rows):
        earlier = first_new - 1 + offset
        same_trial = map(operator.eq, trials[:earlier], repeat(new_row["study_id"]))
        for number in compress(range(1, earlier + 1), same_trial):   # (a scan in C, not 10^5 rows)
            row = typed[number - 1]
            if same_trial_result(row, new_row):
                label = "new row" if len(new_records) == 1 else f"new row {offset + 1}"
                raise InputError(f"{label} repeats row {number} ({row['es_id']}): same trial, outcome and "
                                 "statistics", file=path)
    warnings = [p for p in problems if p.level == "warning" and p.row >= first_new]
    return header, records, new_rows, [row_effect(row) for row in new_rows], warnings


def check_new_row(path: PathArg, record: dict, package: PathArg | None = None,
                  resource: str = "trials") -> tuple:
    """:func:`check_new_rows` of one row: the header, the new typed row, its (g, v), its warnings."""
    header, _, rows, effects, warnings = check_new_rows(path, [record], package, resource)
    return header, rows[0], effects[0], warnings


def write_with_log(path: PathArg, header: Sequence[str], old_records: Iterable[Sequence[str]],
                   new_text: str | Iterable[str | Span], new_records: Iterable[Sequence[str]],
                   author: Author | None) -> None:
    """Replace the table with ``new_text`` (a text or its blocks, streamed to the file) and,
    when ``author`` is given, append the change to the audit log beside it (:mod:`audit`: the
    records the change dropped or replaced, ``old_records``, against those it wrote), in
    one step: both files are written before either is renamed, the log first (a crash between
    the renames leaves a logged change unmade, never an unlogged one).  Call it under the
    table's lock."""
    texts = {Path(path): new_text}     # renamed in the reverse order: the log first
    found = audit.entries(header, old_records, new_records, author) if author is not None else []
    # the log is shared by the folder's tables: its own lock keeps two tables' entries and
    # removes the temporary logs of killed writes
    with TableLock(audit.log_path(path)) if found else contextlib.nullcontext():
        if found:
            texts[audit.log_path(path)] = audit.appended_log(path, found, format_record)
        write_files_atomically(texts)


def append_rows(path: PathArg, new_records: list, package: PathArg | None = None, resource: str = "trials",
                on_wait: Callable[[str], None] | None = None, author: Author | None = None) -> tuple:
    """Append rows in one transaction, under the table's lock, once the whole new table passes
    every check of ``validate`` (all rows or none); the file is replaced atomically and the
    change logged.  Returns ((g, v) of each new row, warnings of the new rows)."""
    path = Path(path)
    with TableLock(path, on_wait=on_wait):
        header, _, _, effects, warnings = check_new_rows(path, new_records, package, resource)
        added = [tuple(record.get(name, "") for name in header) for record in new_records]
        lines = "".join(format_record(header, record) for record in new_records)
        _LAST.clear()
        # the log records the added rows alone (the checks refused an es_id already in the table);
        # the old file is copied to the temporary file, then the new lines
        text = appended_text(path, lines) if path.exists() else format_table(header, []) + lines
        write_with_log(path, header, [], text, added, author)
    return effects, warnings


def append_row(path: PathArg, record: dict, package: PathArg | None = None, resource: str = "trials",
               on_wait: Callable[[str], None] | None = None, author: Author | None = None) -> tuple:
    """Append one row (see :func:`append_rows`).  Returns (g, v, warnings of the new row)."""
    effects, warnings = append_rows(path, [record], package, resource, on_wait, author)
    return effects[0][0], effects[0][1], warnings


def changed_table(path: PathArg, change: Change, package: PathArg | None = None,
                  resource: str = "trials") -> tuple[tuple[str, ...], Patch, list, list[Problem]]:
    """(header, the change's :class:`Patch`, typed rows, warnings) of the table after
    ``change(table)``, checked as a whole as ``validate`` checks it; raises the first
    error.  Writes nothing.  A change with a ``key`` attribute (:mod:`editing`) is checked once
    per version of the file."""
    def compute() -> tuple[tuple[str, ...], Patch, list, list[Problem]]:
        table = current_table(path)
        patch = change(table)
        problems, typed = checked_records(path, table.header, patch.applied(table.rows), package, resource)
        raise_first_error(problems)
        return table.header, patch, typed, [p for p in problems if p.level == "warning"]

    key = getattr(change, "key", None)
    if key is None:
        return compute()
    return _remembered((key, _inputs(path, package), resource), compute)


def rewrite_table(path: PathArg, change: Change, package: PathArg | None = None, resource: str = "trials",
                  on_wait: Callable[[str], None] | None = None, author: Author | None = None) -> list:
    """Apply ``change(table) -> Patch`` under the table's lock, check the whole result
    as ``validate`` does, replace the file atomically (only the changed rows formatted, the others
    copied from the file) and log the change.  Returns the warnings of the new table."""
    with TableLock(path, on_wait=on_wait):
        header, patch, _, warnings = changed_table(path, change, package, resource)
        table = current_table(path)
        _LAST.clear()
        old, new = patch.changed(table.rows)
        write_with_log(path, header, old, patched_text(table, patch), new, author)
    return warnings
