"""The report's Bayesian estimate of each subset against R's bayesmeta 3.4
(scripts/bayesmeta_report_reference.R -> tests/fixtures/bayesmeta_report.json; ThirdWave also
against scripts/bayesmeta_reference.R's fit), and the Bayesian answer of a 2-trial subset that
the plan does not pool."""
import re

import pytest

from compassmeta.report.html import build_report, render_html
from conftest import PROJECT, assert_close, load_fixture

STUDIES = PROJECT / "studies"
TABLES = [str(STUDIES / "trials.csv"), str(STUDIES / "thirdwave.csv")]
BAYESMETA = load_fixture("bayesmeta_report.json")
FIELDS = ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper", "tau", "tau_ci_lower", "tau_ci_upper",
          "prob_above_0", "prob_above_02")


@pytest.fixture(scope="module")
def report():
    return build_report(TABLES).to_dict()


def _item(report, key):
    return next(item for item in report["analyses"] if item["key"] == key)


@pytest.mark.parametrize("key", sorted(BAYESMETA["subsets"]))
def test_bayesian_estimate_matches_bayesmeta(report, key):
    expected, bayes = BAYESMETA["subsets"][key], _item(report, key)["bayes"]
    item = _item(report, key)
    assert bayes["k"] == expected["k"] == item["k_trials"]
    assert item["effects"]["yi"] == pytest.approx(expected["yi"], rel=1e-9)
    for name in FIELDS:
        assert_close(bayes[name], expected[name], f"{key} {name}")
    assert bayes["tau_prior"] == BAYESMETA["tau_prior"] == "halfnormal:0.5" and bayes["converged"]
    assert bayes["prior"] == "half-normal(scale=0.5)"


def test_thirdwave_matches_the_package_reference(report):
    fit = next(f for f in load_fixture("bayesmeta.json")["fits"] if f["data"] == "thirdwave"
               and f["tau_prior"] == "halfnormal:0.5" and f["mu_prior"] == "uniform")
    bayes = _item(report, "ThirdWave teaching data: stress | unspecified | all")["bayes"]
    assert_close(bayes["estimate"], fit["mu"]["median"], "mu median")
    assert_close(bayes["ci_lower"], fit["mu"]["ci_lower"], "mu 2.5%")
    assert_close(bayes["pi_upper"], fit["theta_new"]["ci_upper"], "theta_new 97.5%")
    assert_close(bayes["prob_above_02"], fit["prob_mu_above_0.2"], "P(mu > 0.2)")


def test_one_trial_subsets_have_no_bayesian_estimate(report):
    for item in report["analyses"]:
        if item["k_trials"] < 2:
            assert item["bayes"] is None and item["grade"] is None


def test_two_trials_the_plan_does_not_pool_get_the_bayesian_answer(tmp_path):
    """With minimum_k.pool = 3, anxiety (2 trials) is not pooled: its answer is bayesmeta's, with no
    frequentist prediction interval."""
    text = (STUDIES / "analysis_plan.toml").read_text(encoding="utf-8")
    plan = tmp_path / "plan.toml"
    plan.write_text(text.replace("pool = 2 ", "pool = 3 "), encoding="utf-8")
    report = build_report([str(STUDIES / "trials.csv")], plan=plan).to_dict()
    item, expected = _item(report, "anxiety | post | all"), BAYESMETA["subsets"]["anxiety | post | all"]
    assert item["pooled"] is None and item["grade"] is None
    for name in FIELDS:
        assert_close(item["bayes"][name], expected[name], f"anxiety {name}")
    assert any("not pooled" in note and "Bayesian estimate is given" in note for note in item["notes"])
    page = render_html(report)
    row = re.search(r'<a href="#anxiety-post-all">anxiety</a>.*?</tr>', page, re.S).group(0)
    shown = f"{expected['estimate']:.2f} [{expected['ci_lower']:.2f}, {expected['ci_upper']:.2f}]"
    assert f'{shown} <span class="muted">(Bayesian)</span>' in row
    section = re.search(r'<div class="subset" id="anxiety-post-all">.*?</table>', page, re.S).group(0)
    assert "Bayesian g [95% CrI] (tau prior: half-normal(scale=0.5))" in section
    assert "95% prediction interval</td>" not in section


def test_the_report_fit_leaves_out_only_the_shrinkage_estimates():
    """Issue 29: the report's fit skips the per-study shrinkage estimates it does not show; every
    other number is the full fit's (itself bayesmeta's, tests/test_bayes.py)."""
    from compassmeta.models.bayes import bayes_meta

    yi, vi = [0.1, 0.5, 0.3, 0.8, -0.2], [0.04, 0.09, 0.02, 0.1, 0.05]
    full, lean = bayes_meta(yi, vi, "halfnormal:0.5"), bayes_meta(yi, vi, "halfnormal:0.5", shrinkage=False)
    assert len(full.shrinkage) == 5 and lean.shrinkage == ()
    assert lean.mu == full.mu and lean.tau == full.tau and lean.theta_new == full.theta_new
    assert lean.probability_above(0.2) == full.probability_above(0.2)
