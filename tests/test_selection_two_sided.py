"""Selection models on two-sided p-values (metafor selmodel(alternative = "two.sided")) against
tests/fixtures/metafor_selmodel_two_sided.json (scripts/metafor_selmodel_two_sided.R) and the
metafor Hessians at its estimates (scripts/metafor_selmodel_hessian.R on that fixture)."""
import numpy as np
import pytest
from click.testing import CliRunner

from compassmeta.analyses.selection import _Likelihood, selection_model
from compassmeta.cli import main
from conftest import assert_close, load_fixture
from test_selection import DATA, as_list

REFERENCE = load_fixture("metafor_selmodel_two_sided.json")
HESSIANS = load_fixture("metafor_selmodel_two_sided_hessian.json")["cases"]


def case_id(case):
    return f"{case['data']}-{case['method']}-{case['type']}-{as_list(case['steps'])}"


def fit(case):
    data = DATA[case["data"]]
    return selection_model(data["yi"], data["vi"], type=case["type"], steps=as_list(case["steps"]),
                           method=case["method"], alternative="two.sided")


def metafor_se_range(case, n_parameters):
    """Per parameter (estimate, tau^2 under ML, deltas): the lowest and highest SE metafor gives at
    its estimates, from its fit and from its Hessian with integrate() at rel.tol 1e-8, 1e-10, 1e-12."""
    fitted = [case["se"]] + ([case["tau2_se"]] if case["method"] == "ML" else []) + as_list(case["delta_se"])
    hessian = next(h for h in HESSIANS if case_id(h) == case_id(case))
    rows = [fitted] + [row or [None] * n_parameters for row in hessian["se_by_rel_tol"].values()]
    table = np.array([[np.nan if v is None else v for v in as_list(row)] for row in rows], dtype=float)
    return np.nanmin(table, axis=0), np.nanmax(table, axis=0)


# metafor's tight settings failed here and its defaults were used (recorded in "control"): its
# optimum is then only within about 2e-5 of the maximum.
LOOSE = {"hackshaw1998-ML-power-None"}


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=case_id)
def test_two_sided_selection_models_match_metafor(case):
    """Estimates, tau^2, deltas and logLik to 1e-5 (5e-5 for LOOSE), at least as high a maximum
    as at metafor's estimates; step-function SEs to 1e-3; smooth-type SEs within 1e-3 of the range
    of metafor's own Hessian at its estimates."""
    data, result = DATA[case["data"]], fit(case)
    likelihood = _Likelihood(np.array(data["yi"]), np.array(data["vi"]), case["type"], result.steps,
                             "two.sided", 0.0 if case["method"] == "FE" else None)
    delta = np.array(as_list(case["delta"])[1:] if case["type"] == "stepfun" else as_list(case["delta"]))
    assert result.log_likelihood >= likelihood(case["estimate"], case["tau2"], delta) - 1e-9
    rel = 5e-5 if case_id(case) in LOOSE else 1e-5
    for key in ("estimate", "tau2", "log_likelihood"):
        assert_close(getattr(result, key), case[key], key, rel=rel, abs_=2e-6)
    for j, value in enumerate(as_list(case["delta"])):
        assert_close(result.delta[j], value, f"delta[{j}]", rel=rel, abs_=2e-6)
    ours = [result.se] + ([result.tau2_se] if case["method"] == "ML" else []) + [
        se for se in result.delta_se if not np.isnan(se)]
    if case["type"] == "stepfun":
        expected = [case["se"]] + ([case["tau2_se"]] if case["method"] == "ML" else []) + \
            [se for se in as_list(case["delta_se"]) if se is not None]
        for j, (value, reference) in enumerate(zip(ours, expected)):
            assert_close(value, reference, f"SE {j}", rel=1e-3)
        assert list(result.studies_per_interval) == as_list(case["interval_k"])
        return
    lowest, highest = metafor_se_range(case, len(ours))
    for j, (value, low, high) in enumerate(zip(ours, lowest, highest)):
        assert low * (1 - 1e-3) <= value <= high * (1 + 1e-3), \
            f"SE {j}: {value} outside metafor's [{low}, {high}]"


def test_cli_two_sided_prints_the_sidedness(tmp_path):
    data = DATA["thirdwave"]
    path = tmp_path / "tw.csv"
    path.write_text("yi,vi\n" + "".join(f"{y!r},{v!r}\n" for y, v in zip(data["yi"], data["vi"])))
    result = CliRunner().invoke(main, ["selmodel", str(path), "--steps", "0.05",
                                       "--alternative", "two.sided"])
    assert result.exit_code == 0, result.output
    assert "two-sided p-values" in result.output
    case = next(c for c in REFERENCE["cases"] if c["data"] == "thirdwave" and c["method"] == "ML"
                and c["type"] == "stepfun" and as_list(c["steps"]) == [0.05])
    assert f"{case['estimate']:.4f}" in result.output
