"""Plain-text tables of results, as a researcher would paste them into a paper, and CSV.

The JSON format is ``result.to_dict()`` itself; nothing here changes a number.
"""
CI_NAMES = {"z": "Wald z", "knha": "Knapp-Hartung t"}
METHOD_NAMES = {
    "FE": "fixed (common) effect", "DL": "DerSimonian-Laird", "HE": "Hedges", "HS": "Hunter-Schmidt",
    "SJ": "Sidik-Jonkman", "ML": "maximum likelihood", "REML": "restricted maximum likelihood",
    "EB": "empirical Bayes", "PM": "Paule-Mandel"}


def fmt(value, digits=4):
    """A number rounded for a table; '-' for a missing one."""
    if value is None or value != value:
        return "-"
    return f"{value:.{digits}f}"


def fmt_p(value):
    if value is None or value != value:
        return "-"
    return "<0.0001" if value < 0.0001 else f"{value:.4f}"


def p_text(value):
    """'p = 0.0123' or 'p < 0.0001'."""
    text = fmt_p(value)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def interval(lower, upper, digits=4):
    return f"[{fmt(lower, digits)}, {fmt(upper, digits)}]"


def aligned(rows):
    """Columns padded to their widest cell; the first column left-aligned, others right."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [str(cell).ljust(widths[0]) if i == 0 else str(cell).rjust(widths[i])
                 for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def model_line(kind, k, method, ci_method, df):
    """'Random-effects model (k = 18; tau^2: REML; CI: Knapp-Hartung t(17))'."""
    test = CI_NAMES[ci_method] + (f"({df:g})" if df is not None else "")
    if method == "FE":
        return f"Fixed-effect {kind} (k = {k}; CI: {test})"
    return f"{'Random' if kind == 'model' else 'Mixed'}-effects {kind} (k = {k}; tau^2 estimator: {METHOD_NAMES[method]} [{method}]; CI: {test})"


def heterogeneity_lines(result, q_name="Q"):
    d = result if isinstance(result, dict) else result.to_dict()
    lines = []
    if d["method"] != "FE":
        tau2 = f"tau^2 = {fmt(d['tau2'])}"
        if d.get("tau2_ci_lower") is not None:
            tau2 += f" {interval(d['tau2_ci_lower'], d['tau2_ci_upper'])}"
        lines.append(f"Heterogeneity: {tau2}, I^2 = {fmt(d['i2'], 2)}%, H^2 = {fmt(d['h2'], 2)}")
    else:
        lines.append(f"Heterogeneity: I^2 = {fmt(d['i2'], 2)}%, H^2 = {fmt(d['h2'], 2)}")
    q, q_df, q_p = (d["q"], d["q_df"], d["q_p"]) if "q" in d else (d["qe"], d["qe_df"], d["qe_p"])
    lines.append(f"Test for {'residual ' if q_name == 'QE' else ''}heterogeneity: "
                 f"{q_name}({q_df}) = {fmt(q, 2)}, {p_text(q_p)}")
    return lines


def pool_table(result):
    d = result.to_dict()
    stat = "t" if d["ci_method"] == "knha" else "z"
    level = f"{d['level']:g}%"
    rows = [["", "estimate", "se", f"{level} CI", stat, "p", f"{level} PI"],
            ["pooled", fmt(d["estimate"]), fmt(d["se"]), interval(d["ci_lower"], d["ci_upper"]),
             fmt(d["statistic"], 3), fmt_p(d["p_value"]), interval(d["pi_lower"], d["pi_upper"])]]
    lines = [model_line("model", d["k"], d["method"], d["ci_method"], d["df"]), "", aligned(rows), ""]
    lines += heterogeneity_lines(d)
    lines += [f"Note: {note}" for note in d["notes"]]
    return "\n".join(lines)


def subgroup_table(result):
    d = result.to_dict()
    level = f"{d['level']:g}%"
    rows = [[d["by"], "k", "estimate", "se", f"{level} CI", "tau^2", "I^2 (%)"]]
    for g in d["groups"]:
        rows.append([g["level"], g["k"], fmt(g["estimate"]), fmt(g["se"]),
                     interval(g["ci_lower"], g["ci_upper"]), fmt(g["tau2"]), fmt(g["i2"], 2)])
    o = d["overall"]
    rows.append(["overall", o["k"], fmt(o["estimate"]), fmt(o["se"]),
                 interval(o["ci_lower"], o["ci_upper"]), fmt(o["tau2"]), fmt(o["i2"], 2)])
    lines = [model_line("model", o["k"], d["method"], d["ci_method"], o["df"]) + f", by {d['by']}", "",
             aligned(rows), "",
             f"Test for subgroup differences (separate tau^2): Q({d['q_between_df']}) = "
             f"{fmt(d['q_between'], 2)}, {p_text(d['q_between_p'])}",
             f"Test for subgroup differences (common tau^2, meta-regression QM): "
             f"{fmt(d['qm_common_tau2'], 2)} on {d['qm_common_tau2_df']} df, {p_text(d['qm_common_tau2_p'])}"]
    return "\n".join(lines)


def metareg_table(result):
    d = result.to_dict()
    stat = "t" if d["ci_method"] == "knha" else "z"
    level = f"{d['level']:g}%"
    rows = [["term", "estimate", "se", stat, "p", f"{level} CI"]]
    for c in d["coefficients"]:
        rows.append([c["term"], fmt(c["estimate"]), fmt(c["se"]), fmt(c["statistic"], 3),
                     fmt_p(c["p_value"]), interval(c["ci_lower"], c["ci_upper"])])
    qm = (f"F({d['qm_df']}, {d['qm_df2']:g}) = {fmt(d['qm'], 3)}" if d["qm_df2"] is not None
          else f"QM({d['qm_df']}) = {fmt(d['qm'], 3)}")
    df = d["qe_df"] if d["ci_method"] == "knha" else None
    lines = [model_line("meta-regression", d["k"], d["method"], d["ci_method"], df), "",
             aligned(rows), "", f"Test of moderators: {qm}, {p_text(d['qm_p'])}"]
    lines += heterogeneity_lines(d, q_name="QE")
    if d["method"] != "FE":
        lines.append(f"Heterogeneity accounted for (pseudo-R^2): {fmt(d['r2'], 2)}%")
    return "\n".join(lines)


SPREADSHEET_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A CSV cell that spreadsheet programs will not run as a formula (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(SPREADSHEET_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def csv_text(records):
    """CSV of a list of flat dicts (lists are joined with '; '), formula cells escaped."""
    from ..data.studytable import format_table

    return format_table(list(records[0]), [
        {key: safe_cell("; ".join(map(str, value)) if isinstance(value, list) else value)
         for key, value in record.items()} for record in records])


def bias_table(report):
    d = report.to_dict()
    lines = [f"Small-study effects and publication bias (k = {d['k']}; tau^2 estimator: {d['method']})", ""]
    lines += [f"Note: {note}" for note in d["notes"]]
    if d["egger"]:
        for key, name in (("egger", "Egger's regression test (weighted least squares, t)"),
                          ("egger_mixed", "Egger's test, mixed-effects version (metafor regtest default)")):
            e = d[key]
            lines.append(f"{name}: intercept (bias) = {fmt(e['intercept'])} (SE {fmt(e['se'])}), "
                         f"statistic = {fmt(e['statistic'], 3)}, {p_text(e['p_value'])}; "
                         f"limit estimate {fmt(e['limit_estimate'])} {interval(e['limit_ci_lower'], e['limit_ci_upper'])}")
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
        lines.append(f"PET: {fmt(pp['pet']['limit_estimate'])} {interval(pp['pet']['limit_ci_lower'], pp['pet']['limit_ci_upper'])}; "
                     f"PEESE: {fmt(pp['peese']['limit_estimate'])} {interval(pp['peese']['limit_ci_lower'], pp['peese']['limit_ci_upper'])}; "
                     f"conditional PET-PEESE: {pp['chosen']} ({pp['rule']})")
    if d.get("three_psm"):
        s = d["three_psm"]
        lines.append(f"3PSM selection model (step at p = 0.025, {s['method']}): adjusted estimate {fmt(s['estimate'])} "
                     f"{interval(s['ci_lower'], s['ci_upper'])}; delta = {fmt(s['delta'][1])}; "
                     f"LRT({s['lrt_df']}) = {fmt(s['lrt'], 3)}, {p_text(s['lrt_p'])}")
    f = d["fail_safe_n"]
    lines.append(f"Fail-safe N: Rosenthal {f['rosenthal']}, Orwin {f['orwin']} (target {fmt(f['orwin_target'])}), "
                 f"Rosenberg {f['rosenberg']}")
    return "\n".join(lines)


def sensitivity_table(report):
    d = report.to_dict()
    level_rows = [["omitted", "k", "estimate", "95% CI", "tau^2", "I^2 (%)", "Q"]]
    for r in d["leave_one_out"]:
        level_rows.append([r["omitted"], r["k"], fmt(r["estimate"]), interval(r["ci_lower"], r["ci_upper"]),
                           fmt(r["tau2"]), fmt(r["i2"], 2), fmt(r["q"], 2)])
    influence_rows = [["study", "rstudent", "dffits", "cook.d", "cov.r", "tau2.del", "Q.del", "hat", "weight %", ""]]
    for r in d["influence"]:
        influence_rows.append([r["study"], fmt(r["rstudent"], 3), fmt(r["dffits"], 3), fmt(r["cook_d"], 3),
                               fmt(r["cov_r"], 3), fmt(r["tau2_del"]), fmt(r["q_del"], 2), fmt(r["hat"], 3),
                               fmt(r["weight"], 2), "*" if r["influential"] else ""])
    cumulative_rows = [["adding", "k", "estimate", "95% CI", "tau^2", "I^2 (%)"]]
    for r in d["cumulative"]:
        cumulative_rows.append([r["added"], r["k"], fmt(r["estimate"]), interval(r["ci_lower"], r["ci_upper"]),
                                fmt(r["tau2"]), fmt(r["i2"], 2)])
    return "\n".join([f"Sensitivity analyses (k = {d['k']}; tau^2 estimator: {d['method']}; CI: {CI_NAMES[d['ci_method']]})",
                      "", "Leave-one-out:", aligned(level_rows), "",
                      "Influence diagnostics (* = influential by metafor's criteria):", aligned(influence_rows), "",
                      f"Cumulative meta-analysis (order: {d['cumulative_order']}):", aligned(cumulative_rows)])


def permutation_lines(test):
    d = test.to_dict()
    kind = "exact" if d["exact"] else "random"
    lines = [f"Permutation test ({d['permutations']:,} {kind} permutations): QM = {fmt(d['qm'], 3)}, "
             f"{p_text(d['qm_p'])}"]
    lines += [f"  {term}: permutation {p_text(p)}" for term, p in zip(d["terms"], d["coefficient_p"])]
    return "\n".join(lines)


def simulation_table(result):
    d = result.to_dict()
    rows = [["estimator", "CI", "bias", "RMSE", "coverage", "power", "tau^2 bias", "CI width"]]
    for r in d["performance"]:
        rows.append([r["method"], CI_NAMES[r["ci_method"]], fmt(r["bias"]), fmt(r["rmse"]), fmt(r["coverage"], 3),
                     fmt(r["power"], 3), fmt(r["tau2_bias"]), fmt(r["mean_ci_width"])])
    return "\n".join([f"{d['reps']:,} simulated meta-analyses: k = {d['k']}, tau^2 = {d['tau2']:g}, "
                      f"true effect = {d['true_effect']:g}, arm sizes {d['n_min']}-{d['n_max']}, "
                      f"seed {d['seed']}", "", aligned(rows), "",
                      f"coverage: share of {d['level']:g}% CIs containing the true effect; power: share rejecting "
                      "effect = 0 at alpha = 0.05"])
