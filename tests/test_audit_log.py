"""Issue 22: every write of the study table is logged in changes.csv, in the same step."""
import csv
import json
import shutil

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.data import store
from compassmeta.data.audit import LOG_HEADER, Author
from compassmeta.data.table_text import Patch
from conftest import PROJECT

STUDIES = PROJECT / "studies"
EXAMPLES = STUDIES / "examples"
ROW = "savari2021-bdi2-post"


@pytest.fixture
def folder(tmp_path):
    for name in ("datapackage.json", "trials.csv", "instruments.csv"):
        shutil.copyfile(STUDIES / name, tmp_path / name)
    return tmp_path


def run(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def original_row():
    with open(STUDIES / "trials.csv", newline="", encoding="utf-8") as handle:
        return next(row for row in csv.DictReader(handle) if row["es_id"] == ROW)


def log(folder):
    with open(folder / "changes.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == LOG_HEADER
    return [dict(zip(LOG_HEADER, row)) for row in rows[1:]]


def test_edit_logs_old_and_new_value_who_and_why(folder):
    result = run("edit", ROW, "-s", "sd1=7.9", "--studies", folder, "--by", "MJ", "--reason",
                 "Table 2 recheck", "--yes")
    assert result.exit_code == 0, result.output
    [entry] = log(folder)
    assert (entry["who"], entry["command"], entry["es_id"], entry["field"], entry["new_value"],
            entry["reason"]) == ("MJ", "edit", ROW, "sd1", "7.9", "Table 2 recheck")
    original = original_row()
    assert entry["old_value"] == original["sd1"]
    assert entry["time"].endswith("Z") and entry["time"][:4].isdigit()


def test_remove_and_add_log_every_filled_cell(folder):
    cells = original_row()
    assert run("remove", ROW, "--studies", folder, "--by", "RC", "--yes").exit_code == 0
    removed = log(folder)
    assert {e["field"] for e in removed} == {k for k, v in cells.items() if v}
    assert all(e["new_value"] == "" and e["command"] == "remove" for e in removed)
    row_file = folder.parent / "row.json"
    row_file.write_text(json.dumps(cells), encoding="utf-8")
    assert run("add", "--from", row_file, "--studies", folder, "--yes").exit_code == 0
    added = log(folder)[len(removed):]
    assert {(e["field"], e["new_value"]) for e in added} == {(k, v) for k, v in cells.items() if v}
    assert all(e["old_value"] == "" and e["command"] == "add" for e in added)


def test_refused_write_logs_nothing(folder):
    result = run("edit", ROW, "-s", "n_total=10", "--studies", folder, "--yes")
    assert result.exit_code == 2
    assert not (folder / "changes.csv").exists()


def test_log_and_table_are_written_in_one_step(folder, monkeypatch):
    """A failure while writing the table's temporary file leaves both files as they were."""
    before = (folder / "trials.csv").read_bytes()
    assert run("edit", ROW, "-s", "sd1=7.9", "--studies", folder, "--yes").exit_code == 0
    log_before = (folder / "changes.csv").read_bytes()
    table_before = (folder / "trials.csv").read_bytes()
    assert table_before != before
    real = store.write_files_atomically

    def failing(texts):
        assert list(texts) == [folder / "trials.csv", folder / "changes.csv"]   # both in one call
        raise OSError("disk full")

    monkeypatch.setattr(store, "write_files_atomically", failing)
    with pytest.raises(OSError):
        store.rewrite_table(folder / "trials.csv", lambda table: Patch(dropped=frozenset({0})),
                            author=Author("remove", "test"))
    monkeypatch.setattr(store, "write_files_atomically", real)
    assert (folder / "changes.csv").read_bytes() == log_before
    assert (folder / "trials.csv").read_bytes() == table_before


def test_extract_merge_is_logged(tmp_path):
    for name in ("datapackage.json", "instruments.csv"):
        shutil.copyfile(STUDIES / name, tmp_path / name)
    header = (STUDIES / "trials.csv").read_text(encoding="utf-8").splitlines()[0]
    (tmp_path / "trials.csv").write_text(header + "\n", encoding="utf-8")
    result = run("extract", "merge", EXAMPLES / "tealesapach2022_A.csv",
                 EXAMPLES / "tealesapach2022_B_checked.csv", "--into", tmp_path / "trials.csv",
                 "--extractors", "MJ,RC", "--by", "MJ")
    assert result.exit_code == 0, result.output
    entries = log(tmp_path)
    assert {e["es_id"] for e in entries} == {"tealesapach2022-bfne-s-post", "tealesapach2022-lsas-sr-post",
                                             "tealesapach2022-sips-post"}
    assert all(e["command"] == "extract merge" and e["who"] == "MJ" for e in entries)
    assert entries[0]["reason"] == "double extraction by MJ,RC"


def test_history_prints_the_log_of_one_row(folder):
    run("edit", ROW, "-s", "sd1=7.9", "--studies", folder, "--by", "MJ", "--yes")
    run("edit", "koszycki2016-lsas-post", "-s", "weeks_after_baseline=13", "--studies", folder, "--yes")
    result = run("history", ROW, "--studies", folder)
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "MJ  edit  savari2021-bdi2-post  sd1:" in lines[0] and "-> 7.9" in lines[0]
    everything = json.loads(run("history", "--studies", folder, "--format", "json").output)
    assert [e["es_id"] for e in everything["entries"]] == [ROW, "koszycki2016-lsas-post"]


def test_outputs_never_replace_the_log(folder):
    run("edit", ROW, "-s", "sd1=7.9", "--studies", folder, "--yes")
    result = run("forest", folder / "trials.csv", "-o", folder / "changes.csv")
    assert result.exit_code == 2 and "changes.csv" in result.output


def test_files_written_together_change_none_when_one_fails(tmp_path):
    from compassmeta.common.files import write_files_atomically

    table = tmp_path / "trials.csv"
    table.write_text("old\n", encoding="utf-8")
    with pytest.raises(OSError):
        write_files_atomically({table: "new\n", tmp_path / "missing-folder" / "changes.csv": "entry\n"})
    assert table.read_text(encoding="utf-8") == "old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["trials.csv"]   # no temporary left
