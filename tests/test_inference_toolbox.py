"""metafor's inference toolbox at its current version (issue 25): values from
tests/fixtures/metafor_inference.json (scripts/metafor_inference_reference.R, metafor 5.1-12,
clubSandwich 0.5.8)."""
import json
from pathlib import Path

import numpy as np
import pytest

from compassmeta.analyses.failsafe import fail_safe_n, general_n

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "metafor_inference.json").read_text())
DATASETS = {d["name"]: d for d in FIXTURE["datasets"]}
RTOL = 1e-6


def close(actual, expected, rtol=RTOL, atol=1e-10):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=atol)


def data(name):
    d = DATASETS[name]
    return np.array(d["yi"]), np.array(d["vi"])


def test_fixture_is_current_metafor():
    assert FIXTURE["metafor_version"].startswith("5.1")
    assert FIXTURE["clubSandwich_version"] == "0.5.8"


@pytest.mark.parametrize("name", sorted(FIXTURE["fsn"]))
def test_fail_safe_n_every_type(name):
    expected = FIXTURE["fsn"][name]
    result = fail_safe_n(*data(name)).to_dict()
    for key in ("rosenthal", "fisher", "orwin", "orwin_weighted", "rosenberg"):
        assert result[key] == expected[key], key
    for key in ("rosenthal_p", "fisher_p", "orwin_target", "orwin_weighted_target", "rosenberg_p"):
        close(result[key], expected[key])
    # metafor's fsn() fits its model at rma()'s default convergence (threshold 1e-5)
    close(result["general_p"], expected["general_p"], rtol=1e-3)
    assert any("4.4" in note for note in result["notes"])


@pytest.mark.parametrize("name", sorted(FIXTURE["fsn"]))
def test_general_fail_safe_n_from_metafors_fit(name):
    expected = FIXTURE["fsn"][name]
    yi, vi = data(name)
    assert general_n(yi, vi, expected["general_estimate"], expected["general_tau2"]) == expected["general"]
