"""Issue 22: signs from `direction`, checks across the rows of a trial, plausibility checks."""
import shutil

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.data.instruments import load_instruments
from compassmeta.data.schema import Schema
from compassmeta.data.studytable import load_study_table
from compassmeta.data.validation import all_problems
from conftest import PROJECT, assert_close

STUDIES = PROJECT / "studies"
SCHEMA = Schema.load(STUDIES / "datapackage.json", "trials")
INSTRUMENTS = load_instruments(STUDIES / "datapackage.json")

ROW = {
    "es_id": "example2024-gad7-post", "study_id": "example2024", "citation": "Example trial for tests",
    "year": "2024", "intervention": "CFT", "intervention_class": "cft-cmt",
    "control_type": "passive", "control_detail": "waitlist", "arm": "cft", "control_arm": "wl",
    "population": "clinical", "outcome": "anxiety", "instrument": "GAD-7", "higher_is_better": "false",
    "timepoint": "post", "format": "group", "sessions": "8", "stat_type": "means", "n1": "39", "n2": "39",
    "mean1": "8.1", "sd1": "4.2", "mean2": "10.3", "sd2": "4.6", "source": "constructed for a test",
    "license": "none", "inclusion_note": "test row",
}


def found(*rows):
    """(column, row, level, message) of every problem of a table of the given rows."""
    records = [tuple(row.get(name, "") for name in SCHEMA.names) for row in rows]
    problems, _ = all_problems("t.csv", SCHEMA.names, records, SCHEMA, INSTRUMENTS)
    return [(p.column, p.row, p.level, p.message) for p in problems]


def errors(*rows):
    return [problem for problem in found(*rows) if problem[2] == "error"]


@pytest.fixture
def table(tmp_path):
    for name in ("datapackage.json", "instruments.csv"):
        shutil.copyfile(STUDIES / name, tmp_path / name)
    path = tmp_path / "trials.csv"
    path.write_text(",".join(SCHEMA.names) + "\n", encoding="utf-8")
    return path


def add(table, row, *extra):
    args = ["add", "--table", str(table), "--yes", *extra]
    for name, value in row.items():
        args += ["-s", f"{name}={value}"]
    return CliRunner().invoke(main, args)


# -- 1. signs ---------------------------------------------------------------------------------

T_ROW = dict(ROW, stat_type="t", statistic="2.46", direction="-1", mean1="", sd1="", mean2="", sd2="")


def test_unsigned_t_takes_its_sign_from_direction(table):
    """t = 2.46, intervention arm lower (direction -1) on GAD-7 (lower is better): the intervention
    did better, g > 0.  metafor 5.1-12 escalc("SMD", ti = -2.46, n1i = 39, n2i = 39):
    yi = -0.5515616112, vi = 0.0532321808, flipped because lower GAD-7 scores are better."""
    result = add(table, T_ROW)
    assert result.exit_code == 0, result.output
    study = load_study_table(table)
    assert_close(study.yi[0], 0.5515616112, "g")
    assert_close(study.vi[0], 0.0532321808, "v")


def test_signed_t_that_agrees_with_direction_gives_the_same_g(table):
    assert add(table, dict(T_ROW, statistic="-2.46")).exit_code == 0
    assert_close(load_study_table(table).yi[0], 0.5515616112, "g")


@pytest.mark.parametrize("changes,column", [
    ({"statistic": "-2.46", "direction": "1"}, "statistic"),
    ({"stat_type": "d", "statistic": "-0.62", "direction": "1"}, "statistic"),
    ({"stat_type": "g_se", "statistic": "", "g": "-0.4", "se": "0.2", "direction": "1"}, "g"),
])
def test_signed_value_against_direction_is_refused_in_one_line(table, changes, column):
    result = add(table, dict(T_ROW, **changes))
    assert result.exit_code == 2, result.output
    assert result.output.count("Error:") == 1 and f"column '{column}'" in result.output
    assert "direction is +1" in result.output
    assert table.read_text(encoding="utf-8").count("\n") == 1


def test_unsigned_d_with_direction(table):
    """metafor 5.1-12 escalc("SMD", di = -0.62, n1i = 30, n2i = 32): yi = -0.6122121260 (intervention
    lower on GAD-7: flipped to +0.612)."""
    row = dict(T_ROW, stat_type="d", statistic="0.62", n1="30", n2="32")
    assert add(table, row).exit_code == 0
    assert_close(load_study_table(table).yi[0], 0.6122121260, "g")


def test_help_and_schema_say_which_way_the_sign_goes():
    help_text = CliRunner().invoke(main, ["add", "--help"]).output
    assert "direction" in help_text and "unsigned" in help_text
    description = {spec["name"]: spec["description"] for spec in SCHEMA.fields}["direction"]
    assert "unsigned" in description and "-1 when lower" in description


# -- 2. checks across rows ----------------------------------------------------------------------

SECOND = dict(ROW, es_id="example2024-phq9-post", outcome="depression", instrument="PHQ-9",
              mean1="7.2", sd1="4.0", mean2="9.9", sd2="4.4")


def test_consistent_trial_passes():
    assert errors(ROW, SECOND) == []


@pytest.mark.parametrize("field,value", [("citation", "Another citation"), ("year", "2023"),
                                         ("population", "subclinical"), ("format", "online"),
                                         ("sessions", "6")])
def test_a_trial_has_one_description(field, value):
    assert [(c, r) for c, r, _, m in errors(ROW, dict(SECOND, **{field: value}))
            if "differs from row 1" in m] == [(field, 2)]


def test_an_arm_has_one_n_per_timepoint():
    assert [(c, r) for c, r, _, _ in errors(ROW, dict(SECOND, n1="40"))] == [("n1", 2)]
    assert [(c, r) for c, r, _, _ in errors(ROW, dict(SECOND, n2="41"))] == [("n2", 2)]
    follow_up = dict(SECOND, timepoint="follow-up", n1="35", n2="36")
    assert errors(ROW, follow_up) == []


def test_arms_within_n_total():
    assert errors(dict(ROW, n_total="78"), dict(SECOND, n_total="78")) == []
    found_errors = errors(dict(ROW, n_total="77"), dict(SECOND, n_total="77"))
    assert found_errors and found_errors[0][0] == "n1"


def test_the_same_comparison_twice_is_refused():
    twin = dict(ROW, es_id="example2024-gad7-post-again", mean1="8.3")
    assert [(c, r) for c, r, _, _ in errors(ROW, twin)] == [("es_id", 2)]
    other_arm = dict(twin, arm="msc", intervention="MSC")
    assert errors(ROW, other_arm) == []


def test_validate_reports_cross_row_problems(table):
    assert add(table, ROW).exit_code == 0
    result = add(table, dict(SECOND, year="2023"))
    assert result.exit_code == 2 and "column 'year'" in result.output
    assert "year '2023' differs from row 1 ('2024')" in result.output


# -- 2. plausibility -----------------------------------------------------------------------------

@pytest.mark.parametrize("changes,column,words", [
    ({"sd1": "0.68", "sd2": "7.1"}, "sd1", "differ by more than a factor of 4"),
    ({"sd1": "7.1", "sd2": "0.68"}, "sd2", "differ by more than a factor of 4"),
    ({"stat_type": "adjusted_ci", "sd1": "", "sd2": "", "ci_lower1": "8.5", "ci_upper1": "9.9",
      "ci_lower2": "9.0", "ci_upper2": "11.6"}, "mean1", "outside its own CI"),
    ({"stat_type": "median_iqr", "mean1": "", "sd1": "", "mean2": "", "sd2": "", "median1": "8",
      "q1_1": "11", "q3_1": "5", "median2": "10", "q1_2": "7", "q3_2": "13"}, "q1_1", "is above q3_1"),
    ({"stat_type": "median_iqr", "mean1": "", "sd1": "", "mean2": "", "sd2": "", "median1": "8",
      "q1_1": "5", "q3_1": "11", "median2": "14", "q1_2": "7", "q3_2": "13"}, "median2",
     "outside [q1_2, q3_2]"),
    ({"sd1": "13", "mean1": "1.5", "sd2": "5"}, "sd1", "Bhatia & Davis"),
    # SE 2.0 of a mean of 39: SD = 2.0 sqrt(39) = 12.5 > sqrt(8.1 x 12.9 x 39 / 38) = 10.4 on GAD-7 (0-21)
    ({"stat_type": "adjusted_se", "sd1": "", "sd2": "", "se1": "2.0", "se2": "0.7"}, "se1",
     "exceeds the largest 39 GAD-7 scores"),
])
def test_implausible_values_are_errors_on_the_right_cell(changes, column, words):
    problems = errors(dict(ROW, **changes))
    assert [c for c, *_ in problems] == [column], problems
    assert words in problems[0][3]


def test_confirmed_implausible_value_is_a_warning(table):
    slip = dict(ROW, sd1="0.68", sd2="7.1")
    refused = add(table, slip)
    assert refused.exit_code == 2 and "column 'sd1'" in refused.output
    accepted = add(table, slip, "--confirm-implausible", "Table 2 prints 0.68")
    assert accepted.exit_code == 0, accepted.output
    assert "factor of 4: a decimal slip? (confirmed in inclusion_note)" in accepted.output
    assert "Table 2 prints 0.68" in table.read_text(encoding="utf-8")


def test_checks_across_rows_name_each_rows_first_row_of_its_group():
    """Groups interleaved in the table, a blank arm, a trial of one row: each finding names the
    first row of its own group, in row order, rule by rule."""
    other = dict(ROW, es_id="other-gad7-post", study_id="other2020", citation="Other trial", year="2020")
    rows = [ROW, other, dict(SECOND, year="2023", format="online"),
            dict(other, es_id="other-phq9-post", outcome="depression", instrument="PHQ-9",
                 population="subclinical", sessions="6"),
            dict(ROW, es_id="example2024-gad7-again", arm="", n1="30", format="individual", sessions="4"),
            dict(ROW, es_id="example2024-gad7-twice", n1="40", sessions="6")]
    trial, arm = "trial example2024: ", "trial and arm example2024 cft: "
    assert [(c, r, m) for c, r, level, m in found(*rows) if level == "error"] == [
        ("year", 3, trial + "year '2023' differs from row 1 ('2024')"),
        ("population", 4, "trial other2020: population 'subclinical' differs from row 2 ('clinical')"),
        ("format", 3, arm + "format 'online' differs from row 1 ('group')"),
        ("sessions", 4, "trial and arm other2020 cft: sessions '6' differs from row 2 ('8')"),
        ("sessions", 6, arm + "sessions '6' differs from row 1 ('8')"),
        ("n1", 6, "example2024 arm cft at post: n1 40 differs from row 1 (39); an arm has one n per "
                  "assessment"),
        ("es_id", 6, "example2024-gad7-twice repeats row 1 (example2024-gad7-post): the same trial, outcome, "
                     "instrument, component, arm, control arm and timepoint"),
    ]
