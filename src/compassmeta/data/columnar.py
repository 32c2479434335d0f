"""Reading a large CSV file as columns, through pandas' C parser (issue 29: a study table of 10^5
rows read in about half the time of the csv module).

pandas is lenient where the csv module is strict (a row short of fields is padded, text after a
closing quote is kept, a NUL byte passes), so the file's bytes are scanned first and the columns
are used only when the scan proves that the csv module would read the same records: every
quote opens at the start of a field or closes before a comma, a line end, an escaped quote or
the end of the file; the quotes pair up; no NUL byte; and the commas outside quotes number
exactly (fields - 1) per record.  Otherwise :func:`read_columns` returns None and the caller reads
the file with the csv module, whose messages name the fault.  The lines each record spans
(for a writer that copies unchanged rows) are found on demand by a second scan.
"""
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import overload

import numpy as np
from numpy.typing import NDArray

BLOCK = 1 << 23           # bytes scanned at a time (the file is never held whole)
QUOTE, COMMA, NEWLINE, RETURN = 34, 44, 10, 13
BOM = b"\xef\xbb\xbf"
BOUNDARIES = np.array([COMMA, NEWLINE, RETURN, QUOTE], dtype=np.uint8)   # may neighbour a quote

Spans = tuple[Sequence[int], Sequence[int]]
Record = tuple[str, ...]


class ColumnRecords(Sequence[tuple[str, ...]]):
    """A table's text records held as columns (one list of cells per header field): a reader of
    columns takes them as they are; the row tuples are built on first use, once."""

    def __init__(self, columns: list[list[str]], layout: Callable[[], "Layout | None"] | None = None,
                 rows: list[tuple[str, ...]] | None = None) -> None:
        self.columns = columns
        self._find_layout = layout
        self._layout: Layout | None = None
        self._rows = rows     # the records as row tuples, when already built (the same cells)

    def _materialized(self) -> list[tuple[str, ...]]:
        if self._rows is None:
            self._rows = list(zip(*self.columns))
        return self._rows

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    @overload
    def __getitem__(self, index: int) -> tuple[str, ...]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, ...]]: ...

    def __getitem__(self, index: int | slice) -> tuple[str, ...] | list[tuple[str, ...]]:
        if isinstance(index, int) and self._rows is None:   # one record: not every row built
            return tuple(column[index] for column in self.columns)
        return self._materialized()[index]

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return iter(self._materialized())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def layout(self) -> "Layout | None":
        """Where each record lies in the file read (found on first use); None if unknown."""
        if self._layout is None and self._find_layout:
            self._layout, self._find_layout = self._find_layout(), None
        return self._layout

    def line_spans(self) -> Spans | None:
        """(first, last) physical lines of each record, as :attr:`tables.Table.spans`; None if unknown."""
        layout = self.layout()
        return layout.lines if layout else None


@dataclass(frozen=True)
class Layout:
    """Where the records of a file lie: ``lines`` as :attr:`tables.Table.spans`, and ``spans`` in
    bytes ([first, last) each) when no line of the file ends in a carriage return."""

    path: str | os.PathLike[str]
    lines: Spans
    spans: Spans | None


@dataclass(frozen=True)
class _Scan:
    """What the byte scan of a file found (see the module's docstring)."""

    quotes: NDArray[np.int64]      # positions of every '"'
    outside_commas: int            # commas outside quoted fields
    regular: bool                  # every quote at a field boundary, quotes paired, no NUL byte


def _scan(path: str | os.PathLike[str]) -> _Scan:
    """Scan a file's bytes a block at a time for :func:`read_columns`."""
    found, commas, inside, regular, offset, count = [], 0, 0, True, 0, 0
    previous, pending = None, False   # the last byte before the block; a closing quote ended it
    with open(path, "rb") as handle:
        offset = len(BOM) if handle.read(len(BOM)) == BOM else handle.seek(0)   # a mark is no field
        while block := handle.read(BLOCK):
            data = np.frombuffer(block, np.uint8)
            quotes = np.flatnonzero(data == QUOTE)
            closing = (np.arange(len(quotes)) + count) % 2 == 1
            bounds = np.concatenate(([0], quotes)) if count % 2 else quotes   # a field still open
            bounds = np.append(bounds, len(block)) if len(bounds) % 2 else bounds
            inside += sum(map(block.count, repeat(b","), bounds[0::2].tolist(), bounds[1::2].tolist()))
            commas += block.count(b",")
            regular = (regular and b"\0" not in block and not (pending and data[0] not in BOUNDARIES)
                       and _at_boundaries(data, quotes, closing, previous))
            pending = bool(len(quotes)) and bool(closing[-1]) and quotes[-1] == len(block) - 1
            found.append(quotes + offset)
            previous, offset, count = int(data[-1]), offset + len(block), count + len(quotes)
    quotes = np.concatenate(found) if found else np.empty(0, np.int64)
    return _Scan(quotes, commas - inside, regular and len(quotes) % 2 == 0)


def _at_boundaries(data: NDArray[np.uint8], quotes: NDArray[np.int64], closing: NDArray[np.bool_],
                   previous: int | None) -> bool:
    """Every quote of a block (``data``) touches a field boundary on its outer side: the byte
    before an opening quote (``previous`` ends the block before; None at the file's start,
    after any byte-order mark), the byte after a closing one (checked by the
    caller when it is the block's last byte)."""
    opening, closes = quotes[~closing], quotes[closing]
    before = data[np.maximum(opening - 1, 0)]
    start = (opening == 0) & (previous is None or previous in BOUNDARIES)
    after = closes[closes + 1 < len(data)] + 1
    return bool((start | ((opening > 0) & np.isin(before, BOUNDARIES))).all()
                and np.isin(data[after], BOUNDARIES).all())


def read_columns(path: str | os.PathLike[str]) -> tuple[list[str], ColumnRecords] | None:
    """(header record, the non-blank records as :class:`ColumnRecords`) of a CSV file read by
    pandas' C parser, or None when the file must be read by the csv module (see the module's
    docstring): a record short of fields, irregular quoting, text that is not UTF-8, ..."""
    scan = _scan(path)
    if not scan.regular:
        return None
    import pandas as pd

    try:
        frame = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, na_filter=False,
                            skip_blank_lines=False, encoding="utf-8-sig", engine="c")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    columns = [frame[name].tolist() for name in frame.columns]
    del frame
    records = len(columns[0]) if columns else 0
    if records < 2 or scan.outside_commas != records * (len(columns) - 1):
        return None
    header = [column[0] for column in columns]
    # blank records are skipped, as the csv module's reading skips them
    kept = [number for number, cell in enumerate(columns[0])
            if number and (cell.strip() or any(column[number].strip() for column in columns))]
    if not kept:
        return None
    if len(kept) == records - 1:
        columns = [column[1:] for column in columns]
    else:
        columns = [[column[number] for number in kept] for column in columns]
    return header, ColumnRecords(columns, lambda: _layout(path, scan.quotes, kept, records))


def _layout(path: str | os.PathLike[str], quotes: NDArray[np.int64], kept: Sequence[int],
            records: int) -> Layout | None:
    """The :class:`Layout` of the records numbered ``kept`` (0 = the header) among the file's
    ``records``; lines as the csv module's ``line_num`` counts them (a line ends at a line feed,
    a carriage return and line feed, or a lone carriage return; a record ends at a line end
    outside quotes).  None if the count of records disagrees."""
    newlines, returns, offset = [], [], 0
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            data = np.frombuffer(block, np.uint8)
            newlines.append(np.flatnonzero(data == NEWLINE) + offset)
            returns.append(np.flatnonzero(data == RETURN) + offset)
            offset += len(block)
    ends_n = np.concatenate(newlines) if newlines else np.empty(0, np.int64)
    ends_r = np.concatenate(returns) if returns else np.empty(0, np.int64)
    breaks = np.sort(np.concatenate((ends_n, ends_r[~np.isin(ends_r + 1, ends_n)])))
    record_ends = np.flatnonzero(np.searchsorted(quotes, breaks) % 2 == 0) + 1
    byte_ends = breaks[record_ends - 1] + 1
    if len(record_ends) == records - 1 and (not len(breaks) or breaks[-1] < offset - 1):
        record_ends = np.append(record_ends, len(breaks) + 1)   # a last record with no line end
        byte_ends = np.append(byte_ends, offset)
    if len(record_ends) != records:
        return None
    lines = np.concatenate(([0], record_ends[:-1]))[kept].tolist(), record_ends[kept].tolist()
    spans = np.concatenate(([0], byte_ends[:-1]))[kept].tolist(), byte_ends[kept].tolist()
    return Layout(path, lines, None if len(ends_r) else spans)
