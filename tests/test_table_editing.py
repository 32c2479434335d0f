"""Correcting the study table: add (also interactively and from an imported row), edit, remove,
implausible values, column typos, the lock file; reproducing published results."""
import json
import shutil
from pathlib import Path

import pytest

from conftest import PROJECT
from test_input_rows import run
from test_studies import GOOD_ROW, add_args  # the schema-valid row of the add tests


@pytest.fixture
def scratch_table(tmp_path):
    for name in ("datapackage.json", "trials.csv", "instruments.csv"):
        (tmp_path / name).write_bytes((PROJECT / "studies" / name).read_bytes())
    return tmp_path / "trials.csv"


def test_edit_changes_one_cell_validates_and_leaves_no_lock(scratch_table):
    before = scratch_table.read_text().splitlines()
    code, output = run("edit", "savari2021-bdi2-post", "-s", "sessions=9", "--table", scratch_table, "--yes")
    assert code == 0, output
    assert "sessions: 8 -> 9" in output
    after = scratch_table.read_text().splitlines()
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(after) == len(before) and len(changed) == 1 and ",9," in after[changed[0]]
    assert not Path(str(scratch_table) + ".lock").exists()


def test_edit_refuses_a_bad_value_on_its_column_and_writes_nothing(scratch_table):
    before = scratch_table.read_bytes()
    code, output = run("edit", "savari2021-bdi2-post", "-s", "sd1=-2", "--table", scratch_table, "--yes")
    assert code == 2 and "column 'sd1'" in output and "greater than 0" in output
    code, output = run("edit", "savari2021-bdi2-post", "-s", "sd_1=3", "--table", scratch_table, "--yes")
    assert code == 2 and "did you mean 'sd1'?" in output
    assert scratch_table.read_bytes() == before


def test_remove_drops_the_row_and_nothing_else(scratch_table):
    before = scratch_table.read_text().splitlines()
    code, output = run("remove", "savari2021-bdi2-post", "--table", scratch_table, "--yes")
    assert code == 0, output
    after = scratch_table.read_text().splitlines()
    assert after == [line for line in before if not line.startswith("savari2021-bdi2-post,")]
    assert len(after) == len(before) - 1
    code, output = run("remove", "savari2021-bdi2", "--table", scratch_table, "--yes")
    assert code == 2 and "no row with es_id" in output


def test_add_leaves_no_lock_file(scratch_table):
    code, output = run(*add_args(scratch_table, GOOD_ROW))
    assert code == 0, output
    assert not Path(str(scratch_table) + ".lock").exists()


def test_scs_mean_outside_its_range_is_an_error_on_the_mean(scratch_table):
    # Neff (2003): the SCS score is the mean of items rated 1-5; 35 is a sum or a typo
    row = dict(GOOD_ROW, instrument="SCS (self-report)", higher_is_better="true", mean1="35", sd1="0.6",
               mean2="3.1", sd2="0.6")
    before = scratch_table.read_bytes()
    code, output = run(*add_args(scratch_table, row))
    assert code == 2 and "column 'mean1'" in output and "outside the SCS range 1-5" in output
    assert scratch_table.read_bytes() == before


def test_implausible_g_is_an_error_unless_confirmed(scratch_table):
    row = dict(GOOD_ROW, mean1="2", sd1="2", mean2="62", sd2="2")   # g beyond 5, not explained by SEs
    code, output = run(*add_args(scratch_table, row))
    assert code == 2 and "column 'sd1'" in output and "beyond |5|" in output
    code, output = run(*add_args(scratch_table, row), "--confirm-implausible", "SDs as printed in Table 2")
    assert code == 0, output
    code, output = run("validate", scratch_table)
    assert code == 0 and "confirmed in inclusion_note" in output


def test_add_from_an_imported_row(shared_data, tmp_path, scratch_table):
    import csv

    code, output = run("data", "import", "metapsy-sad", "-o", tmp_path / "sad.csv", "--mirror", shared_data)
    assert code == 0, output
    rows = list(csv.DictReader((tmp_path / "sad.csv").open()))
    one = next(row for row in rows if row["stat_type"] == "means")
    (tmp_path / "one.csv").write_text(format_one(one))
    code, output = run("add", "--table", scratch_table, "--from", tmp_path / "one.csv", "--yes",
                       "-s", "intervention_class=other", "-s", "population=clinical", "-s", "outcome=anxiety")
    assert code == 0, output
    assert "the database's own g" in output and "differs" not in output


def format_one(record):
    from compassmeta.data.studytable import format_table

    return format_table(list(record), [record])


def test_a_column_typo_names_the_file_and_suggests_the_name(scratch_table):
    text = scratch_table.read_text()
    scratch_table.write_text(text.replace(",sd1,", ",sd_1,", 1))
    code, output = run("pool", scratch_table)
    assert code == 2
    assert f"{scratch_table}, column 'sd_1': column is not in the schema (did you mean 'sd1'?)" in output


# --- reproduce: grouped by publication, reasons, counts, no figures unless asked ---

def test_reproduce_groups_by_publication_and_explains_every_difference(shared_data, tmp_path, monkeypatch):
    shutil.copytree(PROJECT / "studies", tmp_path / "studies")
    monkeypatch.chdir(tmp_path)
    code, output = run("reproduce", "--mirror", shared_data)
    assert code == 0, output
    code, as_json = run("reproduce", "--mirror", shared_data, "--format", "json")
    targets = json.loads(as_json)["targets"]
    for citation in {t["citation"] for t in targets}:
        assert output.count(citation) == 1, citation
    lines = output.splitlines()
    differing = {t["target_id"] for t in targets if t["verdict"] == "differs"}
    assert differing  # Goldberg et al. (2018) from MetaCIH
    for target_id in differing:
        start = next(i for i, line in enumerate(lines) if line.endswith(f"[{target_id}]"))
        block = lines[start:lines.index("", start)]
        assert any(line.strip().startswith("differs: ") and "studies/README.md" in line for line in block)
        assert block[1].strip().startswith("model: one effect per study comparison: composite")
    assert all(t["model"] for t in targets)
    counts = {verdict: sum(t["verdict"] == verdict for t in targets) for verdict in ("matches", "differs")}
    assert lines[-1].startswith(f"Summary: {len(targets)} published numbers")
    assert f"{counts['matches']} matches" in lines[-1] and f"{counts['differs']} differs" in lines[-1]
    assert "k used  k published" in output
    assert not (tmp_path / "figures").exists()


def test_reproduce_draws_figures_only_into_the_folder_asked(tmp_path, monkeypatch):
    shutil.copytree(PROJECT / "studies", tmp_path / "studies")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COMPASSMETA_MIRROR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code, output = run("reproduce", "--figures", tmp_path / "drawn")
    assert code == 0, output
    assert (tmp_path / "drawn" / "thirdwave_forest.png").exists() and not (tmp_path / "figures").exists()


def test_add_interactive_checks_each_answer_and_offers_optional_fields(scratch_table):
    from compassmeta.cli.interactive import STATISTIC_FIELDS
    from compassmeta.data.studytable import Schema, load_study_table

    schema = Schema.load(scratch_table.parent / "datapackage.json", "trials")
    required = [f["name"] for f in schema.fields if f.get("constraints", {}).get("required")]
    optional = [f["name"] for f in schema.fields if not f.get("constraints", {}).get("required")
                and f["name"] not in STATISTIC_FIELDS | {"direction", "scs_component"}]
    assert {"year", "sessions", "format", "doi", "weeks_after_baseline",
            "risk_of_bias_source"} <= set(optional)
    # higher_is_better is not asked: instruments.csv answers it for BDI-II
    answers = [GOOD_ROW[name] for name in required if name not in ("stat_type", "higher_is_better")]
    statistics = ["20", "21", "12", "-2", "5", "16", "6"]          # sd1 typed as -2 first, then 5
    optional_answers = {"year": "2024", "sessions": "8"}
    inputs = (["means"] + answers + statistics + [optional_answers.get(name, "") for name in optional]
              + ["y"])
    code, output = run("add", "--table", scratch_table, "--interactive", input="\n".join(inputs) + "\n")
    assert code == 0, output
    assert "must be greater than 0, got -2" in output
    # the sd1 prompt appears twice (re-asked at once), before mean2 is asked
    assert output.index("must be greater than 0") < output.index("mean2 (")
    row = load_study_table(scratch_table).rows[-1]
    assert (row["sd1"], row["year"], row["sessions"]) == (5.0, 2024, 8)
    assert "g = 0.7086" in output   # the same row as test_studies' GOOD_ROW: J(39) (12 - 16) / sp, flipped


def test_edit_copies_unchanged_rows_from_the_file_and_formats_the_edited_one(scratch_table):
    """An edit formats only the edited row; every other row keeps its text (needless quotes, a
    line break inside a quoted cell) with its line end made '\\n'; a blank line is dropped."""
    from compassmeta.data.editing import with_values
    from compassmeta.data.store import format_record, rewrite_table
    from compassmeta.data.tables import read_table

    table = read_table(scratch_table)
    rows = [dict(zip(table.header, record)) for record in table.rows[:3]]
    rows[1]["inclusion_note"] = "first line\r\nsecond line"
    lines = [format_record(table.header, dict(zip(table.header, table.header)))]
    lines += [format_record(table.header, row) for row in rows]
    lines[1] = '"' + lines[1].replace(",", '",', 1)                # needless quotes on the es_id
    scratch_table.write_bytes((lines[0] + lines[1].replace("\n", "\r\n") + "\r\n" + lines[2] + lines[3])
                              .encode())
    before = read_table(scratch_table)
    rewrite_table(scratch_table, with_values(rows[2]["es_id"], {"sessions": "9"}))
    after = read_table(scratch_table)
    assert after.rows[:2] == before.rows[:2] and after.rows[2][table.header.index("sessions")] == "9"
    rows[2]["sessions"] = "9"
    expected = lines[0] + lines[1] + lines[2] + format_record(table.header, rows[2])
    assert scratch_table.read_bytes() == expected.encode() and '"first line\r\nsecond line"' in expected


@pytest.mark.parametrize("command", [
    ["validate", "{table}"],
    ["edit", "savari2021-bdi2-post", "-s", "sessions=9", "--table", "{table}", "--yes"]])
def test_validate_and_edit_of_a_named_table_do_not_import_matplotlib(scratch_table, command):
    import subprocess
    import sys

    arguments = [part.format(table=scratch_table) for part in command]
    code = ("import sys; from compassmeta.cli import main; "
            f"main({arguments!r}, standalone_mode=False); print('matplotlib' in sys.modules)")
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert process.stdout.strip().splitlines()[-1] == "False", process.stdout + process.stderr
