"""No data lost (atomic, locked writes; kill -9 mid-add) and safe output (CSV formula cells,
only the paths the user named)."""
import csv
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.data.studytable import format_table
from compassmeta.data.tables import read_table
from compassmeta.report.text import csv_text
from conftest import PROJECT
from test_studies import GOOD_ROW, add_args

STUDIES = PROJECT / "studies"


@pytest.fixture
def big_table(tmp_path):
    """A table of 3000 valid rows, so that an add spends long enough reading and validating
    for a kill to land anywhere in it."""
    for name in ("datapackage.json", "instruments.csv"):
        shutil.copyfile(STUDIES / name, tmp_path / name)
    table = read_table(STUDIES / "trials.csv")
    records = []
    for copy in range(3000 // len(table) + 1):
        for row in table.rows:
            cells = dict(zip(table.header, row))
            cells["es_id"] = f"{cells['es_id']}-copy{copy}"
            cells["study_id"] = f"{cells['study_id']}-copy{copy}"
            records.append(cells)
    path = tmp_path / "trials.csv"
    path.write_text(format_table(table.header, records), encoding="utf-8")
    return path


def test_kill_9_during_add_leaves_the_old_or_the_new_file(big_table):
    original = big_table.read_bytes()
    rng = random.Random(7)
    outcomes = set()
    for attempt in range(8):
        row = dict(GOOD_ROW, es_id=f"killed{attempt}", study_id=f"killed{attempt}")
        before = big_table.read_bytes()
        process = subprocess.Popen([sys.executable, "-m", "compassmeta"] + add_args(big_table, row),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 1.6))
        process.send_signal(signal.SIGKILL)
        process.wait()
        after = big_table.read_bytes()
        assert after == before or (after.startswith(before) and after.count(b"\n") == before.count(b"\n") + 1
                                   and after.endswith(b"\n"))
        outcomes.add("new" if after != before else "old")
        read_table(big_table)  # still a well-formed table
    assert big_table.read_bytes().startswith(original)


def test_load_and_save_of_every_shipped_table_is_byte_identical():
    for name in ("trials.csv", "thirdwave.csv", "published_results.csv", "instruments.csv"):
        table = read_table(STUDIES / name)
        text = format_table(table.header, [dict(zip(table.header, row)) for row in table.rows])
        assert text.encode("utf-8") == (STUDIES / name).read_bytes(), name


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_output_escapes_formula_cells(cell):
    text = csv_text([{"study": cell, "estimate": -0.5}])
    row = next(csv.DictReader(io.StringIO(text, newline="")))
    assert row["study"] == "'" + cell
    assert row["estimate"] == "-0.5"  # numbers are not text: left as they are


def test_csv_output_of_labels_from_the_data(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("study,yi,vi\n=cmd|' /C calc'!A0,0.2,0.04\nplain,0.5,0.05\nother,0.1,0.03\n")
    result = CliRunner().invoke(main, ["sensitivity", str(path), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "'=cmd" in result.stdout and "\n=cmd" not in result.stdout


def test_figure_commands_write_only_the_named_path(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("yi,vi\n0.2,0.04\n0.5,0.05\n0.1,0.03\n0.7,0.06\n")
    before = set(os.listdir(tmp_path))
    result = CliRunner().invoke(main, ["funnel", str(data), "-o", str(tmp_path / "out" / "f.png")])
    assert result.exit_code == 0, result.output
    assert set(os.listdir(tmp_path)) == before | {"out"}
    assert os.listdir(tmp_path / "out") == ["f.png"]
