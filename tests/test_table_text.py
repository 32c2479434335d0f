"""Writes that say which rows they change (data.table_text.Patch, issue 29): a table read as columns
(tables.LARGE_FILE forced to 0), whose kept records are copied from the file as byte spans (or line
by line when a line ends in a carriage return), is written byte for byte as the csv module's reading
writes it, with the same messages and audit log, for edit, remove, add, trial add --replace and
extract merge, on tables with CRLF line ends, quoted line breaks, a byte-order mark, a record of
empty fields and a last line without a line end; and as a table formatted from its rows would be."""
import errno
import os
import re
import shutil
from pathlib import Path

import pytest

from compassmeta.common.files import Span, write_files_atomically
from compassmeta.data import store, table_text, tables
from compassmeta.data.columnar import ColumnRecords
from compassmeta.data.table_text import Patch, format_record, format_table
from test_input_rows import run
from test_studies import GOOD_ROW, add_args

STUDIES = Path(__file__).resolve().parent.parent / "studies"
EXAMPLES = STUDIES / "examples"
TEALE = ("tealesapach2022-bfne-s-post", "tealesapach2022-lsas-sr-post", "tealesapach2022-sips-post")


def shipped_rows() -> tuple[tuple[str, ...], list[list[str]]]:
    """The header and rows of the shipped table, a quoted line break and accents in the first two."""
    table = tables.read_table(STUDIES / "trials.csv")
    rows = [list(row) for row in table.rows]
    rows[0][table.header.index("inclusion_note")] = 'quoted, "with" a\nline break, é'
    rows[1][table.header.index("citation")] = "Hernández é ü"
    return table.header, rows


def _blank_record(text: bytes) -> bytes:
    """A record of empty fields after the fifth record (the readers skip it: the spans have a gap)."""
    lines = text.split(b"\n")
    fields = lines[0].count(b",")
    return b"\n".join(lines[:7] + [b"," * fields] + lines[7:])


def _quoted_id(text: bytes) -> bytes:
    """Needless quotes around the es_id of the third record."""
    lines = text.split(b"\n")
    first, rest = lines[4].split(b",", 1)
    lines[4] = b'"' + first + b'",' + rest
    return b"\n".join(lines)


VARIANTS = {
    "LF": lambda text: text,
    "CRLF": lambda text: text.replace(b"\n", b"\r\n"),
    "some CRLF": lambda text: text.replace(b"\n", b"\r\n", 4),
    "no last LF": lambda text: text[:-1],
    "byte-order mark": lambda text: b"\xef\xbb\xbf" + text,
    "record of empty fields": _blank_record,
    "needless quotes, no last LF": lambda text: _quoted_id(text)[:-1],
}


def study_folder(folder: Path, variant: str) -> Path:
    """A study folder whose trials.csv is the shipped table (see :func:`shipped_rows`) as ``variant``."""
    folder.mkdir(parents=True)
    for name in ("datapackage.json", "instruments.csv"):
        shutil.copyfile(STUDIES / name, folder / name)
    header, rows = shipped_rows()
    text = format_table(header, [dict(zip(header, row)) for row in rows]).encode("utf-8")
    (folder / "trials.csv").write_bytes(VARIANTS[variant](text))
    return folder / "trials.csv"


def _edit(row: int, **cells: str) -> list:
    first = ["edit", f"@{row}", "--table", "{table}", "--yes"]
    return [first + [part for name, value in cells.items() for part in ("-s", f"{name}={value}")]]


WRITES = {   # each a sequence of commands; {table}: the table, @N: the es_id of row N (@-1: the last)
    "edit the row with a line break": _edit(0, sessions="9"),
    "edit the last row": _edit(-1, sessions="9", inclusion_note="new, \"quoted\"\r\nnote"),
    "edit refused": _edit(2, sd1="-2"),
    "remove the first row": [["remove", "@0", "--table", "{table}", "--yes"]],
    "remove the last row": [["remove", "@-1", "--table", "{table}", "--yes"]],
    "add": [add_args("{table}", GOOD_ROW)],
    "add refused": [add_args("{table}", dict(GOOD_ROW, n1="٢٣"))],
    "trial add --replace": [["trial", "add", EXAMPLES / "tealesapach2022_trial.toml", "--studies",
                             "{folder}", "--replace", "--yes"]],
    "remove three rows, then extract merge": [
        *(["remove", es_id, "--table", "{table}", "--yes"] for es_id in TEALE),
        ["extract", "merge", EXAMPLES / "tealesapach2022_A.csv", EXAMPLES / "tealesapach2022_B_checked.csv",
         "--into", "{table}", "--extractors", "MJ,RC"]],
}


def outcome(path: Path, commands: list) -> tuple:
    """(exit codes, outputs, the table's bytes, the audit log with its times masked) after ``commands``."""
    es_ids = tables.read_table(path).column("es_id")
    codes, outputs = [], []
    for command in commands:
        arguments = [es_ids[int(part[1:])] if re.fullmatch(r"@-?\d+", str(part))
                     else str(part).format(table=path, folder=path.parent) for part in command]
        code, output = run(*arguments)
        codes.append(code)
        outputs.append(output.replace(str(path.parent), "FOLDER"))
    log = path.parent / "changes.csv"
    logged = log.exists() and re.sub(r"\d{4}-\d\d-\d\dT[\d:]+Z", "TIME", log.read_text(encoding="utf-8"))
    return codes, outputs, path.read_bytes(), logged


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("write", list(WRITES))
def test_a_table_read_as_columns_is_written_as_the_csv_modules_reading_writes_it(write, variant, tmp_path,
                                                                                 monkeypatch):
    small = outcome(study_folder(tmp_path / "small", variant), WRITES[write])
    monkeypatch.setattr(tables, "LARGE_FILE", 0)
    path = study_folder(tmp_path / "large", variant)
    rows = tables.read_table(path).rows
    assert isinstance(rows, ColumnRecords)
    assert (rows.layout().spans is None) == (b"\r" in path.read_bytes())   # bytes copied unless a '\r'
    large = outcome(path, WRITES[write])
    assert large == small
    assert set(small[0]) == ({2} if write.endswith("refused") else {0}), small[1]


@pytest.mark.parametrize("write", ["edit the row with a line break", "remove the first row", "add",
                                   "trial add --replace"])
def test_a_write_reads_and_checks_the_table_once(write, tmp_path, monkeypatch):
    """The preview's check (edit, add, trial add) serves the write made under the lock."""
    path = study_folder(tmp_path / "studies", "LF")
    calls = []
    read, check = store.read_table, store.checked_records
    monkeypatch.setattr(store, "read_table",
                        lambda *args, **options: calls.append("read") or read(*args, **options))
    monkeypatch.setattr(store, "checked_records",
                        lambda *args, **options: calls.append("check") or check(*args, **options))
    assert outcome(path, WRITES[write])[0] == [0]
    assert calls == ["read", "check"]


@pytest.mark.parametrize("reader", ["csv module", "columns", "columns, records not found in the file"])
@pytest.mark.parametrize("variant", ["LF", "no last LF", "record of empty fields", "CRLF"])
def test_an_edit_and_a_remove_write_the_table_formatted_from_its_rows(variant, reader, tmp_path, monkeypatch):
    """What the copies must add up to: every record's text as compassmeta formats it (the shipped rows
    are written so), the edited one changed, the removed one gone, a blank record dropped; the same
    when the records' place in the file is unknown (each record formatted)."""
    if reader != "csv module":
        monkeypatch.setattr(tables, "LARGE_FILE", 0)
    if reader.endswith("not found in the file"):
        monkeypatch.setattr(ColumnRecords, "layout", lambda self: None)
    path = study_folder(tmp_path / "studies", variant)
    header, rows = shipped_rows()
    es_ids = [row[0] for row in rows]
    assert outcome(path, _edit(-1, sessions="9") + _edit(3, sd1="5.5"))[0] == [0, 0]
    rows[-1][header.index("sessions")], rows[3][header.index("sd1")] = "9", "5.5"
    expected = format_table(header, [dict(zip(header, row)) for row in rows])
    if variant == "CRLF":   # (the line break inside the quoted cell is copied as it was)
        expected = expected.replace("a\nline", "a\r\nline")
    assert path.read_bytes() == expected.encode("utf-8")
    assert outcome(path, [["remove", es_ids[5], "--table", "{table}", "--yes"]])[0] == [0]
    assert path.read_bytes() == (expected.encode("utf-8").replace(format_record(header, dict(
        zip(header, rows[5]))).encode("utf-8"), b""))


@pytest.mark.parametrize("few", [table_text.FEW_DROPPED, 0])
def test_a_patch_applied_to_columns_gives_the_records_applied_to_rows(few, monkeypatch):
    monkeypatch.setattr(table_text, "FEW_DROPPED", few)
    header, rows = shipped_rows()
    base = tuple(tuple(row) for row in rows)
    columns = ColumnRecords([list(column) for column in zip(*base)])
    new = tuple(f"{cell}!" for cell in base[4])
    patch = Patch(dropped=frozenset({0, 7, len(base) - 1}), replaced={4: new, 5: base[5]}, added=(base[2],))
    expected = [*base[1:4], new, *base[5:7], *base[8:-1], base[2]]
    assert patch.applied(base) == expected
    assert list(patch.applied(columns)) == expected
    assert list(columns) == list(base)                   # the table's own columns are not changed
    assert patch.changed(base) == ([base[0], base[4], base[5], base[7], base[-1]], [new, base[5], base[2]])
    assert list(patch.pieces(len(base))) == [range(1, 4), new, base[5], range(6, 7), range(8, len(base) - 1),
                                             base[2]]


def test_a_row_both_dropped_and_replaced_is_refused():
    with pytest.raises(ValueError, match="both dropped and replaced"):
        Patch(dropped=frozenset({1}), replaced={1: ("a",)})


@pytest.mark.parametrize("line_ends", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("last", [True, False])
def test_an_appended_table_is_the_old_text_with_its_line_ends_made_lf_then_the_new_lines(line_ends, last,
                                                                                          tmp_path):
    path = tmp_path / "t.csv"
    text = b'\xef\xbb\xbfa,b\n1,"x\r\ny"\n2,3\n'.replace(b"\n", line_ends)
    path.write_bytes(text if last else text[:-len(line_ends)])
    write_files_atomically({tmp_path / "new.csv": table_text.appended_text(path, "4,5\n")})
    with open(path, encoding="utf-8") as handle:     # the text as read with universal line ends
        old = handle.read()
    assert (tmp_path / "new.csv").read_text(encoding="utf-8") == old + ("" if last else "\n") + "4,5\n"
    assert (b"\r" in text) == (table_text._plain_bytes(path) is None)


@pytest.mark.parametrize("kernel", ["copy_file_range", "no copy_file_range", "copy_file_range fails"])
def test_spans_are_copied_as_bytes_with_or_without_the_kernels_copy(kernel, tmp_path, monkeypatch):
    source = tmp_path / "source.bin"
    source.write_bytes(bytes(range(256)) * 40_000)
    if kernel == "no copy_file_range":
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    elif kernel == "copy_file_range fails":
        def refuse(*args: object) -> int:
            raise OSError(errno.EXDEV, "cross-device")
        monkeypatch.setattr(os, "copy_file_range", refuse)
    monkeypatch.setattr("compassmeta.common.files.COPY_BLOCK", 4096)
    target = tmp_path / "target.txt"
    write_files_atomically({target: ["é", Span(source, 3, 9_000_000), "\n", Span(source, 0, 2), ""]})
    data = source.read_bytes()
    assert target.read_bytes() == "é".encode() + data[3:9_000_000] + b"\n" + data[:2]


def test_a_span_past_the_end_of_its_file_leaves_every_file_as_it_was(tmp_path):
    source, target, other = tmp_path / "source.bin", tmp_path / "target.txt", tmp_path / "other.txt"
    source.write_bytes(b"0123456789")
    target.write_text("old", encoding="utf-8")
    with pytest.raises(OSError, match="ended at byte 10"):
        write_files_atomically({target: [Span(source, 2, 12)], other: "x"})
    assert target.read_text(encoding="utf-8") == "old" and not other.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["source.bin", "target.txt"]
