"""Text tables of the selection model (as metafor's print of a selmodel) and of Mathur &
VanderWeele's publication-bias sensitivity analysis."""
from ..common.formatting import aligned, fmt, fmt_p, interval, p_text
from ..common.results import Result


def selection_table(result: Result) -> str:
    """A selection model printed as metafor's print.rma.uni.selmodel lays it out."""
    d = result.to_dict()
    level = f"{d['level']:g}%"
    if d["method"] == "FE":
        lines = [f"Fixed-Effects Model (k = {d['k']})", ""]
    else:
        lines = [f"Random-Effects Model (k = {d['k']}; tau^2 estimator: ML)", "",
                 f"tau^2 (estimated amount of total heterogeneity): {fmt(d['tau2'])} "
                 f"(SE = {fmt(d['tau2_se'])})",
                 f"tau (square root of estimated tau^2 value):      {fmt(d['tau2'] ** 0.5)}", "",
                 "Test for Heterogeneity:",
                 f"LRT(df = 1) = {fmt(d['lrt_tau2'])}, {p_text(d['lrt_tau2_p'])}", ""]
    sides = ("two-sided p-values" if d["alternative"] == "two.sided"
             else "one-sided p-values, alternative: " + d["alternative"])
    lines += ["Model Results:", "",
              aligned([["", "estimate", "se", "zval", "pval", f"{level} CI"],
                       ["adjusted", fmt(d["estimate"]), fmt(d["se"]), fmt(d["statistic"]),
                        fmt_p(d["p_value"]), interval(d["ci_lower"], d["ci_upper"])]]), "",
              "Test for Selection Model Parameters:",
              f"LRT(df = {d['lrt_df']}) = {fmt(d['lrt'])}, {p_text(d['lrt_p'])}", "",
              f"Selection Model Results ({d['type']}, {sides}):",
              ""]
    if d["type"] == "stepfun":
        names = [f"{low:g} < p <= {high:g}" for low, high in zip([0] + d["steps"][:-1], d["steps"])]
        rows = [["", "k", "estimate", "se", "zval", "pval", f"{level} CI"]]
        for j, name in enumerate(names):
            fixed = d["delta_se"][j] is None
            rows.append([name, d["studies_per_interval"][j], fmt(d["delta"][j])] + (
                ["---"] * 4 if fixed else [fmt(d["delta_se"][j]), fmt(d["delta_statistic"][j]),
                                           fmt_p(d["delta_p_value"][j]),
                                           interval(d["delta_ci_lower"][j], d["delta_ci_upper"][j])]))
    else:
        rows = [["", "estimate", "se", "zval", "pval", f"{level} CI"]]
        for j, value in enumerate(d["delta"]):
            name = f"delta.{j + 1}" if len(d["delta"]) > 1 else "delta"
            rows.append([name, fmt(value), fmt(d["delta_se"][j]), fmt(d["delta_statistic"][j]),
                         fmt_p(d["delta_p_value"][j]),
                         interval(d["delta_ci_lower"][j], d["delta_ci_upper"][j])])
    lines.append(aligned(rows))
    lines += [f"Warning: {warning}" for warning in d["warnings"]]
    return "\n".join(lines)


def publication_sensitivity_table(result: Result) -> str:
    """Mathur & VanderWeele's corrected and worst-case estimates with the S-values."""
    d = result.to_dict()

    def s_text(value: float | str | None) -> str:
        return "not applicable" if value is None else (value if isinstance(value, str) else f"{value:.2f}")

    return "\n".join([
        "Sensitivity analysis for publication bias (Mathur & VanderWeele 2020; fixed-effect; "
        f"k = {d['k']}: {d['k_affirmative']} affirmative, {d['k_nonaffirmative']} nonaffirmative; "
        f"favouring {d['favor']} results)",
        "",
        f"Corrected estimate at eta = {d['eta']:g}: {fmt(d['estimate'])} "
        f"{interval(d['ci_lower'], d['ci_upper'])}",
        f"Worst case (nonaffirmative studies only): {fmt(d['worst_case_estimate'])} "
        f"{interval(d['worst_case_ci_lower'], d['worst_case_ci_upper'])}",
        f"S-value to shift the estimate to q = {d['q']:g}: {s_text(d['s_value_estimate'])}",
        f"S-value to shift the CI limit to q = {d['q']:g}: {s_text(d['s_value_ci'])}"])
