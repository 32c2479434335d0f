"""The result interface: Estimate.conf_int(level) and the PooledModel members, against metafor
5.1-12 and clubSandwich at level = 90 (tests/fixtures/metafor_results.json, written by
scripts/metafor_results_reference.R)."""
import dataclasses
import math

import pytest

from compassmeta.common.results import Coefficient, Estimate, Heterogeneity, PooledModel
from compassmeta.models.moderators import meta_regression
from compassmeta.models.pooling import pool
from conftest import assert_close, load_fixture

REFERENCE = load_fixture("metafor_results.json")
BCG = REFERENCE["datasets"]["bcg"]
ASSINK = REFERENCE["datasets"]["assink2016"]
LEVEL = REFERENCE["level"]


def test_fixture_comes_from_the_current_metafor():
    assert REFERENCE["metafor"] == "5.1.12" and LEVEL == 90


@pytest.mark.parametrize("test", ["z", "knha"])
def test_pooled_interval_at_another_level_matches_metafor(test):
    expected = REFERENCE["univariate"][test]
    result = pool(BCG["yi"], BCG["vi"], ci_method=test)           # fitted at 95%
    for level in (LEVEL, LEVEL / 100):
        lower, upper = result.conf_int(level)
        assert_close(lower, expected["ci_lb"], f"{test} ci.lb at {level}")
        assert_close(upper, expected["ci_ub"], f"{test} ci.ub at {level}")
    assert result.conf_int() == pytest.approx((result.ci_lower, result.ci_upper), rel=1e-12)
    assert result.level == 95 and (result.df is None) == (test == "z")


@pytest.mark.parametrize("test", ["z", "knha"])
def test_coefficient_intervals_at_another_level_match_metafor(test):
    expected = REFERENCE["metareg"][test]
    result = meta_regression(BCG["yi"], BCG["vi"], {"ablat": BCG["ablat"]}, ci_method=test)
    assert [c.term for c in result.coefficients] == ["intercept", "ablat"]
    for coefficient, lower, upper in zip(result.coefficients, expected["ci_lb"], expected["ci_ub"]):
        assert isinstance(coefficient, Coefficient)
        assert coefficient.df == (None if test == "z" else len(BCG["yi"]) - 2)
        got = coefficient.conf_int(LEVEL)
        assert_close(got[0], lower, f"{coefficient.term} ci.lb")
        assert_close(got[1], upper, f"{coefficient.term} ci.ub")
        assert list(coefficient.to_dict())[0] == "term"


@pytest.mark.parametrize("test", ["z", "t"])
def test_multilevel_interval_at_another_level_matches_rma_mv(test):
    expected = REFERENCE["multilevel"][test]
    result = pool(ASSINK["yi"], ASSINK["vi"], cluster=ASSINK["cluster"], ci_method=test)
    lower, upper = result.conf_int(LEVEL)
    assert_close(lower, expected["ci_lb"], "rma.mv ci.lb")
    assert_close(upper, expected["ci_ub"], "rma.mv ci.ub")


def test_cr2_interval_at_another_level_matches_clubsandwich():
    expected = REFERENCE["multilevel"]["cr2"]
    result = pool(ASSINK["yi"], ASSINK["vi"], cluster=ASSINK["cluster"], ci_method="cr2")
    assert_close(result.df, expected["df"], "Satterthwaite df")
    lower, upper = result.conf_int(LEVEL)
    assert_close(lower, expected["ci_lb"], "CR2 CI_L")
    assert_close(upper, expected["ci_ub"], "CR2 CI_U")


def test_conf_int_refuses_a_level_outside_0_100():
    result = pool(BCG["yi"], BCG["vi"])
    with pytest.raises(Exception, match="must lie between 0 and 100"):
        result.conf_int(150)


POOLED_MODELS = {
    "univariate": lambda test: pool(BCG["yi"], BCG["vi"], ci_method=test, level=LEVEL),
    "multilevel": lambda test: pool(ASSINK["yi"], ASSINK["vi"], cluster=ASSINK["cluster"],
                                    ci_method="t" if test == "knha" else test, level=LEVEL),
}


@pytest.mark.parametrize("kind", sorted(POOLED_MODELS))
@pytest.mark.parametrize("test", ["z", "knha"])
def test_both_pooled_results_implement_pooled_model(kind, test):
    result = POOLED_MODELS[kind](test)
    expected = REFERENCE[kind]["t" if kind == "multilevel" and test == "knha" else test]
    assert isinstance(result, PooledModel) and isinstance(result, Estimate)
    estimate = result.pooled_estimate()
    assert type(estimate) is Estimate
    assert_close(estimate.estimate, expected["beta"], "estimate")
    assert_close(estimate.ci_lower, expected["ci_lb"], "ci.lb")
    assert_close(estimate.ci_upper, expected["ci_ub"], "ci.ub")
    assert estimate.level == LEVEL
    assert result.prediction_interval() == (result.pi_lower, result.pi_upper)
    assert_close(result.prediction_interval()[0], expected["pi_lb"], "pi.lb")
    assert_close(result.prediction_interval()[1], expected["pi_ub"], "pi.ub")
    heterogeneity = result.heterogeneity()
    assert isinstance(heterogeneity, Heterogeneity)
    variances = [expected["tau2"]] if kind == "univariate" else expected["sigma2"]
    assert [c.variance for c in heterogeneity.components] == pytest.approx(variances, rel=1e-6)
    assert_close(heterogeneity.total_variance, sum(variances), "total variance")
    assert_close(heterogeneity.q, expected["q"], "QE")
    assert heterogeneity.q_df == expected["q_df"]
    assert result.converged is True


def test_heterogeneity_totals_are_the_fields_of_each_model():
    univariate = pool(BCG["yi"], BCG["vi"])
    assert univariate.heterogeneity().total_variance == univariate.tau2
    assert univariate.heterogeneity().i2 == univariate.i2
    assert univariate.heterogeneity().components[0].ci_lower == univariate.tau2_ci_lower
    multilevel = pool(ASSINK["yi"], ASSINK["vi"], cluster=ASSINK["cluster"])
    assert multilevel.heterogeneity().total_variance == multilevel.sigma2_between + multilevel.sigma2_within
    assert multilevel.heterogeneity().i2 == multilevel.i2_between + multilevel.i2_within
    without_ci = pool(BCG["yi"], BCG["vi"], with_tau2_ci=False).heterogeneity().components[0]
    assert without_ci.ci_lower is None and without_ci.ci_upper is None


def test_clusters_and_one_line_descriptions():
    k, n_clusters = len(ASSINK["yi"]), len(set(ASSINK["cluster"]))
    assert pool(BCG["yi"], BCG["vi"]).n_clusters is None
    assert pool(BCG["yi"], BCG["vi"]).describe() == "random-effects model (REML), k = 13"
    assert pool(BCG["yi"], BCG["vi"], method="DL", ci_method="knha").describe() == (
        "random-effects model (DL, Knapp-Hartung), k = 13")
    assert pool(BCG["yi"], BCG["vi"], method="FE").describe() == "fixed-effect model, k = 13"
    three_level = pool(ASSINK["yi"], ASSINK["vi"], cluster=ASSINK["cluster"])
    assert (three_level.k, three_level.n_clusters) == (k, n_clusters)
    assert three_level.describe() == f"three-level model (REML), {k} rows in {n_clusters} clusters"
    che = pool(ASSINK["yi"], ASSINK["vi"], cluster=ASSINK["cluster"], rho=0.6, ci_method="cr2")
    assert che.describe() == (f"CHE model (rho = 0.6, REML, CR2 robust inference), "
                              f"{k} rows in {n_clusters} clusters")


def test_pooled_notebook_view_comes_from_the_interface():
    for result in (pool(BCG["yi"], BCG["vi"]), pool(ASSINK["yi"], ASSINK["vi"], cluster=ASSINK["cluster"])):
        view = result._repr_html_()
        assert f"<td>{result.describe()}</td>" in view and f"<td>{result.estimate:.4g}</td>" in view
        assert "Pooled effect (95% intervals)" in view


def test_json_keys_are_only_added():
    """The keys each pooled result had before the interface, in the same order, then the new ones."""
    univariate = list(pool(BCG["yi"], BCG["vi"]).to_dict())
    assert univariate[:25] == [
        "k", "method", "ci_method", "level", "estimate", "se", "statistic", "df", "p_value", "ci_lower",
        "ci_upper", "pi_lower", "pi_upper", "tau2", "tau", "tau2_ci_lower", "tau2_ci_upper", "i2", "h2", "q",
        "q_df", "q_p", "iterations", "converged", "notes"]
    assert set(univariate[25:]) >= {  # issue 25: metafor's inference toolbox
        "log_likelihood", "deviance", "aic", "bic", "aicc", "tau2_ci_method", "i2_ci_lower", "i2_ci_upper",
        "h2_ci_lower", "h2_ci_upper", "above", "prob_above", "blups"}
    multilevel = set(pool(ASSINK["yi"], ASSINK["vi"], cluster=ASSINK["cluster"]).to_dict())
    assert multilevel >= {
        "estimate", "se", "ci_lower", "ci_upper", "p_value", "pi_lower", "pi_upper", "sigma2_between",
        "sigma2_within", "i2_between", "i2_within", "q", "q_df", "q_p", "k", "n_clusters", "df", "statistic",
        "method", "ci_method", "level", "rho", "iterations", "log_likelihood", "notes", "variance_tests",
        "converged"}


def test_estimate_subclasses_take_df_and_level_by_keyword():
    names = [f.name for f in dataclasses.fields(Estimate)]
    assert names == ["estimate", "se", "statistic", "df", "p_value", "ci_lower", "ci_upper", "level"]
    plain = Estimate(0.5, 0.1, 5.0, 1e-6, 0.3, 0.7)
    assert plain.df is None and plain.level == 95
    lower, upper = plain.conf_int(0.5)
    assert math.isclose(upper - 0.5, 0.1 * 0.6744897501960817, rel_tol=1e-12)
    assert math.isclose(lower, 1.0 - upper, rel_tol=1e-12)
