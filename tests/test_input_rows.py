"""Which rows a command fits: --where clauses, rows with a missing moderator or subgroup level
dropped as metafor drops them (with a count), imported database tables pooled directly."""
import json
import shutil

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from conftest import PROJECT, assert_close, load_fixture

ROW_SELECTION = load_fixture("metafor_row_selection.json")
BCG = next(d for d in load_fixture("metafor_core.json")["datasets"] if d["name"] == "bcg")


def run(*args, input=None):
    result = CliRunner().invoke(main, [str(a) for a in args], input=input)
    return result.exit_code, result.output


def write_bcg(path, missing=()):
    """metadat's dat.bcg (log risk ratios), with ablat empty in the ``missing`` rows."""
    reference = ROW_SELECTION["metareg_missing"]
    lines = ["trial,yi,vi,ablat,alloc"] + [
        f"{i + 1},{y!r},{v!r},{'' if i + 1 in missing else a},{al}" for i, (y, v, a, al) in
        enumerate(zip(reference["yi"], reference["vi"], reference["ablat"], BCG["mods"]["alloc"]))]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def bcg_csv(tmp_path):
    return write_bcg(tmp_path / "bcg.csv", missing=ROW_SELECTION["metareg_missing"]["missing_rows"])



def test_metareg_drops_rows_with_a_missing_moderator_and_says_how_many(bcg_csv):
    reference = ROW_SELECTION["metareg_missing"]
    code, output = run("metareg", bcg_csv, "--mods", "ablat", "--format", "json")
    assert code == 0, output
    assert "Warning: 2 row(s) with a missing ablat omitted (11 of 13 used)" in output
    result = json.loads(output[output.index("{"):])
    assert result["k"] == reference["k"] == 11
    for coefficient, estimate, se in zip(result["coefficients"], reference["estimate"], reference["se"]):
        assert_close(coefficient["estimate"], estimate, coefficient["term"])
        assert_close(coefficient["se"], se, coefficient["term"])
    assert_close(result["qm"], reference["qm"], "QM")
    assert_close(result["tau2"], reference["tau2"], "tau2")


def test_subgroup_drops_rows_with_a_missing_level(tmp_path):
    path = tmp_path / "groups.csv"
    path.write_text("yi,vi,arm\n0.1,0.02,a\n0.3,0.03,\n0.5,0.02,b\n0.2,0.04,a\n0.6,0.05,b\n")
    code, output = run("subgroup", path, "--by", "arm")
    assert code == 0, output
    assert "1 row(s) with a missing arm omitted (4 of 5 used)" in output


@pytest.mark.parametrize("case", ROW_SELECTION["where"], ids=lambda case: case["clause"])
def test_where_clauses_select_the_rows_metafor_was_given(tmp_path, case):
    code, output = run("pool", write_bcg(tmp_path / "bcg.csv"), "--where", case["clause"], "--format", "json")
    assert code == 0, output
    result, expected = json.loads(output), case["result"]
    assert result["k"] == expected["k"]
    for key in ("estimate", "se", "tau2"):
        assert_close(result[key], expected[key], key)


def test_where_presence_and_absence(bcg_csv):
    assert json.loads(run("pool", bcg_csv, "--where", "ablat present", "--format", "json")[1])["k"] == 11
    code, output = run("pool", bcg_csv, "--where", "ablat missing", "--format", "json")
    assert code == 0 and json.loads(output)["k"] == 2


def test_where_rejects_an_unknown_clause_and_a_non_number(bcg_csv):
    code, output = run("pool", bcg_csv, "--where", "ablat ~ 3")
    assert code == 2 and "is not one of" in output
    code, output = run("pool", bcg_csv, "--where", "alloc>3")
    assert code == 2 and "column 'alloc'" in output and "not a number" in output


@pytest.mark.parametrize("bound", ["\u0663\u0663", "\uff13\uff13", "3_3", "nan", "inf"])
def test_where_bounds_follow_the_number_grammar_of_the_cells(bcg_csv, bound):
    """Arabic-Indic or full-width digits, an underscore (all read by Python's float) or a
    non-finite bound are refused, as in a cell."""
    code, output = run("pool", bcg_csv, "--where", f"ablat>{bound}")
    lines = output.strip().splitlines()
    assert code == 2 and len(lines) == 1, output
    assert lines[0].startswith(f"Error: --where 'ablat>{bound}': > needs a number (not a"), output


@pytest.fixture
def imported_depression(shared_data, tmp_path):
    code, output = run("data", "import", "metapsy-depression", "-o", tmp_path / "dep.csv",
                       "--mirror", shared_data)
    assert code == 0, output
    return tmp_path / "dep.csv"


def test_an_imported_database_pools_subgroups_and_regresses_directly(imported_depression):
    import csv

    rows = list(csv.DictReader(imported_depression.open()))
    code, output = run("pool", imported_depression, "--format", "json")
    assert code == 0, output
    assert json.loads(output[output.index("{"):])["k"] == len(rows)
    # the database's own .g beyond |5| (Okeke 2023) is reported, not refused
    assert "as the database reports (database_g" in output
    for args in (["subgroup", "--by", "control_type"], ["metareg", "--mods", "year"]):
        code, output = run(args[0], imported_depression, *args[1:])
        assert code == 0, output


def test_an_imported_table_inside_studies_is_not_refused_for_its_extra_column(imported_depression, tmp_path):
    folder = tmp_path / "studies"
    folder.mkdir()
    shutil.copy(PROJECT / "studies" / "datapackage.json", folder)
    shutil.copy(PROJECT / "studies" / "instruments.csv", folder)
    shutil.copy(imported_depression, folder / "dep.csv")
    code, output = run("pool", folder / "dep.csv", "--where", "year>=2020")
    assert code == 0, output


def test_an_imported_row_with_implausible_g_and_no_database_confirmation_is_an_error(tmp_path):
    path = tmp_path / "imported.csv"
    path.write_text("es_id,stat_type,mean1,sd1,n1,mean2,sd2,n2,higher_is_better,database_g\n"
                    "a,means,35,0.6,20,3.1,0.6,20,true,\n")
    code, output = run("pool", path)
    assert code == 2 and "row 1, column 'stat_type'" in output and "beyond |5|" in output
