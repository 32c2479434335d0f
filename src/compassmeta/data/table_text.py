"""The text of a study table as compassmeta writes it: CSV lines (:func:`format_record`,
:func:`format_table`) and, for a change of a table (a :class:`Patch`: which rows it drops, replaces
and adds), the new file's blocks: the changed rows formatted, the others copied from the file as
it stands (as byte spans where no line ends in a carriage return), so that an edit of one row of
10^5 formats one line and copies the rest of the file in the kernel.
"""
import csv
import operator
import os
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, pairwise
from typing import TextIO

from ..common.files import Span
from .columnar import ColumnRecords
from .tables import Table

Record = tuple[str, ...]
Block = str | Span


class _Line:
    """A 'file' for csv.writer whose write returns the text, so that writerow returns the line."""

    @staticmethod
    def write(text: str) -> str:
        return text


LINE_WRITER = csv.writer(_Line, lineterminator="\r\n")


def format_record(header: Iterable[str], record: Mapping[str, object]) -> str:
    """One CSV line as compassmeta writes it: minimal quoting, '\\n' line ends.

    The row is written with a '\\r\\n' terminator so that the csv module quotes any cell
    holding either character (with '\\n' alone, a bare '\\r' would go out unquoted and split
    the row when read back); the terminator is then replaced by '\\n'.
    """
    return _line([record.get(name, "") for name in header])


def _line(cells: Iterable[object]) -> str:
    """One row of cells as a CSV line (see :func:`format_record`)."""
    return LINE_WRITER.writerow(cells)[:-2] + "\n"


def format_table(header: Sequence[str], records: Iterable[Mapping[str, object]]) -> str:
    """A whole CSV table (header line, then one line per record dict) as compassmeta writes it."""
    return "".join(table_lines(header, ([record.get(name, "") for name in header] for record in records)))


def table_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """The lines of a CSV table (the header, then ``rows`` of cells in its order) as
    :func:`format_record` writes them, one at a time."""
    return map(_line, chain([header], rows))


@dataclass(frozen=True)
class Patch:
    """A change of a table's records that says which rows it changes: the records in their order,
    less those numbered in ``dropped`` (0-based), each one numbered in ``replaced`` set to its new
    record, then ``added``.  The checks then read the table's columns with a few cells set and a
    write formats only the changed rows (no list of 10^5 row tuples is built)."""

    dropped: frozenset[int] = frozenset()
    replaced: Mapping[int, Record] = field(default_factory=dict)
    added: tuple[Record, ...] = ()

    def __post_init__(self) -> None:
        if not self.dropped.isdisjoint(self.replaced):
            raise ValueError("a row is both dropped and replaced")

    def applied(self, base: Sequence[Record]) -> Sequence[Record]:
        """The new table's records: when ``base`` is held as columns, a :class:`ColumnRecords` of its
        columns with the changed cells set in copies (a checker reads columns, not 10^5 rows);
        else a list."""
        if not isinstance(base, ColumnRecords):
            kept = (self.replaced.get(number, record) for number, record in enumerate(base)
                    if number not in self.dropped)
            return [*kept, *self.added]
        columns, copied = list(base.columns), set()     # a column is copied only if a cell of it changes
        for number, record in self.replaced.items():
            for index, cell in enumerate(record):
                if columns[index][number] != cell:
                    if index not in copied:
                        columns[index] = list(columns[index])
                        copied.add(index)
                    columns[index][number] = cell
        if self.dropped:
            columns = _without(columns, self.dropped)
        if self.added:
            columns = [column + [record[index] for record in self.added]
                       for index, column in enumerate(columns)]
        return ColumnRecords(columns)

    def changed(self, base: Sequence[Record]) -> tuple[list[Record], list[Record]]:
        """(the records of ``base`` that the change drops or replaces, the records it writes): what
        the audit log compares."""
        numbers = sorted(self.dropped | self.replaced.keys())
        return [base[number] for number in numbers], [*(self.replaced[n] for n in sorted(self.replaced)),
                                                      *self.added]

    def pieces(self, count: int) -> Iterator[range | Record]:
        """The new table of ``count`` records of the old one, in order: each run of kept records as
        the range of their numbers, each new record as itself."""
        start = 0
        for number in sorted(self.dropped | self.replaced.keys()):
            if number > start:
                yield range(start, number)
            if number in self.replaced:
                yield self.replaced[number]
            start = number + 1
        if count > start:
            yield range(start, count)
        yield from self.added


FEW_DROPPED = 32     # rows up to which a column's copy loses each one in place (a move in C each)


def _without(columns: list[list[str]], dropped: frozenset[int]) -> list[list[str]]:
    """Copies of ``columns`` without the cells numbered in ``dropped``."""
    if len(dropped) <= FEW_DROPPED:
        copies = [list(column) for column in columns]
        for copy in copies:
            for number in sorted(dropped, reverse=True):
                del copy[number]
        return copies
    kept = [True] * len(columns[0])
    for number in dropped:
        kept[number] = False
    return [list(compress(column, kept)) for column in columns]


def patched_text(table: Table, patch: Patch) -> Iterator[Block]:
    """The blocks of the file of ``table`` changed by ``patch``, as :func:`table_lines` gives its
    text, except that the kept records' text is copied from the file as it stands (a record's line
    end made '\\n'; the header is formatted)."""
    pieces = patch.pieces(len(table.rows))
    layout = table.rows.layout() if isinstance(table.rows, ColumnRecords) else None
    if layout is not None and layout.spans is not None:     # no carriage return: bytes, in the kernel
        return chain([_line(table.header)], _byte_copies(layout.path, layout.spans, pieces))
    spans = table.line_spans()
    if spans is None:
        return table_lines(table.header, patch.applied(table.rows))
    return chain([_line(table.header)], _line_copies(table.path, spans, pieces))


def _byte_copies(path: str | os.PathLike[str], spans: tuple[Sequence[int], Sequence[int]],
                 pieces: Iterable[range | Record]) -> Iterator[Block]:
    """:func:`patched_text` from the records' byte spans: a run of kept records adjacent in the file
    is one :class:`Span` (a record skipped by the reader, e.g. a line of empty fields, splits a run);
    a '\\n' follows the file's last record if it had none."""
    starts, ends = spans
    gaps = list(compress(range(1, len(starts)), map(operator.ne, starts[1:], ends[:-1])))
    for piece in pieces:
        if not isinstance(piece, range):
            yield _line(piece)
            continue
        inner = gaps[bisect_right(gaps, piece.start):bisect_right(gaps, piece.stop - 1)]
        cuts = [piece.start, *inner, piece.stop]
        yield from (Span(path, starts[first], ends[last - 1]) for first, last in pairwise(cuts))
        if not _ends_line(path, ends[piece.stop - 1]):
            yield "\n"


def _ends_line(path: str | os.PathLike[str], end: int) -> bool:
    """Whether the byte before ``end`` in the file is a line feed."""
    with open(path, "rb") as handle:
        handle.seek(end - 1)
        return handle.read(1) == b"\n"


def _line_copies(path: str | os.PathLike[str], spans: tuple[Sequence[int], Sequence[int]],
                 pieces: Iterable[range | Record]) -> Iterator[str]:
    """:func:`patched_text` from the records' line spans, the kept records' lines read as text
    (their line ends, '\\r\\n' or '\\r', made '\\n')."""
    starts, ends = spans
    with open(path, encoding="utf-8-sig", newline="") as handle:
        read = 0
        for piece in pieces:
            if not isinstance(piece, range):
                yield _line(piece)
                continue
            for number in piece:
                for _ in range(starts[number] - read):
                    handle.readline()
                text = "".join(handle.readline() for _ in range(ends[number] - starts[number]))
                read = ends[number]
                yield text.rstrip("\r\n") + "\n"    # a record ends outside quotes: only its line end goes


def appended_text(path: str | os.PathLike[str], lines: str) -> Iterator[Block]:
    """The blocks of a table file with ``lines`` appended, a line end added before them if the
    file lacked its last one: the file copied as bytes when none of its bytes is a carriage return,
    else read as text with its line ends made '\\n' (as every line compassmeta writes)."""
    plain = _plain_bytes(path)
    if plain is None:
        with open(path, encoding="utf-8") as handle:
            yield from _appended(handle, lines)
        return
    size, last = plain
    yield Span(path, 0, size)
    yield ("\n" if last and last != b"\n" else "") + lines


def _plain_bytes(path: str | os.PathLike[str]) -> tuple[int, bytes] | None:
    """(size, last byte) of a file that holds no carriage return; None if it holds one."""
    block, size, last = bytearray(1 << 20), 0, b""     # (read into one buffer: no 145 MB held)
    with open(path, "rb") as handle:
        while read := handle.readinto(block):
            if block.find(b"\r", 0, read) >= 0:
                return None
            size, last = size + read, bytes(block[read - 1:read])
    return size, last


def _appended(handle: TextIO, line: str) -> Iterator[str]:
    """The text of an open table file in blocks (line ends read as '\n'), then ``line``, with a
    line end added before it if the file lacked its last one."""
    last = ""
    while block := handle.read(1 << 20):
        last = block[-1]
        yield block
    yield ("\n" if last and last != "\n" else "") + line
