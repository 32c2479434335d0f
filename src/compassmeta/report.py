"""Plain-text tables of results, as a researcher would paste them into a paper, and CSV.

The JSON format is ``result.to_dict()`` itself; nothing here changes a number.
"""
import csv
import io

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
                 f"{q_name}({q_df}) = {fmt(q, 2)}, p = {fmt_p(q_p)}")
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
             f"{fmt(d['q_between'], 2)}, p = {fmt_p(d['q_between_p'])}",
             f"Test for subgroup differences (common tau^2, meta-regression QM): "
             f"{fmt(d['qm_common_tau2'], 2)} on {d['qm_common_tau2_df']} df, p = {fmt_p(d['qm_common_tau2_p'])}"]
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
             aligned(rows), "", f"Test of moderators: {qm}, p = {fmt_p(d['qm_p'])}"]
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
    """CSV of a list of flat dicts (lists are joined with '; ')."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({key: safe_cell("; ".join(map(str, value)) if isinstance(value, list) else value)
                         for key, value in record.items()})
    return buffer.getvalue()
