"""The column-wise screens of validate at scale (validation.rows_to_check, consistency.sd_bound_rows,
cross_checks.sd_ratio_rows) pick the rows each rule then judges: on a table with failing rows of
every kind they must give exactly the problems of the rules run on every row."""
import numpy as np
import pytest

from compassmeta.data import consistency, cross_checks, schema, validation
from compassmeta.data.columnar import ColumnRecords
from compassmeta.data.row_effects import REQUIRED_STATISTICS, row_effect
from test_consistency import INSTRUMENTS, ROW, SCHEMA

NOT_MEANS = {"mean1": "", "sd1": "", "mean2": "", "sd2": ""}
# one row per rule of validation.row_problems / direction_problem, each failing (and a few passing)
ROW_RULES = [
    {}, {"mean1": "70.0"}, {"sd1": "40.0"}, {"higher_is_better": "true"}, {"mean2": "-1.0"},
    dict(NOT_MEANS, stat_type="g_ci", g="0.5", ci_lower="0.6", ci_upper="0.9"),
    dict(NOT_MEANS, stat_type="g_ci", g="0.5", ci_lower="0.2", ci_upper="0.9"),
    dict(NOT_MEANS, stat_type="p", statistic="1.5", direction="1"),
    dict(NOT_MEANS, stat_type="p", statistic="0.03", direction="1"),
    dict(NOT_MEANS, stat_type="t", statistic="-2.0", direction="1"),
    dict(NOT_MEANS, stat_type="t", statistic="2.0", direction="1"),
    dict(NOT_MEANS, stat_type="g_se", g="-0.4", se="0.2", direction="1"),
    dict(NOT_MEANS, stat_type="d", statistic="9.0", direction="-1"),
    {"mean1": "60.0", "mean2": "1.0", "sd1": "1.0", "sd2": "1.0"},
    {"mean1": "60.0", "mean2": "1.0", "sd1": "1.0", "sd2": "1.0",
     "inclusion_note": "[implausible value confirmed: checked]"},
    {"mean1": "20.0", "mean2": "12.0", "sd1": "0.5", "sd2": "0.5"},
    dict(NOT_MEANS, stat_type="median_iqr", median1="12", q1_1="8", q3_1="16", median2="15", q1_2="10",
         q3_2="20"),
    {"measure": "OR"}, {"sd2": ""}, {"higher_is_better": ""},
    {"instrument": "FOO (self-report)", "higher_is_better": "true"},
    {"instrument": "FOO (self-report)", "higher_is_better": "false"},
    dict(NOT_MEANS, stat_type="f", statistic="-2.0", direction="1"),
    dict(NOT_MEANS, stat_type="events", measure="OR", events1="25", events2="3"),
    {"sd1": "1e308", "sd2": "1e308"},
]
# rows without a row-rule error, with consistency and plausibility findings
CHECKS = [
    {}, {"mean1": "12.13", "analysis_set": "completers"}, {"mean1": "12.13"}, {"mean2": "16.05"},
    {"mean1": "1.0", "sd1": "9.5"}, {"mean1": "1.0", "sd1": "8.3"},
    {"mean1": "62.0", "mean2": "58.0", "sd1": "8.2", "sd2": "8.0"},
    {"mean1": "1.0", "sd1": "8.1"}, {"n1": "2", "mean1": "1.0", "sd1": "30.0"},
    {"printed_test": "t", "printed_value": "9.99"}, {"printed_test": "p", "printed_value": "0.04"},
    {"sd1": "1.0", "sd2": "6.0"}, {"sd1": "1.0", "sd2": "4.0"}, {"sd1": "6.1", "sd2": "1.5"},
    {"stat_type": "pre_post", "pre_mean1": "13.0", "pre_sd1": "1.2", "pre_mean2": "14.0", "pre_sd2": "6.0",
     "prepost_r": "0.5"},
    {"instrument": "SCS-SF", "outcome": "self-compassion", "higher_is_better": "true", "mean1": "3.51",
     "sd1": "0.6", "mean2": "3.00", "sd2": "0.6"},
    {"scs_component": "total"}, {"n_total": "30"},
    dict(NOT_MEANS, stat_type="adjusted_ci", mean1="12.0", ci_lower1="12.5", ci_upper1="14.0", mean2="16.0",
         ci_lower2="14.0", ci_upper2="18.0"),
    dict(NOT_MEANS, stat_type="median_iqr", median1="12", q1_1="16", q3_1="8", median2="15", q1_2="10",
         q3_2="20"),
]


def records(changes: list) -> list:
    return [tuple(dict(ROW, es_id=f"row{i}", study_id=f"s{i}", **change).get(name, "")
                  for name in SCHEMA.names) for i, change in enumerate(changes)]


def everything(screen):
    """A screen that keeps every row: the rules judge them all."""
    def keep_all(*args, **kwargs):
        return np.ones(len(screen(*args, **kwargs)), dtype=bool)
    return keep_all


def shown(problems: list) -> list:
    return [(p.row, p.column, p.level, p.message) for p in problems]


def test_row_rules_find_the_same_problems_screened_or_not(monkeypatch):
    rows = records(ROW_RULES)
    screened, _, _ = validation.checked_text("t.csv", SCHEMA.names, rows, SCHEMA, INSTRUMENTS)
    assert len({p.row for p in screened}) >= 16     # the table does break the rules
    monkeypatch.setattr(validation, "rows_to_check", everything(validation.rows_to_check))
    monkeypatch.setattr(validation, "_contrary_directions", everything(validation._contrary_directions))
    every_row, _, _ = validation.checked_text("t.csv", SCHEMA.names, rows, SCHEMA, INSTRUMENTS)
    assert shown(screened) == shown(every_row)


@pytest.mark.parametrize("module, screen, run", [
    (consistency, "sd_bound_rows",
     lambda rows, typed: consistency.table_problems("t.csv", SCHEMA.names, rows, typed, INSTRUMENTS)),
    (cross_checks, "sd_ratio_rows",
     lambda rows, typed: cross_checks.table_problems(typed, "t.csv", INSTRUMENTS)),
])
def test_consistency_and_plausibility_find_the_same_problems_screened_or_not(monkeypatch, module, screen,
                                                                             run):
    rows = records(CHECKS)
    problems, typed, _ = validation.checked_text("t.csv", SCHEMA.names, rows, SCHEMA, INSTRUMENTS)
    assert [p for p in problems if p.level == "error"] == []
    screened = run(rows, typed)
    assert len({p.row for p in screened}) >= 5
    monkeypatch.setattr(module, screen, everything(getattr(module, screen)))
    assert shown(run(rows, typed)) == shown(screened)


def test_consistency_reads_the_same_cells_from_columns_as_from_records():
    """A large table's records come as columns (columnar.ColumnRecords): the printed means, SDs and
    tests that GRIM, the SD bounds and the printed-test rule read must be the records' own."""
    rows = records(CHECKS)
    _, typed, _ = validation.checked_text("t.csv", SCHEMA.names, rows, SCHEMA, INSTRUMENTS)
    as_columns = ColumnRecords([list(column) for column in zip(*rows)])
    from_records = consistency.table_problems("t.csv", SCHEMA.names, rows, typed, INSTRUMENTS)
    assert len({p.row for p in from_records}) >= 5
    assert shown(consistency.table_problems("t.csv", SCHEMA.names, as_columns, typed, INSTRUMENTS)) == shown(
        from_records)


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt")
def test_table_effects_give_each_complete_row_its_own_effect():
    """The effects computed a stat_type at a time over whole columns are each row's row_effect,
    and the rows left out are those missing a statistic or a direction, or of a stat_type whose
    arithmetic overflows in some row (SDs of 1e308: left for the rules, row by row)."""
    overflowing = ROW_RULES[-1]
    assert overflowing == {"sd1": "1e308", "sd2": "1e308"}
    changes = ROW_RULES[:-1] + CHECKS + [{"n1": ""}, {"higher_is_better": ""}, {"stat_type": ""}]
    for trapped, table in (((), changes), (("means",), changes + [overflowing])):
        _, typed, (g, v, done) = validation.checked_text("t.csv", SCHEMA.names, records(table), SCHEMA,
                                                         INSTRUMENTS)
        complete = [row["stat_type"] not in (None, *trapped) and row["higher_is_better"] is not None and all(
            row[name] is not None for name in REQUIRED_STATISTICS[row["stat_type"]]) for row in typed]
        assert sum(complete) >= 10
        assert done.tolist() == complete
        for number in np.flatnonzero(done):
            assert (g[number], v[number]) == pytest.approx(row_effect(typed[number]), rel=1e-15, nan_ok=True)


@pytest.mark.parametrize("bad", [[], ["bad id!"], [" padded "], ["caf\udce9"], ["é"], ["x" * 10_001], ["  "],
                                 ["ok", "bad id!", " padded ", "caf\udce9", "é", "x" * 10_001, " "]])
def test_string_constraints_checked_over_all_texts_give_each_cells_own_outcome(bad):
    """A string column's constraints are checked over its distinct texts at once (the ids' pattern
    over the texts joined): each cell still gets the value and message of its own check."""
    spec = next(spec for spec in SCHEMA.fields if spec["name"] == "es_id")
    assert spec["constraints"]["pattern"] == "[A-Za-z0-9_.-]+"
    for pattern in ("[A-Za-z0-9_.-]+", "[a-z0-9-]+x?"):     # one set repeated, and not
        field = dict(spec, constraints=dict(spec["constraints"], pattern=pattern))
        cells = [f"row-{number}" for number in range(50)] + bad
        columns, problems = schema.typed_columns(["es_id"], [(cell,) for cell in cells],
                                                 schema.Schema("t", (field,)), "t.csv")
        outcomes = [schema._cell_outcome(cell.strip(), field) for cell in cells]
        assert columns[0] == [value for value, _ in outcomes]
        assert {number: [p.message for p in found] for number, found in problems.items()} == {
            number: [message] for number, (_, message) in enumerate(outcomes, start=1) if message}
        assert len(problems) >= (5 if len(bad) > 1 else 0)


# trials of several rows against their n_total: varying, a row over it, arms over it, within it
TRIAL_SIZES = [("a", {"n_total": "78"}), ("a", {"n_total": "77", "outcome": "anxiety"}),
               ("b", {"n_total": "40"}), ("c", {"n_total": "50", "arm": "cft"}),
               ("c", {"n_total": "50", "arm": "msc", "outcome": "anxiety"}), ("d", {"n_total": "41"}),
               ("d", {"n_total": "41", "outcome": "anxiety"}), ("e", {"n_total": "45"}),
               ("e", {"n_total": "45", "outcome": "anxiety", "control_arm": "tau", "n2": "10"}), ("f", {})]


def test_trial_sizes_find_the_same_problems_screened_or_not(monkeypatch):
    rows = [tuple(dict(ROW, es_id=f"row{number}", study_id=trial, **change).get(name, "")
                  for name in SCHEMA.names) for number, (trial, change) in enumerate(TRIAL_SIZES)]
    problems, typed, _ = validation.checked_text("t.csv", SCHEMA.names, rows, SCHEMA, INSTRUMENTS)
    assert [p for p in problems if p.level == "error"] == []
    screened = consistency.arm_size_problems(typed, "t.csv")
    assert [(p.row, p.column) for p in screened] == [(2, "n_total"), (3, "n1"), (5, "n_total"),
                                                     (9, "n_total")]
    assert consistency.trials_to_check(typed).tolist() == [True] * 5 + [False] * 2 + [True] * 2 + [False]
    monkeypatch.setattr(consistency, "trials_to_check",      # every row with an n_total
                        lambda rows: np.array([row["n_total"] is not None for row in rows]))
    assert shown(consistency.arm_size_problems(typed, "t.csv")) == shown(screened)
