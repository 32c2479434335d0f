"""No write can break the study table (issue 29): every write is checked as `validate` checks,
outputs never replace inputs, numbers follow the schema's grammar, the package files are checked
before use, killed writes leave nothing behind, waiting writers say so, and warnings are summarised."""
import csv
import fcntl
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.common.errors import InputError
from compassmeta.data.tables import read_table
from conftest import PROJECT

STUDIES = PROJECT / "studies"
EXAMPLES = STUDIES / "examples"
ROW = "savari2021-bdi2-post"


def run(*args, input=None):
    return CliRunner().invoke(main, [str(arg) for arg in args], input=input)


@pytest.fixture
def folder(tmp_path):
    """A copy of the study folder."""
    for name in ("datapackage.json", "trials.csv", "instruments.csv", "thirdwave.csv",
                 "published_results.csv"):
        shutil.copyfile(STUDIES / name, tmp_path / name)
    return tmp_path


def snapshot(folder):
    return {path.name: path.read_bytes() for path in sorted(Path(folder).iterdir()) if path.is_file()}


def refused(result, *words):
    """A one-line error (exit 2, no traceback, no 'unexpected'), the last line, holding every word."""
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "unexpected" not in result.output, result.output
    errors = [line for line in lines if line.startswith("Error: ")]
    assert errors == lines[-1:], result.output
    assert all(word in lines[-1] for word in words), (lines[-1], words)
    return lines[-1]


# -- every write is checked as validate checks it; a refused write changes no file --------------

@pytest.mark.parametrize("assignments,column,words", [
    (["scs_component=total"], "scs_component", "Self-Compassion Scale rows"),
    (["n_total=10"], "n1", "exceeds the trial's n_total 10"),
    (["printed_test=t", "printed_value=9.99"], "printed_value", "does not follow from the means"),
])
def test_edit_runs_the_consistency_checks_of_validate(folder, assignments, column, words):
    before = snapshot(folder)
    args = ["edit", ROW, "--table", folder / "trials.csv", "--yes"]
    for assignment in assignments:
        args += ["-s", assignment]
    refused(run(*args), f"column '{column}'", words)
    assert snapshot(folder) == before


def test_extract_merge_runs_the_consistency_checks_of_validate(tmp_path, folder):
    review = tmp_path / "review"
    review.mkdir()
    for name in ("datapackage.json", "instruments.csv"):
        shutil.copyfile(STUDIES / name, review / name)
    header = (STUDIES / "trials.csv").read_text(encoding="utf-8").splitlines()[0]
    (review / "trials.csv").write_text(header + "\n", encoding="utf-8")
    copies = []
    for name in ("A", "B_checked"):
        table = read_table(EXAMPLES / f"tealesapach2022_{name}.csv")
        rows = [dict(zip(table.header, row), n_total="20") for row in table.rows]   # arms hold 37
        from compassmeta.data.store import format_table

        path = tmp_path / f"{name}.csv"
        path.write_text(format_table(table.header, rows), encoding="utf-8")
        copies.append(path)
    before = snapshot(review)
    refused(run("extract", "merge", *copies, "--into", review / "trials.csv", "--extractors", "A,B"),
            "n_total")
    assert snapshot(review) == before


def test_extract_merge_of_a_long_cell_is_refused_in_a_short_line(tmp_path, folder):
    """Two extractions agreeing on a 1 MB inclusion_note: the refusal printed the cell twice (2 MB)."""
    table = read_table(EXAMPLES / "tealesapach2022_A.csv")
    from compassmeta.data.store import format_table

    extraction = tmp_path / "long.csv"
    rows = [dict(zip(table.header, row), inclusion_note="q" * 1_000_000) for row in table.rows]
    extraction.write_text(format_table(table.header, rows), encoding="utf-8")
    before = snapshot(folder)
    line = refused(run("extract", "merge", extraction, extraction, "--into", folder / "trials.csv",
                       "--extractors", "A,B"), "column 'inclusion_note'", "(1,000,000 characters)",
                   "longer than the schema's maxLength 10,000")
    assert len(line) < 1000
    assert snapshot(folder) == before


def test_an_add_refused_for_a_row_already_in_the_table_names_that_row(tmp_path, folder):
    """The row was written into the message ('column 'sd1': row 2: ...'), and a header problem
    read 'row None: column is not in the schema'."""
    table = read_table(folder / "trials.csv")
    rows = [dict(zip(table.header, row)) for row in table.rows]
    new = tmp_path / "new.csv"
    from compassmeta.data.store import format_table

    new.write_text(format_table(table.header, [dict(rows[0], es_id="new-row", study_id="new2024")]),
                   encoding="utf-8")
    rows[1]["sd1"] = "abc"
    (folder / "trials.csv").write_text(format_table(table.header, rows), encoding="utf-8")
    before = snapshot(folder)
    assert refused(run("add", "--studies", folder, "--from", new, "--yes")) == (
        f"Error: {folder / 'trials.csv'}, row 2, column 'sd1': not a number: 'abc'")
    header = "renamed_column," + (folder / "trials.csv").read_text(encoding="utf-8").split(",", 1)[1]
    (folder / "trials.csv").write_text(header, encoding="utf-8")
    line = refused(run("add", "--studies", folder, "--from", new, "--yes"), "column is not in the schema")
    assert "row None" not in line
    assert snapshot(folder)["datapackage.json"] == before["datapackage.json"]


def test_a_cell_longer_than_the_schema_allows_is_refused_on_its_column(folder):
    before = snapshot(folder)
    note = "x" * 1_048_576
    args = ["add", "--table", folder / "trials.csv", "--yes"]
    for key, value in dict(GOOD_ROW, inclusion_note=note).items():
        args += ["-s", f"{key}={value}"]
    result = run(*args)
    line = refused(result, "column 'inclusion_note'", "maxLength 10,000")
    assert len(line) < 300
    assert snapshot(folder) == before


def test_the_reader_survives_a_long_cell_and_the_tool_can_repair_its_table(folder):
    table = read_table(folder / "trials.csv")
    rows = [dict(zip(table.header, row)) for row in table.rows]
    rows[1]["inclusion_note"] = "y" * 200_000      # beyond the csv module's default 131,072
    from compassmeta.data.store import format_table

    (folder / "trials.csv").write_text(format_table(table.header, rows), encoding="utf-8")
    result = run("validate", folder / "trials.csv")
    assert result.exit_code == 1 and "unexpected" not in result.output
    assert "row 2, column 'inclusion_note': 200,000 characters" in result.output
    result = run("edit", ROW, "-s", "inclusion_note=shortened", "--table", folder / "trials.csv", "--yes")
    assert result.exit_code == 0, result.output
    assert run("validate", folder / "trials.csv").exit_code == 0
    # the log keeps the long old value; a fresh process (the csv module's 131,072-character limit)
    # printing it was 'unexpected Error: field larger than field limit'
    history = subprocess.run([sys.executable, "-m", "compassmeta", "history", ROW, "--table",
                              str(folder / "trials.csv")], capture_output=True, text=True, timeout=120)
    assert history.returncode == 0, history.stderr
    assert f"inclusion_note: {'y' * 200_000} -> shortened" in history.stdout


# -- outputs never overwrite inputs ----------------------------------------------------------------

def test_report_cannot_replace_the_schema(folder):
    before = snapshot(folder)
    refused(run("report", folder / "trials.csv", "-o", folder / "datapackage.html"),
            "would overwrite a file of the study folder", "datapackage.json")
    assert snapshot(folder) == before


def test_simulate_grid_cannot_replace_the_study_table(folder, tmp_path):
    grid = tmp_path / "grid.json"
    grid.write_text('{"k": [5], "tau2": [0.1], "true_effect": [0.2], "reps": 2}', encoding="utf-8")
    before = snapshot(folder)
    refused(run("simulate", "--grid", grid, "-o", folder / "trials.csv"), "trials.csv", "study folder")
    refused(run("simulate", "--grid", grid, "-o", grid), "would overwrite the input")
    assert snapshot(folder) == before


def test_gosh_and_plots_cannot_replace_their_input_or_the_study_folder(folder, tmp_path):
    before = snapshot(folder)
    refused(run("gosh", folder / "trials.csv", "-o", tmp_path / "gosh.png", "--save-results",
                folder / "trials.csv"), "--save-results", "the input")
    refused(run("forest", folder / "trials.csv", "-o", folder / "instruments.csv"), "instruments.csv")
    refused(run("funnel", folder / "trials.csv", "-o", folder / "thirdwave.csv"), "thirdwave.csv")
    (folder / "audit.log").write_text("entry\n", encoding="utf-8")
    refused(run("forest", folder / "trials.csv", "-o", folder / "audit.log"), "audit.log")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link.csv").symlink_to(folder / "trials.csv")
    refused(run("forest", folder / "trials.csv", "-o", tmp_path / "out" / "link.csv"), "the input",
            "trials.csv")
    assert {k: v for k, v in snapshot(folder).items() if k != "audit.log"} == before


def test_data_import_and_reproduce_figures_cannot_replace_the_study_folder(folder):
    before = snapshot(folder)
    refused(run("data", "import", EXAMPLES / "tealesapach2022_A.csv", "-o",
                folder / "published_results.csv"), "published_results.csv")
    refused(run("reproduce", "--studies", folder, "--figures", folder / "trials.csv"), "--figures",
            "trials.csv")
    assert snapshot(folder) == before


def test_no_output_replaces_the_analysis_plan_of_the_study_folder(folder):
    """escalc -o studies/analysis_plan.toml replaced the plan (exit 0); pool then failed on it."""
    shutil.copyfile(STUDIES / "analysis_plan.toml", folder / "analysis_plan.toml")
    before = snapshot(folder)
    refused(run("escalc", EXAMPLES / "bcg_counts.csv", "--measure", "RR", "-o",
                folder / "analysis_plan.toml"),
            "would overwrite a file of the study folder", "analysis_plan.toml")
    assert snapshot(folder) == before


def test_the_draft_of_add_interactive_is_never_a_file_of_the_study_folder(folder):
    """--resume-draft studies/datapackage.json rewrote the schema as a draft at the first answer (and
    a finished add would have removed it)."""
    before = snapshot(folder)
    refused(run("add", "--studies", folder, "--interactive", "--resume-draft", folder / "datapackage.json",
                input="means\n"), "--resume-draft would overwrite a file of the study folder")
    assert snapshot(folder) == before


def test_data_import_of_a_broken_file_is_one_line(tmp_path):
    """A cell over 131,072 characters, UTF-16 text and a missing file were 'unexpected' (csv.Error,
    UnicodeDecodeError, FileNotFoundError)."""
    long, utf16 = tmp_path / "long.csv", tmp_path / "utf16.csv"
    long.write_text("study;TE\n" + "x" * 200_000 + ";1\n", encoding="utf-8")
    utf16.write_text("study;TE\na;1\n", encoding="utf-16")
    limit = csv.field_size_limit(131_072)   # a fresh process's (the study-table reader raises it)
    try:
        for source, words in ((long, "field larger than field limit"), (utf16, "not UTF-8 text (byte 0)"),
                              (tmp_path / "none.csv", "cannot read file")):
            refused(run("data", "import", source, "-o", tmp_path / "out.csv"), str(source), words)
    finally:
        csv.field_size_limit(limit)
    assert not (tmp_path / "out.csv").exists()


def test_an_output_below_a_file_is_one_line(tmp_path, folder):
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    refused(run("report", folder / "trials.csv", "-o", tmp_path / "afile" / "page.html"),
            "is a file, not a folder")



def test_a_report_whose_json_would_replace_a_folder_is_refused_before_the_analysis(tmp_path, folder):
    """Was 'unexpected IsADirectoryError' once the whole report had been analysed and rendered."""
    (tmp_path / "out" / "page.json").mkdir(parents=True)
    refused(run("report", folder / "trials.csv", "-o", tmp_path / "out" / "page.html"),
            "-o/--output", "page.json would replace a folder")
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["page.json"]


@pytest.mark.parametrize("command", [["selmodel"], ["bayes", "--tau-prior", "halfnormal:0.5"]])
def test_the_plot_of_selmodel_and_bayes_is_checked_before_the_fit(folder, command):
    """--plot below a file was 'unexpected FileExistsError' after the results were printed."""
    (folder / "afile").write_text("x", encoding="utf-8")
    before = snapshot(folder)
    args = [*command, folder / "thirdwave.csv", "--yi", "g", "--sei", "se", "--plot"]
    for plot, words in ((folder / "afile" / "weights.png", ("--plot", "afile is a file, not a folder")),
                        (folder / "trials.csv", ("--plot would overwrite", "trials.csv"))):
        result = run(*args, plot)
        assert result.output.strip() == refused(result, *words)
    assert snapshot(folder) == before


# -- numbers follow the schema's grammar; the package files are checked before use ------------------

GOOD_ROW = {
    "es_id": "example2024-bdi2-post", "study_id": "example2024", "citation": "Example row for tests",
    "year": "2024", "intervention": "CFT", "intervention_class": "cft-cmt",
    "control_type": "passive", "control_detail": "waitlist", "population": "clinical",
    "outcome": "depression", "instrument": "BDI-II", "higher_is_better": "false", "timepoint": "post",
    "stat_type": "means", "n1": "20", "n2": "21", "mean1": "12", "sd1": "5", "mean2": "16", "sd2": "6",
    "source": "constructed for a test", "license": "none", "inclusion_note": "test row",
}


@pytest.mark.parametrize("column,text,words", [
    ("n1", "\u0662\u0663", "not a whole number"),                  # Arabic-Indic digits 23
    ("mean1", "\uff11\uff16.\uff18", "not a number"),              # full-width 16.8
    ("mean1", "1_6.8", "not a number"),
    ("sd1", "1e308", "too large or too small to compute g with"),   # was g = 0 with a numpy warning
    ("n1", "9" * 400, "whole number too large"),                    # was OverflowError
])
def test_numbers_follow_the_frictionless_grammar(folder, column, text, words):
    before = snapshot(folder)
    args = ["add", "--table", folder / "trials.csv", "--yes"]
    for key, value in dict(GOOD_ROW, **{column: text}).items():
        args += ["-s", f"{key}={value}"]
    line = refused(run(*args), f"column '{column}'", words)
    assert len(line) < 300
    assert snapshot(folder) == before


@pytest.mark.parametrize("stat_type,values", [
    ("f", {"statistic": "-4.2", "direction": "1"}),      # sqrt of a negative F: nan
    ("p", {"statistic": "1.5", "direction": "1"}),       # a p above 1
])
def test_a_statistic_out_of_its_domain_gives_no_numpy_warning(folder, stat_type, values):
    """An F below 0 was refused on its column, but numpy's 'invalid value encountered in sqrt'
    RuntimeWarning reached stderr first (the row effects are computed over whole columns)."""
    import warnings

    row = {key: value for key, value in GOOD_ROW.items() if key not in ("mean1", "sd1", "mean2", "sd2")}
    args = ["add", "--table", folder / "trials.csv", "--yes"]
    for key, value in dict(row, stat_type=stat_type, **values).items():
        args += ["-s", f"{key}={value}"]
    before = snapshot(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # a warning would be 'unexpected RuntimeWarning'
        refused(run(*args), "column 'statistic'")
    assert snapshot(folder) == before


def test_a_stat_type_outside_the_schema_is_refused_on_its_column(folder):
    """A stat_type the schema does not list (e.g. 'g' for 'g_se') was 'unexpected KeyError: 'g''
    (the row effects and the missing-statistics rule looked it up before its cell's error)."""
    args = ["add", "--table", folder / "trials.csv", "--yes"]
    row = {key: value for key, value in GOOD_ROW.items() if key not in ("mean1", "sd1", "mean2", "sd2")}
    for key, value in dict(row, stat_type="g", g="0.4", se="0.2").items():
        args += ["-s", f"{key}={value}"]
    before = snapshot(folder)
    refused(run(*args), "column 'stat_type'", "'g' is not one of: means")
    assert snapshot(folder) == before
    (folder / "trials.csv").write_text((folder / "trials.csv").read_text(encoding="utf-8").replace(
        ",means,", ",g,", 1), encoding="utf-8")
    result = run("validate", folder / "trials.csv")     # validate exits 1 on the problems it lists
    assert result.exit_code == 1 and "unexpected" not in result.output, result.output
    assert "row 1, column 'stat_type': 'g' is not one of: means" in result.output


def test_an_implausible_g_of_1e308_is_printed_in_a_few_digits(folder):
    args = ["add", "--table", folder / "trials.csv", "--yes"]
    row = {key: value for key, value in GOOD_ROW.items() if key not in ("mean1", "sd1", "mean2", "sd2")}
    for key, value in dict(row, stat_type="g_se", g="1e308", se="0.2").items():
        args += ["-s", f"{key}={value}"]
    line = refused(run(*args), "g = -1e+308 is beyond |5|: check the reported statistics. If the value")
    assert len(line) < 300


def test_text_no_utf8_file_can_hold_is_refused_on_its_column(folder):
    """Command-line bytes that are not UTF-8 (kept by Python as lone surrogates) and a JSON \\udc80
    escape were written until the encoder failed: 'unexpected UnicodeEncodeError'."""
    before = snapshot(folder)
    bad = "a\udcffb"
    refused(run("edit", ROW, "-s", f"inclusion_note={bad}", "--table", folder / "trials.csv", "--yes"),
            "row 2, column 'inclusion_note'", "a lone surrogate at character 2")
    refused(run("edit", ROW, "-s", "sd1=5.2", "--reason", bad, "--table", folder / "trials.csv", "--yes"),
            "changes.csv, column 'reason'", "a lone surrogate")
    refused(run("edit", ROW, "-s", "sd1=5.2", "--by", bad, "--table", folder / "trials.csv", "--yes"),
            "changes.csv, column 'who'", "a lone surrogate")
    rows = folder / "new" / "rows.json"
    rows.parent.mkdir()
    rows.write_text(json.dumps(dict(GOOD_ROW, inclusion_note=bad)), encoding="utf-8")   # "a\\udcffb"
    refused(run("add", "--from", rows, "--table", folder / "trials.csv", "--yes"),
            "column 'inclusion_note'", "a lone surrogate")
    assert snapshot(folder) == before


def test_a_yi_vi_table_takes_ascii_numbers_only(tmp_path):
    path = tmp_path / "effects.csv"
    path.write_text("yi,vi\n0.5,0.1\n1_0.2,0.1\n0.3,0.2\n", encoding="utf-8")
    refused(run("pool", path), "row 2, column 'yi'", "not a number: '1_0.2'")


@pytest.mark.parametrize("package,words", [
    ("{}", "not a data package: no 'resources' list"),
    ('{"resources": [{"name": "trials"}]}', "needs a 'schema' with a list of 'fields'"),
    ('{"resources": [{"name": "trials", "schema": {"fields": [{"name": "es_id", "type": "float"}]}}]}',
     "type 'float' is not one of"),
    ('{"resources": [{"name": "trials", "schema": {"fields": [{"name": "n1", "type": "integer", '
     '"constraints": {"minimum": "2"}}]}}]}', "constraint 'minimum' has the wrong kind of value"),
])
def test_a_broken_data_package_is_one_line_naming_it(folder, package, words):
    (folder / "datapackage.json").write_text(package, encoding="utf-8")
    for args in (["validate", folder / "trials.csv"], ["pool", folder / "trials.csv"],
                 ["remove", ROW, "--table", folder / "trials.csv", "--yes"]):
        refused(run(*args), "datapackage.json", words)


@pytest.mark.parametrize("package", ["{}", "[]", '{"resources": [1]}'])
def test_outputs_beside_a_broken_data_package_are_refused_in_one_line(folder, package):
    """The output check reads the package too: a broken one leaves its command's one-line error
    (not 'unexpected KeyError'), and every file of the folder is kept, its resources being unknown."""
    (folder / "datapackage.json").write_text(package, encoding="utf-8")
    before = snapshot(folder)
    refused(run("report", folder / "trials.csv", "-o", folder / "page.html"), "datapackage.json")
    grid = folder / "grids" / "grid.toml"
    grid.parent.mkdir()
    grid.write_text("k = [5]\ntau2 = [0.1]\ntrue_effect = [0.3]\nreps = 10\nseed = 1\n", encoding="utf-8")
    refused(run("simulate", "--grid", grid, "-o", folder / "trials.csv"), "trials.csv", "would overwrite")
    assert snapshot(folder) == before


def test_an_instruments_file_cut_inside_a_quoted_cell_is_refused(folder):
    text = (STUDIES / "instruments.csv").read_text(encoding="utf-8")
    cut = text.index('"', text.index("\n", text.index("\n") + 1))   # a quote in the second data row
    (folder / "instruments.csv").write_text(text[:cut + 5], encoding="utf-8")
    line = refused(run("validate", folder / "trials.csv"), "instruments.csv", "never closed")
    assert "row 2" in line


def test_an_instrument_whose_range_is_empty_is_refused(folder):
    table = read_table(folder / "instruments.csv")
    rows = [dict(zip(table.header, row)) for row in table.rows]
    rows[0]["maximum"] = rows[0]["minimum"]
    from compassmeta.data.store import format_table

    (folder / "instruments.csv").write_text(format_table(table.header, rows), encoding="utf-8")
    refused(run("validate", folder / "trials.csv"), "instruments.csv, row 1, column 'maximum'")


# -- killed writes, waiting writers ----------------------------------------------------------------

def test_the_next_write_removes_temporary_files_of_killed_writes(folder):
    stale = folder / ".trials.abcd_123.csv"      # as common.files.replacing names them
    stale.write_text("half a table", encoding="utf-8")
    stale_log = folder / ".changes.abcd_123.csv"  # a killed write leaves its log's temporary file too
    stale_log.write_text("half a log", encoding="utf-8")
    other = folder / ".trials.notours.txt"
    other.write_text("keep", encoding="utf-8")
    result = run("edit", ROW, "-s", "inclusion_note=checked", "--table", folder / "trials.csv", "--yes")
    assert result.exit_code == 0, result.output
    assert not stale.exists() and not stale_log.exists() and other.exists()
    assert "inclusion_note" in (folder / "changes.csv").read_text(encoding="utf-8")


def test_a_waiting_writer_says_so_and_gives_up_after_its_timeout(folder):
    from compassmeta.data.store import TableLock

    with open(str(folder / "trials.csv") + ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        said = []
        started = time.monotonic()
        with pytest.raises(InputError) as caught:
            with TableLock(folder / "trials.csv", timeout=1.6, on_wait=said.append):
                pass
        waited = time.monotonic() - started
    assert 1.6 <= waited < 8.0      # gave up at its timeout (a loaded machine may add seconds), not at 60 s
    assert len(said) == 1 and "waiting for another write" in said[0] and "1.6 s" in said[0]
    assert "did not finish within 1.6 s; nothing written" in str(caught.value)


def test_a_writer_gets_the_lock_once_it_is_released(folder):
    from compassmeta.data.store import TableLock

    lock_file = open(str(folder / "trials.csv") + ".lock", "a")
    fcntl.flock(lock_file, fcntl.LOCK_EX)
    threading.Timer(1.3, lambda: (fcntl.flock(lock_file, fcntl.LOCK_UN), lock_file.close())).start()
    said = []
    with TableLock(folder / "trials.csv", timeout=10, on_wait=said.append):
        pass
    assert len(said) == 1


# -- warnings summarised ---------------------------------------------------------------------------

def test_warnings_are_summarised_not_one_line_per_row(tmp_path):
    path = tmp_path / "imported.csv"       # data import output: |g| > 5 confirmed by the database warns
    lines = ["es_id,study_id,stat_type,n1,n2,g,se,higher_is_better,database_g"]
    lines += [f"r{i},s{i},g_se,20,20,6.{i},0.3,true,6.{i}" for i in range(8)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["pool", str(path)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 6 and all("as the database reports" in line for line in warnings[:5])
    assert warnings[5] == "Warning: ... and 3 more warnings (compassmeta validate lists them all)"


def test_validate_summarises_warnings_unless_asked_for_all(folder):
    table = read_table(folder / "trials.csv")
    rows = [dict(zip(table.header, row)) for row in table.rows]
    extra = []
    for i in range(30):           # SD above half the BDI-II range: a warning on every row
        extra.append(dict(GOOD_ROW, es_id=f"warn{i}-bdi2-post", study_id=f"warn{i}", sd1="31.5",
                          sd2="31.6", mean1="30", mean2="31"))
    from compassmeta.data.store import format_table

    (folder / "trials.csv").write_text(format_table(table.header, rows + extra), encoding="utf-8")
    result = run("validate", folder / "trials.csv")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 21 and warnings[-1].startswith("Warning: ... and ")
    assert "--all-warnings" in warnings[-1]
    every = run("validate", folder / "trials.csv", "--all-warnings")
    assert sum(line.startswith("Warning:") for line in every.output.splitlines()) == int(
        warnings[-1].split("and ")[1].split(" ")[0]) + 20


def test_a_write_rechecks_a_table_changed_since_its_preview(folder):
    """add/edit check the table once for the preview and reuse that check for the write only while
    the files are unchanged: a row another writer added in between is checked against."""
    from compassmeta.data.editing import edited_row, with_values
    from compassmeta.data.store import append_row, check_new_row, rewrite_table

    table = folder / "trials.csv"
    cells = dict(zip(read_table(table).header, read_table(table).rows[1]))
    record = dict(cells, es_id="newcomer-post", study_id="newcomer2024")
    check_new_row(table, record)                                   # the preview passes
    append_row(table, dict(cells, es_id="newcomer-post", study_id="other2024"))   # another writer
    before = snapshot(folder)
    with pytest.raises(InputError, match="duplicate value 'newcomer-post'"):
        append_row(table, record)
    assert snapshot(folder) == before
    edited_row(table, ROW, {"n_total": "100"})                      # the preview passes
    rewrite_table(table, with_values(ROW, {"n1": "90"}))            # another writer: n1 + n2 now > 100
    before = snapshot(folder)
    with pytest.raises(InputError, match="exceeds the trial's n_total 100"):
        rewrite_table(table, with_values(ROW, {"n_total": "100"}))
    assert snapshot(folder) == before
