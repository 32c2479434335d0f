"""Reading effect-size tables (CSV) with errors that name the file, row and column.

Rows are counted from the first data row (row 1); the header is line 1 of the file, so
row N is line N + 1.  Uses the standard library's csv module rather than pandas to keep
``compassmeta pool`` quick to start; a file of LARGE_FILE bytes or more is read as columns by
pandas' C parser when it reads the same records (:mod:`columnar`; about half the time at 10^5 rows).
"""
import contextlib
import csv
import gc
import math
import os
import re
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

from ..common.errors import InputError
from .columnar import ColumnRecords, column_cells, read_columns

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
# the Frictionless number and integer grammars: ASCII digits, one decimal point, optional sign and
# exponent (Python's float() would also take Unicode digits, full-width digits and underscores)
NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
NON_FINITE_TEXT = ("nan", "inf", "infinity")
LARGEST_WHOLE = 2 ** 53       # whole numbers beyond this are not exact as floats
FIELD_SIZE_LIMIT = 2 ** 31 - 1  # the csv module's default (131,072 characters) would stop the reader
SHOWN_TEXT = 40               # characters of a bad cell quoted in a message
LARGE_FILE = 32 << 20         # bytes from which pandas' parser (0.3 s to import) pays for itself


@dataclass(frozen=True)
class Table:
    """A CSV file's header and text cells, as read (no type conversion yet)."""

    path: str
    header: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]    # a tuple, or ColumnRecords (a large file's columns)
    # (first, last) physical lines of the file (0 = the first line) that each row was read from,
    # as two sequences, when read by :func:`read_table`: a writer copies unchanged rows' text
    spans: tuple[Sequence[int], Sequence[int]] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.rows)

    def line_spans(self) -> tuple[Sequence[int], Sequence[int]] | None:
        """:attr:`spans`, found now for a table read as columns (a second scan of the file)."""
        if self.spans is None and isinstance(self.rows, ColumnRecords):
            return self.rows.line_spans()
        return self.spans

    def column(self, name: str) -> list[str]:
        """The text cells of a column; an error naming the available columns if absent."""
        try:
            index = self.header.index(name)
        except ValueError:
            raise InputError(f"no column '{name}' (columns: {', '.join(self.header)})",
                             file=self.path, column=name) from None
        return list(column_cells(self.rows, index))

    def numeric_column(self, name: str, *, positive: bool = False) -> NDArray[np.float64]:
        """A column as floats: every cell must parse and be finite (and > 0 if ``positive``)."""
        values = np.empty(len(self.rows))
        for number, text in enumerate(self.column(name), start=1):
            value = parse_number(text, file=self.path, row=number, column=name)
            if positive and value <= 0:
                raise InputError(f"must be positive, got {text.strip()}", file=self.path,
                                 row=number, column=name)
            values[number - 1] = value
        return values

    def label_column(self, name: str) -> list[str]:
        """A column of labels (stripped text); an error at the first empty cell."""
        cells = [cell.strip() for cell in self.column(name)]
        for number, cell in enumerate(cells, start=1):
            if cell == "" or cell.upper() in ("NA", "NAN"):
                raise InputError("value is missing", file=self.path, row=number, column=name)
        return cells

    def typed_column(self, name: str) -> list[float] | list[str]:
        """Floats when every cell is a number, else the labels (a categorical column)."""
        cells = self.label_column(name)
        return [float(cell) for cell in cells] if all(map(_is_finite_number, cells)) else cells


def _is_finite_number(text: str) -> bool:
    try:
        return math.isfinite(number_value(text))
    except ValueError:
        return False


def shown(text: str) -> str:
    """A cell's text for a message, cut to SHOWN_TEXT characters."""
    return text if len(text) <= SHOWN_TEXT else f"{text[:SHOWN_TEXT]}... ({len(text):,} characters)"


def number_value(text: str) -> float:
    """The float a cell's text spells in the Frictionless number grammar; ValueError with a reason
    (not a number, with a hint for a decimal comma; not finite) otherwise."""
    if text.lstrip("+-").lower() in NON_FINITE_TEXT:
        raise ValueError(f"not a finite number: '{shown(text)}'")
    if not NUMBER_TEXT.fullmatch(text):
        hint = " (decimal comma? use a point)" if re.fullmatch(r"[+-]?[0-9]+,[0-9]+", text) else ""
        raise ValueError(f"not a number: '{shown(text)}'{hint}")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: '{shown(text)}'")
    return value


def whole_value(text: str) -> int:
    """The integer a cell's text spells (ASCII digits, optional sign, at most 2^53 in size);
    ValueError with a reason otherwise."""
    if not INTEGER_TEXT.fullmatch(text):
        raise ValueError(f"not a whole number: '{shown(text)}'")
    if len(text) > 20 or abs(int(text)) > LARGEST_WHOLE:
        raise ValueError(f"whole number too large to compute with: '{shown(text)}'")
    return int(text)


def parse_number(text: str, *, file: object = None, row: int | None = None,
                 column: str | None = None) -> float:
    """A finite float from a cell, or an error saying what is wrong with it."""
    stripped = text.strip()
    if stripped == "" or stripped.upper() in ("NA", "NAN", "NULL", "NONE"):
        raise InputError("value is missing", file=file, row=row, column=column)
    try:
        return number_value(stripped)
    except ValueError as error:
        raise InputError(str(error), file=file, row=row, column=column) from None


FREEZE_AFTER = 10_000    # containers built under paused_gc beyond which they are frozen


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Hold the cyclic garbage collector while a table's many small objects are built (10^5 rows
    of text cells are millions of objects, none in a cycle; collections would rescan them
    again and again).  When the block built more than FREEZE_AFTER containers, they are moved
    out of the collector's generations (``gc.freeze``): reference counting still frees them, but
    no later collection of the command walks them again (0.1 to 0.3 s per command at 10^5 rows)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_count()[0] > FREEZE_AFTER:
                gc.freeze()
            gc.enable()


def read_table(path: str | os.PathLike[str], *, allow_empty: bool = False) -> Table:
    """Read a comma-separated file with a header line into a :class:`Table`.  The file is
    parsed as it is read (never held whole in memory beside its cells)."""
    path = Path(path)
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except OSError as error:
        raise InputError(f"cannot read file ({error.strerror})", file=path) from None
    with paused_gc():
        large = _read_large(path) if _size(handle) >= LARGE_FILE else None
    if large:
        handle.close()
        return _table(path, large[0], large[1], None, None, allow_empty)
    try:
        with handle, paused_gc():
            header, rows, misfit, spans = _records(handle, path)
    except UnicodeDecodeError:
        raise InputError(f"not UTF-8 text (byte {_bad_byte(path)})", file=path) from None
    except OSError as error:
        raise InputError(f"cannot read file ({error.strerror})", file=path) from None
    return _table(path, header, tuple(rows), misfit, spans, allow_empty)


def _table(path: Path, header: list[str] | None, rows: Sequence[tuple[str, ...]],
           misfit: tuple[int, int] | None, spans: tuple[Sequence[int], Sequence[int]] | None,
           allow_empty: bool) -> Table:
    """The Table of what a reader found, or the error that its header or rows make."""
    if header is None:
        raise InputError("file is empty", file=path)
    header = _checked_header(header, path)
    if misfit:
        raise InputError(f"has {misfit[1]} fields but the header has {len(header)}", file=path, row=misfit[0])
    if not rows and not allow_empty:
        raise InputError("no data rows below the header", file=path)
    return Table(path=str(path), header=tuple(header), rows=rows, spans=spans)


def _size(handle: IO[str]) -> int:
    return os.fstat(handle.fileno()).st_size


def _read_large(path: Path) -> tuple[list[str], ColumnRecords] | None:
    """:func:`columnar.read_columns`; None (the csv module's reading, and its message) on a read error."""
    try:
        return read_columns(path)
    except OSError:
        return None


def _checked_header(header: list[str], path: Path) -> list[str]:
    """The header's names stripped; an error for another delimiter, an empty or a repeated name."""
    header = [name.strip() for name in header]
    _check_delimiter(header, path)
    seen = set()
    for name in header:
        if name == "":
            raise InputError("empty column name in the header", file=path)
        if name in seen:
            raise InputError("duplicate column name in the header", file=path, column=name)
        seen.add(name)
    return header


def _bad_byte(path: str | os.PathLike[str]) -> int:
    """Where the first byte that is not UTF-8 lies in a file."""
    try:
        Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return error.start
    return 0


def _records(lines: Iterable[str], path: Path) -> tuple[list[str] | None, list[tuple[str, ...]],
                                                       tuple[int, int] | None, tuple[array, array]]:
    """(header record or None for a file of blank lines, the non-blank data records as tuples, the first
    (row, field count) whose count differs from the header's or None, the lines each record spans
    (:attr:`Table.spans`)) of CSV ``lines``.  A quoted cell never closed (a cut file) or other broken
    quoting is an error naming the row where it starts."""
    csv.field_size_limit(FIELD_SIZE_LIMIT)
    header, rows, misfit, number, filled = None, [], None, 0, False
    starts, ends, read = array("q"), array("q"), 0
    reader = csv.reader(lines, strict=True)
    try:
        for record in reader:
            start, read = read, reader.line_num
            if header is None:
                header, filled = record, bool("".join(record).strip())
                continue
            number += 1
            if not (record and record[0].strip()) and not "".join(record).strip():
                continue  # blank line
            filled = True
            if len(record) != len(header) and misfit is None:
                misfit = (number, len(record))
            rows.append(tuple(map(sys.intern, record)))   # one object per distinct text (1/4 the memory)
            starts.append(start)
            ends.append(read)
    except csv.Error as error:
        where = "the header" if header is None else f"row {number + 1}"
        reason = ("a quoted cell is never closed (a cut or damaged file?)" if "end of data" in str(error)
                  else f"broken CSV quoting ({error})")
        raise InputError(f"{reason}, from {where} on (line {reader.line_num} of the file)",
                         file=path) from None
    return (header if filled else None), rows, misfit, (starts, ends)


def _check_delimiter(header: list[str], path: Path) -> None:
    if len(header) == 1:
        for delimiter, name in DELIMITERS.items():
            if delimiter != "," and delimiter in header[0]:
                raise InputError(f"the header is {name}-separated; compassmeta reads comma-separated "
                                 "CSV (Metapsy-style files: compassmeta data import)", file=path)


def effect_columns(table: Table, *, yi: str | None = None, vi: str | None = None,
                   sei: str | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64], str, str]:
    """Effect sizes and sampling variances from a table: ``(yi, vi, yi_name, vi_name)``.

    Defaults follow metafor: columns ``yi`` and ``vi`` (or ``sei``, squared).
    """
    yi_name = yi or "yi"
    if vi and sei:
        raise InputError("give either a variance column or a standard-error column, not both")
    effects = table.numeric_column(yi_name)
    if sei is None and vi is None:
        if "vi" in table.header:
            vi = "vi"
        elif "sei" in table.header:
            sei = "sei"
        else:
            raise InputError("no column 'vi' or 'sei' (name one with --vi or --sei)", file=table.path)
    if vi is not None:
        return effects, table.numeric_column(vi, positive=True), yi_name, vi
    assert sei is not None  # given, or found above
    standard_errors = table.numeric_column(sei, positive=True)
    return effects, standard_errors ** 2, yi_name, sei
