"""The command line for dependent effect sizes: --cluster, --rho, --ci-method t|cr2."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from compassmeta.cli import main

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "metafor_multilevel.json").read_text())
PROJECT = Path(__file__).resolve().parents[1]
POOL_KEYS = ["estimate", "se", "ci_lower", "ci_upper", "p_value", "pi_lower", "pi_upper",
             "sigma2_between", "sigma2_within", "i2_between", "i2_within", "q", "q_df", "q_p", "k",
             "n_clusters"]


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def case(dataset, rho, method, mods):
    return next(c for c in FIXTURE["cases"] if c["dataset"] == dataset and c["rho"] == rho
                and c["method"] == method and (c["mods"] or []) == mods)


@pytest.fixture
def assink_csv(tmp_path):
    data = FIXTURE["datasets"]["assink2016"]
    rows = ["yi,vi,study,year,deltype"] + [
        f"{y!r},{v!r},{c},{year!r},{d}" for y, v, c, year, d in
        zip(data["yi"], data["vi"], data["cluster"], data["mods"]["year"], data["mods"]["deltype"])]
    path = tmp_path / "assink.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_pool_cluster_rho_cr2_json_matches_clubsandwich(assink_csv):
    expected = case("assink2016", 0.6, "REML", [])
    code, out, _ = run("pool", assink_csv, "--cluster", "study", "--rho", "0.6", "--ci-method", "cr2",
                       "--format", "json")
    assert code == 0
    result = json.loads(out)
    assert set(POOL_KEYS) <= set(result)
    np.testing.assert_allclose(
        [result[key] for key in ("estimate", "se", "df", "ci_lower", "ci_upper", "p_value", "pi_lower",
                                 "pi_upper", "sigma2_between", "sigma2_within", "q")],
        [expected["beta"], expected["cr2_se"], expected["cr2_df"], expected["cr2_ci_lb"],
         expected["cr2_ci_ub"], expected["cr2_p"], expected["cr2_pi_lb"], expected["cr2_pi_ub"],
         *expected["sigma2"], expected["QE"]], rtol=1e-6)
    assert (result["k"], result["n_clusters"]) == (100, 17)


def test_metareg_cluster_htz_json_matches_clubsandwich(assink_csv):
    expected = case("assink2016", 0.0, "REML", ["year", "deltype"])
    code, out, _ = run("metareg", assink_csv, "--cluster", "study", "--mods", "year", "--mods", "deltype",
                       "--ci-method", "cr2", "--format", "json")
    assert code == 0
    result = json.loads(out)
    np.testing.assert_allclose([c["se"] for c in result["coefficients"]], expected["cr2_se"], rtol=1e-6)
    np.testing.assert_allclose([c["df"] for c in result["coefficients"]], expected["cr2_df"], rtol=1e-6)
    np.testing.assert_allclose([result["qm"], result["qm_df"], result["qm_df2"], result["qm_p"]],
                               [expected["htz_F"], expected["htz_df_num"], expected["htz_df_denom"],
                                expected["htz_p"]], rtol=1e-6)


def test_pool_table_prints_variance_components(assink_csv):
    code, out, _ = run("pool", assink_csv, "--cluster", "study", "--ci-method", "t")
    assert code == 0
    assert "Variance components" in out and "nlvls" in out
    assert "sigma^2 between clusters  0.1879  0.4334     17" in out


def test_missing_cluster_value_is_one_line_naming_the_row(tmp_path):
    path = tmp_path / "missing.csv"
    path.write_text("yi,vi,trial\n0.1,0.02,a\n0.3,0.03,a\n0.2,0.02,\n0.5,0.04,b\n")
    code, out, err = run("pool", path, "--cluster", "trial")
    assert code == 2
    assert err.strip() == f"Error: {path}, row 3, column 'trial': value is missing"


@pytest.mark.parametrize("args, message", [
    (["--ci-method", "cr2"], "give the cluster column"),
    (["--rho", "0.5"], "needs a cluster"),
    (["--cluster", "study", "--ci-method", "knha"], "independent effects only"),
])
def test_options_that_need_a_cluster_are_refused(assink_csv, args, message):
    code, _, err = run("pool", assink_csv, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_shared_trials_warning_on_the_study_table():
    trials = PROJECT / "studies" / "trials.csv"
    code, _, err = run("pool", trials)
    assert code == 0
    assert "rows come from" in err and "--cluster study_id" in err
    code, out, err = run("pool", trials, "--cluster", "study_id", "--format", "json")
    assert code == 0 and "rows come from" not in err
    assert json.loads(out)["n_clusters"] < json.loads(out)["k"]


@pytest.mark.parametrize("command", [["bias"], ["sensitivity"]])
def test_other_commands_warn_about_shared_trials(command):
    code, _, err = run(*command, PROJECT / "studies" / "trials.csv")
    assert code == 0 and "--cluster study_id" in err


def test_subgroup_cluster_json_matches_metafor_per_group(assink_csv):
    code, out, _ = run("subgroup", assink_csv, "--by", "deltype", "--cluster", "study", "--rho", "0.8",
                       "--ci-method", "t", "--format", "json")
    assert code == 0
    groups = {g["group"]: g["result"] for g in json.loads(out)["groups"]}
    expected = case("assink2016_general", 0.8, "REML", [])
    np.testing.assert_allclose([groups["general"]["estimate"], groups["general"]["ci_lower"]],
                               [expected["beta"], expected["ci_lb_t"]], rtol=1e-6)
    assert "one cluster" in groups["covert"]["notes"][0]
