"""Plain-text views of the Bayesian model's results, laid out as bayesmeta's print()."""
from ..common.results import Result
from .bayes import SUMMARY_KEYS

ROW_NAMES = {"mode": "mode", "median": "median", "mean": "mean", "sd": "sd",
             "ci_lower": "95% lower (central)", "ci_upper": "95% upper (central)",
             "hpd_lower": "95% lower (shortest)", "hpd_upper": "95% upper (shortest)"}


def _cell(value: float | None) -> str:
    return f"{value:12.4f}" if value is not None else f"{'NA':>12}"


def _number(value: float | None) -> str:
    return "NA" if value is None else f"{value:.4g}"


def bayes_text(result: Result) -> str:
    """The summary of a BayesResult: data, priors, marginal posterior summary, Bayes factors."""
    data = result.to_dict()
    labels = [row["es_id"] for row in data["shrinkage"]]
    lines = [" Bayesian random-effects meta-analysis (as R's bayesmeta)", "",
             f"{data['k']} estimates:", ", ".join(labels[:10] + (["..."] if len(labels) > 10 else [])), "",
             f"tau prior ({'proper' if data['prior']['tau_proper'] else 'improper'}):",
             data["prior"]["tau_label"], "",
             f"mu prior ({'improper' if data['prior']['mu'].startswith('uniform') else 'proper'}):",
             data["prior"]["mu"], "", "marginal posterior summary:",
             f"{'':22}{'tau':>12}{'mu':>12}{'theta_new':>12}"]
    for key in SUMMARY_KEYS:
        cells = "".join(_cell(data[name][key]) for name in ("tau", "mu", "theta_new"))
        lines.append(f"{ROW_NAMES[key]:22}{cells}")
    lines += ["", f"Bayes factors: tau = 0: {_number(data['bayes_factor_tau0'])}, "
                  f"mu = 0: {_number(data['bayes_factor_mu0'])}; marginal likelihood: "
                  f"{_number(data['marginal_likelihood'])}"]
    if data["bayes_factor_tau0"] is None:
        lines.append("(Bayes factors and marginal likelihood need proper priors on tau and mu.)")
    if data["above"] is not None:
        lines.append(f"P(mu > {data['above']:g}) = {data['prob_mu_above']:.4f}, "
                     f"P(theta_new > {data['above']:g}) = {data['prob_theta_new_above']:.4f}")
    lines.append(f"relative heterogeneity I^2 (posterior median): {data['i2'] / 100:.4f}; "
                 f"DIRECT grid: {data['grid_size']} support points")
    return "\n".join(lines)


def bayes_regression_text(result: Result) -> str:
    """The summary of a BayesRegressionResult: coefficients and tau."""
    data = result.to_dict()
    lines = [" Bayesian random-effects meta-regression (as R's bayesmeta bmr())", "",
             f"k = {data['k']}; tau prior: {data['prior']['tau_label']}; "
             f"beta prior: {data['prior']['beta']}", "",
             f"{'':24}{'mean':>10}{'sd':>10}{'median':>10}{'95% lower':>11}{'95% upper':>11}"]
    for row in data["coefficients"]:
        lines.append(f"{row['term']:24}" + "".join(f"{row[key]:10.4f}" for key in ("mean", "sd", "median"))
                     + f"{row['ci_lower']:11.4f}{row['ci_upper']:11.4f}")
    tau = data["tau"]
    lines += ["", f"tau: median {tau['median']:.4f}, 95% CI [{tau['ci_lower']:.4f}, {tau['ci_upper']:.4f}]"]
    return "\n".join(lines)
