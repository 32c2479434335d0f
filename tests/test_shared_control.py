"""The sampling covariance of comparisons sharing a control group (Gleser & Olkin 2009) in the
three-level and CHE models, against metafor 5.1-12's vcalc(grp1, grp2, w1, w2) + rma.mv and
clubSandwich CR2 (scripts/metafor_shared_control_reference.R)."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from compassmeta.models.multilevel import ClusterBlocks, cluster_codes, sampling_blocks
from compassmeta.models.pooling import pool
from compassmeta.models.sharedgroups import ArmGroups

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = json.loads((FIXTURES / "metafor_shared_control.json").read_text())


def _trials():
    with open(FIXTURES / "shared_control_trials.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    yi = np.array([float(row["yi"]) for row in rows])
    vi = np.array([float(row["vi"]) for row in rows])
    return yi, vi, [row["study_id"] for row in rows], ArmGroups.from_rows(rows)


def _knapp():
    data = REFERENCE["knapp2017"]
    rows = [{"arm": a, "control_arm": c, "n1": n1, "n2": n2, "outcome": o}
            for a, c, n1, n2, o in zip(data["group1"], data["group2"], data["n_sz"], data["n_hc"],
                                       data["obs"])]
    return np.array(data["yi"]), np.array(data["vi"]), data["study"], ArmGroups.from_rows(rows)


DATASETS = {"trials": _trials, "knapp2017": _knapp}
CASES = [(name, i) for name in DATASETS for i in range(2)]


def _dense(yi, vi, cluster, groups, rho):
    """The k x k sampling covariance assembled from the per-cluster blocks."""
    blocks = ClusterBlocks(cluster_codes(cluster))
    sampling = sampling_blocks(blocks, vi, rho, groups)
    V = np.diag(vi)
    for g, rows in enumerate(blocks.groups):
        n = rows.shape[1]
        if sampling[g] is None:
            sd = np.sqrt(vi[rows])
            S = (np.eye(n) + rho * (1 - np.eye(n))) * sd[:, :, None] * sd[:, None, :]
        else:
            S = sampling[g]
        for member, block in zip(rows, S):
            V[np.ix_(member, member)] = block
    return V


@pytest.mark.parametrize("name,index", CASES)
def test_sampling_covariance_matches_vcalc(name, index):
    yi, vi, cluster, groups = DATASETS[name]()
    expected = REFERENCE[name]["fits"][index]
    V = _dense(yi, vi, cluster, groups, expected["rho"])
    np.testing.assert_allclose(np.diag(V), expected["V_diag"], rtol=1e-12)
    pairs = {(int(i) - 1, int(j) - 1): value for i, j, value in expected["V_pairs"]}
    upper = {(i, j): V[i, j] for i, j in zip(*np.triu_indices(len(vi), 1)) if V[i, j] != 0}
    assert set(upper) == set(pairs)
    for key, value in pairs.items():
        assert upper[key] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("name,index", CASES)
def test_multilevel_fit_matches_rma_mv(name, index):
    yi, vi, cluster, groups = DATASETS[name]()
    expected = REFERENCE[name]["fits"][index]
    rho = expected["rho"] or None
    fit = pool(yi, vi, cluster=cluster, rho=rho, groups=groups)
    assert fit.estimate == pytest.approx(expected["estimate"], rel=1e-6)
    assert fit.se == pytest.approx(expected["se"], rel=1e-6)
    assert fit.ci_lower == pytest.approx(expected["ci_lower"], rel=1e-6)
    assert fit.p_value == pytest.approx(expected["pval"], rel=1e-5)
    # metafor's BFGS stops near, not at, a sigma^2 of 0 (3e-9 here): compare those absolutely
    np.testing.assert_allclose([fit.sigma2_between, fit.sigma2_within], expected["sigma2"], rtol=1e-6,
                               atol=1e-7)
    assert fit.log_likelihood == pytest.approx(expected["logLik"], rel=1e-6)
    assert fit.q == pytest.approx(expected["QE"], rel=1e-6)
    assert any("share a group" in note for note in fit.notes)
    robust = pool(yi, vi, cluster=cluster, rho=rho, groups=groups, ci_method="cr2")
    assert robust.se == pytest.approx(expected["cr2_se"], rel=1e-6)
    assert robust.df == pytest.approx(expected["cr2_df"], rel=1e-6)


def test_without_arm_sizes_the_working_correlation_is_kept():
    yi, vi, cluster, groups = _trials()
    rows = [{"arm": a, "control_arm": c, "n1": "", "n2": ""} for a, c in zip(groups.arm, groups.control)]
    unsized = ArmGroups.from_rows(rows)
    with_none = pool(yi, vi, cluster=cluster, rho=0.6)
    unsized_fit = pool(yi, vi, cluster=cluster, rho=0.6, groups=unsized)
    assert unsized_fit.estimate == with_none.estimate
    assert not any("share a group" in note for note in unsized_fit.notes)
    assert ArmGroups.from_rows([{"arm": "", "control_arm": ""}]) is None


def _cli_json(*args):
    from click.testing import CliRunner

    from compassmeta.cli import main

    result = CliRunner().invoke(main, [*args, "--allow-mixed", "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_pool_cluster_reads_the_arms_of_the_table():
    expected = REFERENCE["trials"]["fits"][1]
    d = _cli_json("pool", str(FIXTURES / "shared_control_trials.csv"), "--cluster", "study_id",
                  "--rho", "0.6")
    assert d["estimate"] == pytest.approx(expected["estimate"], rel=1e-6)
    assert d["se"] == pytest.approx(expected["se"], rel=1e-6)
    assert d["log_likelihood"] == pytest.approx(expected["logLik"], rel=1e-6)
    assert any("9 pair(s) of comparisons share a group" in note for note in d["notes"])


def test_metareg_cluster_notes_the_shared_group():
    d = _cli_json("metareg", str(FIXTURES / "shared_control_trials.csv"), "--mods", "outcome", "--cluster",
                  "study_id")
    assert any("share a group" in note for note in d["notes"])


@pytest.mark.parametrize("index", [0, 1])
def test_mvmeta_v_holds_the_shared_group_covariance(index):
    from compassmeta.models.multivariate import multivariate
    from compassmeta.models.mvsampling import sampling_covariance

    yi, vi, cluster, groups = _trials()
    expected = REFERENCE["trials"]["fits"][index]
    rho = expected["rho"] or None
    blocks = ClusterBlocks(cluster_codes(cluster))
    V = np.zeros((len(vi), len(vi)))
    for rows, S in zip(blocks.groups, sampling_covariance(blocks, vi, rho=rho, arm_groups=groups)):
        for member, block in zip(rows, S):
            V[np.ix_(member, member)] = block
    np.testing.assert_allclose(V, _dense(yi, vi, cluster, groups, expected["rho"]), rtol=1e-14, atol=0)
    # QE = r'V^-1 r of the intercept-only fit depends on V alone: metafor's QE of the same V
    fit = multivariate(yi, vi, cluster=cluster, inner=[row for row in groups.measure], struct="ID",
                       rho=rho, groups=groups)
    assert fit.q == pytest.approx(expected["QE"], rel=1e-10)
    assert any("9 pair(s) of comparisons share a group" in note for note in fit.notes)


def test_subgroup_overall_fit_is_the_shared_group_model():
    from compassmeta.models.moderators import subgroup_analysis

    yi, vi, cluster, groups = _trials()
    labels = ["anxiety" if m.startswith("anxiety") else "other" for m in groups.measure]
    result = subgroup_analysis(yi, vi, labels, by="outcome", cluster=cluster, rho=0.6, arm_groups=groups)
    expected = REFERENCE["trials"]["fits"][1]
    assert result.overall.estimate == pytest.approx(expected["estimate"], rel=1e-6)
    anxiety = next(g.result for g in result.groups if g.group == "anxiety")
    assert any("9 pair(s) of comparisons share a group" in note for note in anxiety.notes)


@pytest.mark.parametrize("name,index", CASES)
@pytest.mark.parametrize("ci_method", ["z", "cr2"])
def test_multilevel_egger_test_takes_the_shared_group_covariance(name, index, ci_method):
    """rma.mv(yi, V, mods = ~ sqrt(vi)) on vcalc's V; CR2 as clubSandwich's coef_test (Satterthwaite)."""
    from compassmeta.analyses.bias import multilevel_regression_test

    yi, vi, cluster, groups = DATASETS[name]()
    expected = REFERENCE[name]["fits"][index]["egger"]
    rho = REFERENCE[name]["fits"][index]["rho"] or None
    test = multilevel_regression_test(yi, vi, cluster, rho=rho, ci_method=ci_method, groups=groups)
    assert test.intercept == pytest.approx(expected["beta"][1], rel=1e-6)
    assert test.limit_estimate == pytest.approx(expected["beta"][0], rel=1e-6)
    if ci_method == "z":
        assert test.se == pytest.approx(expected["se"][1], rel=1e-6)
        assert test.p_value == pytest.approx(expected["pval"][1], rel=1e-6)
        assert [test.limit_ci_lower, test.limit_ci_upper] == pytest.approx(
            [expected["ci_lower"][0], expected["ci_upper"][0]], rel=1e-6)
    else:
        assert test.se == pytest.approx(expected["cr2_se"][1], rel=1e-6)
        assert test.df == pytest.approx(expected["cr2_df"][1], rel=1e-6)
        assert test.p_value == pytest.approx(expected["cr2_pval"][1], rel=1e-6)


def test_bias_cluster_reads_the_arms_of_the_table():
    expected = REFERENCE["trials"]["fits"][1]["egger"]
    d = _cli_json("bias", str(FIXTURES / "shared_control_trials.csv"), "--cluster", "study_id",
                  "--rho", "0.6")
    assert d["egger_multilevel"]["intercept"] == pytest.approx(expected["beta"][1], rel=1e-6)
    assert d["egger_multilevel"]["se"] == pytest.approx(expected["se"][1], rel=1e-6)
    shared = "Egger's test with the multilevel model: 9 pair(s) of comparisons share a group"
    assert any(note.startswith(shared) for note in d["notes"])


def test_report_egger_row_takes_the_rows_arm_groups():
    """The report's multilevel Egger row reads the subset's ``row_groups`` (CHE, rho = 0.6, z)."""
    from types import SimpleNamespace

    from compassmeta.report.subset_analysis import _multilevel_egger_check

    yi, vi, cluster, groups = _trials()
    effects = SimpleNamespace(rows_yi=tuple(yi), rows_vi=tuple(vi), row_trials=tuple(cluster),
                              row_groups=groups)
    check = _multilevel_egger_check(SimpleNamespace(effects=effects, rho=0.6, ci_method="z"))
    assert check.p_value == pytest.approx(REFERENCE["trials"]["fits"][1]["egger"]["pval"][1], rel=1e-6)
