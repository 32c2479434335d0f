"""GRADE rules on constructed subsets: one per downgrade, the overrides, the plan's [grade] table."""
import dataclasses

import numpy as np
import pytest
from scipy.stats import norm
from statsmodels.stats.power import NormalIndPower

from compassmeta.analyses.grade import GradeInput, GradeRules, grade_model, grade_subset, share_above
from compassmeta.common.errors import InputError
from compassmeta.models.pooling import pool

# A clean subset: 12 trials, all low risk, consistent, precise, no asymmetry: stays high.
CLEAN = GradeInput(subset="depression", estimate=0.60, ci=(0.45, 0.75), k=12, weights=(1.0,) * 12,
                   rob=("low",) * 12, pi=(0.30, 0.90), i2=20.0, tau2=0.01, n_total=1500, bias_p=0.40)


def domain(rating, name):
    return next(d for d in rating.domains if d.domain == name)


def test_a_clean_rct_subset_stays_high():
    rating = grade_subset(CLEAN)
    assert rating.start == "high" and rating.certainty == "high"
    assert all(d.downgrade == 0 for d in rating.domains) and rating.footnotes() == []


def test_risk_of_bias_rated_down_when_most_weight_is_high_risk():
    rob = ("high",) * 7 + ("low",) * 5              # 7/12 = 58% of equal weights
    rating = grade_subset(dataclasses.replace(CLEAN, rob=rob))
    assert domain(rating, "risk_of_bias").downgrade == 1 and rating.certainty == "moderate"
    assert "58% of the weight" in domain(rating, "risk_of_bias").reason
    weights = (6.0,) + (1.0,) * 11                  # the high-risk trial holds 6/17 = 35% only
    kept = grade_subset(dataclasses.replace(CLEAN, rob=("high",) + ("low",) * 11, weights=weights))
    assert domain(kept, "risk_of_bias").downgrade == 0


def test_inconsistency_needs_large_i2_and_a_pi_from_no_effect_to_the_mid():
    rating = grade_subset(dataclasses.replace(CLEAN, i2=70.0, pi=(-0.30, 1.50)))
    assert domain(rating, "inconsistency").downgrade == 1 and rating.certainty == "moderate"
    assert "I^2 = 70%" in domain(rating, "inconsistency").reason
    # large I^2 but every true effect above the MID: consistent in direction and importance
    above = grade_subset(dataclasses.replace(CLEAN, i2=70.0, pi=(0.25, 1.50)))
    assert domain(above, "inconsistency").downgrade == 0
    # a PI across no effect with small I^2: not rated down
    small = grade_subset(dataclasses.replace(CLEAN, i2=40.0, pi=(-0.30, 1.50)))
    assert domain(small, "inconsistency").downgrade == 0


def test_imprecision_ci_across_the_mid_and_across_both_mids():
    one = grade_subset(dataclasses.replace(CLEAN, estimate=0.30, ci=(0.10, 0.50)))
    assert domain(one, "imprecision").downgrade == 1 and one.certainty == "moderate"
    two = grade_subset(dataclasses.replace(CLEAN, estimate=0.05, ci=(-0.40, 0.50)))
    assert domain(two, "imprecision").downgrade == 2 and two.certainty == "low"


def test_imprecision_optimal_information_size():
    """OIS for SMD 0.2, two-sided alpha 0.05, power 0.8: twice statsmodels' per-group n (392.4) for
    the one tail that counts (the usual formula 2 (z_.975 + z_.8)^2 / 0.2^2 per arm)."""
    per_group = NormalIndPower().solve_power(effect_size=0.2, alpha=0.025, power=0.8, ratio=1.0,
                                             alternative="larger")
    assert GradeRules().optimal_information_size(0.2) == pytest.approx(2 * per_group, rel=1e-6)
    small = grade_subset(dataclasses.replace(CLEAN, n_total=600))        # CI excludes the MID, N < 785
    assert domain(small, "imprecision").downgrade == 1
    assert "total N 600 is below the OIS" in domain(small, "imprecision").reason


def test_publication_bias_assessed_only_from_ten_trials():
    rating = grade_subset(dataclasses.replace(CLEAN, bias_p=0.03))
    assert domain(rating, "publication_bias").downgrade == 1 and rating.certainty == "moderate"
    few = grade_subset(dataclasses.replace(CLEAN, k=9, weights=(1.0,) * 9, rob=("low",) * 9, bias_p=0.001))
    assert domain(few, "publication_bias").downgrade == 0
    assert domain(few, "publication_bias").reason == "not assessable (k = 9 < 10)"
    assert few.footnotes() == ["publication bias: not assessable (k = 9 < 10)"]


def test_risk_of_bias_not_assessable_without_judgements():
    rating = grade_subset(dataclasses.replace(CLEAN, rob=(None,) * 12))
    assert domain(rating, "risk_of_bias").reason == "not assessable (no trial has a RoB 2 judgement)"
    partly = grade_subset(dataclasses.replace(CLEAN, rob=("high",) * 3 + (None,) * 9))
    assert domain(partly, "risk_of_bias").reason == ("25% of the weight from trials at high risk of bias; "
                                                     "75% from trials without a RoB 2 judgement")


def test_indirectness_from_the_plan_and_an_override_with_its_justification():
    why = "trial registry search found none"
    rules = GradeRules.from_mapping({
        "indirectness": {"depression": {"downgrade": 1, "reason": "students, not patients"}},
        "overrides": {"depression": {"publication_bias": {"downgrade": 0, "justification": why}}}})
    rating = grade_subset(dataclasses.replace(CLEAN, bias_p=0.03), rules)
    assert domain(rating, "indirectness").downgrade == 1
    bias = domain(rating, "publication_bias")
    assert bias.overridden and bias.downgrade == 0 and bias.justification == why
    assert rating.certainty == "moderate"
    assert rating.footnotes() == ["indirectness: students, not patients",
                                  "publication bias: asymmetry test p = 0.030 (suspected) "
                                  "(override: trial registry search found none)"]


def test_downgrades_add_up_and_stop_at_very_low():
    worst = dataclasses.replace(CLEAN, rob=("high",) * 12, i2=80.0, pi=(-1.0, 2.0), estimate=0.05,
                                ci=(-0.40, 0.50), bias_p=0.01)
    rating = grade_subset(worst)
    assert sum(d.downgrade for d in rating.domains) == 5 and rating.certainty == "very low"
    assert grade_subset(dataclasses.replace(CLEAN, design="observational")).certainty == "low"


def test_rules_from_the_plan_table_and_their_errors():
    rules = GradeRules.from_mapping({"mid": 0.24, "i2_serious": 60, "bias_min_k": 8,
                                     "mid_by_subset": {"stress": 0.3}})
    assert (rules.mid, rules.i2_serious, rules.bias_min_k, rules.rob_high_share) == (0.24, 60, 8, 0.5)
    assert rules.mid_for("stress") == 0.3 and rules.mid_for("depression") == 0.24
    assert GradeRules.from_mapping({}) == GradeRules()
    for bad, message in (({"mdi": 0.2}, "unknown key grade.mdi"), ({"mid": -0.2}, "grade.mid"),
                         ({"bias_p": "0.1"}, "grade.bias_p must be a number"),
                         ({"overrides": {"x": {"imprecision": {"downgrade": 1}}}}, "justification"),
                         ({"overrides": {"x": {"precision": {"downgrade": 1, "justification": "y"}}}},
                          "not a GRADE domain"),
                         ({"indirectness": {"x": {"downgrade": 3, "reason": "y"}}}, "0, 1 or 2")):
        with pytest.raises(InputError, match=message):
            GradeRules.from_mapping(bad, file="studies/analysis_plan.toml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.mid = 0.5


def test_share_of_true_effects_above_the_mid():
    assert share_above(0.5, 0.04, 0.2) == pytest.approx(norm.sf(0.2, loc=0.5, scale=0.2), rel=1e-12)
    assert share_above(0.5, 0.0, 0.2) == 1.0
    assert grade_subset(CLEAN).share_above_mid == pytest.approx(norm.sf(0.2, loc=0.6, scale=0.1), rel=1e-12)


def test_grade_model_reads_a_fitted_model():
    """ThirdWave-like numbers through pool(): the rating uses the model's own CI, PI and I^2."""
    yi = np.array([0.71, 0.46, 0.16, 0.93, 0.55, 0.28, 1.06, 0.39, 0.62, 0.81, 0.12, 0.49])
    vi = np.full(12, 0.04)
    model = pool(yi, vi, method="REML", with_tau2_ci=False)
    weights = model.fit.weights
    rating = grade_model("stress", model, weights=weights, rob=("low",) * 12, n_total=1200, bias_p=0.5)
    estimate = model.pooled_estimate()
    interval = f"CI [{estimate.ci_lower:.2f}, {estimate.ci_upper:.2f}]"
    assert domain(rating, "imprecision").reason.startswith(interval)
    lower, upper = model.prediction_interval()
    assert f"prediction interval [{lower:.2f}, {upper:.2f}]" in domain(rating, "inconsistency").reason
    tau = np.sqrt(model.heterogeneity().total_variance)
    assert rating.share_above_mid == pytest.approx(norm.sf(0.2, loc=estimate.estimate, scale=tau), rel=1e-12)
    assert [d["domain"] for d in rating.to_dict()["domains"]] == [
        "risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias"]
