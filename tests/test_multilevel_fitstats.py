"""Fit statistics (logLik, deviance, AIC, BIC, AICc) of the three-level and CHE fits against
metafor 5.1 fitstats() of rma.mv, ML and REML, with and without moderators.

Fixture: scripts/metafor_multilevel_fitstats.R -> tests/fixtures/metafor_multilevel_fitstats.json
(data sets of tests/fixtures/metafor_multilevel.json, and studies/trials.csv clustered by study_id).
"""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.models.moderators import meta_regression
from compassmeta.models.pooling import pool

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = json.loads((FIXTURES / "metafor_multilevel_fitstats.json").read_text())
DATA = json.loads((FIXTURES / "metafor_multilevel.json").read_text())["datasets"]
TRIALS = Path(__file__).resolve().parents[1] / "studies" / "trials.csv"
KEYS = {"log_likelihood": "logLik", "deviance": "deviance", "aic": "AIC", "bic": "BIC", "aicc": "AICc"}
RTOL = 1e-6


def as_list(value):
    return value if isinstance(value, list) else [value]


def case_id(case):
    mods = "+".join(as_list(case["mods"])) or "intercept"
    return f"{case['dataset']}-rho{case['rho']}-{case['method']}-{mods}"


def expected(case):
    return [case[name] for name in KEYS.values()]


def test_fixture_is_current_metafor_and_covers_both_methods_and_rho():
    assert REFERENCE["metafor"].startswith("5.1")
    cases = REFERENCE["cases"]
    assert {(c["rho"], c["method"]) for c in cases} == {(0, "ML"), (0, "REML"), (0.6, "ML"), (0.6, "REML")}
    datasets = {"konstantopoulos2011", "assink2016", "assink2016_covert", "trials"}
    assert {c["dataset"] for c in cases} == datasets


@pytest.mark.parametrize("case", [c for c in REFERENCE["cases"] if c["dataset"] != "trials"], ids=case_id)
def test_fit_statistics_match_metafor_fitstats(case):
    data = DATA[case["dataset"]]
    categorical = as_list(case["categorical"])
    mods = {name: [str(x) for x in data["mods"][name]] if name in categorical else data["mods"][name]
            for name in as_list(case["mods"])}
    options = dict(cluster=data["cluster"], rho=case["rho"], method=case["method"])
    yi, vi = np.array(data["yi"]), np.array(data["vi"])
    result = meta_regression(yi, vi, mods, **options) if mods else pool(yi, vi, **options)
    assert result.k == case["k"]
    np.testing.assert_allclose([getattr(result, key) for key in KEYS], expected(case), rtol=RTOL)


def test_one_cluster_counts_no_between_cluster_parameter():
    """metafor fixes a single-level factor's sigma^2 at 0: parms = p + 1, so AIC = -2 ll + 4."""
    case = next(c for c in REFERENCE["cases"] if c["dataset"] == "assink2016_covert")
    assert case["parms"] == 2 and case["sigma2_fix"] == [True, False]
    data = DATA["assink2016_covert"]
    result = pool(np.array(data["yi"]), np.array(data["vi"]), cluster=data["cluster"], rho=case["rho"],
                  method=case["method"])
    assert result.aic == pytest.approx(-2 * result.log_likelihood + 4, rel=1e-12)


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("case", [c for c in REFERENCE["cases"] if c["dataset"] == "trials"], ids=case_id)
def test_cli_json_on_the_trials_matches_metafor(case):
    """`pool`/`metareg studies/trials.csv --cluster study_id` (yi, vi by metafor escalc in the script)."""
    command = ["metareg", TRIALS, "--mods", "year"] if as_list(case["mods"]) else ["pool", TRIALS]
    d = json.loads(run(*command, "--cluster", "study_id", "--rho", case["rho"], "--method",
                       case["method"].lower(), "--allow-mixed", "--format", "json"))
    assert d["k"] == case["k"] == 13 and d["method"] == case["method"]
    np.testing.assert_allclose([d[key] for key in KEYS], expected(case), rtol=RTOL)


@pytest.mark.parametrize("command", [["pool"], ["metareg", "--mods", "year"]])
def test_text_output_prints_the_fit_statistics(command):
    case = next(c for c in REFERENCE["cases"] if c["dataset"] == "trials" and c["rho"] == 0.6
                and c["method"] == "ML" and as_list(c["mods"]) == command[2:])
    text = run(command[0], TRIALS, *command[1:], "--cluster", "study_id", "--rho", 0.6, "--method", "ml",
               "--allow-mixed")
    line = next(line for line in text.splitlines() if line.startswith("Fit (ML): logLik"))
    assert f"AICc {case['AICc']:.4f}" in line and f"deviance {case['deviance']:.4f}" in line
