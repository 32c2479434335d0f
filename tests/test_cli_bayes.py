"""`compassmeta bayes` against R's bayesmeta (tests/fixtures/bayesmeta.json)."""
import json

from click.testing import CliRunner

from compassmeta.cli import main
from conftest import PROJECT, load_fixture

REFERENCE = load_fixture("bayesmeta.json")
THIRDWAVE = str(PROJECT / "studies" / "thirdwave.csv")
KEYS = {"tau", "mu", "theta_new", "bayes_factor_tau0", "bayes_factor_mu0", "prob_mu_above",
        "prob_theta_new_above", "shrinkage", "prior", "k", "marginal_likelihood"}


def run(*args, exit_code=0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == exit_code, result.output
    return result


def reference(data, tau_prior, mu_prior):
    return next(f for f in REFERENCE["fits"] if f["data"] == data and f["tau_prior"] == tau_prior
                and f["mu_prior"] == mu_prior)


def test_json_matches_bayesmeta_on_thirdwave():
    out = json.loads(run("bayes", THIRDWAVE, "--tau-prior", "turner:mental-health", "--mu-prior",
                         "normal:0,4", "--above", "0.2", "--format", "json").stdout)
    assert KEYS <= set(out)
    theirs = reference("thirdwave", "turner:mental-health", "normal:0,4")
    for name in ("tau", "mu", "theta_new"):
        for key in ("median", "ci_lower", "ci_upper", "mean", "sd"):
            ours, ref = out[name][key], theirs[name][key]
            assert abs(ours - ref) <= 1e-6 * abs(ref) + 1e-9, (name, key)
    assert abs(out["bayes_factor_tau0"] / theirs["bayes_factor_tau0"] - 1) < 1e-6
    assert abs(out["prob_mu_above"] - theirs["prob_mu_above_0.2"]) < 1e-9
    assert [row["es_id"] for row in out["shrinkage"]][:2] == ["thirdwave-call", "thirdwave-cavanagh"]


def test_text_output_as_bayesmeta_print_and_figure(tmp_path):
    figure = tmp_path / "bayes.png"
    out = run("bayes", THIRDWAVE, "--tau-prior", "halfnormal:0.5", "--plot", figure).stdout
    assert figure.stat().st_size > 10_000 and f"Wrote {figure}" in out
    assert "tau prior (proper):" in out and "half-normal(scale=0.5)" in out
    assert "marginal posterior summary:" in out and "95% upper (shortest)" in out
    median = reference("thirdwave", "halfnormal:0.5", "uniform")["mu"]["median"]
    assert f"{median:.4f}" in out


def test_meta_regression_json():
    out = json.loads(run("bayes", THIRDWAVE, "--tau-prior", "halfnormal:0.5", "--mods", "risk_of_bias",
                         "--format", "json").stdout)
    theirs = REFERENCE["bmr"][0]["coefficients"]
    assert [c["term"] for c in out["coefficients"]] == [c["term"] for c in theirs]
    for ours, ref in zip(out["coefficients"], theirs):
        assert abs(ours["mean"] - ref["mean"]) < 1e-6 * abs(ref["mean"]) + 1e-9


def test_bad_prior_is_one_line_error():
    result = run("bayes", THIRDWAVE, "--tau-prior", "halfnormal:-1", exit_code=2)
    assert result.output.count("\n") == 1 and "positive" in result.output
