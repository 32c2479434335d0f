"""What the commands print: subgroup and meta-regression tests, CSV carrying every JSON value,
print() of a result equal to the command-line table, the library's moderator inputs."""
import json

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from conftest import PROJECT, assert_close, load_fixture
from test_input_rows import BCG, ROW_SELECTION, run, write_bcg


@pytest.fixture
def bcg_csv(tmp_path):
    return write_bcg(tmp_path / "bcg.csv", missing=ROW_SELECTION["metareg_missing"]["missing_rows"])

THIRDWAVE = PROJECT / "studies" / "thirdwave.csv"


def test_subgroup_names_both_tests_and_reads_f_under_knapp_hartung():
    expected = ROW_SELECTION["thirdwave_knha"]
    code, output = run("subgroup", THIRDWAVE, "--by", "risk_of_bias", "--ci-method", "knha")
    assert code == 0, output
    df1, df2 = expected["qm_df"]
    assert f"F({df1}, {df2}) = {expected['qm']:.2f}, p = {expected['qm_p']:.4f}" in output
    assert "separate tau^2 per subgroup" in output and "common tau^2" in output
    assert "Use the separate-tau^2 test when" in output
    header = output.splitlines()[0]
    assert "t(17)" not in header and "df = k - 1 of each row" in header
    code, output = run("subgroup", THIRDWAVE, "--by", "risk_of_bias", "--ci-method", "knha",
                       "--format", "json")
    result = json.loads(output)
    assert [result["qm_common_tau2_df"], result["qm_common_tau2_df2"]] == expected["qm_df"]
    assert [g["df"] for g in result["groups"]] == [6, 10]


def test_a_one_study_subgroup_shows_tau2_not_estimable(tmp_path):
    path = tmp_path / "single.csv"
    path.write_text("yi,vi,arm\n0.1,0.02,a\n0.3,0.03,a\n0.5,0.02,b\n")
    code, output = run("subgroup", path, "--by", "arm")
    assert code == 0, output
    b_row = next(line for line in output.splitlines() if line.startswith("b "))
    assert b_row.count("not estimable") == 2


def test_subgroup_and_metareg_csv_carry_the_tests_and_the_overall_row(bcg_csv):
    import csv
    import io

    code, output = run("subgroup", bcg_csv, "--by", "alloc", "--format", "csv")
    levels = [row["level"] for row in csv.DictReader(io.StringIO(output))]
    assert levels[-3:] == ["overall", "test: separate tau^2 (Q-between)", "test: common tau^2 (QM)"]
    code, output = run("metareg", bcg_csv, "--mods", "ablat", "--format", "csv")
    model = list(csv.DictReader(io.StringIO(output[output.index("term,"):])))[-1]
    assert model["term"] == "(model)"
    assert_close(float(model["qm"]), ROW_SELECTION["metareg_missing"]["qm"], "QM")


@pytest.mark.parametrize("command", ["bias", "sensitivity"])
def test_bias_and_sensitivity_csv_carry_every_json_value(command):
    import csv
    import io

    code, output = run(command, THIRDWAVE, "--format", "json")
    assert code == 0, output
    expected = []

    def leaves(value):
        if isinstance(value, dict):
            for item in value.values():
                leaves(item)
        elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
            for item in value:
                leaves(item)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            expected.append(value)

    leaves(json.loads(output))
    code, output = run(command, THIRDWAVE, "--format", "csv")
    assert code == 0, output
    values = [row["value"] for row in csv.DictReader(io.StringIO(output))]
    numbers = [float(value) for value in values if value not in ("", "True", "False") and ";" not in value
               and value.lstrip("-").replace(".", "", 1).replace("e-", "", 1).isdigit()]
    assert sorted(numbers) == sorted(float(value) for value in expected)
    if command == "bias":
        fields = {(row["section"], row["field"]) for row in csv.DictReader(io.StringIO(output))}
        assert {("rank_correlation", "tau"), ("trim_and_fill", "k0"), ("trim_and_fill", "ci_lower"),
                ("fail_safe_n", "rosenthal"), ("pet_peese", "chosen")} <= fields


def test_permutation_runs_print_no_progress_line_when_not_on_a_terminal(bcg_csv):
    result = CliRunner().invoke(main, ["metareg", str(bcg_csv), "--mods", "alloc",
                                                       "--permutations", "20", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "Permutations" not in result.stderr


def test_print_result_is_the_command_line_table(bcg_csv, capsys):
    from compassmeta import meta_regression, pool, subgroup_analysis
    from compassmeta.report.text import metareg_table, pool_table, subgroup_table

    yi, vi = BCG["yi"], BCG["vi"]
    pooled = pool(yi, vi)
    print(pooled)
    printed = capsys.readouterr().out
    assert printed == pool_table(pooled) + "\n"
    assert "np.float64" not in printed and "Random-effects model (k = 13" in printed
    assert str(meta_regression(yi, vi, {"ablat": BCG["mods"]["ablat"]})) == metareg_table(
        meta_regression(yi, vi, {"ablat": BCG["mods"]["ablat"]}))
    groups = subgroup_analysis(yi, vi, BCG["mods"]["alloc"], by="alloc")
    assert str(groups) == subgroup_table(groups)


def test_meta_regression_accepts_a_dataframe_a_dict_or_column_names():
    import pandas as pd

    from compassmeta import meta_regression

    reference = next(c["result"] for c in load_fixture("metafor_core.json")["metareg"]
                     if c["data"] == "bcg" and c["mods"] in ("ablat", ["ablat"]) and c["method"] == "REML"
                     and c["test"] == "z")
    frame = pd.DataFrame({"yi": BCG["yi"], "vi": BCG["vi"], "ablat": BCG["mods"]["ablat"]})
    fits = [meta_regression(frame["yi"], frame["vi"], frame[["ablat"]]),
            meta_regression(frame["yi"], frame["vi"], {"ablat": frame["ablat"]}),
            meta_regression("yi", "vi", ["ablat"], data=frame),
            meta_regression(frame["yi"], frame["vi"], "ablat", data=frame.to_dict("list"))]
    for fit in fits:
        assert_close(fit.qm, reference["qm"], "QM")
        assert [c.term for c in fit.coefficients] == ["intercept", "ablat"]


def test_to_frame_of_meta_regression_and_subgroup_carries_tests_tau2_and_overall():
    from compassmeta import meta_regression, subgroup_analysis

    reference = next(c["result"] for c in load_fixture("metafor_core.json")["metareg"]
                     if c["data"] == "bcg" and c["mods"] in ("ablat", ["ablat"]) and c["method"] == "REML"
                     and c["test"] == "z")
    frame = meta_regression(BCG["yi"], BCG["vi"], {"ablat": BCG["mods"]["ablat"]}).to_frame()
    model = frame.set_index("term").loc["(model)"]
    for key in ("qm", "tau2", "r2"):
        assert_close(float(model[key]), reference[key], key)
    subgroup = next(c["result"] for c in load_fixture("metafor_core.json")["subgroup"]
                    if c["data"] == "bcg" and c["by"] == "alloc" and c["method"] == "REML"
                    and c["test"] == "z")
    analysis = subgroup_analysis(BCG["yi"], BCG["vi"], BCG["mods"]["alloc"], by="alloc")
    frame = analysis.to_frame().set_index("level")
    assert_close(float(frame.loc["test: separate tau^2 (Q-between)", "statistic"]), subgroup["q_between"],
                 "Qb")
    assert_close(float(frame.loc["test: common tau^2 (QM)", "statistic"]), subgroup["qm_common_tau2"],
                 "QM")
    assert frame.loc["overall", "k"] == 13
    for group in subgroup["groups"]:
        assert_close(float(frame.loc[group["level"], "tau2"]), group["tau2"], group["level"])


def test_conditional_pet_peese_line_reads_plainly():
    case = next(c for c in load_fixture("metafor_bias.json")["cases"]
                if c["data"] == "thirdwave" and c["method"] == "REML")
    pet = case["egger_lm"]
    code, output = run("bias", THIRDWAVE)
    assert code == 0, output
    line = next(line for line in output.splitlines() if line.startswith("Conditional PET-PEESE"))
    # PET's limit estimate is not significant here (its CI covers 0), so PET is kept
    assert pet["limit_ci_lower"] < 0 < pet["limit_ci_upper"]
    assert (f": PET, {pet['limit_estimate']:.4f} [{pet['limit_ci_lower']:.4f}, {pet['limit_ci_upper']:.4f}] "
            "(PEESE when PET's limit estimate differs from 0 at p < 0.05; here p = ") in line
    assert line.endswith(", so PET)") and "PET (PET" not in output





def test_print_of_bias_and_sensitivity_reports_is_the_command_line_text():
    from compassmeta.analyses.bias import bias_report
    from compassmeta.analyses.sensitivity import sensitivity_report
    from compassmeta.data.studytable import load_study_table

    table = load_study_table(THIRDWAVE, resource="thirdwave")
    code, output = run("bias", THIRDWAVE)
    assert code == 0 and str(bias_report(table.yi, table.vi)) + "\n" == output
    labels = table.column("es_id")
    code, output = run("sensitivity", THIRDWAVE)
    assert code == 0 and str(sensitivity_report(table.yi, table.vi, labels)) + "\n" == output
