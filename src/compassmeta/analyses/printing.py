"""Printed form of bias, sensitivity, permutation and simulation results: the text of
``print(result)`` and of the command line's table output."""
from ..common.formatting import CI_NAMES, aligned, fmt, interval, p_text
from ..common.results import Result


def bias_table(report: Result) -> str:
    d = report.to_dict()
    lines = [f"Small-study effects and publication bias (k = {d['k']}; tau^2 estimator: {d['method']})", ""]
    lines += [f"Note: {note}" for note in d["notes"]]
    for key, name in (("egger_multilevel", "Egger's test, multilevel model on every effect"),
                      ("egger", "Egger's regression test (weighted least squares, t)"),
                      ("egger_mixed", "Egger's test, mixed-effects version (metafor regtest default)")):
        e = d.get(key)
        if e:
            df = f" (df = {fmt(e['df'], 2)})" if e["df"] is not None else ""
            lines.append(f"{name}: intercept (bias) = {fmt(e['intercept'])} (SE {fmt(e['se'])}), "
                         f"statistic = {fmt(e['statistic'], 3)}{df}, {p_text(e['p_value'])}; "
                         f"limit estimate {fmt(e['limit_estimate'])} "
                         f"{interval(e['limit_ci_lower'], e['limit_ci_upper'])}")
    if d["rank_correlation"]:
        r = d["rank_correlation"]
        lines.append(f"Begg and Mazumdar's rank correlation: Kendall's tau = {fmt(r['tau'], 3)}, "
                     f"{p_text(r['p_value'])} ({'exact' if r['exact'] else 'normal approximation'})")
    if d["trim_and_fill"]:
        t = d["trim_and_fill"]
        lines.append(f"Trim-and-fill ({t['estimator']}): {t['k0']} studies imputed on the {t['side']} side; "
                     f"adjusted estimate {fmt(t['estimate'])} {interval(t['ci_lower'], t['ci_upper'])}")
    if d["pet_peese"]:
        pp = d["pet_peese"]
        for name in ("pet", "peese"):
            lines.append(f"{name.upper()} limit estimate: {fmt(pp[name]['limit_estimate'])} "
                         f"{interval(pp[name]['limit_ci_lower'], pp[name]['limit_ci_upper'])}")
        lines.append(f"Conditional PET-PEESE (Stanley & Doucouliagos 2014): {pp['chosen']}, "
                     f"{fmt(pp['estimate'])} {interval(pp['ci_lower'], pp['ci_upper'])} ({pp['rule']})")
    if d.get("three_psm"):
        s = d["three_psm"]
        lines.append(f"3PSM selection model (step at p = 0.025, {s['method']}): "
                     f"adjusted estimate {fmt(s['estimate'])} "
                     f"{interval(s['ci_lower'], s['ci_upper'])}; delta = {fmt(s['delta'][1])}; "
                     f"LRT({s['lrt_df']}) = {fmt(s['lrt'], 3)}, {p_text(s['lrt_p'])}")
    if d.get("henmi_copas"):
        h = d["henmi_copas"]
        lines.append(f"Henmi-Copas interval around the fixed-effect estimate {fmt(h['estimate'])}: "
                     f"{interval(h['ci_lower'], h['ci_upper'])} (DL tau^2 = {fmt(h['tau2'])})")
    f = d["fail_safe_n"]
    lines.append(f"Fail-safe N: Rosenthal {f['rosenthal']}, Fisher {f['fisher']}, Orwin {f['orwin']} "
                 f"(target {fmt(f['orwin_target'])}), Orwin weighted by 1/vi {f['orwin_weighted']} "
                 f"(target {fmt(f['orwin_weighted_target'])}; metafor >= 4.4), Rosenberg {f['rosenberg']}, "
                 f"General ({f['general_method']}) {f['general']}")
    return "\n".join(lines)


def regression_influence_table(report: Result) -> str:
    """metafor's print of influence() for a meta-regression, with rstandard and DFBETAS."""
    d = report.to_dict()
    header = ["study", "rstudent", "rstandard", "dffits", "cook.d", "cov.r", "tau2.del", "QE.del", "hat",
              "weight %", *[f"dfbs {term}" for term in d["terms"]], ""]
    rows = [header] + [[r["study"], *(fmt(r[key], 3) for key in ("rstudent", "rstandard", "dffits", "cook_d",
                                                                  "cov_r")),
                        fmt(r["tau2_del"]), fmt(r["qe_del"], 2), fmt(r["hat"], 3), fmt(r["weight"], 2),
                        *(fmt(value, 3) for value in r["dfbetas"].values()), "*" if r["influential"] else ""]
                       for r in d["influence"]]
    return "\n".join([f"Influence diagnostics of the meta-regression (k = {d['k']}; tau^2 estimator: "
                      f"{d['method']}; CI: {CI_NAMES[d['ci_method']]}; "
                      "* = influential by metafor's criteria)", "", aligned(rows)])


def sensitivity_table(report: Result) -> str:
    d = report.to_dict()
    level_rows = [["omitted", "k", "estimate", "95% CI", "tau^2", "I^2 (%)", "Q"]]
    for r in d["leave_one_out"]:
        level_rows.append([r["omitted"], r["k"], fmt(r["estimate"]), interval(r["ci_lower"], r["ci_upper"]),
                           fmt(r["tau2"]), fmt(r["i2"], 2), fmt(r["q"], 2)])
    influence_rows = [["study", "rstudent", "dffits", "cook.d", "cov.r", "tau2.del", "Q.del", "hat",
                       "weight %", ""]]
    for r in d["influence"]:
        influence_rows.append([r["study"], fmt(r["rstudent"], 3), fmt(r["dffits"], 3), fmt(r["cook_d"], 3),
                               fmt(r["cov_r"], 3), fmt(r["tau2_del"]), fmt(r["q_del"], 2), fmt(r["hat"], 3),
                               fmt(r["weight"], 2), "*" if r["influential"] else ""])
    cumulative_rows = [["adding", "k", "estimate", "95% CI", "tau^2", "I^2 (%)"]]
    for r in d["cumulative"]:
        cumulative_rows.append([r["added"], r["k"], fmt(r["estimate"]),
                                interval(r["ci_lower"], r["ci_upper"]), fmt(r["tau2"]), fmt(r["i2"], 2)])
    cluster_lines = []
    if d["leave_one_cluster_out"]:
        cluster_rows = [["omitted cluster", "k", "clusters", "estimate", "CI", "sigma^2 between",
                         "sigma^2 within", "cook.d", "dfbetas"]]
        for r in d["leave_one_cluster_out"]:
            cluster_rows.append([r["omitted"], r["k"], r["n_clusters"], fmt(r["estimate"]),
                                 interval(r["ci_lower"], r["ci_upper"]), fmt(r["sigma2_between"]),
                                 fmt(r["sigma2_within"]), fmt(r["cook_d"], 3), fmt(r["dfbetas"], 3)])
        cluster_lines = ["Leave one cluster out (multilevel model):", aligned(cluster_rows), ""]
    title = (f"Sensitivity analyses (k = {d['k']}; tau^2 estimator: {d['method']}; "
             f"CI: {CI_NAMES[d['ci_method']]})")
    notes = [f"Note: {note}" for note in d["notes"]] + ([""] if d["notes"] else [])
    return "\n".join([title, "", *notes, *cluster_lines,
                      "Leave-one-out:", aligned(level_rows), "",
                      "Influence diagnostics (* = influential by metafor's criteria):",
                      aligned(influence_rows), "",
                      f"Cumulative meta-analysis (order: {d['cumulative_order']}):",
                      aligned(cumulative_rows)])


def permutation_lines(test: Result) -> str:
    d = test.to_dict()
    kind = "exact" if d["exact"] else "random"
    lines = [f"Permutation test ({d['permutations']:,} {kind} permutations): QM = {fmt(d['qm'], 3)}, "
             f"{p_text(d['qm_p'])}"]
    lines += [f"  {term}: permutation {p_text(p)}" for term, p in zip(d["terms"], d["coefficient_p"])]
    return "\n".join(lines)


def simulation_table(result: Result) -> str:
    d = result.to_dict()
    rows = [["estimator", "CI", "bias", "RMSE", "coverage", "power", "tau^2 bias", "CI width"]]
    for r in d["performance"]:
        rows.append([r["method"], CI_NAMES[r["ci_method"]], fmt(r["bias"]), fmt(r["rmse"]),
                     fmt(r["coverage"], 3), fmt(r["power"], 3), fmt(r["tau2_bias"]), fmt(r["mean_ci_width"])])
    return "\n".join([f"{d['reps']:,} simulated meta-analyses: k = {d['k']}, tau^2 = {d['tau2']:g}, "
                      f"true effect = {d['true_effect']:g}, arm sizes {d['n_min']}-{d['n_max']}, "
                      f"seed {d['seed']}", "", aligned(rows), "",
                      f"coverage: share of {d['level']:g}% CIs containing the true effect; "
                      "power: share rejecting effect = 0 at alpha = 0.05"])


def grid_table(result: Result) -> str:
    """A simulation grid, one line per cell x method; Monte Carlo SEs in parentheses."""
    d = result.to_dict()
    rows = [["k", "tau^2", "effect", "arm sizes", "estimator", "CI", "level", "bias", "RMSE", "tau^2 bias",
             "coverage", "CI width", "rejection"]]
    for r in d["rows"]:
        rows.append([r["k"], f"{r['tau2']:g}", f"{r['true_effect']:g}", r["study_size"], r["estimator"],
                     r["ci_method"], f"{r['level']:g}"]
                    + [f"{fmt(r[name], 3)} ({fmt(r[name + '_mcse'], 3)})"
                       for name in ("bias", "rmse", "tau2_bias", "coverage", "ci_width", "rejection_rate")])
    return "\n".join([f"Simulation grid {d['grid']}: {d['cells']} cells x {d['reps']:,} replications, "
                      f"master seed {d['seed']}", "", aligned(rows), "",
                      "Monte Carlo standard errors in parentheses (Morris, White & Crowther 2019, Table 6)"])
