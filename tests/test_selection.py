"""Selection models against metafor 3.8's selmodel() (tests/fixtures/metafor_selmodel.json,
written by scripts/metafor_selmodel_reference.R)."""
import numpy as np
import pytest

from compassmeta.analyses.selection import _Likelihood, selection_model, three_psm_or_note
from compassmeta.common.errors import ConvergenceError, InputError

from conftest import assert_close, load_fixture

REFERENCE = load_fixture("metafor_selmodel.json")
DATA = {d["name"]: d for d in REFERENCE["datasets"]}


def as_list(value):
    return None if value is None else (value if isinstance(value, list) else [value])


def case_id(case):
    return f"{case['data']}-{case['method']}-{case['type']}-{as_list(case['steps'])}-{case['alternative']}"


def fit(case):
    data = DATA[case["data"]]
    return selection_model(data["yi"], data["vi"], type=case["type"], steps=as_list(case["steps"]),
                           method=case["method"], alternative=case["alternative"])


STEP_CASES = [c for c in REFERENCE["cases"] if c["type"] == "stepfun" and "error" not in c["tight"]]
STEP_REFUSED = [c for c in REFERENCE["cases"] if "error" in c and "intervals do not contain" in c["error"]]


@pytest.mark.parametrize("case", STEP_CASES, ids=case_id)
def test_step_function_matches_metafor(case):
    """3PSM/4PSM: estimates, tau^2, deltas, logLik and LRT to 1e-5 relative (metafor with optim's
    reltol = 1e-13, which converges where the default stop leaves ~1e-5); SEs to 1e-3."""
    tight, result = case["tight"], fit(case)
    for key in ("estimate", "tau2", "log_likelihood", "log_likelihood_unadjusted", "lrt", "lrt_p"):
        assert_close(getattr(result, key), tight[key], key, rel=1e-5, abs_=1e-7)
    for j, value in enumerate(as_list(tight["delta"])):
        assert_close(result.delta[j], value, f"delta[{j}]", rel=1e-5, abs_=1e-7)
    assert result.lrt_df == tight["lrt_df"]
    assert list(result.studies_per_interval) == as_list(tight["interval_k"])
    assert_close(result.se, tight["se"], "se", rel=1e-3)
    assert_close(result.ci_lower, tight["ci_lower"], "ci_lower", rel=1e-3, abs_=1e-4)
    for j, value in enumerate(as_list(tight["delta_se"])):
        if value is None:
            assert result.delta_se[j] != result.delta_se[j]  # fixed delta_1: NaN, null in JSON
        else:
            assert_close(result.delta_se[j], value, f"delta_se[{j}]", rel=1e-3)
    if case["method"] == "ML":
        assert_close(result.tau2_se, tight["tau2_se"], "tau2_se", rel=1e-3, abs_=1e-6)
        assert_close(result.lrt_tau2, tight["lrt_tau2"], "lrt_tau2", rel=1e-5, abs_=1e-6)


@pytest.mark.parametrize("case", STEP_CASES, ids=case_id)
def test_step_function_close_to_metafor_default(case):
    """Against metafor's default fit the agreement is that of its optimiser's stop (~1e-5)."""
    result = fit(case)
    assert_close(result.estimate, case["estimate"], "estimate", rel=5e-5, abs_=1e-6)
    assert result.log_likelihood >= case["log_likelihood"] - 1e-9


@pytest.mark.parametrize("case", STEP_REFUSED, ids=case_id)
def test_empty_interval_refused_like_metafor(case):
    with pytest.raises(InputError, match="no observed p-value in the interval"):
        fit(case)


def test_empty_first_interval_is_allowed_as_in_metafor():
    """metafor fits a stepfun model whose first interval (delta fixed at 1) is empty."""
    case = next(c for c in STEP_CASES if c["alternative"] == "less" and as_list(c["interval_k"])[0] == 0)
    assert_close(fit(case).estimate, case["tight"]["estimate"], "estimate", rel=1e-5)


def test_too_few_studies():
    with pytest.raises(InputError, match="too small"):
        selection_model([0.5, 0.1], [0.01, 0.04], type="stepfun", steps=[0.025], method="ML")


def test_unknown_type_and_method():
    data = DATA["hackshaw1998"]
    with pytest.raises(InputError, match="unknown selection model type"):
        selection_model(data["yi"], data["vi"], type="cauchy")
    with pytest.raises(InputError, match="by ML"):
        selection_model(data["yi"], data["vi"], type="stepfun", steps=[0.025], method="REML")
    with pytest.raises(InputError, match="steps"):
        selection_model(data["yi"], data["vi"], type="stepfun")


def test_three_psm_note_when_it_cannot_be_fitted():
    notes = []
    assert three_psm_or_note([3.0, 2.5, 4.0], [0.01, 0.01, 0.01], notes=notes) is None
    assert "no observed p-value" in notes[0]


SMOOTH_CASES = [c for c in REFERENCE["cases"] if c["type"] != "stepfun" and "error" not in c and not c["warnings"]]


@pytest.mark.parametrize("case", SMOOTH_CASES, ids=case_id)
def test_smooth_weight_functions_against_metafor(case):
    """metafor integrates A_i with integrate() (rel.tol 1.2e-4) and stops BFGS at reltol 1e-8, so
    its smooth-type estimates are only near the maximum: compassmeta (exact quadrature) must find a
    log-likelihood at least as high as its own at metafor's estimates, and agree within 5e-3
    (estimates), 1e-4 (logLik) and 5e-2 (SEs, from Hessians of metafor's noisy likelihood)."""
    data, result = DATA[case["data"]], fit(case)
    if result.warnings:
        pytest.skip(f"compassmeta warns: {result.warnings[0]}")
    likelihood = _Likelihood(np.array(data["yi"]), np.array(data["vi"]), case["type"],
                             result.steps, case["alternative"], 0.0 if case["method"] == "FE" else None)
    at_metafor = likelihood(case["estimate"], case["tau2"], np.array(as_list(case["delta"])))
    assert result.log_likelihood >= at_metafor - 1e-9
    assert_close(result.estimate, case["estimate"], "estimate", rel=5e-3, abs_=1e-4)
    assert_close(result.log_likelihood, case["log_likelihood"], "logLik", rel=1e-4)
    assert_close(result.lrt, case["lrt"], "lrt", rel=5e-3, abs_=1e-3)
    assert_close(result.se, case["se"], "se", rel=5e-2)


def test_power_model_on_thirdwave_flags_the_flat_likelihood():
    """metafor stops here (optim convergence = 1); compassmeta reaches a maximum far outside the
    data and says so instead of reporting the number silently."""
    data = DATA["thirdwave"]
    result = selection_model(data["yi"], data["vi"], type="power", method="ML")
    assert any("outside the range of the observed effects" in w for w in result.warnings)
