"""`pool` reads what it needs beyond the checks as columns (issue 29, 10^5 rows): the analysis
plan's timepoint windows and mixing warnings, each distinct cell read once.  Crafted rows (not
data) reach every branch of the plan's rule (studies/analysis_plan.toml: a follow-up up to 26
weeks after the trial's latest post row is short, later long), and the answers are the rule's,
whether the rows come as mappings or as the columns of a table read by the csv module or, as a
large file is, by pandas' parser (the size threshold forced to 0)."""
import numpy as np
import pytest

from compassmeta.common.errors import InputError
from compassmeta.data import loading, tables
from compassmeta.data.columnar import ColumnRecords
from compassmeta.data.plan import LONG, POST, SHORT, load_plan, mixing_warnings, timepoint_windows
from compassmeta.models.clusters import cluster_codes
from compassmeta.models.pooling import pool
from test_shared_control import _trials

FOLLOW_UP_UNKNOWN, UNSPECIFIED = "follow-up, length not given", "unspecified"
# (study_id, timepoint, weeks_after_baseline, outcome, scs_component), the window the rule gives
ROWS = (
    (("a", "post", "8", "self-compassion", "total"), POST),
    (("a", "post", "10", "self-compassion", "total"), POST),          # a's treatment ends at week 10
    (("a", "follow-up", "36", "self-compassion", "total"), SHORT),    # 26 weeks after: still short
    (("a", "follow-up", "36.5", "self-compassion", "total"), LONG),
    (("a", "follow-up", "", "depression", ""), FOLLOW_UP_UNKNOWN),    # no weeks
    (("b", "follow-up", "12", "depression", ""), FOLLOW_UP_UNKNOWN),  # b has no post row
    (("c", " post ", "x", "self_compassion", " self_kindness "), POST),   # weeks not a number
    (("c", "follow-up", "20", "self-compassion", "total"), FOLLOW_UP_UNKNOWN),  # c's end unknown
    (("d", "Post", "5", "self-compassion", ""), UNSPECIFIED),          # not the plan's word
    (("d", "", "", "depression", "total"), UNSPECIFIED),
    (("e", "post", "nan", "self-compassion", "total"), POST),         # an end of nan weeks ...
    (("e", "follow-up", "30", "self-compassion", "total"), LONG),     # ... is never within 26
)
COLUMNS = ("study_id", "timepoint", "weeks_after_baseline", "outcome", "scs_component")
MIXED = ("the selected rows mix timepoint windows (post, short follow-up, long follow-up, follow-up, "
         "length not given, unspecified), which the analysis plan never pools together; select one, "
         "e.g. --where timepoint=post (--allow-mixed silences this warning)",
         "the selected rows mix SCS parts (self_kindness, total): the total, each component and each "
         "facet are separate outcomes (Muris & Otgaar 2022); select one, e.g. --where "
         "scs_component=total (--allow-mixed silences this warning)")


def test_timepoint_windows_of_mappings_follow_the_plan():
    rows = [dict(zip(COLUMNS, cells)) for cells, _ in ROWS]
    assert timepoint_windows(rows, load_plan()) == [window for _, window in ROWS]
    typed = [dict(row, weeks_after_baseline=float(row["weeks_after_baseline"]) if row["weeks_after_baseline"]
                  not in ("", "x") else None) for row in rows]     # typed rows: numbers and None
    assert timepoint_windows(typed, load_plan()) == [window for _, window in ROWS]


def _table_file(tmp_path, rows):
    path = tmp_path / "effects.csv"
    lines = [",".join(("yi", "vi") + COLUMNS)]
    lines += [",".join((str(0.1 * number), "0.04") + cells) for number, cells in enumerate(rows, start=1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("threshold", [tables.LARGE_FILE, 0])
def test_mixing_warnings_of_a_table_read_either_way(threshold, tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "LARGE_FILE", threshold)
    path = _table_file(tmp_path, [cells for cells, _ in ROWS])
    assert isinstance(tables.read_table(path).rows, ColumnRecords) == (threshold == 0)
    loaded = loading.load_effects(path, cluster_column="study_id")
    assert loaded.mixing_warnings == MIXED
    assert loaded.mixing_warnings == tuple(f"{warning} (--allow-mixed silences this warning)" for warning
                                           in mixing_warnings([dict(zip(COLUMNS, c)) for c, _ in ROWS],
                                                              load_plan()))
    post = loading.load_effects(path, where=("timepoint=post", "outcome!=self_compassion"))
    assert post.mixing_warnings == () and len(post.table) == 3


def test_mixing_warnings_of_a_table_without_the_weeks_or_parts(tmp_path):
    path = tmp_path / "effects.csv"
    path.write_text("yi,vi,study_id,timepoint\n0.1,0.04,a,post\n0.2,0.04,a,follow-up\n0.3,0.04,b,\n",
                    encoding="utf-8")
    assert loading.load_effects(path, cluster_column="study_id").mixing_warnings == (
        "the selected rows mix timepoint windows (post, follow-up, length not given, unspecified), which "
        "the analysis plan never pools together; select one, e.g. --where timepoint=post "
        "(--allow-mixed silences this warning)",)


@pytest.mark.parametrize("labels", [
    [" b", "a", "b ", "é", "Z", "10", "9", "a", "\u3000b"],        # padded, accented, digits, wide space
    ["x", "y", "x\0y", "x"],                                       # a NUL inside a label
    ["q", "p\0", "p", "q"],                                        # numpy drops a label's trailing NUL
    ["a", 1, "a"],                                                 # not text: numpy's way
])
def test_cluster_codes_of_text_labels_are_numpys(labels):
    """Text labels are numbered through a dict of the distinct labels (10^5 of them in 0.03 s,
    not numpy's 0.1 s): the codes are numpy's unique inverse of the stripped labels."""
    expected = np.unique(np.char.strip(np.asarray(labels).astype(str)), return_inverse=True)[1].ravel()
    assert cluster_codes(labels).tolist() == cluster_codes(tuple(labels)).tolist() == expected.tolist()
    assert cluster_codes(np.asarray(labels, dtype=object)).tolist() == expected.tolist()


def test_cluster_codes_name_the_first_row_missing_its_label():
    assert cluster_codes([" b", "a", "b "]).tolist() == [1, 0, 1]
    for missing in ("", " NA ", "nan", "NaN", "None"):
        with pytest.raises(InputError, match="row 3, column 'study_id': cluster value is missing"):
            cluster_codes(["a", "b", missing, "a", ""], column="study_id")


def _read_either_way(monkeypatch, threshold, path, where=(), moderators=("dose",)):
    monkeypatch.setattr(tables, "LARGE_FILE", threshold)
    loaded = loading.load_effects(path, where=where, cluster_column="study_id")
    kept = loading.complete_cases(loaded.table, loaded.yi, loaded.vi, list(moderators))
    monkeypatch.undo()
    return loaded, kept


def test_rows_kept_by_where_and_complete_cases_are_the_same_either_way(tmp_path, monkeypatch):
    """A large file's rows stay columns when --where or a missing moderator drops some: the same
    rows, effects and warning as the csv module's rows give."""
    path = tmp_path / "effects.csv"
    path.write_text("yi,vi,study_id,timepoint,dose\n0.1,0.01,a,post,1\n0.2,0.02,a,post, NA \n"
                    "0.3,0.03,b,post,\n0.4,0.04,c,follow-up,2\n0.5,0.05,c,post,nan\n0.6,0.06,d,post,3\n",
                    encoding="utf-8")
    for where, expected_yi, warning in (
            ((), [0.1, 0.4, 0.6], "3 row(s) with a missing dose omitted (3 of 6 used)"),
            (("timepoint=post",), [0.1, 0.6], "3 row(s) with a missing dose omitted (2 of 5 used)")):
        small_loaded, small = _read_either_way(monkeypatch, tables.LARGE_FILE, path, where)
        large_loaded, large = _read_either_way(monkeypatch, 0, path, where)
        assert all(isinstance(table.rows, ColumnRecords) for table in (large_loaded.table, large.table))
        assert list(large_loaded.table.rows) == list(small_loaded.table.rows)
        assert list(large.table.rows) == list(small.table.rows) and len(large.table) == len(expected_yi)
        assert large.table.column("yi") == small.table.column("yi") == [str(y) for y in expected_yi]
        assert large.yi.tolist() == small.yi.tolist() == expected_yi
        assert large.warnings == small.warnings == (warning,)
    with pytest.raises(InputError, match="no column 'dosage'"):
        _read_either_way(monkeypatch, 0, path, moderators=("dose", "dosage"))


@pytest.mark.parametrize("rho", [None, 0.6])
def test_a_fit_with_shared_controls_is_the_same_whichever_way_its_clusters_are_numbered(rho):
    """The shared-control trials (tests/fixtures, against metafor in test_shared_control) with CR2
    inference, which reads the marginal covariance built only when asked: text cluster labels
    (numbered through a dict) and the same labels as an object array (numbered by numpy) give
    the same numbers, bit for bit."""
    yi, vi, cluster, groups = _trials()
    fits = [pool(yi, vi, cluster=labels, groups=groups, rho=rho, ci_method="cr2").to_dict()
            for labels in (cluster, np.asarray(cluster, dtype=object))]
    assert fits[0] == fits[1] and fits[0]["notes"] and fits[0]["k"] == len(yi)
