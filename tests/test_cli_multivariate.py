"""compassmeta mvmeta: the CLI over the multivariate model, against metafor's values for
Berkey et al. (1998) (tests/fixtures/metafor_multivariate.json)."""
import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from compassmeta.cli import main

FIXTURE = json.loads(open("tests/fixtures/metafor_multivariate.json").read())
BERKEY = next(c for c in FIXTURE["cases"] if c["name"] == "berkey1998_UN" and c["method"] == "REML")


@pytest.fixture
def berkey_files(tmp_path):
    data, pairs = tmp_path / "berkey.csv", tmp_path / "pairs.csv"
    with open(data, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["es_id", "trial", "outcome", "yi", "vi"])
        for i, row in enumerate(zip(BERKEY["cluster"], BERKEY["inner"], BERKEY["yi"], BERKEY["vi"])):
            writer.writerow([f"e{i + 1}", *row])
    with open(pairs, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["es_id_1", "es_id_2", "cov"])
        for i, j, cov in BERKEY["pairs"]:
            writer.writerow([f"e{int(i)}", f"e{int(j)}", repr(cov)])
    return data, pairs


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_json_matches_metafor(berkey_files):
    data, pairs = berkey_files
    result = run("mvmeta", data, "--cluster", "trial", "--inner", "outcome", "--struct", "UN",
                 "--vcov", pairs,
                 "--mods", "outcome", "--no-intercept", "--contrast", "PD-AL", "--format", "json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert [c["term"] for c in d["coefficients"]] == ["outcome[AL]", "outcome[PD]"]
    assert np.allclose([c["estimate"] for c in d["coefficients"]],
                       [c["estimate"] for c in BERKEY["coefficients"]], rtol=1e-6)
    assert np.allclose(d["tau2"] + d["rho"], BERKEY["tau2"] + [BERKEY["rho"]], rtol=1e-6)
    assert np.allclose(d["contrasts"][0]["se"], BERKEY["contrasts"][0]["se"], rtol=1e-6)


def test_text_is_laid_out_as_metafor(berkey_files):
    data, pairs = berkey_files
    result = run("mvmeta", data, "--cluster", "trial", "--inner", "outcome", "--struct", "UN",
                 "--vcov", pairs,
                 "--mods", "outcome", "--no-intercept")
    assert result.exit_code == 0, result.output
    for line in ("Multivariate Meta-Analysis Model (k = 10; method: REML)", "QE(df = 8) = 128.2267",
                 "QM(df = 2) = 108.8616", "inner factor: outcome  (nlvls = 2)"):
        assert line in result.output


def test_csv_lists_coefficients(berkey_files):
    data, pairs = berkey_files
    result = run("mvmeta", data, "--cluster", "trial", "--inner", "outcome", "--struct", "HCS",
                 "--vcov", pairs,
                 "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("term,estimate,se")


def test_refusal_is_one_line(berkey_files):
    data, _ = berkey_files
    result = run("mvmeta", data, "--cluster", "trial", "--inner", "outcome", "--struct", "CAR")
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: struct CAR needs the time of every row (--time, or a numeric "
                                     "inner column)")


def test_phi_and_time_columns_build_ishak_v(tmp_path):
    """--phi 0.97 --time time: metafor vcalc(vi, study, time1 = time, phi = 0.97) and struct AR."""
    case = next(c for c in FIXTURE["cases"] if c["name"] == "ishak2007_AR" and c["method"] == "REML")
    data = tmp_path / "ishak.csv"
    with open(data, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["study", "time", "yi", "vi"])
        writer.writerows(zip(case["cluster"], case["time"], case["yi"], case["vi"]))
    result = run("mvmeta", data, "--cluster", "study", "--inner", "time", "--time", "time", "--phi", "0.97",
                 "--struct", "AR", "--mods", "time", "--no-intercept", "--format", "json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert [c["term"] for c in d["coefficients"]] == ["time[1]", "time[2]", "time[3]", "time[4]"]
    assert np.allclose(d["tau2"] + d["rho"], [case["tau2"], case["rho"]], rtol=1e-6)


def _assink_file(tmp_path, case):
    data = tmp_path / "assink.csv"
    with open(data, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["study", "row", "deltype", "yi", "vi"])
        writer.writerows(zip(case["nested_values"]["study"], case["nested_values"]["row"], case["inner"],
                             case["yi"], case["vi"]))
    return data


def test_nested_term_matches_metafor(tmp_path):
    """--nested study/row: rma.mv(random = list(~ deltype | study, ~ 1 | study/row), struct = "ID")."""
    case = next(c for c in FIXTURE["cases"] if c["name"] == "assink2016_ID_study_row" and c["method"] == "ML")
    data = _assink_file(tmp_path, case)
    result = run("mvmeta", data, "--cluster", "study", "--inner", "deltype", "--struct", "ID",
                 "--nested", "study/row", "--method", "ML", "--format", "json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert np.allclose(d["sigma2"] + d["tau2"], case["sigma2"] + [case["tau2"]], rtol=1e-6)
    assert np.allclose(d["log_likelihood"], case["log_likelihood"], rtol=1e-9)
    assert [p["level"] for p in d["predictions"]] == ["covert", "general", "overt"]
    assert np.allclose([p["pi_upper"] for p in d["predictions"]],
                       [p["pi_upper"] for p in case["predictions"]], rtol=1e-6)
    text = run("mvmeta", data, "--cluster", "study", "--inner", "deltype", "--struct", "ID",
               "--nested", "study/row", "--method", "ML").output
    assert "sigma^2.2  0.0871  0.2952    100     no  study/row" in text
    assert "sigma^2.1  0.1130  0.3361     17     no      study" in text


def test_nested_term_crossing_clusters_is_refused(tmp_path):
    case = next(c for c in FIXTURE["cases"] if c["name"] == "assink2016_ID_study_row" and c["method"] == "ML")
    data = _assink_file(tmp_path, case)
    result = run("mvmeta", data, "--cluster", "study", "--inner", "deltype", "--struct", "ID",
                 "--nested", "deltype")
    assert result.exit_code == 2
    assert "lies in two clusters" in result.output and "column 'deltype'" in result.output
