"""`compassmeta bias` and `compassmeta sensitivity`: JSON keys and values against metafor."""
import json

import pytest
from click.testing import CliRunner

from compassmeta.cli import main

from conftest import PROJECT, assert_close, load_fixture

REFERENCE = load_fixture("metafor_bias.json")
BCG = next(d for d in REFERENCE["datasets"] if d["name"] == "bcg")
BCG_REML = next(c for c in REFERENCE["cases"] if c["data"] == "bcg" and c["method"] == "REML")


@pytest.fixture
def bcg_csv(tmp_path):
    path = tmp_path / "bcg.csv"
    path.write_text("trial,yi,vi\n" + "".join(f"trial {i + 1},{y!r},{v!r}\n"
                                               for i, (y, v) in enumerate(zip(BCG["yi"], BCG["vi"]))))
    return path


def run_json(*args):
    result = CliRunner().invoke(main, [str(a) for a in args] + ["--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_bias_json(bcg_csv):
    result = run_json("bias", bcg_csv)
    assert {"egger", "rank_correlation", "trim_and_fill", "pet_peese", "fail_safe_n"} <= set(result)
    egger = BCG_REML["egger_lm"]
    assert_close(result["egger"]["intercept"], egger["coefficient"], "egger intercept")
    assert_close(result["egger"]["se"], egger["coefficient_se"], "egger se")
    assert_close(result["egger"]["statistic"], egger["statistic"], "egger statistic")
    assert_close(result["egger"]["p_value"], egger["p_value"], "egger p")
    assert_close(result["rank_correlation"]["tau"], BCG_REML["ranktest"]["tau"], "tau")
    assert_close(result["rank_correlation"]["p_value"], BCG_REML["ranktest"]["p_value"], "rank p")
    trimfill = BCG_REML["trimfill"][0]
    assert result["trim_and_fill"]["k0"] == trimfill["k0"] and result["trim_and_fill"]["side"] == trimfill["side"]
    for key in ["estimate", "se", "ci_lower", "ci_upper"]:
        assert_close(result["trim_and_fill"][key], trimfill[key], key)
    assert result["fail_safe_n"]["rosenthal"] == BCG_REML["fsn"]["rosenthal"]["n"]
    assert_close(result["pet_peese"]["pet"]["limit_estimate"], BCG_REML["egger_lm"]["limit_estimate"], "PET")
    assert_close(result["pet_peese"]["peese"]["limit_estimate"], BCG_REML["peese_lm"]["limit_estimate"], "PEESE")


def test_sensitivity_json(bcg_csv):
    result = run_json("sensitivity", bcg_csv, "--label", "trial")
    expected = BCG_REML["leave1out_z"]
    assert len(result["leave_one_out"]) == 13
    first = result["leave_one_out"][0]
    assert first["omitted"] == "trial 1"
    for key in ["estimate", "se", "ci_lower", "ci_upper", "tau2", "i2", "q"]:
        assert_close(first[key], expected[key][0], key)
    assert len(result["influence"]) == 13
    assert [row["influential"] for row in result["influence"]] == BCG_REML["influence_z"]["influential"]


def test_small_k_says_so_instead_of_printing_numbers(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("yi,vi\n0.2,0.04\n0.5,0.05\n")
    result = CliRunner().invoke(main, ["bias", str(path), "--format", "json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["egger"] is None and data["trim_and_fill"] is None
    assert any("need k >= 3" in note for note in data["notes"])
    assert "Warning: k = 2 < 10" in result.stderr


def test_study_table_by_outcome_and_control_type():
    table = PROJECT / "studies" / "trials.csv"
    result = run_json("bias", table, "--where", "outcome=anxiety", "--where", "control_type=passive")
    assert result["k"] == 5 and result["egger"] is not None
    sensitivity = run_json("sensitivity", table, "--where", "outcome=anxiety", "--where", "control_type=passive")
    assert [row["omitted"] for row in sensitivity["leave_one_out"]][0] == "koszycki2016-lsas-post"
