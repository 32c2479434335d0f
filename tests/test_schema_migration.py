"""The schema-v2 migration of studies/trials.csv keeps every value of the old table.

``tests/fixtures/trials_before_schema_v2.csv`` is the table as it was before the new columns
(commit 204ed2cf); every cell of it must be in today's table, as the same text, except the
one documented correction (the Savari locator: record 642 is file line 683, not 643); a renamed
column (``RENAMED``) keeps its values under its new name.
"""
from pathlib import Path

from compassmeta.data.tables import read_table

ROOT = Path(__file__).resolve().parents[1]
OLD = ROOT / "tests" / "fixtures" / "trials_before_schema_v2.csv"
NEW = ROOT / "studies" / "trials.csv"
CORRECTIONS = {("savari2021-bdi2-post", "source"): (
    "file line 643,", "file line 683 (record 642; earlier rows hold line breaks inside quoted cells),")}
# the analysis plan's intervention classes (issue 21) replaced the class "compassion-based"
CORRECTIONS.update({(es_id, "intervention_class"): ("compassion-based", new) for es_id, new in (
    ("aguilarraab2023-hdrs17-post", "other-self-compassion"), ("savari2021-bdi2-post", "cft-cmt"),
    ("tealesapach2022-bfne-s-post", "other-self-compassion"),
    ("tealesapach2022-lsas-sr-post", "other-self-compassion"),
    ("tealesapach2022-sips-post", "other-self-compassion"), ("johannsen2022-pg13-post", "cft-cmt"))})
#: Columns renamed since (old name -> new name); issue 28 moved the free-text risk of bias to a note
#: beside the RoB 2 table (studies/rob2.csv).
RENAMED = {"risk_of_bias": "risk_of_bias_source"}


def rows_by_id(path):
    table = read_table(path)
    return table.header, {row[0]: dict(zip(table.header, row)) for row in table.rows}


def test_every_old_value_survives_the_migration():
    old_header, old_rows = rows_by_id(OLD)
    new_header, new_rows = rows_by_id(NEW)
    assert {RENAMED.get(name, name) for name in old_header} <= set(new_header)
    assert not set(RENAMED) & set(new_header)
    assert set(old_rows) <= set(new_rows)
    checked = 0
    for es_id, old in old_rows.items():
        for column, value in old.items():
            new_value = new_rows[es_id][RENAMED.get(column, column)]
            if (es_id, column) in CORRECTIONS:
                before, after = CORRECTIONS[(es_id, column)]
                assert before in value and new_value == value.replace(before, after)
                continue
            assert new_value == value, (es_id, column)
            checked += 1
    assert checked == len(old_rows) * len(old_header) - len(CORRECTIONS)


def test_new_columns_are_blank_in_migrated_rows():
    old_header, old_rows = rows_by_id(OLD)
    _, new_rows = rows_by_id(NEW)
    renamed = set(RENAMED.values())
    added = [name for name in next(iter(new_rows.values())) if name not in old_header and name not in renamed]
    assert {"arm", "control_arm", "scs_component", "analysis_set"} <= set(added)
    for es_id in old_rows:
        assert all(new_rows[es_id][name] == "" for name in added), es_id
