"""Issue 17, the first day of a new user: imported tables pool directly, --where clauses,
rows with a missing moderator dropped as metafor drops them, readable subgroup output."""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from conftest import PROJECT, assert_close, load_fixture

FIRST_DAY = load_fixture("metafor_first_day.json")
BCG = next(d for d in load_fixture("metafor_core.json")["datasets"] if d["name"] == "bcg")


def run(*args, input=None):
    result = CliRunner().invoke(main, [str(a) for a in args], input=input)
    return result.exit_code, result.output


def write_bcg(path, missing=()):
    """metadat's dat.bcg (log risk ratios), with ablat empty in the ``missing`` rows."""
    reference = FIRST_DAY["metareg_missing"]
    lines = ["trial,yi,vi,ablat,alloc"] + [
        f"{i + 1},{y!r},{v!r},{'' if i + 1 in missing else a},{al}" for i, (y, v, a, al) in
        enumerate(zip(reference["yi"], reference["vi"], reference["ablat"], BCG["mods"]["alloc"]))]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def bcg_csv(tmp_path):
    return write_bcg(tmp_path / "bcg.csv", missing=FIRST_DAY["metareg_missing"]["missing_rows"])


def test_metareg_drops_rows_with_a_missing_moderator_and_says_how_many(bcg_csv):
    reference = FIRST_DAY["metareg_missing"]
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


@pytest.mark.parametrize("case", FIRST_DAY["where"], ids=lambda case: case["clause"])
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


THIRDWAVE = PROJECT / "studies" / "thirdwave.csv"


def test_subgroup_names_both_tests_and_reads_f_under_knapp_hartung():
    expected = FIRST_DAY["thirdwave_knha"]
    code, output = run("subgroup", THIRDWAVE, "--by", "risk_of_bias", "--ci-method", "knha")
    assert code == 0, output
    df1, df2 = expected["qm_df"]
    assert f"F({df1}, {df2}) = {expected['qm']:.2f}, p = {expected['qm_p']:.4f}" in output
    assert "separate tau^2 per subgroup" in output and "common tau^2" in output
    assert "Use the separate-tau^2 test when" in output
    header = output.splitlines()[0]
    assert "t(17)" not in header and "df = k - 1 of each row" in header
    code, output = run("subgroup", THIRDWAVE, "--by", "risk_of_bias", "--ci-method", "knha", "--format", "json")
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
    assert_close(float(model["qm"]), FIRST_DAY["metareg_missing"]["qm"], "QM")


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
                    if c["data"] == "bcg" and c["by"] == "alloc" and c["method"] == "REML" and c["test"] == "z")
    frame = subgroup_analysis(BCG["yi"], BCG["vi"], BCG["mods"]["alloc"], by="alloc").to_frame().set_index("level")
    assert_close(float(frame.loc["test: separate tau^2 (Q-between)", "statistic"]), subgroup["q_between"], "Qb")
    assert_close(float(frame.loc["test: common tau^2 (QM)", "statistic"]), subgroup["qm_common_tau2"], "QM")
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


# --- correcting the study table: remove, edit, implausible values, typos, the lock file ---

from test_studies import GOOD_ROW, add_args  # noqa: E402  (the schema-valid row of the add tests)


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
    assert {"year", "sessions", "format", "doi", "weeks_after_baseline", "risk_of_bias"} <= set(optional)
    # higher_is_better is not asked: instruments.csv answers it for BDI-II
    answers = [GOOD_ROW[name] for name in required if name not in ("stat_type", "higher_is_better")]
    statistics = ["20", "21", "12", "-2", "5", "16", "6"]          # sd1 typed as -2 first, then 5
    optional_answers = {"year": "2024", "sessions": "8"}
    inputs = (["means"] + answers + statistics + [optional_answers.get(name, "") for name in optional] + ["y"])
    code, output = run("add", "--table", scratch_table, "--interactive", input="\n".join(inputs) + "\n")
    assert code == 0, output
    assert "must be greater than 0, got -2" in output
    # the sd1 prompt appears twice (re-asked at once), before mean2 is asked
    assert output.index("must be greater than 0") < output.index("mean2 (")
    row = load_study_table(scratch_table).rows[-1]
    assert (row["sd1"], row["year"], row["sessions"]) == (5.0, 2024, 8)
    assert "g = 0.7086" in output   # the same row as test_studies' GOOD_ROW: J(39) (12 - 16) / sp, flipped


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
