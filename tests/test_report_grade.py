"""The report's certainty of evidence: GRADE per pooled subset (rules from the plan's [grade]),
RoB 2 judgements from studies/rob2.csv (traffic lights, the low-risk sensitivity analysis) and the
Bayesian estimate beside the frequentist one.  Expected values are worked out here from the
inputs (metafor's fits in report_reference.json, the rows of trials.csv and rob2.csv, the plan's
thresholds), never from the report's own numbers."""
import csv
import html
import math
import re

import numpy as np
import pytest

from compassmeta.data.plan import load_plan
from compassmeta.report.html import build_report, render_html
from compassmeta.report.sensitivity_set import _low_risk
from conftest import PROJECT, assert_close, load_fixture

STUDIES = PROJECT / "studies"
TABLES = [str(STUDIES / "trials.csv"), str(STUDIES / "thirdwave.csv")]
REFERENCE = load_fixture("report_reference.json")["subsets"]
LEVELS = ("very low", "low", "moderate", "high")
Z = {0.975: 1.959963984540054, 0.80: 0.8416212335729143}


@pytest.fixture(scope="module")
def report():
    return build_report(TABLES).to_dict()


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _item(report, key):
    return next(item for item in report["analyses"] if item["key"] == key)


def _pooled_keys(report):
    return [item["key"] for item in report["analyses"] if item["pooled"] and not item["same_trials_as"]]


def test_plan_reads_the_grade_and_bayes_tables():
    plan = load_plan()
    assert plan.grade == {"mid": 0.2, "rob_high_share": 0.5, "i2_serious": 50.0, "bias_min_k": 10,
                          "bias_p": 0.10, "ois_alpha": 0.05, "ois_power": 0.80}
    assert plan.bayes_tau_prior == "halfnormal:0.5"
    assert "Guyatt" in plan.citations["grade"] and "Roever" in plan.citations["bayes"]


def test_every_pooled_subset_has_a_certainty_with_the_rule_of_each_downgrade(report):
    keys = _pooled_keys(report)
    assert keys == ["depression | post | all", "anxiety | post | all",
                    "ThirdWave teaching data: stress | unspecified | all"]
    for key in keys:
        grade = _item(report, key)["grade"]
        assert grade["certainty"] in LEVELS and grade["start"] == "high"
        assert [d["domain"] for d in grade["domains"]] == ["risk_of_bias", "inconsistency", "indirectness",
                                                           "imprecision", "publication_bias"]
        for domain in grade["domains"]:
            assert domain["rule"], f"{key} {domain['domain']} states no rule"
        assert LEVELS.index(grade["certainty"]) == 3 - sum(d["downgrade"] for d in grade["domains"])
        downgraded = [d["domain"].replace("_", " ") for d in grade["domains"] if d["downgrade"]]
        assert all(any(note.startswith(name) for note in grade["footnotes"]) for name in downgraded)


def _participants(outcome):
    """Each trial's n1 + n2 (its largest over the trial's rows, its participants counted once)."""
    by_trial = {}
    for row in _rows(STUDIES / "trials.csv"):
        if row["outcome"] == outcome:
            by_trial[row["study_id"]] = max(by_trial.get(row["study_id"], 0), int(row["n1"]) + int(row["n2"]))
    return sum(by_trial.values())


def _expected_domains(ref, n_total, egger_p, high_share):
    """The five GRADE verdicts from the inputs (thresholds: studies/analysis_plan.toml [grade])."""
    mid, i2 = 0.2, ref.get("i2", ref.get("i2_between", 0) + ref.get("i2_within", 0))
    ois = 4 * (Z[0.975] + Z[0.80]) ** 2 / mid ** 2
    spans = ref["pi_lower"] < 0 and ref["pi_upper"] > mid
    if ref["ci_lower"] < -mid and ref["ci_upper"] > mid:
        imprecision = 2
    elif ref["ci_lower"] < mid < ref["ci_upper"]:
        imprecision = 1
    else:
        imprecision = int(n_total is not None and n_total < ois)
    return {"risk_of_bias": int(high_share is not None and high_share > 0.5),
            "inconsistency": int(i2 >= 50 and spans), "indirectness": 0, "imprecision": imprecision,
            "publication_bias": int(egger_p is not None and egger_p < 0.10)}


@pytest.mark.parametrize("key, outcome, high_share, certainty", [
    ("depression | post | all", "depression", None, "low"),
    ("anxiety | post | all", "anxiety", 0.0, "low"),   # rob2.csv: koszycki2016 low, tealesapach2022 some
    ("ThirdWave teaching data: stress | unspecified | all", None, None, "low")])
def test_grade_verdicts_follow_from_the_inputs(report, key, outcome, high_share, certainty):
    ref, grade = REFERENCE[key], _item(report, key)["grade"]
    n_total = _participants(outcome) if outcome else None   # ThirdWave codes no n
    expected = _expected_domains(ref, n_total, ref.get("egger_p"), high_share)
    assert {d["domain"]: d["downgrade"] for d in grade["domains"]} == expected
    assert grade["certainty"] == certainty == LEVELS[3 - sum(expected.values())]
    tau2 = ref.get("tau2", ref.get("sigma2_between", 0) + ref.get("sigma2_within", 0))
    share = 0.5 * (1 + math.erf((ref["estimate"] - 0.2) / math.sqrt(2 * tau2)))
    assert_close(grade["share_above_mid"], share, f"{key} share above the MID", rel=1e-5)
    reasons = {d["domain"]: d["reason"] for d in grade["domains"]}
    if outcome:
        assert f"total N {n_total}" in reasons["imprecision"] or "includes the MID" in reasons["imprecision"]
    if high_share is None:
        assert reasons["risk_of_bias"] == "not assessable (no trial has a RoB 2 judgement)"
    if ref.get("egger_p") is not None:
        assert reasons["publication_bias"] == f"asymmetry test p = {ref['egger_p']:.3f} (suspected)"


@pytest.mark.parametrize("key", ["depression | post | all", "anxiety | post | all"])
def test_grade_weights_give_metafors_pooled_estimate(key):
    """The per-row weights GRADE reads are the model's: sum w y / sum w is metafor's estimate."""
    from compassmeta.report.evidence import row_weights
    from compassmeta.report.rows import plan_rows
    from compassmeta.report.subsets import choose_model, outcome_subsets, sections

    plan = load_plan()
    rows, labels, _, _ = plan_rows(TABLES, plan, None)
    section, members = next((s, r) for s, r in sections(rows, plan).items()
                            if s.outcome == key.split(" |")[0])
    subset = outcome_subsets(section, members)[0]
    choice = choose_model(list(subset.rows), labels)
    weights = np.array(row_weights(choice, choice.pool()))
    yi = np.array(choice.effects.rows_yi if choice.dependent else choice.effects.yi)
    assert_close(float(weights @ yi / weights.sum()), REFERENCE[key]["estimate"], f"{key} weighted mean")


def test_traffic_lights_carry_rob2_csv_and_are_drawn(report):
    judged = {row["es_id"]: row for row in _rows(STUDIES / "rob2.csv")}
    anxiety = _item(report, "anxiety | post | all")
    assert sorted(j["es_id"] for j in anxiety["rob2"]) == sorted(judged)
    for entry in anxiety["rob2"]:
        row = judged[entry["es_id"]]
        assert entry["domains"] == {d: row[d] for d in ("d1", "d2", "d3", "d4", "d5")}
        assert entry["overall"] == row["overall"]
    assert all(not _item(report, key)["rob2"] for key in _pooled_keys(report) if "anxiety" not in key)
    page = render_html(report)
    section = re.search(r'<div class="subset" id="anxiety-post-all">.*?<div class="subset"', page, re.S)
    assert 'class="fig fig-rob"' in section.group(0)
    assert len(re.findall(r'id="[0-9a-f]+-rob-overall(-\d)?"', section.group(0))) == 5
    assert page.count('class="fig fig-rob"') == 1


def test_summary_of_findings_table_shows_certainty_footnotes_and_bayes(report):
    page = render_html(report)
    sof = re.search(r'<h3 id="certainty">.*?</ol>', page, re.S).group(0)
    for key in _pooled_keys(report):
        item = _item(report, key)
        assert item["grade"]["certainty"].capitalize() in sof
        for note in item["grade"]["footnotes"]:
            assert html.escape(note) in sof
        bayes = item["bayes"]
        assert f"{bayes['estimate']:.2f} [{bayes['ci_lower']:.2f}, {bayes['ci_upper']:.2f}]" in sof
    assert "half-normal(scale=0.5)" in page


def test_low_risk_sensitivity_uses_rob2_where_judged(report):
    """anxiety: rob2.csv judges koszycki2016 low and tealesapach2022 some concerns (their risk-of-bias
    notes aside), so one trial is at low risk: not pooled."""
    fit = next(f for f in _item(report, "anxiety | post | all")["sensitivity"]
               if f["analysis"] == "low risk of bias")
    assert (fit["k"], fit["k_rows"], fit["estimate"]) == (1, 2, None)
    assert fit["note"].startswith("RoB 2 overall low (5 of 5 rows judged in rob2.csv)")


def test_rob2_overrides_the_note_and_the_note_serves_unjudged_rows():
    from compassmeta.report.evidence import Evidence

    rows = [dict(es_id=f"e{i}", study_id=f"s{i}", yi=0.1 * i, vi=0.04 + 0.01 * i, risk_of_bias_source=note)
            for i, note in enumerate(["low", "low", "low", "high"])]
    evidence = Evidence(rob2={"e0": ("low",) * 6, "e1": ("high",) * 6})  # e1: note low, RoB 2 high
    fit = _low_risk(rows, None, ("low",), None, "z", evidence)
    assert (fit.k, fit.k_rows) == (2, 2)      # e0 (RoB 2 low) and e2 (its note); not e1, not e3
    assert fit.note.startswith("RoB 2 overall low (2 of 4 rows judged in rob2.csv); other rows: risk-of-bias")
    # e0 (g 0, v 0.04) and e2 (g 0.2, v 0.06): Q = 0.04 / 0.1 < 1, so REML tau^2 = 0 and the estimate
    # is the inverse-variance mean (0 / 0.04 + 0.2 / 0.06) / (1 / 0.04 + 1 / 0.06) = 0.08
    assert_close(fit.estimate, 0.08, "low-risk estimate")


@pytest.mark.parametrize("old, new, message", [
    ("mid = 0.2\n", "mid = 0.2\nbogus = 1\n", "unknown key grade.bogus"),
    ("mid = 0.2\n", "mid = -0.2\n", "grade.mid = -0.2 is out of range"),
    ('tau_prior = "halfnormal:0.5"', 'tau_prior = "halfnormal:x"',
     "bayes.tau_prior: tau prior 'halfnormal:x'")])
def test_a_bad_grade_or_bayes_table_is_a_one_line_error(tmp_path, old, new, message):
    from click.testing import CliRunner

    from compassmeta.cli import main

    plan = tmp_path / "plan.toml"
    plan.write_text((STUDIES / "analysis_plan.toml").read_text(encoding="utf-8").replace(old, new, 1),
                    encoding="utf-8")
    output = str(tmp_path / "r.html")
    result = CliRunner().invoke(main, ["report", TABLES[0], "-o", output, "--plan", str(plan)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert message in last and str(plan) in last
