"""Every tau^2 estimator of the registry and its standard error against current metafor
(tests/fixtures/metafor_tau2.json, written by scripts/metafor_tau2_reference.R with metafor 5.1)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.cli.app import MethodChoice
from compassmeta.common.errors import InputError
from compassmeta.models.batch import Batch, estimate_tau2
from compassmeta.models.model import fit_model
from compassmeta.models.pooling import pool
from compassmeta.models.tau2 import METHODS, REGISTRY
from conftest import assert_close, load_fixture

REFERENCE = load_fixture("metafor_tau2.json")
DATA = REFERENCE["datasets"]


def case_id(case):
    weighted = "-weighted" if case["weights"] else ""
    return f"{case['data']}-{case['method']}{weighted}-{case['mods'] or 'intercept'}"


def _inputs(case):
    data = DATA[case["data"]]
    y, v = np.array(data["yi"], float), np.array(data["vi"], float)
    X = np.column_stack([np.ones(y.size), data["x"]]) if case["mods"] else np.ones((y.size, 1))
    weights = 1 / np.sqrt(v) if case["weights"] else None
    return X, y, v, weights


def test_metafor_version():
    assert REFERENCE["metafor_version"].startswith("5.1")


def test_every_estimator_of_the_registry_is_checked():
    assert {case["method"] for case in REFERENCE["cases"]} == set(METHODS) - {"FE"}


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=case_id)
def test_estimator_and_fit_match_metafor(case):
    X, y, v, weights = _inputs(case)
    fit = fit_model(X, y, v, terms=["intercept", "x"][:X.shape[1]], method=case["method"], weights=weights)
    assert_close(fit.tau2, case["tau2"], "tau2")
    assert_close(fit.tau2_se, case["se_tau2"], "se_tau2")
    for j in range(X.shape[1]):
        for key, ours in (("beta", fit.beta), ("se", fit.se), ("p_value", fit.p_values)):
            expected = case[key][j] if isinstance(case[key], list) else case[key]
            assert_close(float(ours[j]), expected, f"{key}[{j}]")
    assert_close(fit.q, case["q"], "Q")
    assert_close(fit.i2, case["i2"], "I2")
    assert_close(fit.h2, case["h2"], "H2")


@pytest.mark.parametrize("case", [c for c in REFERENCE["cases"] if not c["mods"]], ids=case_id)
def test_pool_reports_tau2_se_in_its_json(case):
    _, y, v, weights = _inputs(case)
    result = json.loads(json.dumps(pool(y, v, method=case["method"], weights=weights).to_dict()))
    assert_close(result["tau2_se"], case["se_tau2"], "tau2_se")
    assert_close(result["ci_lower"], case["ci_lower"], "ci_lower")


@pytest.mark.parametrize("method", [m for m in METHODS if not REGISTRY[m].needs_weights])
def test_batched_engine_runs_the_same_estimator(method):
    """Leave-one-out rows of dat.bcg in one batch equal the single fits."""
    data = DATA["bcg"]
    y, v = np.array(data["yi"]), np.array(data["vi"])
    mask = 1.0 - np.eye(y.size)
    tau2, _ = estimate_tau2(Batch(y, v, mask), method)
    for row in range(y.size):
        keep = mask[row] > 0
        assert_close(tau2[row], pool(y[keep], v[keep], method=method, with_tau2_ci=False).tau2, f"row {row}")


def test_batched_genq_uses_the_rows_weights():
    data = DATA["bcg"]
    y, v = np.array(data["yi"]), np.array(data["vi"])
    mask = 1.0 - np.eye(y.size)
    tau2, _ = estimate_tau2(Batch(y, v, mask, user_weights=1 / np.sqrt(v)), "GENQ")
    single = pool(y[1:], v[1:], method="GENQ", weights=1 / np.sqrt(v[1:]))
    assert_close(tau2[0], single.tau2, "row 0")


def test_unknown_method_is_an_input_error_everywhere():
    y, v = np.array([0.1, 0.5, 0.3]), np.array([0.02, 0.03, 0.04])
    with pytest.raises(InputError, match="unknown method 'XX'"):
        pool(y, v, method="XX")
    with pytest.raises(InputError, match="unknown method 'XX'"):
        estimate_tau2(Batch(y, v, np.ones((2, 3))), "XX")


def test_weighted_estimators_need_weights():
    with pytest.raises(InputError, match="GENQ estimates tau\\^2 with user weights"):
        pool([0.1, 0.5, 0.3], [0.02, 0.03, 0.04], method="GENQ")


def test_cli_choices_and_names_come_from_the_registry():
    choices = MethodChoice().choices
    assert sorted(choices) == sorted(METHODS) and choices[-1] == "FE"
    assert all(entry.label for entry in REGISTRY.values())


def test_cli_weights_column(tmp_path):
    case = next(c for c in REFERENCE["cases"]
                if c["data"] == "bcg" and c["method"] == "GENQ" and not c["mods"])
    data = DATA["bcg"]
    path = tmp_path / "d.csv"
    path.write_text("yi,vi,w\n" + "".join(f"{y!r},{v!r},{float(1 / np.sqrt(v))!r}\n"
                                          for y, v in zip(data["yi"], data["vi"])))
    result = CliRunner().invoke(main, ["pool", str(path), "--method", "genq", "--weights", "w",
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["method"] == "GENQ"
    assert_close(out["tau2"], case["tau2"], "tau2")
    assert_close(out["tau2_se"], case["se_tau2"], "tau2_se")
    assert_close(out["estimate"], case["beta"], "estimate")
