"""metafor >= 4.2 holds a selection model's tau^2 below min(vi/10, 1e-4) at its estimate in the
Hessian (selmodel's tau2tol): no SE for tau^2, and mu's and the deltas' SEs are those of the model
with tau^2 fixed.  Reference: tests/fixtures/metafor_selmodel_tau2tol.json
(scripts/metafor_selmodel_tau2tol.R, metafor 5.1-12)."""
import numpy as np

from compassmeta.analyses.selection import selection_model
from conftest import assert_close, load_fixture

REFERENCE = load_fixture("metafor_selmodel_tau2tol.json")


def test_metafor_version():
    assert REFERENCE["metafor_version"].startswith("5.1")


def test_boundary_tau2_is_held_in_the_hessian_as_metafor_5():
    yi, vi = np.array(REFERENCE["data"]["yi"]), np.array(REFERENCE["data"]["vi"])
    result = selection_model(yi, vi, type="stepfun", steps=(REFERENCE["steps"],), method="ML").to_dict()
    assert result["tau2"] < REFERENCE["tau2tol"] and REFERENCE["ml"]["tau2"] < REFERENCE["tau2tol"]
    assert result["tau2_se"] is None and REFERENCE["ml"]["tau2_se"] is None
    # at tau^2 -> 0 the ML fit is the fixed-effect one: metafor's FE selmodel() is the 1e-6 reference
    # (its ML fit stops at tau^2 = 2e-6 on the flat likelihood, log L 3e-5 below the maximum)
    fe = REFERENCE["fe"]
    assert result["log_likelihood"] >= REFERENCE["ml"]["log_likelihood"]
    for key in ("estimate", "se", "log_likelihood"):
        assert_close(result[key], fe[key], key)
    assert result["delta_se"][0] is None and fe["delta_se"][0] is None
    assert_close(result["delta"][1], fe["delta"][1], "delta")
    assert_close(result["delta_se"][1], fe["delta_se"][1], "delta_se")
