"""Back-transformations (--transf) against metafor 5.1-12's transf.* and predict(rma(...), transf=)
(scripts/metafor_transf_reference.R)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from compassmeta.analyses.backtransform import back_transform
from compassmeta.cli import main
from compassmeta.common.errors import InputError
from compassmeta.common.transforms import TRANSFORMS
from compassmeta.models.moderators import subgroup_analysis
from compassmeta.models.pooling import pool
from conftest import load_fixture

REFERENCE = load_fixture("metafor_transf.json")
KEYS = ("estimate_transf", "ci_lower_transf", "ci_upper_transf", "pi_lower_transf", "pi_upper_transf")


def test_reference_is_current_metafor():
    assert REFERENCE["metafor_version"] == "5.1.12"


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_matches_metafor(name):
    grid = REFERENCE["grid"]
    targs = {"ni": grid["ipft_hm_ni"]} if name == "ipft.hm" else {}
    np.testing.assert_allclose(TRANSFORMS[name](grid["x"], **targs), grid["values"][name], rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", REFERENCE["pooled"], ids=lambda c: f"{c['name']}-{c['method']}")
def test_pooled_back_transformed_matches_predict(case):
    # DL is closed-form; REML iterates, metafor's here to threshold 1e-12
    rtol = 1e-10
    targs = {"ni": case["ni"]} if case["transf"] == "ipft.hm" else {}
    fit = pool(case["yi"], case["vi"], method=case["method"])
    result = back_transform(fit, case["transf"], **targs).to_dict()
    assert result["transf"] == case["transf"]
    for key in ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper") + KEYS:
        assert result[key] == pytest.approx(case[key], rel=rtol, abs=0), key


def test_subgroups_back_transformed_match_predict_per_subgroup():
    bcg = REFERENCE["bcg_rr"]
    result = back_transform(subgroup_analysis(bcg["yi"], bcg["vi"], REFERENCE["alloc"], by="alloc"), "exp")
    groups = {group["level"]: group for group in result.to_dict()["groups"]}
    for expected in REFERENCE["subgroups"]:
        for key in KEYS:
            assert groups[expected["group"]][key] == pytest.approx(expected[key], rel=1e-10), key


def test_unknown_transform_and_missing_targs_are_errors():
    fit = pool([0.1, 0.2, 0.4], [0.01, 0.02, 0.01])
    with pytest.raises(InputError, match="unknown --transf 'log'"):
        back_transform(fit, "log")
    with pytest.raises(InputError, match="ipft.hm needs the studies' ni"):
        back_transform(fit, "transf.ipft.hm")


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def pft_csv(tmp_path):
    case = next(c for c in REFERENCE["pooled"] if c["name"] == "pritz_PFT" and c["method"] == "DL")
    path = tmp_path / "pft.csv"
    rows = zip(case["yi"], case["vi"], case["ni"])
    path.write_text("yi,vi,ni\n" + "".join(f"{y!r},{v!r},{n}\n" for y, v, n in rows))
    return path, case


def test_pool_transf_adds_json_keys_and_text(pft_csv):
    path, case = pft_csv
    code, output = run("pool", path, "--method", "DL", "--transf", "ipft.hm", "--format", "json")
    assert code == 0, output
    data = json.loads(output)
    for key in KEYS:
        assert data[key] == pytest.approx(case[key], rel=1e-10), key
    code, output = run("pool", path, "--method", "DL", "--transf", "ipft.hm")
    assert code == 0 and "Back-transformed (ipft.hm):" in output
    assert f"estimate {case['estimate_transf']:.4f}, CI [{case['ci_lower_transf']:.4f}," in output


def test_pool_transf_errors_are_one_line(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("yi,vi\n0.1,0.01\n0.3,0.02\n0.2,0.01\n")
    code, output = run("pool", path, "--transf", "log")
    assert code == 2 and output.startswith("Error: unknown --transf 'log' (choose from exp, ztor")
    code, output = run("pool", path, "--transf", "ipft.hm")
    assert code == 2 and "needs the studies' ni (a column ni)" in output


@pytest.fixture
def bcg_rr_csv(tmp_path):
    bcg = REFERENCE["bcg_rr"]
    path = tmp_path / "bcg_rr.csv"
    path.write_text("yi,vi,alloc\n" + "".join(f"{y!r},{v!r},{a}\n" for y, v, a in
                                               zip(bcg["yi"], bcg["vi"], REFERENCE["alloc"])))
    return path


def test_subgroup_transf_json_and_csv(bcg_rr_csv):
    code, output = run("subgroup", bcg_rr_csv, "--by", "alloc", "--transf", "exp", "--format", "json")
    assert code == 0, output
    groups = {group["level"]: group for group in json.loads(output)["groups"]}
    for expected in REFERENCE["subgroups"]:
        for key in KEYS:
            assert groups[expected["group"]][key] == pytest.approx(expected[key], rel=1e-10), key
    code, output = run("subgroup", bcg_rr_csv, "--by", "alloc", "--transf", "exp", "--format", "csv")
    lines = output.splitlines()
    assert code == 0 and lines[0].startswith("group,") and "estimate_transf" in lines[0]
    assert [line.split(",")[0] for line in lines[1:]] == ["alternate", "random", "systematic", "overall"]


def test_subgroup_transf_refuses_permutations(bcg_rr_csv):
    code, output = run("subgroup", bcg_rr_csv, "--by", "alloc", "--transf", "exp", "--permutations", "100")
    assert code == 2 and "--transf is not combined with --permutations" in output
