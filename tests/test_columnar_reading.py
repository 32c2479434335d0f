"""A large file read as columns by pandas' parser (data.columnar, issue 29) gives the same Table, the
same line spans and the same one-line errors as the csv module's reading: each crafted file is read
both ways (the size threshold forced to 0, and the byte scan's block forced small so that quoted
fields and line ends straddle blocks)."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from compassmeta.common.errors import InputError
from compassmeta.data import columnar, tables
from compassmeta.data.columnar import ColumnRecords
from compassmeta.data.studytable import load_study_table, validate_file
from test_input_rows import run
from test_studies import GOOD_ROW, add_args

STUDIES = Path(__file__).resolve().parent.parent / "studies"

REGULAR = {
    "quoted commas, escapes, newlines": b'a,b,c\n1,"x, y",3\n"4","say ""hi""",6\n7,"two\nlines",9\n',
    "byte-order mark, CRLF, no last line end": b'\xef\xbb\xbf"a",b,c\r\n1,2,3\r\n4,"5\r\n5",6',
    "lone CR line ends": b'a,b,c\r1,"x\ry",3\r4,5,6\r',
    "blank record of empty fields": b"a,b,c\n1,2,3\n,,\n4,5,6\n",
    "empty quoted fields": b'a,b,c\n"",,""\n1,"",3\n',
    "a quote that opens a field after an escape": b'a,b,c\n1,"""quoted""",3\n"""",2,3\n',
    "empty first cells, a blank record of spaces": b"a,b,c\n,2,3\n , ,\n4,5,6\n,,x\n",
    "a quoted field of many commas and lines": b'a,b\n"' + b",\r\n" * 300 + b'",2\r\n3,4\r\n',
}
IRREGULAR = {   # read by the csv module (its records, or its message)
    "blank line": b"a,b,c\n1,2,3\n\n4,5,6\n",
    "trailing blank line": b"a,b,c\n1,2,3\n\n",
    "whitespace line": b"a,b,c\n1,2,3\n  \n4,5,6\n",
    "short row": b"a,b,c\n1,2,3\n4,5\n7,8,9\n",
    "long row": b"a,b,c\n1,2,3\n4,5,6,7\n",
    "text after a closing quote": b'a,b,c\n1,"2"x,3\n',
    "space after a closing quote": b'a,b,c\n1,"2" ,3\n',
    "quote inside an unquoted field": b'a,b,c\n1,x"2",3\n',
    "unclosed quote": b'a,b,c\n1,"2,3\n4,5,6\n',
    "NUL byte": b"a,b,c\n1,\x002,3\n",
    "not UTF-8": b"a,b,c\n1,\xff,3\n",
    "duplicate header": b"a,b,a\n1,2,3\n",
    "semicolons": b"a;b;c\n1;2;3\n",
    "header only": b"a,b,c\n",
}


def read_both(path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> tuple:
    """(outcome by the csv module, outcome by the columnar path): a Table's header, rows and line
    spans, or the error's text; and the columnar table's rows."""
    def outcome() -> tuple:
        try:
            table = tables.read_table(path)
        except InputError as error:
            return ("error", str(error)), None
        spans = table.line_spans()
        return (table.header, list(table.rows), spans and (list(spans[0]), list(spans[1]))), table.rows

    small, _ = outcome()
    monkeypatch.setattr(tables, "LARGE_FILE", 0)
    monkeypatch.setattr(columnar, "SCAN_BLOCK", block)
    large, rows = outcome()
    monkeypatch.undo()
    return small, large, rows


@pytest.mark.parametrize("block", [3, 7, 1 << 23])
@pytest.mark.parametrize("name", list(REGULAR))
def test_regular_files_are_read_as_columns_with_the_same_records_and_spans(name, block, tmp_path,
                                                                           monkeypatch):
    path = tmp_path / "t.csv"
    path.write_bytes(REGULAR[name])
    small, large, rows = read_both(path, monkeypatch, block)
    assert isinstance(rows, ColumnRecords)
    assert small[0] != "error" and large == small


@pytest.mark.parametrize("block", [3, 1 << 23])
@pytest.mark.parametrize("name", list(IRREGULAR))
def test_irregular_files_fall_back_to_the_csv_modules_records_or_message(name, block, tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_bytes(IRREGULAR[name])
    small, large, rows = read_both(path, monkeypatch, block)
    assert not isinstance(rows, ColumnRecords)
    assert large == small


def test_short_row_message_names_its_row(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_bytes(IRREGULAR["short row"])
    monkeypatch.setattr(tables, "LARGE_FILE", 0)
    with pytest.raises(InputError, match=r"row 2: has 2 fields but the header has 3"):
        tables.read_table(path)


def crafted_study_folder(tmp_path: Path, cells: dict) -> Path:
    """The shipped study folder with ``cells`` ({(row, column): text}) replaced in trials.csv."""
    folder = tmp_path / "studies"
    shutil.copytree(STUDIES, folder)
    table = tables.read_table(folder / "trials.csv")
    rows = [list(row) for row in table.rows]
    for (row, column), text in cells.items():
        rows[row - 1][table.header.index(column)] = text
    from compassmeta.data.store import format_table

    (folder / "trials.csv").write_text(format_table(table.header, [dict(zip(table.header, row))
                                                                   for row in rows]), encoding="utf-8")
    return folder / "trials.csv"


BAD_CELLS = {(2, "n1"): "٢٣", (3, "mean1"): "１６.８", (4, "sd1"): "1_6.8", (5, "outcome"): "mood",
             (6, "es_id"): " ", (7, "year"): "1e3", (8, "higher_is_better"): "yes"}


def test_bad_cells_give_the_same_problems_through_both_readers(tmp_path, monkeypatch):
    path = crafted_study_folder(tmp_path, BAD_CELLS)
    small = [str(problem) for problem in validate_file(path)]
    monkeypatch.setattr(tables, "LARGE_FILE", 0)
    assert isinstance(tables.read_table(path).rows, ColumnRecords)
    large = [str(problem) for problem in validate_file(path)]
    assert large == small
    for row, column in BAD_CELLS:
        assert any(f"row {row}, column '{column}'" in line for line in large), (row, column)


def test_a_valid_study_table_loads_the_same_through_both_readers(tmp_path, monkeypatch):
    path = crafted_study_folder(tmp_path, {})
    small = load_study_table(path)
    monkeypatch.setattr(tables, "LARGE_FILE", 0)
    large = load_study_table(path)
    assert [dict(row) for row in large.rows] == [dict(row) for row in small.rows]
    assert large.yi.tolist() == small.yi.tolist() and large.vi.tolist() == small.vi.tolist()
    assert [str(warning) for warning in large.warnings] == [str(warning) for warning in small.warnings]


WRITES = [   # (command and arguments, expected exit code, after adding GOOD_ROW); {table}: the table
    (["edit", "savari2021-bdi2-post", "-s", "sessions=9", "--table", "{table}", "--yes"], 0, False),
    (["edit", "savari2021-bdi2-post", "-s", "sd1=-2", "--table", "{table}", "--yes"], 2, False),
    (["remove", "savari2021-bdi2-post", "--table", "{table}", "--yes"], 0, False),
    (add_args("{table}", GOOD_ROW), 0, False),
    (add_args("{table}", dict(GOOD_ROW, n1="٢٣")), 2, False),
    (add_args("{table}", dict(GOOD_ROW, es_id="example2024-bdi2-again")), 2, True),
    (["edit", "example2024-bdi2-post", "-s", "n1=22", "--table", "{table}", "--yes"], 0, True),
]


@pytest.mark.parametrize("line_ends", ["LF", "CRLF", "no last LF"])
@pytest.mark.parametrize("arguments, code, after_add", WRITES)
def test_writes_of_a_table_read_as_columns_match_the_csv_modules(arguments, code, after_add, line_ends,
                                                                 tmp_path, monkeypatch):
    """add, edit and remove of a table read as columns (the new table checked from columns, the
    unchanged records copied in blocks of bytes or, with carriage returns, line by line through
    spans found on demand) write the same table and log, and print the same messages."""
    results = []
    for threshold in (tables.LARGE_FILE, 0):
        monkeypatch.setattr(tables, "LARGE_FILE", threshold)
        monkeypatch.setattr(columnar, "SCAN_BLOCK", 1031 if threshold == 0 else columnar.SCAN_BLOCK)
        folder = tmp_path / str(threshold)
        path = crafted_study_folder(folder, {(1, "inclusion_note"): 'quoted, "with" a\nline break, é',
                                             (2, "citation"): "Hernández é ü"})
        text = path.read_bytes()
        path.write_bytes(text.replace(b"\n", b"\r\n", 3) if line_ends == "CRLF"
                         else text[:-1] if line_ends == "no last LF" else text)
        if after_add:
            assert run(*[str(part).format(table=path) for part in add_args("{table}", GOOD_ROW)])[0] == 0
        rows = tables.read_table(path).rows
        assert isinstance(rows, ColumnRecords) == (threshold == 0)
        if threshold == 0:      # the records are copied as bytes unless a line ends in '\r'
            assert (rows.layout().spans is None) == (b"\r" in path.read_bytes())
        exit_code, output = run(*[str(part).format(table=path) for part in arguments])
        log = path.parent / "changes.csv"
        logged = re.sub(r"\d{4}-\d\d-\d\dT[\d:]+Z", "TIME", log.read_text()) if log.exists() else None
        results.append((exit_code, output.replace(str(folder), "FOLDER"), path.read_bytes(), logged))
    assert results[0][0] == code, results[0][1]
    assert results[1] == results[0]


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 128, 1000])
def test_ranks_count_the_true_entries_before_each_position(size):
    """The scan's rank of a position (true entries of a mask before it, by bit counts of packed
    words) equals a plain count, at every position up to and including the mask's end."""
    mask = np.random.default_rng(size).random(size) < 0.3
    positions = np.arange(size + 1)
    total, ranks = columnar._ranks(mask, positions)
    assert total == int(mask.sum())
    assert ranks.tolist() == [int(mask[:position].sum()) for position in positions]


def test_the_layout_comes_from_the_scan_not_a_second_reading(tmp_path, monkeypatch):
    """Where each record lies is found from the line ends the scan collected: the file as it was
    read, even if it changed (or went) since, and the same spans as the csv module's reading."""
    path = tmp_path / "t.csv"
    path.write_bytes(REGULAR["quoted commas, escapes, newlines"])
    small = tables.read_table(path).line_spans()
    monkeypatch.setattr(tables, "LARGE_FILE", 0)
    rows = tables.read_table(path).rows
    path.unlink()
    assert isinstance(rows, ColumnRecords) and small is not None
    assert rows.line_spans() == (list(small[0]), list(small[1]))
    assert rows.layout().spans == ([6, 17, 36], [17, 36, 52])   # after the line feeds at 5, 16, 35, 51


@pytest.mark.parametrize("built, frozen", [(50, False), (20_000, True)])
def test_paused_gc_freezes_what_a_large_read_built(built, frozen):
    """The many containers of a large table are moved out of the collector's generations when the
    pause ends (no later collection walks them); a small read leaves the collector as it was."""
    import gc

    gc.collect()
    before = gc.get_freeze_count()
    try:
        with tables.paused_gc():
            kept = [[number] for number in range(built)]
        assert gc.isenabled() and (gc.get_freeze_count() >= before + built) == frozen
        assert len(kept) == built
    finally:
        gc.unfreeze()


def test_a_file_replaced_between_the_scan_and_the_parse_is_read_as_one_version(tmp_path, monkeypatch):
    """A writer's rename while a large table is read: the byte scan saw one version and pandas
    would parse the other (the same shape, other bytes); the reader now notices the new version
    and reads the one its open handle holds, with the csv module."""
    import os

    path, newer = tmp_path / "t.csv", tmp_path / "newer.csv"
    path.write_text('a,b\n1,"x, y"\n2,z\n', encoding="utf-8")
    newer.write_text('a,b\n7,"long, longer"\n8,w\n', encoding="utf-8")
    real_scan = columnar._scan

    def scan_then_replace(name):
        found = real_scan(name)
        os.replace(newer, path)
        return found

    monkeypatch.setattr(tables, "LARGE_FILE", 0)
    monkeypatch.setattr(columnar, "_scan", scan_then_replace)
    table = tables.read_table(path)
    assert not isinstance(table.rows, ColumnRecords)
    assert list(table.rows) == [("1", "x, y"), ("2", "z")]
