"""The analysis plan (studies/analysis_plan.toml, compassmeta.data.plan) and the report it drives.

A crafted table (constructed rows, not data): a three-arm trial (MSC and CFT against one shared
waitlist, 40 + 38 + 39 = 117 participants) with post (week 8) and follow-up (week 20: 12 weeks
after the end, short follow-up; week 40 for the MSC arm's depression: 32 weeks, long follow-up)
rows of the SCS total, both components, two facets and depression; plus three trials of one
comparison each (one against an attention placebo, the only active comparator).
"""

import csv
import json
import shutil

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.common.errors import InputError
from compassmeta.data.plan import SHORT, load_plan, mixing_warnings, scs_part, timepoint_windows
from conftest import PROJECT

STUDIES = PROJECT / "studies"
HEADER = (STUDIES / "trials.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
CITATION = "Hypo, A., & Test, B. (2024). A constructed three-arm trial for the analysis-plan test."
# (scs_component or None, instrument, higher_is_better, intervention mean, control mean, sd)
MEASURES = (
    ("total", "SCS", "true", 3.4, 3.0, 0.6),
    ("compassionate", "SCS", "true", 3.5, 3.1, 0.6),
    ("uncompassionate", "SCS", "false", 2.6, 3.0, 0.6),
    ("self_kindness", "SCS", "true", 3.3, 2.9, 0.7),
    ("self_judgment", "SCS", "false", 2.7, 3.1, 0.7),
    (None, "BDI-II", "false", 14.0, 18.0, 8.0),
)
ARMS = (
    ("MSC", "Mindful Self-Compassion (MSC)", "msc", 40),
    ("CFT", "compassion-focused therapy (CFT)", "cft-cmt", 38),
)


def row(
    es_id,
    study_id,
    citation,
    year,
    arm,
    intervention,
    klass,
    control,
    control_type,
    measure,
    timepoint,
    weeks,
    n1,
    n2,
    shift=0.0,
    n_total="",
):
    component, instrument, better, mean1, mean2, sd = measure
    cells = dict(
        es_id=es_id,
        study_id=study_id,
        citation=citation,
        year=year,
        intervention=intervention,
        intervention_class=klass,
        control_type=control_type,
        control_detail=control,
        arm=arm,
        control_arm="wl" if arm else "",
        population="nonclinical",
        outcome="self-compassion" if component else "depression",
        instrument=instrument,
        scs_component=component or "",
        higher_is_better=better,
        timepoint=timepoint,
        weeks_after_baseline=weeks,
        risk_of_bias_source="low" if study_id != "two2022" else "high",
        stat_type="means",
        n1=n1,
        n2=n2,
        n_total=n_total,
        mean1=round(mean1 + shift, 2),
        sd1=sd,
        mean2=mean2,
        sd2=sd,
        source="constructed for tests/test_analysis_plan.py (not data)",
        license="constructed test rows",
        inclusion_note="constructed",
    )
    return [str(cells.get(name, "")) for name in HEADER]


def crafted_rows():
    rows = []
    for arm, intervention, klass, n in ARMS:
        for timepoint, weeks in (("post", 8), ("follow-up", 20)):
            for measure in MEASURES:
                name = measure[0] or "bdi2"
                rows.append(
                    row(
                        f"hypo2024-{arm.lower()}-{name}-{weeks}",
                        "hypo2024",
                        CITATION,
                        2024,
                        arm,
                        intervention,
                        klass,
                        "waitlist",
                        "passive",
                        measure,
                        timepoint,
                        weeks,
                        n,
                        39,
                        shift=0.1 if arm == "CFT" else 0.0,
                        n_total=117,
                    )
                )
    rows.append(
        row(
            "hypo2024-msc-bdi2-40",
            "hypo2024",
            CITATION,
            2024,
            "MSC",
            ARMS[0][1],
            "msc",
            "waitlist",
            "passive",
            MEASURES[-1],
            "follow-up",
            40,
            40,
            39,
            n_total=117,
        )
    )
    singles = (
        ("one2021", "One, C. (2021). Constructed.", 2021, "MSC", "msc", "waitlist", "passive", 0.2),
        (
            "two2022",
            "Two, D. (2022). Constructed.",
            2022,
            "CFT",
            "cft-cmt",
            "attention placebo",
            "passive",  # miscoded on purpose: the plan's comparator class (active) must win
            -0.1,
        ),
        (
            "three2023",
            "Three, E. (2023). Constructed.",
            2023,
            "LKM",
            "compassion-meditation",
            "no treatment",
            "passive",
            0.3,
        ),
    )
    for study, citation, year, intervention, klass, control, control_type, shift in singles:
        for measure in (MEASURES[0], MEASURES[-1]):
            rows.append(
                row(
                    f"{study}-{measure[0] or 'bdi2'}-post",
                    study,
                    citation,
                    year,
                    "",
                    intervention,
                    klass,
                    control,
                    control_type,
                    measure,
                    "post",
                    8,
                    30,
                    30,
                    shift=shift,
                )
            )
    rows.append(
        row(
            "three2023-bdi2-40",
            "three2023",
            singles[2][1],
            2023,
            "",
            "LKM",
            "compassion-meditation",
            "no treatment",
            "passive",
            MEASURES[-1],
            "follow-up",
            40,
            30,
            30,
            shift=0.2,
        )
    )
    return rows


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crafted") / "studies"
    folder.mkdir()
    for name in ("datapackage.json", "instruments.csv"):
        shutil.copy(STUDIES / name, folder / name)
    with open(folder / "trials.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(crafted_rows())
    return folder / "trials.csv"


@pytest.fixture(scope="module")
def report(crafted):
    html = crafted.parent / "report.html"
    result = CliRunner().invoke(main, ["report", str(crafted), "-o", str(html), "--studies", str(STUDIES)])
    assert result.exit_code == 0, result.output
    return json.loads(html.with_suffix(".json").read_text(encoding="utf-8")), html


def table_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["es_id"]: row for row in csv.DictReader(handle)}


def test_no_analysis_mixes_windows_outcomes_or_scs_parts(report, crafted):
    rows, plan = table_rows(crafted), load_plan()
    windows = dict(zip(rows, timepoint_windows(rows.values(), plan)))
    assert windows["hypo2024-msc-total-8"] == "post" and windows["hypo2024-msc-total-20"] == SHORT
    assert windows["hypo2024-msc-bdi2-40"] == windows["three2023-bdi2-40"] == "long follow-up"
    analyses = report[0]["analyses"]
    for item in analyses:
        pooled = [rows[es] for es in item["es_ids"]]
        assert {windows[es] for es in item["es_ids"]} == {item["timepoint"]}, item["key"]
        assert {scs_part(r) for r in pooled} == {item["component"]}, item["key"]
        assert len({r["outcome"] for r in pooled}) == 1
        assert item["comparator"] in ("all", "passive", "active") and item["es_ids"]
    keys = {item["key"] for item in analyses}
    assert {
        "self-compassion: total | post | all",
        "self-compassion: total | short follow-up | all",
        "depression | long follow-up | all",
        "self-compassion: self kindness | post | all",
    } <= keys
    total_post = next(item for item in analyses if item["key"] == "self-compassion: total | post | all")
    assert (total_post["k_trials"], total_post["k_rows"]) == (4, 5) and total_post["dependent"]


def test_three_arm_trial_participants_and_labels(report):
    analyses = {item["key"]: item for item in report[0]["analyses"]}
    compassionate = analyses["self-compassion: compassionate | post | all"]
    assert compassionate["n_participants"] == 117  # 40 + 38 + 39: the shared waitlist counted once
    assert compassionate["pooled"] is None and compassionate["k_trials"] == 1
    long = analyses["depression | long follow-up | all"]
    assert long["effects"]["labels"] == ["Hypo & Test 2024: MSC vs waitlist", "Three 2023"]
    assert long["n_participants"] == 40 + 39 + 60
    # k = 2 < minimum_k.heterogeneity: the JSON holds no prediction interval, and the notes say why
    assert long["k_trials"] == 2 and long["pooled"]["estimate"] is not None
    assert long["pooled"]["pi_lower"] is None and long["pooled"]["pi_upper"] is None
    assert any("no prediction interval (null in the report's JSON)" in note for note in long["notes"])
    total = analyses["self-compassion: total | post | all"]
    assert "MSC vs waitlist, SCS, total" in total["effects"]["row_labels"]
    shared = [note for note in total["notes"] if "2 comparisons share one control group (wl)" in note]
    assert len(shared) == 1 and "exact covariance of the shared group from the arm sizes" in shared[0]
    assert any("pair(s) of comparisons share a group" in note for note in total["pooled"]["notes"])
    hypo = next(trial for trial in report[0]["trials"] if trial["study_id"] == "hypo2024")
    assert hypo["label"] == "Hypo & Test 2024"


def test_small_k_rules_and_moderator_status(report):
    analyses = {item["key"]: item for item in report[0]["analyses"]}
    total = analyses["self-compassion: total | post | all"]
    assert total["bias"] == [] and total["bias_notes"] == ["not assessable (k < 10)"]
    assert [fit["analysis"] for fit in total["sensitivity"]] == [
        "all trials",
        "outliers removed",
        "influential removed",
        "low risk of bias",
        "lowest per trial",
        "highest per trial",
        "three-level",
        "CHE",
    ]
    assert total["sensitivity"][3]["k"] == 3  # two2022 is at high risk of bias
    assert analyses["self-compassion: total | post | active"]["pooled"] is None  # one trial
    control = next(
        m
        for m in report[0]["moderators"]
        if m["outcome"] == "self-compassion: total"
        and m["timepoint"] == "post"
        and m["column"] == "comparator"
    )
    assert control["status"] == "insufficient" and control["result"] is None
    assert "'active' has 1 trial(s)" in control["note"]
    assert all(m["status"] in ("tested", "insufficient") for m in report[0]["moderators"])
    page = report[1].read_text(encoding="utf-8")
    assert 'class="status-insufficient">insufficient' in page and "not assessable (k &lt; 10)" in page
    assert "Self-compassion: total, post" in page and "Self-compassion: total, short follow-up" in page
    assert "[nan" not in page and "Analysis plan" in page


def test_cli_warns_on_mixed_rows_and_allow_mixed_says_so(crafted):
    runner = CliRunner()
    mixed = runner.invoke(main, ["pool", str(crafted), "--where", "outcome=self-compassion"])
    assert mixed.exit_code == 0, mixed.output
    assert (
        "mix timepoint windows (post, short follow-up)" in mixed.output
        and "--where timepoint=post" in mixed.output
    )
    assert "mix SCS parts" in mixed.output and "--allow-mixed silences" in mixed.output
    allowed = runner.invoke(
        main, ["pool", str(crafted), "--where", "outcome=self-compassion", "--allow-mixed"]
    )
    assert "Warning: the selected rows mix" not in allowed.output and "Note: --allow-mixed" in allowed.output
    clean = runner.invoke(
        main,
        [
            "pool",
            str(crafted),
            "--where",
            "scs_component=total",
            "--where",
            "timepoint=post",
            "--cluster",
            "study_id",
        ],
    )
    assert clean.exit_code == 0 and "mix" not in clean.output


def test_plan_show_and_bad_plans(tmp_path):
    shown = CliRunner().invoke(main, ["plan", "show"])
    assert shown.exit_code == 0 and "short follow-up: up to 26 weeks" in shown.output
    assert "Muris & Otgaar 2022" in shown.output and "Tipton 2015" in shown.output
    text = (STUDIES / "analysis_plan.toml").read_text(encoding="utf-8")
    bad = tmp_path / "plan.toml"
    bad.write_text(text.replace("rho = 0.6", "rho = 1.6"), encoding="utf-8")
    with pytest.raises(InputError, match="model.rho"):
        load_plan(bad)
    bad.write_text(text.replace("pool = 2 ", "pool = 'two' "), encoding="utf-8")
    result = CliRunner().invoke(main, ["plan", "show", str(bad)])
    assert result.exit_code == 2 and "minimum_k.pool must be a int" in result.output
    assert str(bad) in result.output and "Traceback" not in result.output


def test_mixing_warnings_are_values():
    plan = load_plan()
    rows = [
        {"study_id": "a", "timepoint": "post", "outcome": "self-compassion", "scs_component": "total"},
        {
            "study_id": "a",
            "timepoint": "post",
            "outcome": "self-compassion",
            "scs_component": "self_kindness",
        },
    ]
    assert (
        len(mixing_warnings(rows, plan)) == 1
        and "SCS parts (self_kindness, total)" in mixing_warnings(rows, plan)[0]
    )
    assert mixing_warnings(rows[:1], plan) == ()


def test_cr2_with_few_clusters_is_flagged_unreliable():
    """Tipton 2015: Satterthwaite df below 4 (here 5 trials, sessions as moderator)."""
    result = CliRunner().invoke(
        main,
        [
            "metareg",
            str(STUDIES / "trials.csv"),
            "--mods",
            "sessions",
            "--cluster",
            "study_id",
            "--ci-method",
            "cr2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        "Warning: CR2 test with Satterthwaite df = " in result.output
        and "< 4: unreliable (Tipton 2015)" in result.output
    )


def test_thirdwave_rows_are_classed_by_what_they_are():
    with open(STUDIES / "thirdwave.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    classes = {(row["intervention"], row["intervention_class"]) for row in rows}
    assert classes == {("mindfulness", "mindfulness-based"), ("ACT", "act"), ("PCI", "other")}
    plan = load_plan()
    assert not {"mindfulness-based", "act"} & set(plan.compassion_classes)
    schema = json.loads((STUDIES / "datapackage.json").read_text(encoding="utf-8"))
    for resource in schema["resources"][:2]:
        field = next(f for f in resource["schema"]["fields"] if f["name"] == "intervention_class")
        assert field["constraints"]["enum"] == [c.name for c in plan.intervention_classes]
        assert "compassion-related" not in field["description"]


def test_sensitivity_set_matches_metafor_on_thirdwave():
    """scripts/sensitivity_set_reference.R: outliers (CI non-overlap) and influential cases removed."""
    from compassmeta.report.html import build_report
    from conftest import assert_close, load_fixture

    expected = load_fixture("sensitivity_set_reference.json")
    report = build_report([str(STUDIES / "thirdwave.csv")])
    item = next(item for item in report.analyses if item.comparator == "all")
    assert item.collection is not None and report.title.startswith("ThirdWave teaching data")
    fits = {fit.analysis: fit for fit in item.sensitivity}
    for name, key in (("outliers removed", "outliers_removed"),
                      ("influential removed", "influential_removed")):
        assert fits[name].k == expected[key]["k"]
        for field in ("estimate", "ci_lower", "ci_upper"):
            assert_close(getattr(fits[name], field), expected[key][field], f"{name} {field}")
    assert "Danitz" in fits["outliers removed"].note and "Shapiro" in fits["outliers removed"].note


def test_cli_forest_labels_the_arms_as_the_report_does(crafted, tmp_path):
    figure = tmp_path / "forest.svg"
    result = CliRunner().invoke(main, ["forest", str(crafted), "--where", "scs_component=total",
                                       "--where", "timepoint=post", "--cluster", "study_id",
                                       "-o", str(figure)])
    assert result.exit_code == 0, result.output
    text = figure.read_text(encoding="utf-8")
    assert "MSC vs waitlist" in text and "CFT vs waitlist" in text and "Hypo &amp; Test 2024" in text


def test_a_report_written_before_the_plan_still_serves_since(report, tmp_path):
    from compassmeta.report.html import load_report

    old = {key: value for key, value in report[0].items() if key not in ("title", "plan")}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    assert load_report(path)["row_digests"] == report[0]["row_digests"]
    without_analyses = {key: value for key, value in old.items() if key != "analyses"}
    path.write_text(json.dumps(without_analyses), encoding="utf-8")
    with pytest.raises(InputError, match="no analyses"):
        load_report(path)


def test_the_plan_chooses_the_sensitivity_set(crafted, tmp_path):
    from compassmeta.report.html import build_report

    text = (STUDIES / "analysis_plan.toml").read_text(encoding="utf-8")
    plan = tmp_path / "plan.toml"
    plan.write_text(text.replace('"three-level", "CHE"]', '"three-level"]'), encoding="utf-8")
    report = build_report([str(crafted)], studies_folder=STUDIES, plan=plan)
    total = next(item for item in report.analyses if item.key == "self-compassion: total | post | all")
    assert [fit.analysis for fit in total.sensitivity][-1] == "three-level"
    assert report.plan["path"] == str(plan)
    plan.write_text(text.replace('"three-level", "CHE"]', '"three-level", "trimmed"]'), encoding="utf-8")
    with pytest.raises(InputError, match="sensitivity.analyses: unknown trimmed"):
        load_plan(plan)


def test_load_effects_returns_the_mixing_warnings(crafted):
    from compassmeta.data.loading import load_effects

    mixed = load_effects(str(crafted), where=("outcome=self-compassion",))
    assert [w.split(" (")[0] for w in mixed.mixing_warnings] == [
        "the selected rows mix timepoint windows",
        "the selected rows mix SCS parts",
    ]
    assert all(w.endswith("(--allow-mixed silences this warning)") for w in mixed.mixing_warnings)
    assert mixed.mixing_notes == ()
    allowed = load_effects(str(crafted), where=("outcome=self-compassion",), allow_mixed=True)
    assert allowed.mixing_warnings == () and len(allowed.mixing_notes) == 2
    assert allowed.mixing_notes[0].startswith("--allow-mixed: pooled as asked although the selected rows mix")
    clean = load_effects(str(crafted), where=("scs_component=total", "timepoint=post"))
    assert clean.mixing_warnings == clean.mixing_notes == ()
