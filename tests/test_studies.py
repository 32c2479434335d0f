"""The curated study table, safe row entry, the open databases and `compassmeta reproduce`."""
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.data import datasets
from compassmeta.data.studytable import Schema, format_table, load_study_table, validate_text
from compassmeta.data.tables import read_table
from conftest import PROJECT, assert_close, load_fixture

STUDIES = PROJECT / "studies"
SCHEMA = Schema.load(STUDIES / "datapackage.json", "trials")

GOOD_ROW = {
    "es_id": "example2024-bdi2-post", "study_id": "example2024", "citation": "Example row for tests",
    "year": "2024", "intervention": "CFT", "intervention_class": "cft-cmt",
    "control_type": "passive", "control_detail": "waitlist", "population": "clinical",
    "outcome": "depression", "instrument": "BDI-II", "higher_is_better": "false", "timepoint": "post",
    "stat_type": "means", "n1": "20", "n2": "21", "mean1": "12", "sd1": "5", "mean2": "16", "sd2": "6",
    "source": "constructed for a test", "license": "none", "inclusion_note": "test row",
}


def problems_of(changes):
    record = dict(GOOD_ROW, **changes)
    row = tuple(record.get(n, "") for n in SCHEMA.names)
    problems, _ = validate_text("t.csv", SCHEMA.names, [row], SCHEMA)
    return [(p.column, p.message, p.level) for p in problems]


def test_good_row_passes():
    assert problems_of({}) == []


@pytest.mark.parametrize("changes,column,message", [
    ({"sd1": "abc"}, "sd1", "not a number: 'abc'"),
    ({"sd1": "0"}, "sd1", "must be greater than 0"),
    ({"sd1": "-2"}, "sd1", "must be greater than 0"),
    ({"n1": "1"}, "n1", "below the minimum 2"),
    ({"n1": "20.5"}, "n1", "not a whole number"),
    ({"mean1": "1,5"}, "mean1", "decimal comma"),
    ({"control_type": "waitlist"}, "control_type", "is not one of: passive, active"),
    ({"outcome": "happiness"}, "outcome", "is not one of"),
    ({"evidence_level": "table 2"}, "evidence_level", "is not one of: full results table, abstract"),
    ({"citation": ""}, "citation", "required value is missing"),
    ({"higher_is_better": "yes"}, "higher_is_better", "not true or false"),
    ({"mean2": ""}, "mean2", "stat_type 'means' needs a value here"),
    ({"stat_type": "g_ci", "g": "0.5", "ci_lower": "0.6", "ci_upper": "0.9"}, "ci_lower",
     "does not contain g"),
    ({"stat_type": "p", "statistic": "1.5", "direction": "1"}, "statistic", "a p value must lie in (0, 1]"),
    ({"doi": "not-a-doi"}, "doi", "does not match the pattern"),
    ({"mean1": "inf"}, "mean1", "not a finite number"),
])
def test_schema_rejects_bad_rows(changes, column, message):
    found = problems_of(changes)
    assert any(c == column and message in m and level == "error" for c, m, level in found), found


def test_se_entered_as_sd_is_refused_with_the_reason():
    found = problems_of({"sd1": "0.5", "sd2": "0.6"})
    # read as SEs: SD = 0.5 sqrt(20) = 2.236, 0.6 sqrt(21) = 2.750, pooled 2.513; g = J(39) 4 / 2.513 = 1.56
    assert ("sd1", "sd1 and sd2 look like standard errors, not SDs: they give g = 7.09, read as SEs "
            "(SD = SE sqrt(n)) g = 1.56; enter the SDs, or the SEs in se1/se2 with stat_type adjusted_se",
            "error") in found, found


def test_large_g_not_explained_by_standard_errors_is_an_error_unless_confirmed():
    large = {"mean1": "2", "mean2": "62", "sd1": "2", "sd2": "2"}
    found = problems_of(large)
    assert any(c == "sd1" and level == "error" and "beyond |5|" in m for c, m, level in found), found
    found = problems_of(dict(large, inclusion_note="checked [implausible value confirmed: "
                                                   "as printed in Table 2]"))
    assert any(level == "warning" and "beyond |5|" in m for _, m, level in found), found
    assert not any(level == "error" for _, _, level in found), found


def test_duplicate_es_id_and_mixed_direction_are_rejected():
    second = dict(GOOD_ROW, higher_is_better="true", study_id="other")
    records = [tuple(record.get(n, "") for n in SCHEMA.names) for record in (GOOD_ROW, second)]
    problems, _ = validate_text("t.csv", SCHEMA.names, records, SCHEMA)
    messages = {(p.row, p.column): p.message for p in problems}
    assert "duplicate value" in messages[(2, "es_id")]
    assert "runs the other way in row 1" in messages[(2, "higher_is_better")]


def test_shipped_tables_are_valid_and_cited():
    trials = load_study_table(STUDIES / "trials.csv")
    thirdwave = load_study_table(STUDIES / "thirdwave.csv", resource="thirdwave")
    assert len(thirdwave) == 18
    assert {row["study_id"] for row in trials.rows} >= {"aguilarraab2023", "savari2021", "tealesapach2022",
                                                         "koszycki2016", "johannsen2022"}
    for row in trials.rows + thirdwave.rows:
        assert row["source"] and row["license"] and row["inclusion_note"]
    koszycki = [row for row in trials.rows if row["study_id"] == "koszycki2016"]
    assert {row["intervention_class"] for row in koszycki} == {"mindfulness-and-compassion"}


def test_evidence_level_marks_the_double_extracted_report_rows_only():
    """Issue 27: rows entered from a trial's own report carry evidence_level and both extractors;
    the Metapsy rows (a database: where the numbers are printed is not recorded) leave it blank."""
    trials = load_study_table(STUDIES / "trials.csv")
    from_reports = [row for row in trials.rows if row["evidence_level"] is not None]
    assert sorted(row["es_id"] for row in from_reports) == [
        "eriksson2018-pss-post", "eriksson2018-scs-selfcoldness-post", "eriksson2018-scs-total-post",
        "schuling2020-bdi2-post"]
    for row in from_reports:
        assert row["evidence_level"] == "abstract" and row["extractors"] == "A;B" and row["stat_type"] == "d"
        assert row["source"].startswith("https://") and ", abstract (" in row["source"]
    for row in trials.rows:
        if row["source"].startswith("Metapsy"):
            assert row["evidence_level"] is None and row["extractors"] is None, row["es_id"]
    coldness = next(row for row in from_reports if row["es_id"] == "eriksson2018-scs-selfcoldness-post")
    assert (coldness["scs_component"], coldness["higher_is_better"], coldness["statistic"]) == (
        "uncompassionate", False, -0.73)


def test_trial_rows_agree_with_the_database_g(shared_data):
    """Each Metapsy-derived row recomputes the database's own .g to ~1e-3 (exact vs approximate J)."""
    database_g = {"savari2021-bdi2-post": 1.65067467038298, "aguilarraab2023-hdrs17-post": 0.630474718832139,
                  "koszycki2016-lsas-post": 1.77915075241769, "tealesapach2022-sips-post": 0.99649308106685,
                  "johannsen2022-pg13-post": 0.0294541122007098, "senra2025-orwell-post": 0.662278542868129}
    trials = load_study_table(STUDIES / "trials.csv")
    g = dict(zip(trials.column("es_id"), trials.yi))
    for es_id, value in database_g.items():
        assert abs(g[es_id] - value) < 2e-3, es_id


def test_unchanged_table_round_trips_byte_identical():
    for name in ("trials.csv", "thirdwave.csv", "published_results.csv"):
        original = (STUDIES / name).read_bytes()
        table = read_table(STUDIES / name)
        rewritten = format_table(table.header, [dict(zip(table.header, row)) for row in table.rows])
        assert rewritten.encode("utf-8") == original, name


@pytest.fixture
def scratch_table(tmp_path):
    for name in ("datapackage.json", "trials.csv", "instruments.csv"):
        (tmp_path / name).write_bytes((STUDIES / name).read_bytes())
    return tmp_path / "trials.csv"


def add_args(table, row):
    args = ["add", "--table", str(table), "--yes"]
    for key, value in row.items():
        args += ["-s", f"{key}={value}"]
    return args


def test_add_appends_and_reports_g(scratch_table):
    before = scratch_table.read_bytes()
    result = CliRunner().invoke(main, add_args(scratch_table, GOOD_ROW))
    assert result.exit_code == 0, result.output
    # g = J(39) (12 - 16) / sp, flipped because lower BDI-II scores are better
    assert "g = 0.7086" in result.output and "sign flipped" in result.output
    after = scratch_table.read_bytes()
    assert after.startswith(before) and after.count(b"\n") == before.count(b"\n") + 1


@pytest.mark.parametrize("changes,message", [
    ({"sd1": "abc"}, "column 'sd1': new row: not a number: 'abc'"),
    ({"es_id": "savari2021-bdi2-post"}, "column 'es_id': new row: duplicate value"),
    ({"control_type": "none"}, "column 'control_type': new row: 'none' is not one of"),
])
def test_add_refuses_bad_row_and_leaves_file_byte_identical(scratch_table, changes, message):
    before = scratch_table.read_bytes()
    result = CliRunner().invoke(main, add_args(scratch_table, dict(GOOD_ROW, **changes)))
    assert result.exit_code == 2
    assert message in result.output
    assert scratch_table.read_bytes() == before


def test_add_refuses_the_same_result_under_a_new_id(scratch_table):
    runner = CliRunner()
    assert runner.invoke(main, add_args(scratch_table, GOOD_ROW)).exit_code == 0
    before = scratch_table.read_bytes()
    again = runner.invoke(main, add_args(scratch_table, dict(GOOD_ROW, es_id="example2024-copy")))
    assert again.exit_code == 2 and "repeats row" in again.output
    assert scratch_table.read_bytes() == before


def test_add_from_json_file(scratch_table, tmp_path):
    path = tmp_path / "row.json"
    path.write_text(json.dumps(dict(GOOD_ROW, higher_is_better=False, n1=20)))
    result = CliRunner().invoke(main, ["add", "--table", str(scratch_table), "--from", str(path), "--yes"])
    assert result.exit_code == 0, result.output
    assert load_study_table(scratch_table).column("es_id")[-1] == GOOD_ROW["es_id"]


def test_eight_concurrent_adds_lose_no_row(scratch_table):
    rows_before = len(load_study_table(scratch_table))
    processes = []
    for i in range(8):
        row = dict(GOOD_ROW, es_id=f"concurrent{i}", study_id=f"concurrent{i}", mean1=str(10 + i))
        args = [sys.executable, "-m", "compassmeta"] + add_args(scratch_table, row)
        processes.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for process in processes:
        process.wait(timeout=120)
        assert process.returncode == 0, process.stderr.read()
    table = load_study_table(scratch_table)
    assert len(table) == rows_before + 8
    assert {f"concurrent{i}" for i in range(8)} <= set(table.column("es_id"))
    assert not list(scratch_table.parent.glob(".trials.*"))  # no temporary file left behind


# --- open databases -----------------------------------------------------------------------

#: Rows whose .g the database took from other statistics than the post means it lists.
METAPSY_G_EXCEPTIONS = {
    "metapsy-depression": {"arjadi2018msdphq9post0selfreportbatotherctrnana",
                           "baker2010msdbdi2postnaselfreportcbtotherctrcbtdepotherctr",
                           "baker2010msdbdi2postnaselfreportcbtotherctrcbtdepsubotherctr",
                           "eseadi2018msdbdi2post0selfreportcbtcaunana",
                           "eseadi2022msdbdi2post0selfreportcbtwlnana",
                           "forsell2017msdepdspost0selfreportcbtcaunana",
                           "muellerweinitschke2023-line458",
                           "victoraigbodion2023msdzungpostnaselfreportcbtothnana",
                           "victoraigbodion2023msdbdi2postnaselfreportcbtothnana"},
}


@pytest.mark.parametrize("name", ["metapsy-depression", "metapsy-sad", "metapsy-grief", "metapsy-ed-digital"])
def test_import_reproduces_metapsy_g_column(shared_data, name):
    rows, _ = datasets.import_metapsy(datasets.require(name, shared_data), name)
    g, _ = datasets.imported_effects(rows)
    database_g = np.array([float(row["database_g"]) for row in rows])
    differing = {row["es_id"] for row, ours, theirs in zip(rows, g, database_g)
                 if not np.isclose(ours, theirs, rtol=0, atol=1e-10)}
    assert differing == METAPSY_G_EXCEPTIONS.get(name, set())


def test_comparator_codes_map_to_passive_and_active():
    assert datasets.control_type("wl") == ("passive", "waitlist (code wl)")
    assert datasets.control_type("minimal treatment")[0] == "passive"
    assert datasets.control_type("cau")[0] == "passive"
    assert datasets.control_type("non-specific active control")[0] == "active"
    assert datasets.control_type("ebt") == ("active", "evidence-based treatment (code ebt)")


def test_data_path_and_pull_from_mirror(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(main, ["data", "path", "metacih-mbi", "--mirror", str(shared_data)])
    assert result.exit_code == 0 and result.output.strip().endswith("psychiatric-disorders-mbi.csv")
    result = runner.invoke(main, ["data", "pull", "metapsy-grief", "--mirror", str(shared_data)])
    assert result.exit_code == 0, result.output
    pulled = tmp_path / "compassmeta" / "metapsy-grief.csv"
    assert datasets.sha256_of(pulled) == datasets.DATABASES["metapsy-grief"].sha256


def test_data_offline_without_mirror_is_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("COMPASSMETA_MIRROR", raising=False)
    result = CliRunner().invoke(main, ["data", "path", "metapsy-sad"])
    assert result.exit_code == 2
    assert "not available offline" in result.output and "compassmeta data pull metapsy-sad" in result.output


def test_data_pull_into_a_cache_below_a_file_is_a_one_line_error(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "afile" / "x"))
    result = CliRunner().invoke(main, ["data", "pull", "metapsy-grief", "--mirror", str(tmp_path)])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert f"{tmp_path / 'afile'} is a file, not a folder" in result.output
    assert "XDG_CACHE_HOME" in result.output


def test_checksum_mismatch_is_refused(tmp_path):
    (tmp_path / "metapsy").mkdir()
    (tmp_path / "metapsy" / "grief-psyctr.csv").write_text("study;.g\nx;1\n")
    result = CliRunner().invoke(main, ["data", "path", "metapsy-grief", "--mirror", str(tmp_path)])
    assert result.exit_code == 2 and "checksum differs" in result.output


# --- reproduce ----------------------------------------------------------------------------

def reproduce_json(*extra, env=None):
    result = CliRunner(env=env).invoke(main, ["reproduce", "--studies", str(STUDIES), "--format", "json",
                                             *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["targets"]


def test_reproduce_thirdwave_matches_the_book_offline(tmp_path):
    targets = reproduce_json(env={"COMPASSMETA_MIRROR": "", "XDG_CACHE_HOME": str(tmp_path)})
    harrer = [t for t in targets if t["target_id"].startswith("harrer2021")]
    assert len(harrer) == 15
    assert all(t["verdict"] == "matches" for t in harrer), [t for t in harrer if t["verdict"] != "matches"]
    goldberg = [t for t in targets if t["target_id"].startswith("goldberg2018")]
    assert len(goldberg) == 10
    assert all(t["verdict"] == "data not available" and "compassmeta data pull metacih-mbi" in t["note"]
               for t in goldberg)


def test_review_targets_show_the_entered_trials_as_indicative_values_against_metafor(tmp_path):
    """Issue 27: beside each review target without study-level data, the entered trials' own value
    (metafor: scripts/report_reference.R), labelled as a different trial set; one trial is not pooled."""
    targets = reproduce_json(env={"COMPASSMETA_MIRROR": "", "XDG_CACHE_HOME": str(tmp_path)})
    reference = load_fixture("report_reference.json")["indicative"]
    names = {"wilson2019", "ferrari2019", "kirby2017"}
    reviews = [t for t in targets if t["target_id"].split("-")[0] in names]
    assert {t["target_id"].split("-")[0] for t in reviews} == names
    assert all(t["verdict"] == "no study-level data" and t["recomputed"] is None for t in reviews)
    for target_id, outcome in (("wilson2019-depression", "depression"), ("kirby2017-anxiety", "anxiety"),
                               ("ferrari2019-self_compassion", "self-compassion"),
                               ("ferrari2019-stress", "stress")):
        value = next(t for t in targets if t["target_id"] == target_id)["indicative"]
        expected = reference[outcome]
        assert value["k_trials"] == expected["k"] and value["pooled"] == (expected["k"] > 1)
        assert value["label"].startswith("indicative: a different, smaller trial set")
        assert ("one trial, not pooled" in value["label"]) == (expected["k"] == 1)
        for name in ("estimate", "ci_lower", "ci_upper"):
            assert_close(value[name], expected[name], f"{target_id} {name}")
    kirby = next(t for t in targets if t["target_id"] == "kirby2017-self_compassion")["indicative"]
    assert kirby["trials"] == ["eriksson2018"] and kirby["n_rows"] == 1 and kirby["controls"] == "passive"
    assert next(t for t in targets if t["target_id"] == "kirby2017-wellbeing")["indicative"] is None
    text = CliRunner(env={"COMPASSMETA_MIRROR": "", "XDG_CACHE_HOME": str(tmp_path)}).invoke(
        main, ["reproduce", "--studies", str(STUDIES)]).output
    assert "indicative: a different, smaller trial set (k = 3 trials): g = 0.80 [0.07, 1.54]" in text
    assert "reproduc" not in text.split("[wilson2019-depression]")[1].split("\n\n")[0]


def test_reproduce_lists_every_target(shared_data):
    targets = reproduce_json("--mirror", str(shared_data))
    ids = {t["target_id"] for t in targets}
    assert {"wilson2019-self_compassion", "wilson2019-anxiety", "wilson2019-depression"} <= ids
    assert {f"ferrari2019-{o}" for o in ["self_compassion", "depression", "anxiety", "stress", "mindfulness",
                                         "self_criticism", "rumination", "eating"]} <= ids
    assert sum(t.startswith("goldberg2018-") for t in ids) == 10
    wilson = next(t for t in targets if t["target_id"] == "wilson2019-depression")
    assert wilson["verdict"] == "no study-level data" and wilson["published"] == 0.40
    assert "holds 3 row(s) from 3 trial(s)" in wilson["note"]
    goldberg = [t for t in targets if t["target_id"].startswith("goldberg2018")]
    assert all(t["recomputed"] is not None and t["verdict"] in ("matches", "differs") for t in goldberg)
    keys = {"target_id", "citation", "quantity", "published", "recomputed", "difference", "k_used",
            "k_published", "verdict"}
    assert all(keys <= set(t) for t in targets)


def test_add_interactively(scratch_table):
    answers = {k: v for k, v in GOOD_ROW.items() if k not in ("stat_type",)}
    required = [f["name"] for f in SCHEMA.fields if f.get("constraints", {}).get("required")]
    from compassmeta.cli.interactive import STATISTIC_FIELDS

    optional = [f["name"] for f in SCHEMA.fields if not f.get("constraints", {}).get("required")
                and f["name"] not in STATISTIC_FIELDS | {"direction", "scs_component"}]
    # higher_is_better is not asked: instruments.csv answers it for BDI-II
    asked = [name for name in required if name not in ("stat_type", "higher_is_better")]
    inputs = (["means"] + [answers[name] for name in asked]
              + [answers[name] for name in ("n1", "n2", "mean1", "sd1", "mean2", "sd2")]
              + [""] * len(optional) + ["y"])
    result = CliRunner().invoke(main, ["add", "--table", str(scratch_table), "--interactive"],
                                input="\n".join(inputs) + "\n")
    assert result.exit_code == 0, result.output
    assert "g = 0.7086" in result.output and "Appended" in result.output
    assert load_study_table(scratch_table).column("es_id")[-1] == GOOD_ROW["es_id"]


def test_add_pre_post_assumes_and_states_r(scratch_table):
    row = {k: v for k, v in GOOD_ROW.items() if k not in ("mean1", "sd1", "mean2", "sd2")}
    row.update(stat_type="pre_post", pre_mean1="20", pre_sd1="5", mean1="15", sd1="5.5", pre_mean2="19.5",
               pre_sd2="5.2", mean2="18.4", sd2="5.1", n1="30", n2="31")
    result = CliRunner().invoke(main, add_args(scratch_table, row))
    assert result.exit_code == 0, result.output
    assert "assuming a pre-post correlation of 0.5" in result.stderr
    # escalc(measure="SMD") on the change scores with SD_change from r = 0.5 (metafor_core.json pre_post[0])
    pre_post = __import__("conftest").load_fixture("metafor_core.json")["effects"]["pre_post"]
    assert f"g = {-pre_post['yi'][0]:.4f}" in result.output
    assert load_study_table(scratch_table).rows[-1]["prepost_r"] == 0.5
