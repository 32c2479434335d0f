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
    filled = result["trim_and_fill"]
    assert filled["k0"] == trimfill["k0"] and filled["side"] == trimfill["side"]
    for key in ["estimate", "se", "ci_lower", "ci_upper"]:
        assert_close(result["trim_and_fill"][key], trimfill[key], key)
    assert result["fail_safe_n"]["rosenthal"] == BCG_REML["fsn"]["rosenthal"]["n"]
    pet_peese = result["pet_peese"]
    assert_close(pet_peese["pet"]["limit_estimate"], BCG_REML["egger_lm"]["limit_estimate"], "PET")
    assert_close(pet_peese["peese"]["limit_estimate"], BCG_REML["peese_lm"]["limit_estimate"], "PEESE")


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
    sensitivity = run_json("sensitivity", table, "--where", "outcome=anxiety",
                           "--where", "control_type=passive")
    assert [row["omitted"] for row in sensitivity["leave_one_out"]][0] == "koszycki2016-lsas-post"


MULTILEVEL = load_fixture("metafor_multilevel.json")


@pytest.mark.parametrize("rho", [None, 0.6])
def test_bias_with_cluster_runs_egger_multilevel_and_the_rest_on_composites(tmp_path, rho):
    """dat.assink2016 (100 effects in 17 studies): Egger's test with the multilevel model as
    rma.mv(mods = ~ sqrt(vi)) + clubSandwich CR2; the other analyses on metafor's
    aggregate(struct = "CS", weighted = FALSE) composites with r = rho (0.5 without rho)."""
    data = MULTILEVEL["datasets"]["assink2016"]
    path = tmp_path / "assink.csv"
    path.write_text("study,yi,vi\n" + "".join(f"{c},{y!r},{v!r}\n" for c, y, v in
                                              zip(data["cluster"], data["yi"], data["vi"])))
    extra = ["--rho", rho] if rho is not None else []
    result = run_json("bias", path, "--cluster", "study", "--ci-method", "cr2", *extra)
    model = next(c for c in MULTILEVEL["cases"] if c["dataset"] == "assink2016" and c["rho"] == (rho or 0)
                 and c["method"] == "REML" and c["mods"] == "sei")
    egger = result["egger_multilevel"]
    assert_close(egger["intercept"], model["beta"][1], "bias coefficient")
    assert_close(egger["se"], model["cr2_se"][1], "CR2 se")
    assert_close(egger["df"], model["cr2_df"][1], "Satterthwaite df")
    assert_close(egger["p_value"], model["cr2_p"][1], "CR2 p")
    assert egger["k"] == 100 and result["k"] == 17
    composite = next(a for a in MULTILEVEL["aggregated_bias"] if a["r"] == (rho or 0.5))
    assert_close(result["egger"]["p_value"], composite["egger_lm_p"], "Egger p on composites")
    assert_close(result["rank_correlation"]["tau"], composite["ranktest_tau"], "Kendall's tau")
    assert result["trim_and_fill"]["k0"] == composite["trimfill_k0"]
    assert_close(result["trim_and_fill"]["estimate"], composite["trimfill_beta"], "trim-and-fill")
    assert any("100 effects in 17 clusters" in note and "replaced by z" in note for note in result["notes"])


def test_bias_rho_without_cluster_is_refused_in_one_line(bcg_csv):
    result = CliRunner().invoke(main, ["bias", str(bcg_csv), "--rho", "0.6"])
    assert result.exit_code == 2 and "needs a cluster" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_sensitivity_with_cluster_leaves_each_cluster_out_of_the_multilevel_model(tmp_path):
    data = MULTILEVEL["datasets"]["assink2016"]
    path = tmp_path / "assink.csv"
    path.write_text("study,yi,vi\n" + "".join(f"s{c},{y!r},{v!r}\n" for c, y, v in
                                              zip(data["cluster"], data["yi"], data["vi"])))
    result = run_json("sensitivity", path, "--cluster", "study", "--rho", 0.6, "--ci-method", "cr2")
    reference = next(r for r in MULTILEVEL["leave_one_cluster_out"]
                     if r["dataset"] == "assink2016" and r["rho"] == 0.6)
    rows = result["leave_one_cluster_out"]
    assert [row["omitted"] for row in rows] == [f"s{r['omitted']}" for r in reference["rows"]]
    for row, expected in zip(rows, reference["rows"]):
        assert_close(row["estimate"], expected["estimate"], f"without {row['omitted']}")
        assert_close(row["se"], expected["cr2_se"], f"CR2 se without {row['omitted']}")
    assert [row["omitted"] for row in result["leave_one_out"]] == [row["omitted"] for row in rows]
    assert result["k"] == 17 and "100 effects in 17 clusters" in result["notes"][0]
