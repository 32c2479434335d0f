"""`compassmeta selmodel`, the 3PSM in `compassmeta bias` and `funnel --selmodel`, against metafor."""
import json

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from conftest import PROJECT, assert_close, load_fixture

REFERENCE = load_fixture("metafor_selmodel.json")
THIRDWAVE = str(PROJECT / "studies" / "thirdwave.csv")
ISSUE_KEYS = {"estimate", "se", "ci_lower", "ci_upper", "p_value", "tau2", "delta", "delta_se", "lrt",
              "lrt_df", "lrt_p", "log_likelihood", "k", "studies_per_interval"}


def reference(data, method, type_, steps, alternative="greater"):
    case = next(c for c in REFERENCE["cases"] if c["data"] == data and c["method"] == method and
                c["type"] == type_ and c["steps"] == steps and c["alternative"] == alternative)
    return case["tight"] if type_ == "stepfun" else case


def run(*args, exit_code=0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == exit_code, result.output
    return result


@pytest.fixture
def hackshaw_csv(tmp_path):
    data = next(d for d in REFERENCE["datasets"] if d["name"] == "hackshaw1998")
    path = tmp_path / "hackshaw.csv"
    path.write_text("yi,vi\n" + "".join(f"{y!r},{v!r}\n" for y, v in zip(data["yi"], data["vi"])))
    return path


def test_three_psm_json_on_thirdwave():
    result = json.loads(run("selmodel", THIRDWAVE, "--steps", "0.025", "--format", "json").stdout)
    assert ISSUE_KEYS <= set(result)
    metafor = reference("thirdwave", "ML", "stepfun", 0.025)
    for key in ("estimate", "tau2", "lrt", "lrt_p", "log_likelihood"):
        assert_close(result[key], metafor[key], key, rel=1e-5)
    assert_close(result["se"], metafor["se"], "se", rel=1e-3)
    assert result["delta"][0] == 1 and result["delta_se"][0] is None
    assert_close(result["delta"][1], metafor["delta"][1], "delta", rel=1e-5)
    assert result["studies_per_interval"] == metafor["interval_k"]
    assert result["k"] == 18 and result["lrt_df"] == 1


def test_four_psm_fe_json(hackshaw_csv):
    result = json.loads(run("selmodel", hackshaw_csv, "--steps", "0.025,0.5", "--method", "FE",
                            "--format", "json").stdout)
    metafor = reference("hackshaw1998", "FE", "stepfun", [0.025, 0.5])
    assert result["tau2"] == 0 and result["lrt_df"] == 2
    assert_close(result["estimate"], metafor["estimate"], "estimate", rel=1e-5)
    for j in range(3):
        assert_close(result["delta"][j], metafor["delta"][j], f"delta[{j}]", rel=1e-5)


def test_smooth_type_json(hackshaw_csv):
    result = json.loads(run("selmodel", hackshaw_csv, "--type", "logistic", "--format", "json").stdout)
    metafor = reference("hackshaw1998", "ML", "logistic", None)
    assert result["studies_per_interval"] is None and result["lrt_df"] == 1
    assert_close(result["log_likelihood"], metafor["log_likelihood"], "logLik", rel=1e-5)


def test_text_output_like_metafor_print():
    out = run("selmodel", THIRDWAVE, "--steps", "0.025,0.1").stdout
    for piece in ("Random-Effects Model (k = 18; tau^2 estimator: ML)", "Test for Heterogeneity:",
                  "Test for Selection Model Parameters:", "LRT(df = 2)", "0.025 < p <= 0.1", "0.1 < p <= 1"):
        assert piece in out


def test_weight_function_plot(tmp_path):
    path = tmp_path / "weights.png"
    run("selmodel", THIRDWAVE, "--steps", "0.025", "--plot", path)
    assert path.stat().st_size > 1000


def test_empty_interval_is_fitted_with_a_warning():
    """metafor >= 4.6 fits it and warns (3.x refused it): so does compassmeta, with the interval named
    (tests/test_selection.py compares the fit with metafor 5.1)."""
    result = run("selmodel", THIRDWAVE, "--steps", "0.025,0.5", "--format", "json")
    warnings = json.loads(result.stdout)["warnings"]
    assert any("no observed p-value in the interval(s) 0.5 < p <= 1" in w for w in warnings)
    assert "Traceback" not in result.output and "RuntimeWarning" not in result.output


def test_bias_reports_three_psm():
    result = json.loads(run("bias", THIRDWAVE, "--format", "json").stdout)
    assert_close(result["three_psm"]["estimate"], reference("thirdwave", "ML", "stepfun", 0.025)["estimate"],
                 "3PSM estimate", rel=1e-5)
    assert "3PSM selection model" in run("bias", THIRDWAVE).stdout


def test_funnel_draws_selection_estimate(tmp_path):
    from compassmeta import plots
    from compassmeta.analyses.selection import selection_model

    data = next(d for d in REFERENCE["datasets"] if d["name"] == "thirdwave")
    fit = selection_model(data["yi"], data["vi"], steps=[0.025])
    figure = plots.funnel_plot(data["yi"], data["vi"], selmodel=fit)
    line = [a for a in figure.findobj(lambda a: a.get_gid() == "selmodel-line")][0]
    assert_close(line.get_xdata()[0], reference("thirdwave", "ML", "stepfun", 0.025)["estimate"], "line",
                 rel=1e-5)
    run("funnel", THIRDWAVE, "--selmodel", "-o", tmp_path / "funnel.png")


def test_weight_function_plot_draws_metafor_deltas():
    from compassmeta.analyses.selection import selection_model
    from compassmeta.plots.selection import weight_function_plot

    data = next(d for d in REFERENCE["datasets"] if d["name"] == "hackshaw1998")
    fit = selection_model(data["yi"], data["vi"], steps=[0.025, 0.5])
    line = weight_function_plot(fit).findobj(lambda a: a.get_gid() == "weight-function")[0]
    x, y = line.get_xdata(), line.get_ydata()
    metafor = reference("hackshaw1998", "ML", "stepfun", [0.025, 0.5])["delta"]
    for p, delta in ((0.01, metafor[0]), (0.3, metafor[1]), (0.9, metafor[2])):
        assert_close(y[x >= p][0], delta, f"w({p})", rel=1e-5)
