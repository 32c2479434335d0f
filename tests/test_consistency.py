"""Consistency checks of validate (data/consistency.py), each on a constructed failing case."""
from pathlib import Path

import pytest
from scipy import stats

from compassmeta.data.consistency import table_problems
from compassmeta.data.studytable import Schema, load_instruments, validate_text

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "studies" / "datapackage.json"
SCHEMA = Schema.load(PACKAGE, "trials")
INSTRUMENTS = load_instruments(PACKAGE)
ROW = {
    "es_id": "example2024-bdi2-post", "study_id": "example2024", "citation": "Constructed row for a test",
    "intervention": "CFT", "intervention_class": "cft-cmt", "control_type": "passive",
    "control_detail": "waitlist", "population": "clinical", "outcome": "depression", "instrument": "BDI-II",
    "higher_is_better": "false", "timepoint": "post", "stat_type": "means", "n1": "20", "n2": "21",
    "mean1": "12.0", "sd1": "5.0", "mean2": "16.0", "sd2": "6.0",
    "source": "constructed for a test", "license": "none", "inclusion_note": "test row",
}


def findings(*changes):
    """(row, column, level, message) of every consistency finding for rows = ROW + each change."""
    records = [tuple(dict(ROW, es_id=f"row{i}", **change).get(n, "") for n in SCHEMA.names)
               for i, change in enumerate(changes)]
    problems, typed = validate_text("t.csv", SCHEMA.names, records, SCHEMA, INSTRUMENTS)
    assert [p for p in problems if p.level == "error"] == []
    return [(p.row, p.column, p.level, p.message)
            for p in table_problems("t.csv", SCHEMA.names, records, typed, INSTRUMENTS)]


def test_consistent_row_has_no_findings():
    assert findings({}) == []


def test_grim_flags_an_impossible_mean_of_sums():
    # 20 whole-number BDI-II sums: means are k/20, so 12.13 (12.10 or 12.15) is impossible
    found = findings({"mean1": "12.13", "analysis_set": "completers"})
    assert found == [(1, "mean1", "error", "GRIM: 12.13 is not a possible mean of whole-number BDI-II sums "
                      "(n = 20): the nearest possible means are 12.10 and 12.15 (Brown & Heathers 2017)")]
    assert findings({"mean1": "12.15", "analysis_set": "completers"}) == []


def test_grim_is_a_warning_when_the_mean_may_be_imputed():
    assert [f[2] for f in findings({"mean1": "12.13"})] == ["warning"]
    assert [f[2] for f in findings({"mean1": "12.13", "analysis_set": "itt"})] == ["warning"]


def test_grim_on_item_means_counts_items_times_people():
    scs = {"outcome": "self-compassion", "instrument": "SCS-SF", "scs_component": "total",
           "higher_is_better": "true", "n1": "5", "mean1": "3.51", "sd1": "0.60", "mean2": "3.00",
           "sd2": "0.60", "analysis_set": "completers"}
    # 5 people x 12 items: means are k/60, so 3.51 (3.50 or 3.52) is impossible; 3.52 is possible
    assert [f[1] for f in findings(scs)] == ["mean1"]
    assert findings(dict(scs, mean1="3.52")) == []


def test_grim_cannot_tell_when_the_grid_is_finer_than_the_decimals():
    assert findings({"n1": "200", "n2": "210", "mean1": "12.1"}) == []


def student_t(mean1, sd1, n1, mean2, sd2, n2):
    return stats.ttest_ind_from_stats(mean1, sd1, n1, mean2, sd2, n2, equal_var=True)


@pytest.mark.parametrize("test,printed,consistent", [
    ("t", "2.31", True), ("t", "-2.31", True), ("t", "2.61", False),
    ("f", "5.35", True), ("f", "7.10", False),
    ("p", "0.026", True), ("p", "0.26", False)])
def test_printed_test_is_recomputed_at_the_printed_rounding(test, printed, consistent):
    exact = student_t(12.0, 5.0, 20, 16.0, 6.0, 21)      # |t| = 2.313, p = 0.026 (scipy)
    assert abs(exact.statistic) == pytest.approx(2.3128, abs=1e-4)
    assert exact.pvalue == pytest.approx(0.0261, abs=1e-4)
    found = findings({"printed_test": test, "printed_value": printed})
    assert (found == []) == consistent, found
    if not consistent:
        assert found[0][:3] == (1, "printed_value", "error") and "does not follow" in found[0][3]


def test_printed_test_needs_means():
    found = findings({"stat_type": "t", "statistic": "2.3", "printed_test": "t", "printed_value": "2.3",
                      "mean1": "", "sd1": "", "mean2": "", "sd2": ""})
    assert [f[1] for f in found] == ["printed_test"]


def test_sd_larger_than_the_range_allows_is_an_error():
    # scores in 0-63 with mean 3.0: SD <= sqrt(3.05 x 59.95 x 20/19) = 13.9 (Bhatia & Davis)
    found = findings({"mean1": "3.0", "sd1": "20.0"})
    assert found == [(1, "sd1", "error", "SD 20.0 is impossible for 20 BDI-II scores in 0-63 with mean 3.0: "
                      "at most 13.9 (Bhatia & Davis 2000)")]
    assert findings({"mean1": "3.0", "sd1": "13.0"}) == []


def test_arms_larger_than_the_trial_total_are_errors():
    assert [f[:3] for f in findings({"n_total": "30"})] == [(1, "n1", "error")]
    two_arms = ({"arm": "cft", "control_arm": "wl", "n_total": "55"},
                {"arm": "ar", "control_arm": "wl", "n1": "19", "n_total": "55",
                 "instrument": "BDI-II (other rater)"})
    found = findings(*two_arms)
    # arms 20 + 19 and one shared control of 21: 60 participants, more than 55
    assert [f[:3] for f in found] == [(2, "n_total", "error")] and "hold 60 participants" in found[0][3]
    assert findings(*[dict(row, n_total="60") for row in two_arms]) == []
    assert [f[1] for f in findings({"n_total": "60"}, {"n_total": "61"})] == ["n_total"]


def test_scs_rows_name_their_component():
    scs = {"outcome": "self-compassion", "instrument": "SCS", "higher_is_better": "true",
           "mean1": "3.40", "sd1": "0.60", "mean2": "3.00", "sd2": "0.60"}
    assert [f[1] for f in findings(scs)] == ["scs_component"]
    assert findings(dict(scs, scs_component="compassionate")) == []
    assert [f[1] for f in findings({"scs_component": "total"})] == ["scs_component"]
    summed = dict(scs, instrument="SCS-sum", mean1="90.0", sd1="12.0", mean2="84.0", sd2="12.0")
    assert [f[1] for f in findings(dict(summed, scs_component="self_kindness"))] == ["scs_component"]
    assert findings(dict(summed, scs_component="total", n1="200", n2="200")) == []


def test_uncompassionate_component_must_run_lower_is_better():
    record = dict(ROW, outcome="self-compassion", instrument="SCS", scs_component="uncompassionate",
                  higher_is_better="true", mean1="2.40", sd1="0.60", mean2="2.90", sd2="0.60")
    problems, _ = validate_text("t.csv", SCHEMA.names, [tuple(record.get(n, "") for n in SCHEMA.names)],
                                SCHEMA, INSTRUMENTS)
    assert [(p.column, p.message) for p in problems] == [
        ("higher_is_better",
         "SCS (uncompassionate): lower scores are better, so higher_is_better must be false")]


def test_validate_reports_a_consistency_error_with_file_row_column(tmp_path):
    import shutil

    from click.testing import CliRunner

    from compassmeta.cli import main
    from compassmeta.data.studytable import format_table

    for name in ("datapackage.json", "instruments.csv"):
        shutil.copyfile(ROOT / "studies" / name, tmp_path / name)
    table = tmp_path / "trials.csv"
    table.write_text(format_table(SCHEMA.names, [dict(ROW, mean1="12.13", analysis_set="completers")]),
                     encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(table)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"Error: {table}, row 1, column 'mean1': GRIM: 12.13" in result.output


def test_add_refuses_a_row_that_fails_a_consistency_check(tmp_path):
    import shutil

    from click.testing import CliRunner

    from compassmeta.cli import main

    for name in ("datapackage.json", "instruments.csv", "trials.csv"):
        shutil.copyfile(ROOT / "studies" / name, tmp_path / name)
    table = tmp_path / "trials.csv"
    before = table.read_bytes()
    args = ["add", "--table", str(table), "--yes"]
    for key, value in dict(ROW, mean1="3.0", sd1="20.0").items():
        args += ["-s", f"{key}={value}"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and table.read_bytes() == before
    assert f"Error: {table}, column 'sd1': new row: SD 20.0 is impossible" in result.output
