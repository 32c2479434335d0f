"""Unweighted models (metafor rma(weighted = FALSE), `pool --unweighted`) and the fit statistics of
models with user weights (rma(weights =)), against metafor 5.1-12 (tests/fixtures/metafor_unweighted.json,
scripts/metafor_unweighted_reference.R)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.common.errors import InputError
from compassmeta.models.pooling import UNWEIGHTED_NOTE, pool
from conftest import assert_close, load_fixture

REFERENCE = load_fixture("metafor_unweighted.json")
KEYS = ("estimate", "se", "statistic", "p_value", "ci_lower", "ci_upper", "pi_lower", "pi_upper", "tau2",
        "tau2_se", "q", "i2", "h2", "log_likelihood", "deviance", "aic", "bic", "aicc")
INTERVALS = {"tau2_ci": "tau2_ci", "i2_ci": "i2_ci", "h2_ci": "h2_ci"}


def case_id(case):
    return f"{case['data']}-{case['method']}-{case['test']}-{case['weighting']}"


def _data(case):
    data = REFERENCE["datasets"][case["data"]]
    return np.array(data["yi"], float), np.array(data["vi"], float)


def test_metafor_version():
    assert REFERENCE["metafor_version"].startswith("5.1")


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=case_id)
def test_pool_matches_metafor(case):
    yi, vi = _data(case)
    if case["weighting"] == "unweighted":
        result = pool(yi, vi, method=case["method"], ci_method=case["test"], weighted=False)
    else:
        result = pool(yi, vi, method=case["method"], ci_method=case["test"], weights=1 / np.sqrt(vi))
    d = result.to_dict()
    for key in KEYS:
        assert_close(d[key], case[key], key)
    if case["method"] == "FE":
        assert "tau2_ci" not in case and d["i2_ci_lower"] is None
        return
    for key in INTERVALS:
        assert_close(d[f"{key}_lower"], case[key][0], f"{key} lower")
        assert_close(d[f"{key}_upper"], case[key][1], f"{key} upper")


def test_unweighted_is_unit_weights_and_differs_from_the_weighted_model():
    case = next(c for c in REFERENCE["cases"] if (c["data"], c["method"], c["test"], c["weighting"])
                == ("bcg", "REML", "z", "unweighted"))
    yi, vi = _data(case)
    unweighted, unit = pool(yi, vi, weighted=False), pool(yi, vi, weights=np.ones(yi.size))
    assert unweighted.to_dict() == {**unit.to_dict(), "notes": [UNWEIGHTED_NOTE]}
    assert "weighted = FALSE" in UNWEIGHTED_NOTE
    assert_close(float(np.mean(yi)), case["estimate"], "plain mean")
    assert abs(pool(yi, vi).estimate - case["estimate"]) > 0.01


def test_cli_pool_unweighted(tmp_path):
    case = next(c for c in REFERENCE["cases"] if (c["data"], c["method"], c["test"], c["weighting"])
                == ("thirdwave", "REML", "knha", "unweighted"))
    yi, vi = _data(case)
    path = tmp_path / "d.csv"
    path.write_text("yi,vi\n" + "".join(f"{float(y)!r},{float(v)!r}\n" for y, v in zip(yi, vi)))
    result = CliRunner().invoke(main, ["pool", str(path), "--unweighted", "--ci-method", "knha",
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for key in ("estimate", "se", "ci_lower", "pi_upper", "tau2", "log_likelihood", "aicc"):
        assert_close(out[key], case[key], key)


@pytest.mark.parametrize("options, message", [
    (dict(weights=[1.0] * 3), "not both"),
    (dict(method="GENQ"), "instead of --unweighted"),
    (dict(cluster=["a", "a", "b"]), "cannot be combined with --cluster"),
    (dict(tau2_ci="pl"), "--tau2-ci pl"),
])
def test_unweighted_refusals(options, message):
    with pytest.raises(InputError, match=message):
        pool([0.1, 0.5, 0.3], [0.02, 0.03, 0.04], weighted=False, **options)


def test_cli_unweighted_with_weights_is_a_one_line_error(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("yi,vi,w\n0.1,0.02,1\n0.5,0.03,2\n0.3,0.04,1\n")
    result = CliRunner().invoke(main, ["pool", str(path), "--unweighted", "--weights", "w"])
    assert result.exit_code != 0 and "not both" in result.output and "Traceback" not in result.output
