"""Issue 22: whole-trial entry, several rows per add in one transaction, every problem listed
in one run, add --interactive with a draft, extract compare by comparison, --studies, data import."""
import csv
import json
import shutil

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.data.studytable import load_study_table
from conftest import PROJECT, assert_close

STUDIES = PROJECT / "studies"
EXAMPLES = STUDIES / "examples"
TRIAL = EXAMPLES / "tealesapach2022_trial.toml"
# metafor 5.1-12 escalc("SMD") of the post means/SDs/ns of Metapsy sad-psyctr lines 285-290 (arm 1 =
# SCT or applied relaxation, arm 2 = the shared waitlist), flipped because lower scores are better
EXPECTED = {"tealesapach2022-bfne-s-sct-vs-wlc-post": (1.3134177262, 0.1314988389),
            "tealesapach2022-bfne-s-ar-vs-wlc-post": (0.9696169421, 0.1364670255),
            "tealesapach2022-lsas-sr-sct-vs-wlc-post": (0.6265250722, 0.1134916435),
            "tealesapach2022-lsas-sr-ar-vs-wlc-post": (0.4131500980, 0.1248084799),
            "tealesapach2022-sips-sct-vs-wlc-post": (0.9964665715, 0.1216053187),
            "tealesapach2022-sips-ar-vs-wlc-post": (0.6329911045, 0.1282930970)}


def run(*args, input=None):
    return CliRunner().invoke(main, [str(arg) for arg in args], input=input)


@pytest.fixture
def folder(tmp_path):
    """A study folder with an empty trials table."""
    for name in ("datapackage.json", "instruments.csv"):
        shutil.copyfile(STUDIES / name, tmp_path / name)
    header = (STUDIES / "trials.csv").read_text(encoding="utf-8").splitlines()[0]
    (tmp_path / "trials.csv").write_text(header + "\n", encoding="utf-8")
    return tmp_path


def rows(folder):
    with open(folder / "trials.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# -- trial add / template / show ------------------------------------------------------------------

def test_trial_add_generates_every_comparison_with_the_shared_control(folder):
    result = run("trial", "add", TRIAL, "--studies", folder, "--yes")
    assert result.exit_code == 0, result.output
    study = load_study_table(folder / "trials.csv")
    assert study.column("es_id") == list(EXPECTED)
    for es_id, g, v in zip(study.column("es_id"), study.yi, study.vi):
        assert_close(g, EXPECTED[es_id][0], es_id)
        assert_close(v, EXPECTED[es_id][1], es_id)
    table = rows(folder)
    assert {row["control_arm"] for row in table} == {"wlc"} and {row["arm"] for row in table} == {"sct", "ar"}
    assert {row["n2"] for row in table} == {"18"} and {row["n_total"] for row in table} == {"82"}
    assert table[0]["source"].endswith("file line 285") and table[0]["higher_is_better"] == "false"


def test_trial_add_writes_all_or_none(folder):
    bad = folder.parent / "bad.toml"
    bad.write_text(TRIAL.read_text(encoding="utf-8").replace("sd = 9.42", "sd = 0.942"), encoding="utf-8")
    before = (folder / "trials.csv").read_bytes()
    result = run("trial", "add", bad, "--studies", folder, "--yes")
    assert result.exit_code == 2, result.output
    assert "sd2" in result.output and "factor of 4" in result.output
    assert (folder / "trials.csv").read_bytes() == before and not (folder / "changes.csv").exists()


def test_trial_template_is_the_example_and_round_trips_through_show(folder):
    template = run("trial", "template").output
    assert template == TRIAL.read_text(encoding="utf-8")
    assert template.count("[[arms]]") == 3 and "# Results, one block per arm" in template
    assert run("trial", "add", TRIAL, "--studies", folder, "--yes").exit_code == 0
    shown = run("trial", "show", "tealesapach2022", "--studies", folder)
    assert shown.exit_code == 0
    again = folder.parent / "again"
    again.mkdir()
    for name in ("datapackage.json", "instruments.csv"):
        shutil.copyfile(folder / name, again / name)
    (again / "trials.csv").write_text((STUDIES / "trials.csv").read_text().splitlines()[0] + "\n")
    (again / "shown.toml").write_text(shown.output, encoding="utf-8")
    assert run("trial", "add", again / "shown.toml", "--studies", again, "--yes").exit_code == 0
    assert (again / "trials.csv").read_bytes() == (folder / "trials.csv").read_bytes()


def test_trial_add_replace_swaps_the_trials_rows_in_one_transaction(folder):
    merged = run("extract", "merge", EXAMPLES / "tealesapach2022_A.csv",
                 EXAMPLES / "tealesapach2022_B_checked.csv", "--into", folder / "trials.csv",
                 "--extractors", "MJ,RC")
    assert merged.exit_code == 0
    refused = run("trial", "add", TRIAL, "--studies", folder, "--yes")
    assert refused.exit_code == 2 and "repeats row 1" in refused.output
    replaced = run("trial", "add", TRIAL, "--studies", folder, "--replace", "--yes")
    assert replaced.exit_code == 0 and "replacing 3 row(s)" in replaced.output
    assert [row["es_id"] for row in rows(folder)] == list(EXPECTED)


@pytest.mark.parametrize("old,new,words", [
    ('class = "control"', 'class = "placebo"', "class must be intervention or control"),
    ('arm = "wlc"\noutcome = "sips"', 'arm = "wl"\noutcome = "sips"', "arm 'wl' is not declared"),
    ("n_randomised = 40", "n_randomized = 40", "unknown key(s) n_randomized"),
    # summed into n_total: digits only Python reads, a fraction, a boolean are not a whole number
    *[("n_randomised = 40", f"n_randomised = {size}", "column 'arms.n_randomised': arm 'sct': n_randomised "
       "must be a whole number in ASCII digits") for size in ('"٤٠"', '"4_0"', "40.7", '"abc"', "true")],
])
def test_trial_file_mistakes_are_named(folder, old, new, words):
    bad = folder.parent / "bad.toml"
    text = TRIAL.read_text(encoding="utf-8")
    assert old in text
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = run("trial", "add", bad, "--studies", folder, "--yes")
    assert result.exit_code == 2 and words in result.output and "bad.toml" in result.output, result.output
    assert "unexpected" not in result.output and rows(folder) == []


def test_trial_add_reads_json(folder):
    import tomllib

    as_json = folder.parent / "trial.json"
    as_json.write_text(json.dumps(tomllib.loads(TRIAL.read_text(encoding="utf-8"))), encoding="utf-8")
    assert run("trial", "add", as_json, "--studies", folder, "--yes").exit_code == 0
    assert len(rows(folder)) == 6


def test_comparison_block_with_an_unsigned_t(folder):
    """A t statistic entered per comparison: metafor 5.1-12 escalc("SMD", ti = -2.46, n1i = 19,
    n2i = 18) gives yi = -0.7916541096; BFNE-S lower is better, so g = +0.792."""
    text = TRIAL.read_text(encoding="utf-8")
    start = text.index("[[results]]\narm = \"sct\"\noutcome = \"bfne-s\"")
    end = text.index("[[results]]", start + 5)
    block = ('[[results]]\narm = "sct"\nversus = "wlc"\noutcome = "bfne-s"\ntimepoint = "post"\n'
             'stat_type = "t"\nstatistic = 2.46\ndirection = -1\n\n')
    (folder / "t.toml").write_text(text[:start] + block + text[end:], encoding="utf-8")
    assert run("trial", "add", folder / "t.toml", "--studies", folder, "--yes").exit_code == 0
    study = load_study_table(folder / "trials.csv")
    assert_close(study.yi[0], 0.7916541096, "g from t")


# -- add: several rows in one transaction, every problem in one run --------------------------------

def test_add_from_a_file_of_several_rows_is_one_transaction(folder):
    source = EXAMPLES / "tealesapach2022_A.csv"
    assert run("add", "--from", source, "--studies", folder, "--yes").exit_code == 0
    assert len(rows(folder)) == 3
    broken = folder.parent / "broken.csv"
    text = source.read_text(encoding="utf-8").replace("-post,", "-again,")
    broken.write_text(text.replace(",69.79,", ",abc,"), encoding="utf-8")
    before = (folder / "trials.csv").read_bytes()
    result = run("add", "--from", broken, "--studies", folder, "--yes")
    assert result.exit_code == 2
    assert (folder / "trials.csv").read_bytes() == before


def test_add_lists_every_missing_field_in_one_run(folder):
    result = run("add", "--studies", folder, "--yes", "-s", "es_id=x2024-bdi", "-s", "study_id=x2024",
                 "-s", "stat_type=means", "-s", "sd1=-3", "-s", "instrument=BDI-II")
    assert result.exit_code == 2
    for column in ("citation", "intervention", "control_type", "population", "outcome", "source", "license",
                   "sd1", "n1", "mean1", "mean2", "sd2"):
        assert f"column '{column}'" in result.output, (column, result.output)


def test_add_names_every_unknown_field(folder):
    result = run("add", "--studies", folder, "--yes", "-s", "es_id=x", "-s", "sd_1=2", "-s", "mean_1=3")
    assert result.exit_code == 2
    assert "'sd_1' (did you mean 'sd1'?)" in result.output
    assert "'mean_1' (did you mean 'mean1'?)" in result.output


# -- add --interactive ---------------------------------------------------------------------------

GOOD = {"es_id": "example2024-bdi2-post", "study_id": "example2024", "citation": "Example row for tests",
        "intervention": "CFT", "intervention_class": "cft-cmt", "control_type": "passive",
        "control_detail": "waitlist", "population": "clinical", "outcome": "depression",
        "instrument": "BDI-2",
        "timepoint": "post", "source": "constructed for a test", "license": "none", "inclusion_note": "test"}


def interactive_answers(folder, es_ids=("example2024-bdi2-post",)):
    from compassmeta.cli.interactive import STATISTIC_FIELDS
    from compassmeta.data.schema import Schema

    schema = Schema.load(folder / "datapackage.json", "trials")
    required = [f["name"] for f in schema.fields if f.get("constraints", {}).get("required")
                and f["name"] not in ("stat_type", "higher_is_better")]
    optional = [f["name"] for f in schema.fields if not f.get("constraints", {}).get("required")
                and f["name"] not in STATISTIC_FIELDS | {"direction", "scs_component"}]
    answers = ["means"] + [value for name in required
                           for value in (es_ids if name == "es_id" else [GOOD[name]])]
    return answers + ["20", "21", "12", "5", "16", "6"] + [""] * len(optional) + ["y"]


def test_interactive_stores_the_canonical_instrument_and_does_not_ask_its_direction(folder):
    answers = "\n".join(interactive_answers(folder)) + "\n"
    result = run("add", "--studies", folder, "--interactive", input=answers)
    assert result.exit_code == 0, result.output
    assert "higher_is_better (" not in result.output
    row = rows(folder)[0]
    assert (row["instrument"], row["higher_is_better"]) == ("BDI-II", "false")
    assert not (folder / ".add-draft.json").exists()


def test_interactive_reasks_a_taken_es_id_at_once(folder):
    run("add", "--studies", folder, "--interactive", input="\n".join(interactive_answers(folder)) + "\n")
    answers = interactive_answers(folder, es_ids=("example2024-bdi2-post", "example2024-bdi2-post-b"))
    result = run("add", "--studies", folder, "--interactive", input="\n".join(answers) + "\n")
    assert "already in the table" in result.output
    # the same numbers in another row of the same trial and arm: refused as a repeat after the last answer
    assert result.exit_code == 2 and "repeats" in result.output and "--resume-draft" in result.output
    assert (folder / ".add-draft.json").exists()


def test_interactive_keeps_a_draft_to_resume(folder):
    answers = interactive_answers(folder)
    cut = answers.index("20")
    interrupted = run("add", "--studies", folder, "--interactive", input="\n".join(answers[:cut]) + "\n")
    assert interrupted.exit_code != 0
    draft = folder / ".add-draft.json"
    saved = json.loads(draft.read_text(encoding="utf-8"))
    assert saved["citation"] == GOOD["citation"] and saved["stat_type"] == "means"
    again = run("add", "--studies", folder, "--interactive", input="\n")
    assert again.exit_code == 2 and "--resume-draft" in again.output
    resumed = run("add", "--studies", folder, "--interactive", "--resume-draft", draft,
                  input="\n".join(answers[cut:]) + "\n")
    assert resumed.exit_code == 0, resumed.output
    assert "citation (" not in resumed.output and rows(folder)[0]["es_id"] == GOOD["es_id"]
    assert not draft.exists()


# -- --studies on every command that reads the study folder ----------------------------------------

@pytest.mark.parametrize("command", [["validate"], ["history"], ["trial", "show", "tealesapach2022"],
                                     ["remove", "tealesapach2022-sips-ar-vs-wlc-post", "--yes"],
                                     ["edit", "tealesapach2022-sips-ar-vs-wlc-post", "-s", "sessions=6",
                                      "--yes"]])
def test_studies_option(folder, command, monkeypatch, tmp_path):
    run("trial", "add", TRIAL, "--studies", folder, "--yes")
    monkeypatch.chdir(tmp_path)
    result = run(*command, "--studies", folder)
    assert result.exit_code == 0, result.output


# -- extract compare: every conflict, invalid values marked, rows paired by comparison ------------

def test_compare_lists_invalid_values_and_every_other_conflict(tmp_path):
    text = (EXAMPLES / "tealesapach2022_B.csv").read_text(encoding="utf-8")
    second = tmp_path / "second.csv"
    # a negative SD (invalid) beside B's two typing conflicts; the second extractor named the rows otherwise
    second.write_text(text.replace(",6.79,", ",-6.79,").replace("-post,", "-post-b,"), encoding="utf-8")
    result = run("extract", "compare", EXAMPLES / "tealesapach2022_A.csv", second, "--format", "json",
                 "--package", STUDIES / "datapackage.json")
    assert result.exit_code == 1
    found = json.loads(result.output)
    fields = {(c["es_id"], c["field"]): c for c in found["conflicts"]}
    slip = fields[("tealesapach2022-bfne-s-post", "sd1")]
    assert slip["second"].startswith("-6.79 (invalid: must be greater") and slip["first"] == "6.79"
    assert ("tealesapach2022-lsas-sr-post", "sd1") in fields and ("tealesapach2022-sips-post", "n2") in fields
    assert found["invalid_values"] == 1 and found["rows_compared"] == 3
    assert {c["field"] for c in found["conflicts"]} == {"sd1", "n2", "es_id"}
    table = run("extract", "compare", EXAMPLES / "tealesapach2022_A.csv", second,
                "--package", STUDIES / "datapackage.json")
    assert "6 conflict(s) in 3 row(s), 1 invalid value(s)" in table.output


# -- data import recognises a pinned database by its sha256 -----------------------------------------

def test_data_import_of_the_pinned_file_keeps_license_and_doi(tmp_path, shared_data):
    pinned = shared_data / "metapsy" / "sad-psyctr.csv"
    result = run("data", "import", pinned, "-o", tmp_path / "sad.csv")
    assert result.exit_code == 0, result.output
    assert "pinned file of metapsy-sad" in result.output
    with open(tmp_path / "sad.csv", newline="", encoding="utf-8") as handle:
        first = next(csv.DictReader(handle))
    assert first["source_doi"] == "10.5281/zenodo.12726122" and first["license"] == "ODC-By 1.0"


# -- edit and remove refuse a change that leaves the table invalid, naming the rule -----------------

def test_edit_refuses_a_change_that_breaks_the_trial(folder):
    run("trial", "add", TRIAL, "--studies", folder, "--yes")
    before = (folder / "trials.csv").read_bytes()
    result = run("edit", "tealesapach2022-sips-sct-vs-wlc-post", "-s", "n1=20", "--studies", folder, "--yes")
    assert result.exit_code == 2 and "an arm has one n per assessment" in result.output
    result = run("edit", "tealesapach2022-sips-sct-vs-wlc-post", "-s", "n_total=50", "--studies", folder,
                 "--yes")
    assert result.exit_code == 2 and "n_total" in result.output
    assert (folder / "trials.csv").read_bytes() == before


def test_trial_add_replace_keeps_the_trials_rows_in_place_and_logs_what_it_changes(folder):
    """A replaced row whose es_id the trial keeps stays where it was: the audit log, which compares
    rows by es_id, holds every change of the table (a move to the end would be unlogged; an unchanged
    trial file would reorder the table and log nothing)."""
    assert run("trial", "add", TRIAL, "--studies", folder, "--yes").exit_code == 0
    other = dict(rows(folder)[0], es_id="other-bfne-s-post", study_id="other2023")
    added = run("add", "--table", folder / "trials.csv", "--yes",
                *[part for name, value in other.items() if value for part in ("-s", f"{name}={value}")])
    assert added.exit_code == 0, added.output
    table, log = (folder / "trials.csv").read_bytes(), (folder / "changes.csv").read_bytes()
    again = run("trial", "add", TRIAL, "--studies", folder, "--replace", "--yes")
    assert again.exit_code == 0 and "replacing 6 row(s)" in again.output, again.output
    assert (folder / "trials.csv").read_bytes() == table and (folder / "changes.csv").read_bytes() == log
    changed = folder / "changed.toml"
    changed.write_text(TRIAL.read_text(encoding="utf-8").replace("sd = 9.42", "sd = 9.43"), encoding="utf-8")
    assert run("trial", "add", changed, "--studies", folder, "--replace", "--yes").exit_code == 0
    assert [row["es_id"] for row in rows(folder)] == [*EXPECTED, "other-bfne-s-post"]
    with open(folder / "changes.csv", newline="", encoding="utf-8") as handle:
        entries = [entry for entry in csv.DictReader(handle) if "changed.toml" in entry["reason"]]
    logged = [(entry["es_id"], entry["field"], entry["old_value"], entry["new_value"]) for entry in entries]
    assert logged == [(f"tealesapach2022-sips-{arm}-vs-wlc-post", "sd2", "9.42", "9.43")
                      for arm in ("sct", "ar")]
