"""extract compare / merge on the shipped example extractions (studies/examples/)."""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.data.tables import read_table

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "studies" / "examples"
A, B, B_CHECKED = (EXAMPLES / f"tealesapach2022_{name}.csv" for name in ("A", "B", "B_checked"))


def run(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


@pytest.fixture
def review(tmp_path):
    """An empty study table (header only) with its schema beside it."""
    for name in ("datapackage.json", "instruments.csv"):
        shutil.copyfile(ROOT / "studies" / name, tmp_path / name)
    header = (ROOT / "studies" / "trials.csv").read_text(encoding="utf-8").splitlines()[0]
    (tmp_path / "trials.csv").write_text(header + "\n", encoding="utf-8")
    return tmp_path / "trials.csv"


def test_compare_lists_every_disagreeing_cell():
    result = run("extract", "compare", A, B, "--format", "json")
    assert result.exit_code == 1
    conflicts = json.loads(result.output)["conflicts"]
    assert conflicts == [
        {"es_id": "tealesapach2022-lsas-sr-post", "study_id": "tealesapach2022", "outcome": "anxiety",
         "arm": "sct", "field": "sd1", "first": "27.26", "second": "27.62"},
        {"es_id": "tealesapach2022-sips-post", "study_id": "tealesapach2022", "outcome": "anxiety",
         "arm": "sct", "field": "n2", "first": "18", "second": "19"}]


def test_equal_numbers_written_differently_agree():
    result = run("extract", "compare", A, B_CHECKED)
    assert result.exit_code == 0 and "agree" in result.output


def test_a_row_only_one_extractor_entered_is_a_conflict(tmp_path):
    shorter = tmp_path / "short.csv"
    lines = A.read_text(encoding="utf-8").splitlines(keepends=True)
    shorter.write_text("".join(lines[:-1]), encoding="utf-8")
    shutil.copyfile(ROOT / "studies" / "datapackage.json", tmp_path / "datapackage.json")
    shutil.copyfile(ROOT / "studies" / "instruments.csv", tmp_path / "instruments.csv")
    result = run("extract", "compare", A, shorter, "--format", "json")
    conflicts = json.loads(result.output)["conflicts"]
    assert conflicts == [{"es_id": "tealesapach2022-sips-post", "study_id": "tealesapach2022",
                          "outcome": "anxiety", "arm": "sct", "field": "(row)", "first": "present",
                          "second": "missing"}]


def test_merge_is_refused_while_a_conflict_is_open(review):
    before = review.read_bytes()
    result = run("extract", "merge", A, B, "--into", review, "--extractors", "A,B")
    assert result.exit_code == 2
    assert "2 conflict(s) still open" in result.output and str(B) in result.output
    assert review.read_bytes() == before


def test_merge_writes_agreed_rows_with_both_extractors(review):
    before = review.read_bytes()
    result = run("extract", "merge", A, B_CHECKED, "--into", review, "--extractors", "MJ, RC")
    assert result.exit_code == 0, result.output
    assert review.read_bytes().startswith(before)
    table = read_table(review)
    rows = [dict(zip(table.header, row)) for row in table.rows]
    assert [row["es_id"] for row in rows] == ["tealesapach2022-bfne-s-post", "tealesapach2022-lsas-sr-post",
                                             "tealesapach2022-sips-post"]
    assert {row["extractors"] for row in rows} == {"MJ;RC"}
    assert rows[0]["mean1"] == "19.58"          # the first extraction's text is written
    assert not list(review.parent.glob(".trials.*"))
    again = run("extract", "merge", A, B_CHECKED, "--into", review, "--extractors", "MJ,RC")
    assert again.exit_code == 2 and "row 1, column 'es_id': es_id 'tealesapach2022-bfne-s-post' is already" \
        in again.output


@pytest.mark.parametrize("extractors", ["A", "A,A", "A,,", "A,B,C"])
def test_merge_needs_two_different_extractors(review, extractors):
    result = run("extract", "merge", A, B_CHECKED, "--into", review, "--extractors", extractors)
    assert result.exit_code == 2 and "--extractors takes two different names" in result.output


def test_bad_extraction_cell_is_one_line_with_file_row_column(tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text(A.read_text(encoding="utf-8").replace(",19.58,", ",19,58,", 1), encoding="utf-8")
    result = run("extract", "compare", A, broken)
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(broken) in lines[0] and "row 1" in lines[0]


def test_missing_extraction_file_is_one_line():
    result = run("extract", "compare", A, "no-such-file.csv")
    assert result.exit_code == 2 and "no-such-file.csv" in result.output
    assert len(result.output.strip().splitlines()) == 1
