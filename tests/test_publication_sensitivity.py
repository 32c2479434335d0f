"""Mathur & VanderWeele (2020) sensitivity analysis, checked against the expectations the authors'
R package PublicationBias (mathurlabstanford/PublicationBias, tests/testthat/test-svalue.R and
test-meta.R) documents for metafor's dat.bcg (log risk ratios, favouring negative effects)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from compassmeta.analyses.publication_sensitivity import NOT_POSSIBLE, publication_bias_sensitivity
from compassmeta.cli import main
from compassmeta.common.errors import InputError
from compassmeta.models.pooling import pool
from conftest import assert_close, load_fixture

BCG = next(d for d in load_fixture("metafor_bias.json")["datasets"] if d["name"] == "bcg")


def bcg(**options):
    return publication_bias_sensitivity(BCG["yi"], BCG["vi"], favor="negative", **options)


def test_no_selection_is_the_fixed_effect_model():
    """test-svalue.R: 'calculated naive: -0.4302852 [-0.5096613, -0.3509091]' (eta = 1)."""
    result = bcg(eta=1)
    assert_close(result.estimate, -0.4302852, "estimate", rel=2e-7)
    assert_close(result.ci_lower, -0.5096613, "ci_lower", rel=2e-7)
    assert_close(result.ci_upper, -0.3509091, "ci_upper", rel=2e-7)


def test_s_value_not_possible_for_bcg():
    """test-svalue.R 'pubbias_svalue not possible': fixed model, q = 0 -> sval_est 'Not possible'."""
    assert bcg(q=0).s_value_estimate == NOT_POSSIBLE


def test_q_beyond_the_estimate_is_refused():
    """test-svalue.R: q = -3 is further from the null than the estimate -> error."""
    with pytest.raises(InputError, match="nearer the null"):
        bcg(q=-3)


def test_q_inside_the_ci_has_no_ci_s_value():
    """test-svalue.R 'q inside CI': q = -0.4 lies in [-0.51, -0.35]: no S-value for the CI."""
    result = bcg(q=-0.4)
    assert result.s_value_ci is None and "already contains q" in result.notes[0]


def test_ci_limit_reaches_q_at_the_ci_s_value():
    """test-svalue.R 'pubbias_svalue / pubbias_meta agreement': at eta = sval_ci the CI limit is q."""
    s_value = bcg(q=-0.3).s_value_ci
    assert s_value > 1
    assert_close(bcg(q=-0.3, eta=s_value).ci_upper, -0.3, "ci_upper at the S-value", rel=1e-10)


def test_worst_case_is_the_meta_analysis_of_nonaffirmative_studies():
    yi, vi = np.array(BCG["yi"]), np.array(BCG["vi"])
    nonaffirmative = ~((yi < 0) & (np.abs(yi / np.sqrt(vi)) > 1.959963984540054))
    reference = pool(yi[nonaffirmative], vi[nonaffirmative], method="FE")
    result = bcg()
    assert result.k_nonaffirmative == nonaffirmative.sum()
    assert_close(result.worst_case_estimate, reference.estimate, "worst case")
    assert_close(result.worst_case_ci_upper, reference.ci_upper, "worst case CI")


def test_svalue_command(tmp_path):
    path = tmp_path / "bcg.csv"
    path.write_text("yi,vi\n" + "".join(f"{y!r},{v!r}\n" for y, v in zip(BCG["yi"], BCG["vi"])))
    result = CliRunner().invoke(main, ["svalue", str(path), "--favor", "negative", "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["s_value_estimate"] == "Not possible"
    assert_close(out["estimate"], -0.4302852, "estimate", rel=2e-7)
