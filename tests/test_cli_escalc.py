"""compassmeta escalc: the table with yi and vi (metafor's values), its output forms and errors."""
import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from conftest import PROJECT, load_fixture

REFERENCE = load_fixture("metafor_escalc.json")
BCG = PROJECT / "studies" / "examples" / "bcg_counts.csv"
MOLLOY = PROJECT / "studies" / "examples" / "molloy2014_correlations.csv"


def reference(measure, dataset, vtype="LS"):
    return next(c for c in REFERENCE["cases"] if (c["measure"], c["dataset"], c["vtype"], c["to"])
                == (measure, dataset, vtype, None))


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.mark.parametrize("path, measure, dataset, vtype", [
    (BCG, "RR", "bcg", "LS"), (BCG, "OR", "bcg", "H0"), (MOLLOY, "ZCOR", "molloy2014", "LS"),
    (MOLLOY, "cor", "molloy2014", "AV")])
def test_csv_adds_metafors_yi_and_vi(path, measure, dataset, vtype):
    code, output = run("escalc", path, "--measure", measure, "--vtype", vtype)
    assert code == 0, output
    rows = list(csv.DictReader(output.splitlines()))
    with open(path, newline="") as handle:
        original = list(csv.DictReader(handle))
    assert [{k: v for k, v in row.items() if k not in ("yi", "vi")} for row in rows] == original
    case = reference(measure.upper(), dataset, vtype)
    np.testing.assert_allclose([float(r["yi"]) for r in rows], case["yi"], rtol=1e-10)
    np.testing.assert_allclose([float(r["vi"]) for r in rows], case["vi"], rtol=1e-10)


@pytest.mark.parametrize("measure, dataset", [("SMD", "smd_statistics"), ("ZCOR", "cor_statistics"),
                                              ("SMCC", "smcc_statistics")])
def test_rows_may_give_t_p_or_d_instead_of_means(tmp_path, measure, dataset):
    columns = REFERENCE["datasets"][dataset]
    path = tmp_path / "statistics.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in zip(*columns.values()):
            writer.writerow(["" if value is None else repr(value) for value in row])
    code, output = run("escalc", path, "--measure", measure)
    assert code == 0, output
    rows = list(csv.DictReader(output.splitlines()))
    np.testing.assert_allclose([float(r["yi"]) for r in rows], reference(measure, dataset)["yi"], rtol=1e-10)
    np.testing.assert_allclose([float(r["vi"]) for r in rows], reference(measure, dataset)["vi"], rtol=1e-10)


def test_json_and_output_file(tmp_path):
    out = tmp_path / "bcg_rr.json"
    code, output = run("escalc", BCG, "--measure", "RR", "--format", "json", "-o", out)
    assert code == 0 and "13 rows with yi and vi (RR, vtype LS) written to" in output
    data = json.loads(out.read_text())
    assert (data["escalc"]["measure"], data["escalc"]["add"], data["escalc"]["to"]) == ("RR", 0.5, "only0")
    np.testing.assert_allclose([row["yi"] for row in data["rows"]], reference("RR", "bcg")["yi"], rtol=1e-10)
    assert data["rows"][0]["author"] == "Aronson"


def test_list_names_every_measure_with_its_vtypes():
    code, output = run("escalc", "--list")
    assert code == 0 and len(output.splitlines()) == 32
    assert output.splitlines()[0].startswith("SMD    means         vtype LS/LS2/UB/AV/H0")
    assert "RD     2x2           vtype LS/UB/AV/H0" in output


def test_measures_without_counts_report_no_correction(tmp_path):
    code, output = run("escalc", MOLLOY, "--measure", "COR", "--format", "json")
    assert code == 0 and json.loads(output)["escalc"]["add"] is None


def test_zero_cells_with_to_none_are_na(tmp_path):
    table = tmp_path / "zero.csv"
    table.write_text("study,ai,n1i,ci,n2i\nBach,0,116,3,117\nGeorge,1,44,3,35\n")
    code, output = run("escalc", table, "--measure", "OR", "--to", "none")
    assert code == 0
    assert "Bach,0,116,3,117,NA,NA\n" in output and "1 row(s) have yi/vi NA" in output


def test_escalc_output_pools(tmp_path):
    out = tmp_path / "bcg_rr.csv"
    assert run("escalc", BCG, "--measure", "RR", "-o", out)[0] == 0
    code, output = run("pool", out, "--format", "json")
    assert code == 0
    expected = next(c for c in load_fixture("metafor_transf.json")["pooled"]
                    if (c["name"], c["method"]) == ("bcg_RR", "REML"))
    assert json.loads(output)["estimate"] == pytest.approx(expected["estimate"], rel=1e-10)


@pytest.mark.parametrize("text, args, message", [
    ("ai,bi,ci,di\n4,119,11,128\n-1,300,29,274\n", ["--measure", "OR"],
     "row 2, column 'ai': must not be negative"),
    ("ai,bi,ci,di\n4,119,11,128\n6,x,29,274\n", ["--measure", "OR"], "row 2, column 'bi': not a number: 'x'"),
    ("ai,n1i,ci,n2i\n4,3,11,128\n", ["--measure", "RD"], "row 1, column 'ai': ai = 4 exceeds n1i = 3"),
    ("ri,ni\n0.2,10\n", ["--measure", "SMD"], "column 'n1i': SMD needs column 'n1i'"),
    ("m1i,m2i,sd1i,sd2i,n1i,n2i,ti\n1,0,1,1,10,10,\n,,,,10,12,\n", ["--measure", "SMD"],
     "row 2, column 'm1i': value is missing and the row gives none of di, ti, pi, ri"),
    ("ri,ni,pi\n0.2,10,\n,12,1.5\n", ["--measure", "COR"],
     "row 2, column 'pi': a signed two-sided p value must lie in [-1, 1], got 1.5"),
])
def test_bad_input_is_one_line_naming_file_row_and_column(tmp_path, text, args, message):
    table = tmp_path / "t.csv"
    table.write_text(text)
    code, output = run("escalc", table, *args)
    assert code == 2
    assert output.strip().count("\n") == 0 and str(table) in output and message in output, output


@pytest.mark.parametrize("args, message", [
    (["--measure", "COR", "--vtype", "UB"], "vtype 'UB' is not defined for COR (choose from LS, AV, H0)"),
    (["--measure", "COR", "--add", "1"], "--add and --to are continuity corrections of counts; COR has none"),
    (["--measure", "XX"], "unknown measure 'XX' (measures: "),
])
def test_bad_options_are_one_line(tmp_path, args, message):
    table = tmp_path / "t.csv"
    table.write_text("ri,ni\n0.2,10\n")
    code, output = run("escalc", table, *args)
    assert code == 2 and output.strip().count("\n") == 0 and message in output, output


def test_output_into_a_missing_folder_is_a_one_line_error(tmp_path):
    code, output = run("escalc", BCG, "--measure", "OR", "-o", tmp_path / "missing" / "out.csv")
    assert code == 2 and output.strip() == f"Error: {tmp_path / 'missing' / 'out.csv'}: cannot write here: " \
                                           "the folder does not exist"


def test_refuses_to_overwrite_its_input(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("ri,ni\n0.2,10\n")
    code, output = run("escalc", table, "--measure", "COR", "-o", tmp_path / "." / "t.csv")
    assert code == 2 and "-o/--output would overwrite the input; choose another path" in output
    assert table.read_text() == "ri,ni\n0.2,10\n"


def test_refuses_to_overwrite_a_file_of_a_study_folder_or_write_below_a_file(tmp_path):
    folder = tmp_path / "studies"
    folder.mkdir()
    (folder / "datapackage.json").write_text('{"resources": []}')
    code, output = run("escalc", BCG, "--measure", "OR", "-o", folder / "datapackage.json")
    assert code == 2 and output.strip().count("\n") == 0
    assert f"would overwrite a file of the study folder {folder}" in output
    assert (folder / "datapackage.json").read_text() == '{"resources": []}'
    (tmp_path / "afile").write_text("")
    code, output = run("escalc", BCG, "--measure", "OR", "-o", tmp_path / "afile" / "out.csv")
    target, blocking = tmp_path / "afile" / "out.csv", tmp_path / "afile"
    assert code == 2
    assert output.strip() == (f"Error: {target}: -o/--output: cannot write here: {blocking} is a file, "
                              "not a folder")
