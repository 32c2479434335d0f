"""Printed form of fitted models, laid out like metafor's print.rma: the text of
``print(result)`` and of the command line's table output."""
from typing import Any

from ..common.formatting import aligned, fmt, fmt_p, heterogeneity_lines, interval, model_line, p_text
from ..common.results import Result
from .tau2 import lookup


def pool_table(result: Result) -> str:
    d = result.to_dict()
    stat = "t" if d["ci_method"] == "knha" else "z"
    level = f"{d['level']:g}%"
    rows = [["", "estimate", "se", f"{level} CI", stat, "p", f"{level} PI"],
            ["pooled", fmt(d["estimate"]), fmt(d["se"]), interval(d["ci_lower"], d["ci_upper"]),
             fmt(d["statistic"], 3), fmt_p(d["p_value"]), interval(d["pi_lower"], d["pi_upper"])]]
    lines = [model_line("model", d["k"], d["method"], d["ci_method"], d["df"], lookup(d["method"]).label), "",
             aligned(rows), ""]
    lines += heterogeneity_lines(d)
    if d.get("i2_ci_lower") is not None:
        i2 = interval(d["i2_ci_lower"], d["i2_ci_upper"], 2)
        lines.append(f"  {d['tau2_ci_method']} intervals: I^2 {i2}%, "
                     f"H^2 {interval(d['h2_ci_lower'], d['h2_ci_upper'], 2)}")
    lines += fit_statistics_lines(d) + prediction_lines(d)
    lines += [f"Note: {note}" for note in d["notes"]]
    return "\n".join(lines)


def fit_statistics_lines(d: dict[str, Any]) -> list[str]:
    """metafor fitstats() in one line (absent on results without them)."""
    if d.get("log_likelihood") is None or "aic" not in d:
        return []
    kind = "REML" if d["method"] == "REML" else "ML"
    return [f"Fit ({kind}): logLik {fmt(d['log_likelihood'])}, deviance {fmt(d['deviance'])}, "
            f"AIC {fmt(d['aic'])}, BIC {fmt(d['bic'])}, AICc {fmt(d['aicc'])}"]


def robust_lines(d: dict[str, Any]) -> list[str]:
    """--robust: the coefficients with cluster-robust SEs (each study a cluster)."""
    if not d.get("robust"):
        return []
    rows = [["term", "estimate", "se", "df", "t", "p", "CI"]]
    rows += [[c["term"], fmt(c["estimate"]), fmt(c["se"]), fmt(c["df"], 2), fmt(c["statistic"], 3),
              fmt_p(c["p_value"]), interval(c["ci_lower"], c["ci_upper"])]
             for c in d["robust"]["coefficients"]]
    r = d["robust"]
    test = ([] if r.get("qm") is None else
            [f"Test of moderators: HTZ F({r['qm_df']}, {fmt(r['qm_df2'], 2)}) = {fmt(r['qm'], 3)}, "
             f"{p_text(r['qm_p'])}"])
    return ["", f"Cluster-robust inference ({r['type']}, each study a cluster; Satterthwaite df):",
            aligned(rows), *test]


def prediction_lines(d: dict[str, Any]) -> list[str]:
    """The share of true effects above a threshold and the BLUPs, when asked for."""
    lines = robust_lines(d)
    if d.get("prob_above") is not None:
        lines.append(f"Share of true effects above {d['above']:g}: {fmt(d['prob_above'])}")
    if d.get("blups"):
        rows = [["effect", "BLUP", "se", "PI"]]
        rows += [[b["es_id"], fmt(b["estimate"]), fmt(b["se"]), interval(b["pi_lower"], b["pi_upper"])]
                 for b in d["blups"]]
        lines += ["", "Best linear unbiased predictions of the true effects:", aligned(rows)]
    return lines


def comparison_lines(d: dict[str, Any]) -> list[str]:
    """metareg's --drop, --btt and --newmods results, marginal means and contrasts."""
    lines = []
    if d.get("lrt"):
        t = d["lrt"]
        lines.append(f"Likelihood-ratio test without {', '.join(t['dropped'])} (ML fits): "
                     f"LRT({t['df']}) = {fmt(t['statistic'], 3)}, {p_text(t['p_value'])}")
    if d.get("btt_test"):
        t = d["btt_test"]
        name = f"F({t['df']}, {t['df2']:g})" if t["df2"] is not None else f"QM({t['df']})"
        lines.append(f"Wald test of {', '.join(t['terms'])}: {name} = {fmt(t['statistic'], 3)}, "
                     f"{p_text(t['p_value'])}")
    for p in d.get("predictions", ()):
        at = ", ".join(f"{k}={v}" for k, v in p["values"].items())
        lines.append(f"Predicted at {at}: {fmt(p['estimate'])} {interval(p['ci_lower'], p['ci_upper'])}, "
                     f"PI {interval(p['pi_lower'], p['pi_upper'])}")
    if d.get("marginal_means"):
        rows = [["moderator", "level", "mean", "se", "CI"]]
        rows += [[m["moderator"], m["level"], fmt(m["estimate"]), fmt(m["se"]),
                  interval(m["ci_lower"], m["ci_upper"])] for m in d["marginal_means"]]
        rows += [["contrast", "", "difference", "se", "p (Holm)"]]
        rows += [[c["moderator"], c["label"], fmt(c["estimate"]), fmt(c["se"]),
                  f"{fmt_p(c['p_value'])} ({fmt_p(c['p_holm'])})"] for c in d["contrasts"]]
        lines += ["", "Marginal means (other moderators at their means, levels weighted equally):",
                  aligned(rows)]
    return lines


NOT_ESTIMABLE = "not estimable"


def _tau2_cells(group: dict[str, Any], method: str) -> tuple[str, str]:
    """tau^2 and I^2 of one subgroup row; 'not estimable' from a single study."""
    if method == "FE":
        return "-", fmt(group["i2"], 2)
    if group["k"] < 2:
        return NOT_ESTIMABLE, NOT_ESTIMABLE
    return fmt(group["tau2"]), fmt(group["i2"], 2)


def _subgroup_header(d: dict[str, Any]) -> str:
    """The model line; under Knapp-Hartung each row's CI uses t with its own k - 1 df."""
    o = d["overall"]
    if d["ci_method"] != "knha":
        line = model_line("model", o["k"], d["method"], d["ci_method"], None, lookup(d["method"]).label)
        return line + f", by {d['by']}"
    line = model_line("model", o["k"], d["method"], "knha", None, lookup(d["method"]).label)
    return line[:-1] + f" with df = k - 1 of each row), by {d['by']}"


def subgroup_table(result: Result) -> str:
    """Per-subgroup fits, the overall fit and both tests of subgroup differences, named."""
    d = result.to_dict()
    level = f"{d['level']:g}%"
    knha = d["ci_method"] == "knha"
    rows = [[d["by"], "k"] + (["df"] if knha else []) + ["estimate", "se", f"{level} CI", "tau^2", "I^2 (%)"]]
    for g in list(d["groups"]) + [dict(d["overall"], level="overall")]:
        rows.append([g["level"], g["k"]] + ([f"{g['df']:g}" if g["df"] is not None else "-"] if knha else [])
                    + [fmt(g["estimate"]), fmt(g["se"]), interval(g["ci_lower"], g["ci_upper"]),
                       *_tau2_cells(g, d["method"])])
    common = (f"F({d['qm_common_tau2_df']}, {d['qm_common_tau2_df2']:g})"
              if d["qm_common_tau2_df2"] is not None else f"QM({d['qm_common_tau2_df']})")
    lines = [_subgroup_header(d), "", aligned(rows), "",
             "Tests for subgroup differences:",
             f"  separate tau^2 per subgroup (Q-between over the subgroup estimates): "
             f"Q({d['q_between_df']}) = {fmt(d['q_between'], 2)}, {p_text(d['q_between_p'])}",
             f"  common tau^2 (meta-regression on {d['by']}, metafor rma(mods = ~ factor)): "
             f"{common} = {fmt(d['qm_common_tau2'], 2)}, {p_text(d['qm_common_tau2_p'])}",
             "Use the separate-tau^2 test when heterogeneity plausibly differs between subgroups "
             "and each has",
             "enough studies to estimate it; with few studies per subgroup prefer the common-tau^2 test, "
             "whose",
             "pooled tau^2 is estimated more reliably (Borenstein et al. 2009, Introduction to "
             "Meta-Analysis, ch. 19)."]
    if any(g["k"] < 2 for g in d["groups"]) and d["method"] != "FE":
        lines.append("tau^2 of a one-study subgroup is not estimable; its row is that study's own estimate.")
    return "\n".join(lines)


def metareg_table(result: Result) -> str:
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
    label = lookup(d["method"]).label
    lines = [model_line("meta-regression", d["k"], d["method"], d["ci_method"], df, label), "",
             aligned(rows), "", f"Test of moderators: {qm}, {p_text(d['qm_p'])}"]
    lines += heterogeneity_lines(d, q_name="QE")
    if d["method"] != "FE":
        lines.append(f"Heterogeneity accounted for (pseudo-R^2): {fmt(d['r2'], 2)}%")
    return "\n".join(lines + fit_statistics_lines(d) + comparison_lines(d) + robust_lines(d))


MULTILEVEL_CI_NAMES = {"z": "Wald z", "t": "t(k - p)", "cr2": "CR2 robust t (Satterthwaite df)"}


def multilevel_header(d: dict[str, Any], kind: str) -> list[str]:
    """The model line and metafor's rma.mv variance-components table (estim, sqrt, nlvls)."""
    working = (f"CHE working model, rho = {d['rho']:g}" if d["rho"] else "three-level model")
    head = (f"Multilevel {kind} (k = {d['k']}; {d['n_clusters']} clusters; {working}; "
            f"{d['method']}; CI: {MULTILEVEL_CI_NAMES[d['ci_method']]})")
    rows = [["Variance components", "estim", "sqrt", "nlvls", "I^2"],
            ["sigma^2 between clusters", fmt(d["sigma2_between"]), fmt(d["sigma2_between"] ** 0.5),
             d["n_clusters"], f"{fmt(d['i2_between'], 2)}%"],
            ["sigma^2 within clusters", fmt(d["sigma2_within"]), fmt(d["sigma2_within"] ** 0.5),
             d["k"], f"{fmt(d['i2_within'], 2)}%"]]
    return [head, "", aligned(rows), ""]


def multilevel_pool_table(result: Result) -> str:
    d = result.to_dict()
    stat = "z" if d["ci_method"] == "z" else "t"
    level = f"{d['level']:g}%"
    rows = [["", "estimate", "se", f"{level} CI", stat, "df", "p", f"{level} PI"],
            ["pooled", fmt(d["estimate"]), fmt(d["se"]), interval(d["ci_lower"], d["ci_upper"]),
             fmt(d["statistic"], 3), fmt(d["df"], 2), fmt_p(d["p_value"]),
             interval(d["pi_lower"], d["pi_upper"])]]
    tests = [f"Likelihood-ratio test of sigma^2 {t['component']} clusters = 0: "
             f"LRT({t['df']}) = {fmt(t['lrt'], 3)}, {p_text(t['p_value'])} "
             f"(logLik {fmt(t['log_likelihood'], 3)} against {fmt(d['log_likelihood'], 3)})"
             for t in d["variance_tests"]]
    return "\n".join(multilevel_header(d, "model") + [
        f"Test for heterogeneity: Q({d['q_df']}) = {fmt(d['q'], 2)}, {p_text(d['q_p'])}", *tests, "",
        aligned(rows)] + fit_statistics_lines(d) + prediction_lines(d)
        + [f"Note: {note}" for note in d["notes"]])


def multilevel_metareg_table(result: Result) -> str:
    d = result.to_dict()
    stat = "z" if d["ci_method"] == "z" else "t"
    level = f"{d['level']:g}%"
    rows = [["term", "estimate", "se", stat, "df", "p", f"{level} CI"]]
    for c in d["coefficients"]:
        rows.append([c["term"], fmt(c["estimate"]), fmt(c["se"]), fmt(c["statistic"], 3),
                     fmt(c["df"], 2), fmt_p(c["p_value"]), interval(c["ci_lower"], c["ci_upper"])])
    test = "HTZ F" if d["ci_method"] == "cr2" else ("F" if d["qm_df2"] is not None else "QM")
    df = f"{d['qm_df']}, {fmt(d['qm_df2'], 2)}" if d["qm_df2"] is not None else f"{d['qm_df']}"
    return "\n".join(multilevel_header(d, "meta-regression") + [
        f"Test for residual heterogeneity: QE({d['qe_df']}) = {fmt(d['qe'], 2)}, {p_text(d['qe_p'])}",
        f"Test of moderators: {test}({df}) = {fmt(d['qm'], 3)}, {p_text(d['qm_p'])}", "",
        aligned(rows)] + fit_statistics_lines(d) + comparison_lines(d)
        + [f"Note: {note}" for note in d["notes"]])


def multilevel_subgroup_table(result: Result) -> str:
    d = result.to_dict()
    level = f"{d['level']:g}%"
    rows = [[d["by"], "k", "clusters", "estimate", "se", f"{level} CI", "p", "sigma^2 between",
             "sigma^2 within"]]
    for g in d["groups"] + [{"group": "overall", "result": d["overall"]}]:
        r = g["result"]
        rows.append([g["group"], r["k"], r["n_clusters"], fmt(r["estimate"]), fmt(r["se"]),
                     interval(r["ci_lower"], r["ci_upper"]), fmt_p(r["p_value"]),
                     fmt(r["sigma2_between"]), fmt(r["sigma2_within"])])
    test = "HTZ F" if d["ci_method"] == "cr2" else ("F" if d["qm_common_sigma2_df2"] is not None else "QM")
    df = (f"{d['qm_common_sigma2_df']}, {fmt(d['qm_common_sigma2_df2'], 2)}"
          if d["qm_common_sigma2_df2"] is not None else f"{d['qm_common_sigma2_df']}")
    working = f"CHE working model, rho = {d['rho']:g}" if d["rho"] else "three-level model"
    return "\n".join([
        f"Multilevel subgroup analysis by {d['by']} ({working}; {d['method']}; "
        f"CI: {MULTILEVEL_CI_NAMES[d['ci_method']]})", "", aligned(rows), "",
        f"Test of subgroup differences: Q_between({d['q_between_df']}) = {fmt(d['q_between'], 2)}, "
        f"{p_text(d['q_between_p'])}",
        f"Moderator test (common sigma^2): {test}({df}) = {fmt(d['qm_common_sigma2'], 3)}, "
        f"{p_text(d['qm_common_sigma2_p'])}"]
        + [f"Note: {g['group']}: {note}" for g in d["groups"] for note in g["result"]["notes"]])
