"""The core engine against metafor 3.8 (fixtures from scripts/metafor_reference.R)."""
import pytest

from compassmeta import meta_regression, pool, subgroup_analysis
from conftest import assert_close, load_fixture

REFERENCE = load_fixture("metafor_core.json")
DATASETS = {d["name"]: d for d in REFERENCE["datasets"]}


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _case_id(case):
    extra = "+".join(_as_list(case.get("mods", case.get("by", ""))))
    return "-".join(filter(None, [case["data"], extra, case["method"], case["test"]]))


POOL_KEYS = ["estimate", "se", "statistic", "p_value", "ci_lower", "ci_upper", "pi_lower",
             "pi_upper", "tau2", "i2", "h2", "q", "q_p", "tau2_ci_lower", "tau2_ci_upper"]


def compared_pool_keys(method):
    """POOL_KEYS, less the tau^2 CI under FE: scripts/metafor_reference.R records confint()'s
    tau^2 CI for the random-effects methods only (FE has no tau^2)."""
    return [key for key in POOL_KEYS if not (method == "FE" and key.startswith("tau2_ci"))]


@pytest.mark.parametrize("case", REFERENCE["pool"], ids=_case_id)
def test_pool_matches_metafor(case):
    data = DATASETS[case["data"]]
    result = pool(data["yi"], data["vi"], method=case["method"], ci_method=case["test"]).to_dict()
    for key in compared_pool_keys(case["method"]):
        assert_close(result[key], case["result"][key], f"{_case_id(case)} {key}")  # a missing key fails


@pytest.mark.parametrize("case", REFERENCE["metareg"], ids=_case_id)
def test_metareg_matches_metafor(case):
    data = DATASETS[case["data"]]
    mods = {name: data["mods"][name] for name in _as_list(case["mods"])}
    result = meta_regression(data["yi"], data["vi"], mods, method=case["method"],
                             ci_method=case["test"]).to_dict()
    expected = case["result"]
    assert len(result["coefficients"]) == len(_as_list(expected["estimate"]))
    for index, coefficient in enumerate(result["coefficients"]):
        for key in ["estimate", "se", "statistic", "p_value", "ci_lower", "ci_upper"]:
            assert_close(coefficient[key], _as_list(expected[key])[index],
                         f"{_case_id(case)} {coefficient['term']} {key}")
    qm_df = _as_list(expected["qm_df"])
    assert result["qm_df"] == qm_df[0]
    assert result["qm_df2"] == (qm_df[1] if len(qm_df) > 1 else None)
    for key in ["qm", "qm_p", "qe", "qe_p", "tau2", "i2", "h2", "r2"]:
        assert_close(result[key], expected[key], f"{_case_id(case)} {key}")


@pytest.mark.parametrize("case", REFERENCE["subgroup"], ids=_case_id)
def test_subgroup_matches_metafor(case):
    data = DATASETS[case["data"]]
    result = subgroup_analysis(data["yi"], data["vi"], data["mods"][case["by"]], by=case["by"],
                               method=case["method"], ci_method=case["test"]).to_dict()
    expected = case["result"]
    assert [g["level"] for g in result["groups"]] == [g["level"] for g in expected["groups"]]
    for group, reference in zip(result["groups"], expected["groups"]):
        assert group["k"] == reference["k"]
        for key in ["estimate", "se", "ci_lower", "ci_upper", "tau2", "i2"]:
            assert_close(group[key], reference[key], f"{_case_id(case)} {group['level']} {key}")
    for key in ["q_between", "q_between_p", "qm_common_tau2", "qm_common_tau2_p"]:
        assert_close(result[key], expected[key], f"{_case_id(case)} {key}")
