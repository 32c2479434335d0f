"""Three-level / CHE models and CR2 inference against metafor rma.mv + vcalc and clubSandwich.

Fixture: scripts/metafor_multilevel_reference.R -> tests/fixtures/metafor_multilevel.json.
Variance components that metafor leaves at the zero boundary come out as ~1e-10 on its log
scale (exactly 0 here); they, and the I^2 built from them, are compared in absolute terms.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from compassmeta.common.errors import InputError
from compassmeta.models.moderators import meta_regression, subgroup_analysis
from compassmeta.models.multilevel import ClusterBlocks, fit_multilevel
from compassmeta.models.pooling import pool

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "metafor_multilevel.json").read_text())
RTOL = 1e-6
BOUNDARY_ATOL = 1e-8


def close_bounds(actual, expected, beta):
    """CI bounds b -/+ c se: relative to the size of their parts (|b| + c se), since a bound next
    to zero makes a relative comparison of the bound itself meaningless."""
    actual, expected, beta = (np.asarray(x, dtype=float) for x in (actual, expected, beta))
    allowed = RTOL * (np.abs(beta) + np.abs(expected - beta))
    assert np.all(np.abs(actual - expected) <= allowed), (actual, expected, allowed)


def as_list(value):
    return value if isinstance(value, list) else [value]


def case_id(case):
    mods = "+".join(as_list(case["mods"])) or "intercept"
    return f"{case['dataset']}-rho{case['rho']}-{case['method']}-{mods}"


CASES = FIXTURE["cases"]
POOL_CASES = [c for c in CASES if not as_list(c["mods"])]
METAREG_CASES = [c for c in CASES if as_list(c["mods"])]


def inputs(case):
    data = FIXTURE["datasets"][case["dataset"]]
    categorical = as_list(case["categorical"])
    moderators = {name: ([str(x) for x in data["mods"][name]] if name in categorical
                         else data["mods"][name]) for name in as_list(case["mods"])}
    return np.array(data["yi"]), np.array(data["vi"]), data["cluster"], moderators


def close(actual, expected, rtol=RTOL, atol=0):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=atol)


def close_variance(actual, expected):
    """sigma^2 (and I^2): relative where metafor's value is away from zero, absolute at the boundary."""
    for a, e in zip(np.atleast_1d(actual), np.atleast_1d(expected)):
        if abs(e) < 1e-7:
            assert abs(a - e) < BOUNDARY_ATOL
        else:
            close(a, e)


def check_common(result, case):
    close_variance([result.sigma2_between, result.sigma2_within], case["sigma2"])
    boundary = np.array(case["sigma2"]) < 1e-7
    i2 = np.array([result.i2_between, result.i2_within])
    np.testing.assert_allclose(i2[~boundary], np.array(case["i2"])[~boundary], rtol=RTOL)
    assert np.all(np.abs(i2[boundary] - np.array(case["i2"])[boundary]) < 1e-5)
    assert result.k == case["k"] and result.n_clusters == case["n_clusters"]


@pytest.mark.parametrize("case", POOL_CASES, ids=case_id)
@pytest.mark.parametrize("ci_method", ["z", "t", "cr2"])
def test_pool_matches_metafor_and_clubsandwich(case, ci_method):
    yi, vi, cluster, _ = inputs(case)
    result = pool(yi, vi, cluster=cluster, rho=case["rho"], method=case["method"], ci_method=ci_method)
    check_common(result, case)
    close(result.estimate, case["beta"])
    close([result.q, result.q_df, result.q_p], [case["QE"], case["QEdf"], case["QEp"]])
    if ci_method == "cr2":
        expected = [case["cr2_se"], case["cr2_df"], case["cr2_ci_lb"], case["cr2_ci_ub"], case["cr2_p"],
                    case["cr2_pi_lb"], case["cr2_pi_ub"]]
        close([result.se, result.df, result.ci_lower, result.ci_upper, result.p_value, result.pi_lower,
               result.pi_upper], expected)
    else:
        s = ci_method
        close([result.se, result.ci_lower, result.ci_upper, result.p_value, result.pi_lower, result.pi_upper],
              [case["se"], case[f"ci_lb_{s}"], case[f"ci_ub_{s}"], case[f"pval_{s}"], case[f"pi_lb_{s}"],
               case[f"pi_ub_{s}"]])


@pytest.mark.parametrize("case", METAREG_CASES, ids=case_id)
@pytest.mark.parametrize("ci_method", ["z", "t", "cr2"])
def test_metareg_matches_metafor_and_clubsandwich(case, ci_method):
    yi, vi, cluster, moderators = inputs(case)
    result = meta_regression(yi, vi, moderators, cluster=cluster, rho=case["rho"], method=case["method"],
                             ci_method=ci_method)
    check_common(result, case)
    coefficients = result.coefficients
    close([c.estimate for c in coefficients], case["beta"])
    close([result.qe, result.qe_p], [case["QE"], case["QEp"]])
    if ci_method == "cr2":
        close([c.se for c in coefficients], case["cr2_se"])
        close([c.df for c in coefficients], case["cr2_df"])
        close([c.p_value for c in coefficients], case["cr2_p"])
        close_bounds([c.ci_lower for c in coefficients], case["cr2_ci_lb"], case["beta"])
        close_bounds([c.ci_upper for c in coefficients], case["cr2_ci_ub"], case["beta"])
        close([result.qm, result.qm_df, result.qm_df2, result.qm_p],
              [case["htz_F"], case["htz_df_num"], case["htz_df_denom"], case["htz_p"]])
    else:
        s = ci_method
        close([c.se for c in coefficients], case["se"])
        close([c.p_value for c in coefficients], case[f"pval_{s}"])
        close_bounds([c.ci_lower for c in coefficients], case[f"ci_lb_{s}"], case["beta"])
        close_bounds([c.ci_upper for c in coefficients], case[f"ci_ub_{s}"], case["beta"])
        close([result.qm, result.qm_p], [case[f"QM_{s}"], case[f"QMp_{s}"]])
        if s == "t":
            close([result.qm_df, result.qm_df2], case["QMdf_t"])


@pytest.mark.parametrize("case", [c for c in CASES if min(c["sigma2"]) > 1e-7], ids=case_id)
def test_log_likelihood_matches_metafor(case):
    yi, vi, cluster, moderators = inputs(case)
    fit = meta_regression(yi, vi, moderators, cluster=cluster, rho=case["rho"], method=case["method"]).fit \
        if moderators else pool(yi, vi, cluster=cluster, rho=case["rho"], method=case["method"]).fit
    close(fit.log_likelihood, case["logLik"], rtol=1e-8)


def test_cluster_blocks_group_rows_by_cluster_size():
    blocks = ClusterBlocks(np.array([2, 0, 2, 1, 2, 0]))
    assert blocks.n_clusters == 3
    assert [g.tolist() for g in blocks.groups] == [[[3]], [[1, 5]], [[0, 2, 4]]]


def test_missing_cluster_label_names_the_row():
    with pytest.raises(InputError, match=r"row 3, column 'cluster': cluster value is missing"):
        pool([0.1, 0.2, 0.3, 0.4], [0.01] * 4, cluster=["a", "a", "", "b"])


@pytest.mark.parametrize("options, message", [
    (dict(rho=0.5), "needs a cluster"),
    (dict(ci_method="cr2"), "give the cluster column"),
    (dict(cluster=list("aabbcc"), ci_method="knha"), "independent effects only"),
    (dict(cluster=list("aabbcc"), method="DL"), "REML or ML"),
    (dict(cluster=list("aabbcc"), rho=1.0), "strictly between -1 and 1"),
])
def test_incompatible_options_are_refused(options, message):
    with pytest.raises(InputError, match=message):
        pool([0.1, 0.3, 0.2, 0.5, 0.4, 0.1], [0.01, 0.02, 0.01, 0.03, 0.02, 0.01], **options)


def test_one_cluster_refuses_cr2():
    with pytest.raises(InputError, match="at least two clusters"):
        pool([0.1, 0.3, 0.2, 0.5], [0.01, 0.02, 0.01, 0.03], cluster=list("aaaa"), ci_method="cr2")


def test_fit_never_forms_a_k_by_k_matrix():
    """Memory stays linear in k: the largest array of a 20,000-effect fit is per cluster."""
    rng = np.random.default_rng(1)
    k = 20000
    cluster = rng.integers(0, 4000, k)
    vi = rng.uniform(0.01, 0.1, k)
    yi = 0.3 + rng.normal(0, 0.2, 4000)[cluster] + rng.normal(0, np.sqrt(vi + 0.05))
    fit = fit_multilevel(np.ones((k, 1)), yi, vi, cluster, terms=("intercept",))
    assert all(W.shape[0] * W.shape[1] <= 4000 * 20 and W.shape[1] < 20 for W in fit.gls.weights)
    assert 0.03 < fit.sigma2[0] < 0.05 and 0.04 < fit.sigma2[1] < 0.06  # simulated 0.04 and 0.05


def test_subgroups_are_multilevel_fits_per_level_and_common_sigma2_metareg():
    data = FIXTURE["datasets"]["assink2016"]
    result = subgroup_analysis(data["yi"], data["vi"], data["mods"]["deltype"], by="deltype",
                               cluster=data["cluster"], rho=0.8, ci_method="t")
    groups = {g.group: g.result for g in result.groups}
    for name in ("general", "overt"):
        expected = next(c for c in CASES if c["dataset"] == f"assink2016_{name}")
        close([groups[name].estimate, groups[name].se, groups[name].ci_lower, groups[name].ci_upper],
              [expected["beta"], expected["se"], expected["ci_lb_t"], expected["ci_ub_t"]])
        close([groups[name].sigma2_between, groups[name].sigma2_within], expected["sigma2"])
    # covert comes from one study: sigma^2 between is fixed at 0, as metafor does
    single = FIXTURE["single_cluster"]
    close([groups["covert"].estimate, groups["covert"].se, groups["covert"].sigma2_within],
          [single["beta"], single["se"], single["sigma2"][1]])
    assert groups["covert"].sigma2_between == 0.0 and groups["covert"].n_clusters == 1
    common = next(c for c in CASES if c["dataset"] == "assink2016" and c["rho"] == 0.8)
    close([result.qm_common_sigma2, result.qm_common_sigma2_p], [common["QM_t"], common["QMp_t"]])
    close([result.qm_common_sigma2_df, result.qm_common_sigma2_df2], common["QMdf_t"])


def test_robust_subgroups_use_htz_for_the_common_test():
    data = FIXTURE["datasets"]["assink2016"]
    keep = [d != "covert" for d in data["mods"]["deltype"]]
    pick = lambda values: [v for v, k in zip(values, keep) if k]  # noqa: E731
    result = subgroup_analysis(pick(data["yi"]), pick(data["vi"]), pick(data["mods"]["deltype"]),
                               by="deltype", cluster=pick(data["cluster"]), rho=0.8, ci_method="cr2")
    expected = next(c for c in CASES if c["dataset"] == "assink2016_overt")
    overt = next(g.result for g in result.groups if g.group == "overt")
    close([overt.se, overt.df, overt.p_value], [expected["cr2_se"], expected["cr2_df"], expected["cr2_p"]])
    assert result.qm_common_sigma2_df2 is not None and result.ci_method == "cr2"


def test_singleton_clusters_say_the_split_is_not_identified():
    yi, vi = [0.1, 0.5, 0.2, 0.8, 0.3, 0.9], [0.01, 0.02, 0.01, 0.03, 0.02, 0.01]
    result = pool(yi, vi, cluster=list("abcdef"))
    assert "only the sum of the two sigma^2" in result.notes[0]
    # the sum is the univariate REML tau^2 (rma.uni, tested against metafor elsewhere)
    close(result.sigma2_between + result.sigma2_within, pool(yi, vi).tau2)
    close(result.estimate, pool(yi, vi).estimate)


EGGER_CASES = [c for c in CASES if as_list(c["mods"]) == ["sei"]]


@pytest.mark.parametrize("case", EGGER_CASES, ids=case_id)
@pytest.mark.parametrize("ci_method", ["z", "t", "cr2"])
def test_multilevel_egger_test_matches_rma_mv_with_the_standard_error_as_moderator(case, ci_method):
    """metafor's regtest() refuses rma.mv models; the test is rma.mv(yi, V, mods = ~ sqrt(vi)) and,
    robust, clubSandwich's coef_test (CR2, Satterthwaite) on the slope."""
    from compassmeta.analyses.bias import multilevel_regression_test

    data = FIXTURE["datasets"][case["dataset"]]
    test = multilevel_regression_test(np.array(data["yi"]), np.array(data["vi"]), data["cluster"],
                                      method=case["method"], rho=case["rho"] or None, ci_method=ci_method)
    se = case["cr2_se"] if ci_method == "cr2" else case["se"]
    p = case["cr2_p"] if ci_method == "cr2" else case[f"pval_{ci_method}"]
    bounds = ([case["cr2_ci_lb"][0], case["cr2_ci_ub"][0]] if ci_method == "cr2"
              else [case[f"ci_lb_{ci_method}"][0], case[f"ci_ub_{ci_method}"][0]])
    close([test.intercept, test.se, test.p_value, test.limit_estimate],
          [case["beta"][1], se[1], p[1], case["beta"][0]])
    close_bounds([test.limit_ci_lower, test.limit_ci_upper], bounds, [case["beta"][0]] * 2)
    assert test.k == case["k"] and (test.df is None) == (ci_method == "z")
    if ci_method == "cr2":
        close(test.df, case["cr2_df"][1])


@pytest.mark.parametrize("reference", FIXTURE["leave_one_cluster_out"],
                         ids=lambda r: f"{r['dataset']}-rho{r['rho']}")
@pytest.mark.parametrize("ci_method", ["z", "cr2"])
def test_leave_one_cluster_out_matches_rma_mv_refits(reference, ci_method):
    """metafor's leave1out() refuses rma.mv models: the reference refits rma.mv (and
    clubSandwich CR2 through robust()) without each cluster in turn."""
    from compassmeta.analyses.sensitivity import leave_one_cluster_out

    data = FIXTURE["datasets"][reference["dataset"]]
    rows = leave_one_cluster_out(np.array(data["yi"]), np.array(data["vi"]), data["cluster"],
                                 rho=reference["rho"] or None, ci_method=ci_method)
    assert [row.omitted for row in rows] == [str(r["omitted"]) for r in reference["rows"]]
    for row, expected in zip(rows, reference["rows"]):
        assert row.k == expected["k"]
        close(row.estimate, expected["estimate"])
        close_variance([row.sigma2_between, row.sigma2_within], expected["sigma2"])
        prefix = "cr2_" if ci_method == "cr2" else ""
        close(row.se, expected[f"{prefix}se"])
        close_bounds([row.ci_lower, row.ci_upper],
                     [expected[f"{prefix}ci_lower"], expected[f"{prefix}ci_upper"]],
                     [expected["estimate"]] * 2)
        if ci_method == "cr2":
            close(row.df, expected["cr2_df"])
    by_cluster = {row.omitted: row for row in rows}
    ordered = [by_cluster[str(label)] for label in reference["influence_clusters"]]
    # Cook's D is a squared difference of nearly equal estimates: compared on the square-root
    # scale (|b - b without| / se), absolute 1e-8 where the difference is small
    close(np.sqrt([row.cook_d for row in ordered]), np.sqrt(reference["cook_d"]), atol=1e-8)
    close([row.dfbetas for row in ordered], reference["dfbetas"], atol=1e-8)


def test_leave_one_cluster_out_needs_three_clusters():
    from compassmeta.analyses.sensitivity import leave_one_cluster_out

    with pytest.raises(InputError, match="at least 3 clusters"):
        leave_one_cluster_out([0.1, 0.2, 0.3, 0.4], [0.01] * 4, ["a", "a", "b", "b"])


@pytest.mark.parametrize("reference", FIXTURE["variance_tests"],
                         ids=lambda r: f"{r['dataset']}-rho{r['rho']}-{r['method']}")
def test_variance_component_tests_match_metafor_anova(reference):
    """anova(full, reduced) of rma.mv fits with sigma2 = c(0, NA) and c(NA, 0)."""
    data = FIXTURE["datasets"][reference["dataset"]]
    result = pool(np.array(data["yi"]), np.array(data["vi"]), cluster=data["cluster"],
                  rho=reference["rho"] or None, method=reference["method"], variance_tests=True)
    close(result.log_likelihood, reference["logLik"])
    between, within = result.variance_tests
    for test, name in ((between, "between"), (within, "within")):
        assert test.component == name and test.df == 1
        close([test.lrt, test.p_value], [reference[f"lrt_{name}"], reference[f"p_{name}"]], atol=1e-7)
        close_variance([test.sigma2_between, test.sigma2_within], reference[f"sigma2_without_{name}"])


def test_variance_component_tests_need_a_cluster_and_skip_what_is_not_identified():
    with pytest.raises(InputError, match="--cluster"):
        pool([0.1, 0.3, 0.2], [0.01, 0.02, 0.03], variance_tests=True)
    singletons = pool([0.1, 0.3, 0.2, 0.5], [0.01, 0.02, 0.03, 0.02], cluster=["a", "b", "c", "d"],
                      variance_tests=True)
    assert singletons.variance_tests == ()
    one_cluster = pool([0.1, 0.3, 0.2, 0.5], [0.01, 0.02, 0.03, 0.02], cluster=["a"] * 4, variance_tests=True)
    assert [t.component for t in one_cluster.variance_tests] == ["within"]
