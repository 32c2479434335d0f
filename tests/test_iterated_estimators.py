"""metafor's iterated tau^2 estimators DLIT and SJIT (tests/fixtures/metafor_iterated.json, written
by scripts/metafor_iterated_reference.R with metafor 5.1 and threshold 1e-13).  DLIT follows metafor >= 4.6:
tau^2 <- (Q - tr(PV)) / tr(P), whose fixed point is the Paule-Mandel estimate."""
import numpy as np
import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.common.errors import ConvergenceError
from compassmeta.models import tau2_iterative
from compassmeta.models.batch import Batch, estimate_tau2
from compassmeta.models.moderators import meta_regression
from compassmeta.models.pooling import pool
from conftest import assert_close, load_fixture

REFERENCE = load_fixture("metafor_iterated.json")
DATA = REFERENCE["datasets"]
FITTED = REFERENCE["cases"]
REFUSED = REFERENCE["refused"]


def case_id(case):
    return f"{case['data']}-{case['method']}-{case['mods'] or 'intercept'}"


@pytest.mark.parametrize("case", FITTED, ids=case_id)
def test_iterated_estimators_match_metafor(case):
    data = DATA[case["data"]]
    if case["mods"]:
        result = meta_regression(data["yi"], data["vi"], {"ablat": data["ablat"]}, method=case["method"])
        estimates = [c.estimate for c in result.coefficients]
        ses = [c.se for c in result.coefficients]
        lowers = [c.ci_lower for c in result.coefficients]
        ps = [c.p_value for c in result.coefficients]
    else:
        result = pool(data["yi"], data["vi"], method=case["method"])
        estimates, ses, lowers, ps = [result.estimate], [result.se], [result.ci_lower], [result.p_value]
    assert_close(result.tau2, case["tau2"], "tau2")
    for j, (estimate, se, lower, p) in enumerate(zip(estimates, ses, lowers, ps)):
        assert_close(estimate, case["beta"][j] if case["mods"] else case["beta"], f"beta[{j}]")
        assert_close(se, case["se"][j] if case["mods"] else case["se"], f"se[{j}]")
        assert_close(lower, case["ci_lower"][j] if case["mods"] else case["ci_lower"], f"ci_lower[{j}]")
        assert_close(p, case["p_value"][j] if case["mods"] else case["p_value"], f"p[{j}]")


def test_metafor_version():
    assert REFERENCE["metafor_version"].startswith("5.1")


def test_dlit_is_the_paule_mandel_estimate_and_says_so():
    data = DATA["bcg"]
    dlit, pm = pool(data["yi"], data["vi"], method="DLIT"), pool(data["yi"], data["vi"], method="PM")
    assert_close(dlit.tau2, pm.tau2, "DLIT = PM")
    assert any("metafor 3" in note for note in dlit.notes)


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c["method"])
def test_where_metafor_does_not_converge_compassmeta_refuses(case, tmp_path, monkeypatch):
    """With maxiter = 3 metafor stops with 'Iterative DL (SJ) estimator did not converge', and so does
    compassmeta given as few steps, in one line."""
    monkeypatch.setattr(tau2_iterative, "FIXED_POINT_MAX_ITERATIONS", case["maxiter"] + 1)
    data = DATA[case["data"]]
    name = case["error"].split()[1]
    with pytest.raises(ConvergenceError, match=f"iterative {name} estimator did not converge"):
        pool(data["yi"], data["vi"], method=case["method"])
    path = tmp_path / "d.csv"
    path.write_text("yi,vi\n" + "".join(f"{y!r},{v!r}\n" for y, v in zip(data["yi"], data["vi"])))
    result = CliRunner().invoke(main, ["pool", str(path), "--method", case["method"]])
    assert result.exit_code != 0 and "did not converge" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("reference", REFERENCE["bcg_leave_one_out"], ids=lambda r: r["method"])
def test_batched_engine_fits_each_leave_one_out_subset_as_metafor(reference):
    """Rows of the batch: dat.bcg without each trial (those where metafor's DLIT converges)."""
    data = DATA["bcg"]
    rows = [i for i, value in enumerate(reference["tau2"]) if value is not None]
    mask = np.ones((len(rows), len(data["yi"])))
    mask[np.arange(len(rows)), rows] = 0
    tau2, _ = estimate_tau2(Batch(np.array(data["yi"]), np.array(data["vi"]), mask), reference["method"])
    for value, row in zip(tau2, rows):
        assert_close(value, reference["tau2"][row], f"tau2 without trial {row + 1}")
    failing = [i for i, value in enumerate(reference["tau2"]) if value is None]
    if failing:  # a subset where metafor stops with an error stops the batch too, never a number
        mask = np.ones((1, len(data["yi"])))
        mask[0, failing[0]] = 0
        with pytest.raises(ConvergenceError):
            estimate_tau2(Batch(np.array(data["yi"]), np.array(data["vi"]), mask), reference["method"])
