"""Issue 25's leftovers against metafor 5.1-12 and clubSandwich 0.5.8: the robust (CR0, CR1, CR2)
moderator test of univariate meta-regressions, --btt, --newmods and --drop for the multilevel model
(tests/fixtures/metafor_infer_gaps.json, scripts/metafor_infer_gaps_reference.R), and the JSON key
names the issue lists, with their values (metafor_inference.json, metafor_tau2.json)."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
GAPS = json.loads((FIXTURES / "metafor_infer_gaps.json").read_text())
INFERENCE = json.loads((FIXTURES / "metafor_inference.json").read_text())
MULTILEVEL = json.loads((FIXTURES / "metafor_multilevel.json").read_text())["datasets"]
THIRDWAVE = Path(__file__).parents[1] / "studies" / "thirdwave.csv"


def close(actual, expected, rtol=1e-6, atol=1e-10):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=atol)


def cli_json(*args):
    from click.testing import CliRunner

    from compassmeta.cli import main

    result = CliRunner().invoke(main, [*map(str, args), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_fixture_is_current_metafor():
    assert GAPS["metafor_version"].startswith("5.1")
    assert GAPS["clubSandwich_version"] == "0.5.8"


@pytest.mark.parametrize("case", GAPS["robust_tests"],
                         ids=lambda c: f"{c['data']}-{'+'.join(c['mods'])}-{c['test']}-{c['type']}")
def test_robust_moderator_test_of_univariate_models(case):
    """metafor robust(cluster = 1:k, clubSandwich = TRUE, vcov = type): clubSandwich's HTZ test."""
    from compassmeta.models.moderators import meta_regression

    d = next(d for d in INFERENCE["datasets"] if d["name"] == case["data"])
    result = meta_regression(d["yi"], d["vi"], {name: d["mods"][name] for name in case["mods"]},
                             method=case["method"], ci_method=case["test"], robust=case["type"]).robust
    assert result.type == case["type"] and result.qm_df == case["df"]
    close([result.qm, result.qm_df2, result.qm_p], [case["statistic"], case["df2"], case["p_value"]])


def _multilevel(case, ci_method, **options):
    from compassmeta.models.moderators import meta_regression

    d = MULTILEVEL[case["data"]]
    return meta_regression(d["yi"], d["vi"], {name: d["mods"][name] for name in case["mods"]},
                           cluster=d["cluster"], rho=case["rho"] or None, method=case["method"],
                           ci_method=ci_method, **options)


def _ml_id(case):
    return f"{case['data']}-rho{case['rho']}-{case['method']}-{case['test']}"


@pytest.mark.parametrize("case", GAPS["multilevel"], ids=_ml_id)
def test_multilevel_btt_newmods_drop(case):
    """rma.mv: anova(btt =), predict(newmods =) and anova(full, reduced) of ML fits."""
    result = _multilevel(case, case["test"], btt=case["btt"]["names"], drop=case["lrt"]["dropped"],
                         newmods=[p["values"] for p in case["predictions"]])
    close([c.estimate for c in result.coefficients], case["beta"])
    wald = result.btt_test
    assert (len(wald.terms), wald.df) == (len(case["btt"]["terms"]), case["btt"]["df"])
    assert (wald.df2 is None) == (case["btt"]["df2"] is None)
    close([wald.statistic, wald.p_value] + ([wald.df2] if wald.df2 is not None else []),
          [case["btt"]["statistic"], case["btt"]["p_value"]] + ([case["btt"]["df2"]] if wald.df2 else []))
    keys = ("estimate", "se", "ci_lower", "ci_upper", "pi_lower", "pi_upper")
    for prediction, expected in zip(result.predictions, case["predictions"], strict=True):
        assert prediction.values == expected["values"]
        # a bound is estimate -/+ c se: one near 0 (konstantopoulos2011 ci_lower -3e-4 from 0.22 and
        # 0.11) cancels digits, so bounds are compared at 1e-6 of the se, not of themselves
        close([getattr(prediction, key) for key in keys], [expected[key] for key in keys],
              atol=1e-6 * expected["se"])
    lrt = result.lrt
    assert lrt.df == case["lrt"]["df"]
    close([lrt.statistic, lrt.p_value, lrt.ll_full, lrt.ll_reduced],
          [case["lrt"][key] for key in ("statistic", "p_value", "ll_full", "ll_reduced")])


@pytest.mark.parametrize("case", [c for c in GAPS["multilevel"] if c["test"] == "z"], ids=_ml_id)
def test_multilevel_btt_under_cr2_is_clubsandwich_htz(case):
    wald = _multilevel(case, "cr2", btt=case["btt"]["names"]).btt_test
    assert wald.df == case["btt_cr2"]["df"]
    close([wald.statistic, wald.df2, wald.p_value],
          [case["btt_cr2"][key] for key in ("statistic", "df2", "p_value")])


def _assink_csv(tmp_path):
    d = MULTILEVEL["assink2016"]
    path = tmp_path / "assink2016.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["es_id", "yi", "vi", "study", "year", "deltype"])
        for row in zip(range(1, len(d["yi"]) + 1), d["yi"], d["vi"], d["cluster"], d["mods"]["year"],
                       d["mods"]["deltype"]):
            writer.writerow([repr(x) if isinstance(x, float) else x for x in row])
    return path


def test_cli_metareg_cluster_drop_btt_newmods(tmp_path):
    case = next(c for c in GAPS["multilevel"]
                if (c["data"], c["rho"], c["method"], c["test"]) == ("assink2016", 0.6, "REML", "t"))
    values = case["predictions"][0]["values"]
    d = cli_json("metareg", _assink_csv(tmp_path), "--cluster", "study", "--rho", 0.6, "--ci-method", "t",
                 "--mods", "year", "--mods", "deltype", "--drop", "deltype", "--btt", "deltype",
                 "--newmods", ",".join(f"{k}={v}" for k, v in values.items()))
    assert set(d["lrt"]) >= {"statistic", "df", "p_value", "dropped"} and d["lrt"]["dropped"] == ["deltype"]
    close([d["lrt"]["statistic"], d["lrt"]["p_value"]], [case["lrt"]["statistic"], case["lrt"]["p_value"]])
    assert set(d["btt_test"]) >= {"statistic", "df", "df2", "p_value"}
    close([d["btt_test"][key] for key in ("statistic", "df2", "p_value")],
          [case["btt"][key] for key in ("statistic", "df2", "p_value")])
    (prediction,) = d["predictions"]
    assert prediction["values"] == {key: str(value) for key, value in values.items()}   # as typed
    close([prediction[key] for key in ("estimate", "se", "ci_lower", "ci_upper", "pi_lower", "pi_upper")],
          [case["predictions"][0][key] for key in ("estimate", "se", "ci_lower", "ci_upper", "pi_lower",
                                                   "pi_upper")])


def test_cli_metareg_cluster_newmods_refused_under_cr2(tmp_path):
    from click.testing import CliRunner

    from compassmeta.cli import main

    result = CliRunner().invoke(main, ["metareg", str(_assink_csv(tmp_path)), "--cluster", "study",
                                       "--ci-method", "cr2", "--mods", "year", "--newmods", "year=1"])
    assert result.exit_code != 0 and "--ci-method z or t" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def _inference_case(kind, data, method, test, mods=None):
    return next(c for c in INFERENCE[kind] if (c["data"], c["method"], c["test"]) == (data, method, test)
                and c.get("mods") == mods)


def test_cli_json_keys_of_issue_25():
    """The exact key names issue 25 lists, each with metafor's value."""
    pooled = _inference_case("pool", "thirdwave", "REML", "z")
    above = pooled["prob_above"]["above"]
    d = cli_json("pool", THIRDWAVE, "--yi", "g", "--sei", "se", "--above", above, "--blup")
    se_tau2 = next(c for c in json.loads((FIXTURES / "metafor_tau2.json").read_text())["cases"]
                   if (c["data"], c["method"], c["mods"], c["weights"]) == ("thirdwave", "REML", None, None))
    close(d["tau2_se"], se_tau2["se_tau2"])
    assert d["tau2_ci_method"] == "Q-profile"
    close([d["i2_ci_lower"], d["i2_ci_upper"]], pooled["q_profile"]["i2"])
    close([d["h2_ci_lower"], d["h2_ci_upper"]], pooled["q_profile"]["h2"])
    for key, value in pooled["fitstats"].items():
        assert key in ("log_likelihood", "deviance", "aic", "bic", "aicc")
        close(d[key], value)
    assert d["above"] == above
    close(d["prob_above"], pooled["prob_above"]["prob"])
    assert set(d["blups"][0]) == {"es_id", "estimate", "se", "pi_lower", "pi_upper"}
    close([[b[key] for b in d["blups"]] for key in ("estimate", "se", "pi_lower", "pi_upper")],
          [pooled["blups"][key] for key in ("estimate", "se", "pi_lower", "pi_upper")])

    case = _inference_case("metareg", "thirdwave", "REML", "z", ["intervention"])
    d = cli_json("metareg", THIRDWAVE, "--yi", "g", "--sei", "se", "--mods", "intervention", "--drop",
                 "intervention", "--btt", "intervention", "--newmods", "intervention=PCI")
    assert set(d["lrt"]) >= {"statistic", "df", "p_value", "dropped"}
    close([d["lrt"][key] for key in ("statistic", "df", "p_value")],
          [case["lrt"][key] for key in ("statistic", "df", "p_value")])
    assert set(d["btt_test"]) >= {"statistic", "df", "df2", "p_value"} and d["btt_test"]["df2"] is None
    close([d["btt_test"]["statistic"], d["btt_test"]["p_value"]],
          [case["btt"]["statistic"], case["btt"]["p_value"]])
    assert set(d["predictions"][0]) == {"values", "estimate", "se", "ci_lower", "ci_upper", "pi_lower",
                                        "pi_upper"}
    close(d["predictions"][0]["pi_upper"], case["predictions"][0]["pi_upper"])
    close([m["estimate"] for m in d["marginal_means"]], case["marginal_means"]["estimate"])
    assert {"label", "estimate", "se", "statistic", "p_value", "p_holm"} <= set(d["contrasts"][0])
    close([c["p_holm"] for c in d["contrasts"]], case["contrasts"]["p_holm"])
    assert [c["label"] for c in d["contrasts"]] == case["contrasts"]["label"]

    fsn = cli_json("bias", THIRDWAVE)["fail_safe_n"]
    expected = INFERENCE["fsn"]["thirdwave"]
    for key in ("rosenthal", "orwin", "orwin_weighted", "rosenberg", "fisher", "general"):
        assert fsn[key] == expected[key], key


@pytest.mark.parametrize("args, message", [
    (["pool", "--tau2-ci", "pl"], "no profile-likelihood CIs of its sigma^2"),
    (["pool", "--robust", "CR2"], "--robust is for independent effects"),
    (["metareg", "--mods", "year", "--robust", "CR1"], "--robust is for independent effects"),
])
def test_cli_cluster_refusals_are_one_line(tmp_path, args, message):
    from click.testing import CliRunner

    from compassmeta.cli import main

    command, *rest = args
    result = CliRunner().invoke(main, [command, str(_assink_csv(tmp_path)), "--cluster", "study", *rest])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
