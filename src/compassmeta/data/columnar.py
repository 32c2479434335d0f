"""Reading a large CSV file as columns, through pandas' C parser (issue 29: a study table of 10^5
rows read in about half the time of the csv module).

pandas is lenient where the csv module is strict (a row short of fields is padded, text after a
closing quote is kept, a NUL byte passes), so the file's bytes are scanned first and the columns
are used only when the scan proves that the csv module would read the same records: every
quote opens at the start of a field or closes before a comma, a line end, an escaped quote or
the end of the file; the quotes pair up; no NUL byte; and the commas outside quotes number
exactly (fields - 1) per record.  Otherwise :func:`read_columns` returns None and the caller reads
the file with the csv module, whose messages name the fault.  The lines each record spans
(for a writer that copies unchanged rows) are found on demand from the line ends and quotes
that the scan collected (no second pass over the file).
"""
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
from numpy.typing import NDArray

from ..common.files import file_version

SCAN_BLOCK = 1 << 22      # bytes scanned at a time (of 0.5 to 8 MB, the fastest scan in a fresh process)
QUOTE, COMMA, NEWLINE, RETURN = 34, 44, 10, 13
BOM = b"\xef\xbb\xbf"
BOUNDARIES = (COMMA, NEWLINE, RETURN, QUOTE)     # the bytes that may neighbour a quote
AT_BOUNDARY = np.isin(np.arange(256), BOUNDARIES)   # by byte value (a look-up, not np.isin per block)

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
            return tuple([column[index] for column in self.columns])   # (a list: 1.2x a generator's speed)
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


def column_cells(records: Sequence[Sequence[str]], index: int) -> Sequence[str]:
    """The cells of field ``index`` in every record: the column itself for :class:`ColumnRecords`
    (not to be modified), else a list."""
    if isinstance(records, ColumnRecords):
        return records.columns[index]
    return [record[index] for record in records]


@dataclass(frozen=True)
class Layout:
    """Where the records of a file lie: ``lines`` as :attr:`tables.Table.spans`, and ``spans`` in
    bytes ([first, last) each) when no line of the file ends in a carriage return."""

    path: str | os.PathLike[str]
    lines: Spans
    spans: Spans | None


@dataclass(frozen=True)
class _Scan:
    """What the byte scan of a file found (see the module's docstring); the positions are the
    file's byte offsets, kept for :func:`_layout` (no second pass over the file)."""

    quotes: NDArray[np.int64]      # positions of every '"'
    newlines: NDArray[np.int64]    # positions of every line feed
    returns: NDArray[np.int64]     # positions of every carriage return
    size: int                      # bytes in the file
    outside_commas: int            # commas outside quoted fields
    regular: bool                  # every quote at a field boundary, quotes paired, no NUL byte


def _scan(path: str | os.PathLike[str]) -> _Scan:
    """Scan a file's bytes a block at a time for :func:`read_columns`."""
    found: dict[int, list[NDArray[np.int64]]] = {QUOTE: [], NEWLINE: [], RETURN: []}
    commas, inside, regular, count = 0, 0, True, 0
    previous, pending = None, False   # the last byte before the block; a closing quote ended it
    with open(path, "rb") as handle:
        offset = len(BOM) if handle.read(len(BOM)) == BOM else handle.seek(0)   # a mark is no field
        while block := handle.read(SCAN_BLOCK):
            data = np.frombuffer(block, np.uint8)
            quotes, comma = np.flatnonzero(data == QUOTE), data == COMMA
            closing = (np.arange(len(quotes)) + count) % 2 == 1
            block_commas, inside_commas = _quoted_commas(comma, quotes, count % 2 == 1)
            commas, inside = commas + block_commas, inside + inside_commas
            regular = (regular and b"\0" not in block and not (pending and data[0] not in BOUNDARIES)
                       and _at_boundaries(data, quotes, closing, previous))
            pending = bool(len(quotes)) and bool(closing[-1]) and quotes[-1] == len(block) - 1
            found[QUOTE].append(quotes + offset)
            found[NEWLINE].append(np.flatnonzero(data == NEWLINE) + offset)
            if b"\r" in block:      # rare: no pass for them otherwise
                found[RETURN].append(np.flatnonzero(data == RETURN) + offset)
            previous, offset, count = int(data[-1]), offset + len(block), count + len(quotes)
    quotes, newlines, returns = (np.concatenate(found[byte]) if found[byte] else np.empty(0, np.int64)
                                 for byte in (QUOTE, NEWLINE, RETURN))
    return _Scan(quotes, newlines, returns, offset, commas - inside,
                 regular and len(quotes) % 2 == 0)


def _quoted_commas(comma: NDArray[np.bool_], quotes: NDArray[np.int64], opened: bool) -> tuple[int, int]:
    """(commas, commas inside quoted fields) of a block (``comma``: where its commas are).  The
    commas inside a field are those between its opening and its closing quote: the difference of
    the two quotes' ranks (commas before each), one vector operation for every quote of the block,
    not one count per field.  ``opened``: the block starts inside a field; a field still open at
    the block's end runs to it."""
    bounds = np.concatenate(([0], quotes)) if opened else quotes
    bounds = np.append(bounds, len(comma)) if len(bounds) % 2 else bounds
    total, ranks = _ranks(comma, bounds)
    return total, int((ranks[1::2] - ranks[0::2]).sum())


def _ranks(mask: NDArray[np.bool_], positions: NDArray[np.int64]) -> tuple[int, NDArray[np.int64]]:
    """(how many entries of ``mask`` are true, how many of them lie before each of ``positions``,
    each at most len(mask)): the mask packed into 64-bit words, their bits counted and summed up
    word by word, plus the bits of a position's own word below it (2.5x faster than listing the
    true entries' positions and searching them)."""
    packed = np.packbits(mask, bitorder="little")
    words = np.concatenate((packed, np.zeros(-len(packed) % 8 + 8, np.uint8))).view(np.uint64)  # + a 0 word
    before = np.concatenate(([0], np.cumsum(np.bitwise_count(words), dtype=np.int64)))
    word, bit = positions >> 6, (positions & 63).astype(np.uint64)
    below = np.bitwise_count(words[word] & ((np.uint64(1) << bit) - np.uint64(1)))
    return int(before[-1]), before[word] + below


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
    return bool((start | ((opening > 0) & AT_BOUNDARY[before])).all() and AT_BOUNDARY[data[after]].all())


def read_columns(path: str | os.PathLike[str]) -> tuple[list[str], ColumnRecords] | None:
    """(header record, the non-blank records as :class:`ColumnRecords`) of a CSV file read by
    pandas' C parser, or None when the file must be read by the csv module (see the module's
    docstring): a record short of fields, irregular quoting, text that is not UTF-8, ...; also None
    when the file was replaced or changed between the scan and the parse (a writer's rename
    while a reader reads: the scan and the parse would describe two versions), and the caller's
    csv module then reads the one version its open handle holds."""
    version = file_version(path)
    scan = _scan(path)
    if not scan.regular:
        return None
    import pandas as pd

    try:   # dtype object: the cells as str in plain arrays (pandas 3's str dtype costs 0.1 s more)
        frame = pd.read_csv(path, header=None, dtype=object, keep_default_na=False, na_filter=False,
                            skip_blank_lines=False, encoding="utf-8-sig", engine="c")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    cells = [frame[name].to_numpy() for name in frame.columns]
    del frame
    records = len(cells[0]) if cells else 0
    if records < 2 or scan.outside_commas != records * (len(cells) - 1) or file_version(path) != version:
        return None
    kept = _kept(cells)
    if kept is None:
        return None
    columns = [column[kept].tolist() for column in cells]   # a slice when no record is blank
    return [column[0] for column in cells], ColumnRecords(columns, lambda: _layout(path, scan, kept, records))


def _kept(cells: list[NDArray[np.object_]]) -> slice | NDArray[np.int64] | None:
    """Which records after the header (0) are kept, None if none: a blank record (every cell empty
    or spaces) is skipped, as the csv module's reading skips it.  A slice when no record's first
    cell is blank (the common case: one pass over one column)."""
    first = cells[0].tolist()
    if all(map(str.strip, first[1:])):
        return slice(1, len(first))
    kept = [number for number, cell in enumerate(first)
            if number and (cell.strip() or any(column[number].strip() for column in cells))]
    return np.array(kept, dtype=np.int64) if kept else None


def _layout(path: str | os.PathLike[str], scan: _Scan, kept: slice | NDArray[np.int64],
            records: int) -> Layout | None:
    """The :class:`Layout` of the records ``kept`` (0 = the header) among the file's ``records``,
    from the positions that the scan found; lines as the csv module's ``line_num`` counts them (a
    line ends at a line feed, a carriage return and line feed, or a lone carriage return; a record
    ends at a line end outside quotes).  None if the count of records disagrees."""
    ends_n, ends_r = scan.newlines, scan.returns
    breaks = np.sort(np.concatenate((ends_n, ends_r[~np.isin(ends_r + 1, ends_n)])))
    record_ends = np.flatnonzero(np.searchsorted(scan.quotes, breaks) % 2 == 0) + 1
    byte_ends = breaks[record_ends - 1] + 1
    if len(record_ends) == records - 1 and (not len(breaks) or breaks[-1] < scan.size - 1):
        record_ends = np.append(record_ends, len(breaks) + 1)   # a last record with no line end
        byte_ends = np.append(byte_ends, scan.size)
    if len(record_ends) != records:
        return None
    lines = np.concatenate(([0], record_ends[:-1]))[kept].tolist(), record_ends[kept].tolist()
    spans = np.concatenate(([0], byte_ends[:-1]))[kept].tolist(), byte_ends[kept].tolist()
    return Layout(path, lines, None if len(ends_r) else spans)
