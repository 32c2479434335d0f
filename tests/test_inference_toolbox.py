"""metafor's inference toolbox at its current version (issue 25): values from
tests/fixtures/metafor_inference.json (scripts/metafor_inference_reference.R, metafor 5.1-12,
clubSandwich 0.5.8)."""
import json
from pathlib import Path

import numpy as np
import pytest

from compassmeta.analyses.failsafe import fail_safe_n, general_n
from compassmeta.common.errors import InputError

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "metafor_inference.json").read_text())
DATASETS = {d["name"]: d for d in FIXTURE["datasets"]}
RTOL = 1e-6


def close(actual, expected, rtol=RTOL, atol=1e-10):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=atol)


def data(name):
    d = DATASETS[name]
    return np.array(d["yi"]), np.array(d["vi"])


def test_fixture_is_current_metafor():
    assert FIXTURE["metafor_version"].startswith("5.1")
    assert FIXTURE["clubSandwich_version"] == "0.5.8"


@pytest.mark.parametrize("name", sorted(FIXTURE["fsn"]))
def test_fail_safe_n_every_type(name):
    expected = FIXTURE["fsn"][name]
    result = fail_safe_n(*data(name)).to_dict()
    for key in ("rosenthal", "fisher", "orwin", "orwin_weighted", "rosenberg"):
        assert result[key] == expected[key], key
    for key in ("rosenthal_p", "fisher_p", "orwin_target", "orwin_weighted_target", "rosenberg_p"):
        close(result[key], expected[key])
    # metafor's fsn() fits its model at rma()'s default convergence (threshold 1e-5)
    close(result["general_p"], expected["general_p"], rtol=1e-3)
    assert result["notes"] == []          # with the default target both Orwin numbers are k


@pytest.mark.parametrize("name", sorted(FIXTURE["fsn"]))
def test_orwin_at_a_target_weighted_as_metafor_4_4(name):
    expected = FIXTURE["fsn"][name]
    result = fail_safe_n(*data(name), target=expected["target"])
    assert result.orwin == expected["orwin_at_target"]
    assert result.orwin_weighted == expected["orwin_weighted_at_target"]
    if expected["orwin_at_target"] == expected["orwin_weighted_at_target"]:   # equal variances
        assert result.notes == ()
        return
    (note,) = result.notes
    assert f"metafor 3.x (unweighted mean) gave {result.orwin}" in note and "metafor >= 4.4" in note


@pytest.mark.parametrize("name", sorted(FIXTURE["fsn"]))
def test_general_fail_safe_n_from_metafors_fit(name):
    expected = FIXTURE["fsn"][name]
    yi, vi = data(name)
    assert general_n(yi, vi, expected["general_estimate"], expected["general_tau2"]) == expected["general"]


def pool_case_id(case):
    return f"{case['data']}-{case['method']}-{case['test']}"


@pytest.mark.parametrize("case", FIXTURE["pool"], ids=pool_case_id)
@pytest.mark.parametrize("tau2_ci", ["qprofile", "pl"])
def test_pool_fit_statistics_intervals_prediction(case, tau2_ci):
    from compassmeta.models.pooling import pool

    if tau2_ci == "pl" and case["method"] == "DL":
        with pytest.raises(InputError):
            pool(*data(case["data"]), method="DL", tau2_ci="pl")
        return
    if tau2_ci == "pl" and case["method"] == "FE":
        return                              # no tau^2 to profile
    yi, vi = data(case["data"])
    above = case["prob_above"]["above"]
    result = pool(yi, vi, method=case["method"], ci_method=case["test"], tau2_ci=tau2_ci, above=above,
                  blup_labels=[f"es{i}" for i in range(yi.size)]).to_dict()
    close([result[key] for key in case["fitstats"]], list(case["fitstats"].values()))
    expected = case["q_profile" if tau2_ci == "qprofile" else "profile_likelihood"]
    assert result["tau2_ci_method"] == {"qprofile": "Q-profile", "pl": "profile likelihood"}[tau2_ci]
    if case["method"] == "FE":          # metafor's confint() has no interval for a fixed-effect model
        assert expected is None and result["i2_ci_lower"] is None and result["h2_ci_upper"] is None
    else:
        close([result["tau2_ci_lower"], result["tau2_ci_upper"]], expected["tau2"])
        close([result["i2_ci_lower"], result["i2_ci_upper"]], expected["i2"])
        close([result["h2_ci_lower"], result["h2_ci_upper"]], expected["h2"])
    assert result["above"] == above
    close(result["prob_above"], case["prob_above"]["prob"])
    assert [b["es_id"] for b in result["blups"]] == [f"es{i}" for i in range(yi.size)]
    for key in ("estimate", "se", "pi_lower", "pi_upper"):
        close([b[key] for b in result["blups"]], case["blups"][key])


def metareg_case_id(case):
    return f"{case['data']}-{'+'.join(case['mods'])}-{case['method']}-{case['test']}"


def run_metareg(case):
    from compassmeta.models.moderators import meta_regression

    mods = DATASETS[case["data"]]["mods"]
    result = meta_regression(*data(case["data"]), {name: mods[name] for name in case["mods"]},
                             method=case["method"], ci_method=case["test"], drop=[case["drop"]],
                             btt=case["btt_names"], newmods=[p["values"] for p in case["predictions"]])
    return result.to_dict()


@pytest.mark.parametrize("case", FIXTURE["metareg"], ids=metareg_case_id)
def test_metareg_model_comparison(case):
    result = run_metareg(case)
    close([result[key] for key in case["fitstats"]], list(case["fitstats"].values()))
    lrt = result["lrt"]
    assert lrt["dropped"] == [case["drop"]] and lrt["df"] == case["lrt"]["df"]
    close([lrt["statistic"], lrt["p_value"], lrt["ll_full"], lrt["ll_reduced"]],
          [case["lrt"][key] for key in ("statistic", "p_value", "ll_full", "ll_reduced")])
    wald = result["btt_test"]
    assert wald["df"] == case["btt"]["df"] and len(wald["terms"]) == len(case["btt"]["terms"])
    close([wald["statistic"], wald["p_value"]], [case["btt"]["statistic"], case["btt"]["p_value"]])
    assert (wald["df2"] is None) == (case["btt"]["df2"] is None)
    if wald["df2"] is not None:
        close(wald["df2"], case["btt"]["df2"])
    keys = ("estimate", "se", "ci_lower", "ci_upper", "pi_lower", "pi_upper")
    for got, expected in zip(result["predictions"], case["predictions"], strict=True):
        assert got["values"] == expected["values"]
        close([got[key] for key in keys], [expected[key] for key in keys])


@pytest.mark.parametrize("case", [c for c in FIXTURE["metareg"] if "marginal_means" in c],
                         ids=metareg_case_id)
def test_marginal_means_and_holm_contrasts(case):
    result = run_metareg(case)
    factor = case["marginal_means"]["moderator"]
    means = [m for m in result["marginal_means"] if m["moderator"] == factor]
    assert [m["level"] for m in means] == case["marginal_means"]["levels"]
    for key in ("estimate", "se", "ci_lower", "ci_upper"):
        close([m[key] for m in means], case["marginal_means"][key])
    contrasts = [c for c in result["contrasts"] if c["moderator"] == factor]
    assert [c["label"] for c in contrasts] == case["contrasts"]["label"]
    for key in ("estimate", "se", "statistic", "p_value", "p_holm"):
        close([c[key] for c in contrasts], case["contrasts"][key])


def test_three_level_blups():
    """BLUPs of Konstantopoulos (2011): metafor fitted() + ranef() of district and school; the SE
    from the mixed-model prediction-error variance (computed in the reference script)."""
    from compassmeta.models.pooling import pool

    case = FIXTURE["three_level_blups"]
    labels = [str(i) for i in range(len(case["yi"]))]
    result = pool(case["yi"], case["vi"], cluster=case["cluster"], blup_labels=labels)
    close([result.sigma2_between, result.sigma2_within], case["sigma2"], rtol=1e-6)
    close([b.estimate for b in result.blups], case["estimate"])
    close([b.se for b in result.blups], case["se"])
    crit = 1.959963984540054
    close([b.pi_upper - b.estimate for b in result.blups], crit * np.array(case["se"]))


def cli_json(*args):
    from click.testing import CliRunner

    from compassmeta.cli import main

    result = CliRunner().invoke(main, [*map(str, args), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


THIRDWAVE = Path(__file__).parents[1] / "studies" / "thirdwave.csv"


def test_cli_pool_pl_interval_share_above_and_blups():
    case = next(c for c in FIXTURE["pool"]
                if (c["data"], c["method"], c["test"]) == ("thirdwave", "REML", "z"))
    above = case["prob_above"]["above"]
    d = cli_json("pool", THIRDWAVE, "--yi", "g", "--sei", "se", "--tau2-ci", "pl", "--above", above, "--blup")
    assert d["tau2_ci_method"] == "profile likelihood"
    close([d["tau2_ci_lower"], d["tau2_ci_upper"]], case["profile_likelihood"]["tau2"])
    close([d["i2_ci_lower"], d["i2_ci_upper"]], case["profile_likelihood"]["i2"])
    close([d[key] for key in case["fitstats"]], list(case["fitstats"].values()))
    assert d["above"] == above
    close(d["prob_above"], case["prob_above"]["prob"])
    assert d["blups"][0]["es_id"] == "thirdwave-call"
    close([b["estimate"] for b in d["blups"]], case["blups"]["estimate"])
    close([b["pi_upper"] for b in d["blups"]], case["blups"]["pi_upper"])


def test_cli_metareg_drop_btt_newmods_contrasts():
    case = next(c for c in FIXTURE["metareg"] if (c["data"], c["mods"], c["method"], c["test"])
                == ("thirdwave", ["intervention"], "REML", "knha"))
    d = cli_json("metareg", THIRDWAVE, "--yi", "g", "--sei", "se", "--mods", "intervention",
                 "--ci-method", "knha", "--drop", "intervention", "--btt", "intervention",
                 "--newmods", "intervention=PCI")
    close([d["lrt"]["statistic"], d["lrt"]["p_value"]], [case["lrt"]["statistic"], case["lrt"]["p_value"]])
    close([d["btt_test"]["statistic"], d["btt_test"]["df2"], d["btt_test"]["p_value"]],
          [case["btt"]["statistic"], case["btt"]["df2"], case["btt"]["p_value"]])
    (prediction,) = d["predictions"]
    assert prediction["values"] == {"intervention": "PCI"}
    close(prediction["pi_lower"], case["predictions"][0]["pi_lower"])
    close([c["p_holm"] for c in d["contrasts"]], case["contrasts"]["p_holm"])


@pytest.mark.parametrize("args, message", [
    (["--newmods", "intervention=yoga"], "not a level"),
    (["--newmods", "intervention"], "COL=VALUE"),
    (["--newmods", "intervention=PCI,format=group"], "not a moderator"),
    (["--drop", "format"], "not a moderator"),
    (["--btt", "format"], "no model term"),
])
def test_cli_metareg_bad_options_are_one_line_errors(args, message):
    from click.testing import CliRunner

    from compassmeta.cli import main

    result = CliRunner().invoke(main, ["metareg", str(THIRDWAVE), "--yi", "g", "--sei", "se",
                                       "--mods", "intervention", *args])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


INFLUENCE_KEYS = ("rstudent", "rstandard", "dffits", "cook_d", "cov_r", "tau2_del", "qe_del", "hat", "weight")


@pytest.mark.parametrize("case", [c for c in FIXTURE["metareg"] if "influence" in c], ids=metareg_case_id)
def test_meta_regression_influence(case):
    from compassmeta.analyses.sensitivity import regression_influence

    mods = DATASETS[case["data"]]["mods"]
    report = regression_influence(*data(case["data"]), {name: mods[name] for name in case["mods"]},
                                  method=case["method"], ci_method=case["test"])
    expected = case["influence"]
    for key in INFLUENCE_KEYS:
        close([row.to_dict()[key] for row in report.influence], expected[key])
    close([list(row.dfbetas.values()) for row in report.influence], np.array(expected["dfbetas"]).T)
    assert [row.influential for row in report.influence] == expected["influential"]
    assert list(report.influence[0].dfbetas) == list(report.terms)


def test_cli_sensitivity_mods_json_and_csv():
    case = next(c for c in FIXTURE["metareg"] if (c["data"], c["mods"], c["test"])
                == ("thirdwave", ["risk_of_bias", "intervention_duration"], "z") and "influence" in c)
    d = cli_json("sensitivity", THIRDWAVE, "--yi", "g", "--sei", "se", "--mods", "risk_of_bias",
                 "--mods", "intervention_duration")
    assert d["influence"][0]["study"] == "thirdwave-call"
    close([row["cook_d"] for row in d["influence"]], case["influence"]["cook_d"])
    close([row["dfbetas"]["intervention_duration[short]"] for row in d["influence"]],
          case["influence"]["dfbetas"][2])
    from click.testing import CliRunner

    from compassmeta.cli import main

    csv = CliRunner().invoke(main, ["sensitivity", str(THIRDWAVE), "--yi", "g", "--sei", "se", "--mods",
                                    "risk_of_bias", "--format", "csv"]).output
    assert "dfbetas_risk_of_bias[low]" in csv.splitlines()[0]


ROBUST_CASES = [(c, kind) for c in FIXTURE["pool"] + [m for m in FIXTURE["metareg"] if "robust" in m]
                for kind in ("CR0", "CR1", "CR2")]


@pytest.mark.parametrize("case, kind", ROBUST_CASES,
                         ids=[f"{c['data']}-{'+'.join(c.get('mods', []))}-{c['method']}-{c['test']}-{kind}"
                              for c, kind in ROBUST_CASES])
def test_robust_errors_of_univariate_models(case, kind):
    """clubSandwich 0.5.8 through metafor robust(cluster = 1:k, clubSandwich = TRUE, vcov = kind)."""
    from compassmeta.models.moderators import meta_regression
    from compassmeta.models.pooling import pool

    yi, vi = data(case["data"])
    options = dict(method=case["method"], ci_method=case["test"], robust=kind)
    if "mods" in case:
        mods = DATASETS[case["data"]]["mods"]
        result = meta_regression(yi, vi, {name: mods[name] for name in case["mods"]}, **options)
    else:
        result = pool(yi, vi, **options)
    robust = result.to_dict()["robust"]
    assert robust["type"] == kind
    for key in ("estimate", "se", "df", "p_value", "ci_lower", "ci_upper"):
        close([c[key] for c in robust["coefficients"]], np.atleast_1d(case["robust"][kind][key]))


@pytest.mark.parametrize("case", [c for c in FIXTURE["pool"] if "hc" in c], ids=pool_case_id)
def test_henmi_copas_interval(case):
    from compassmeta.analyses.bias import bias_report
    from compassmeta.analyses.henmi_copas import henmi_copas

    result = henmi_copas(*data(case["data"])).to_dict()
    close([result[key] for key in case["hc"]], list(case["hc"].values()))
    report = bias_report(*data(case["data"])).to_dict()
    close(report["henmi_copas"]["ci_upper"], case["hc"]["ci_upper"])


def test_cli_bias_json_fail_safe_n_and_henmi_copas():
    expected = FIXTURE["fsn"]["thirdwave"]
    d = cli_json("bias", THIRDWAVE)
    fsn = d["fail_safe_n"]
    at_target = cli_json("bias", THIRDWAVE, "--fsn-target", expected["target"])["fail_safe_n"]
    assert (at_target["orwin"], at_target["orwin_weighted"]) == (expected["orwin_at_target"],
                                                                  expected["orwin_weighted_at_target"])
    assert {"rosenthal", "orwin", "orwin_weighted", "rosenberg", "fisher", "general"} <= set(fsn)
    for key in ("rosenthal", "fisher", "orwin", "orwin_weighted", "rosenberg", "general"):
        assert fsn[key] == expected[key], key
    hc = next(c for c in FIXTURE["pool"] if c["data"] == "thirdwave" and "hc" in c)["hc"]
    close([d["henmi_copas"]["ci_lower"], d["henmi_copas"]["ci_upper"]], [hc["ci_lower"], hc["ci_upper"]])


def test_cli_pool_robust_and_refusals_with_clusters():
    case = next(c for c in FIXTURE["pool"]
                if (c["data"], c["method"], c["test"]) == ("thirdwave", "REML", "z"))
    d = cli_json("pool", THIRDWAVE, "--robust", "CR1")
    close(d["robust"]["coefficients"][0]["se"], case["robust"]["CR1"]["se"])
    from click.testing import CliRunner

    from compassmeta.cli import main

    result = CliRunner().invoke(main, ["pool", str(THIRDWAVE), "--cluster", "study_id", "--tau2-ci", "pl"])
    assert result.exit_code != 0 and "independent effects" in result.output


@pytest.mark.parametrize("expected", FIXTURE["three_level_blups"]["prob_above"], ids=lambda e: e["test"])
def test_three_level_share_above(expected):
    from compassmeta.models.pooling import pool

    case = FIXTURE["three_level_blups"]
    result = pool(case["yi"], case["vi"], cluster=case["cluster"], ci_method=expected["test"],
                  above=expected["above"])
    assert result.above == expected["above"]
    close(result.prob_above, expected["prob"])
