"""Text of a multivariate model laid out as metafor's print() of an rma.mv."""
from collections.abc import Sequence
from typing import Any, Protocol

from ..common.formatting import aligned, fmt
from .mvnested import NestedTerm, numbered
from .mvstructs import Parameters


class _Fit(Protocol):
    @property
    def parameters(self) -> Parameters: ...
    @property
    def nested(self) -> tuple[NestedTerm, ...]: ...


class PrintedResult(Protocol):
    """What the table reads of a :class:`~compassmeta.models.multivariate.MultivariateResult`
    besides its ``to_dict()`` (a protocol: that module imports this one)."""

    @property
    def levels(self) -> tuple[str, ...]: ...
    @property
    def fit(self) -> _Fit | None: ...
    @property
    def ci_method(self) -> str: ...
    @property
    def level(self) -> float: ...
    @property
    def notes(self) -> tuple[str, ...]: ...
    @property
    def outer_name(self) -> str: ...
    @property
    def inner_name(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...


def _p(value: float | None) -> str:
    return "<.0001" if value is not None and value < 0.0001 else fmt(value)


def _p_line(value: float | None) -> str:
    return "p-val < .0001" if value is not None and value < 0.0001 else f"p-val = {fmt(value)}"


def _variance_lines(result: PrintedResult, d: dict[str, Any]) -> list[str]:
    """The tau^2 (and rho) table, and for UN the correlation matrix with pair counts."""
    levels = result.levels
    fixed = set(result.fit.parameters.fixed) if result.fit is not None else set()
    if len(d["tau2"]) > 1:
        rows = [["", "estim", "sqrt", "fixed", "level"]]
        rows += [[f"tau^2.{i + 1}", fmt(t), fmt(t ** 0.5), "yes" if i in fixed else "no", levels[i]]
                 for i, t in enumerate(d["tau2"])]
    else:
        rows = [["", "estim", "sqrt", "fixed"], ["tau^2", fmt(d["tau2"][0]), fmt(d["tau2"][0] ** 0.5), "no"]]
    if d["rho"] and d["struct"] != "UN":
        rows.append(["rho", fmt(d["rho"][0]), "", "no"] + ([""] if len(d["tau2"]) > 1 else []))
    lines = [aligned(rows), ""]
    if d["struct"] == "UN":
        n = len(levels)
        matrix = [[""] + [f"rho.{level}" for level in levels]]
        for a in range(n):
            cells = []
            for b in range(n):
                cells.append("1" if a == b else (fmt(_un_rho(d["rho"], n, a, b)) if b < a else ""))
            matrix.append([levels[a]] + cells)
        lines += [aligned(matrix), ""]
    return lines


def _sigma_lines(result: PrintedResult, d: dict[str, Any]) -> list[str]:
    """metafor's sigma^2 table of the nested terms (estimate, sqrt, nlvls, fixed, factor)."""
    if not d["sigma2"]:
        return []
    nested = result.fit.nested if result.fit is not None else ()
    rows = [["", "estim", "sqrt", "nlvls", "fixed", "factor"]]
    rows += [[name, fmt(s), fmt(s ** 0.5), str(term.n_levels), "no", term.factor]
             for name, s, term in zip(numbered("sigma^2", len(d["sigma2"])), d["sigma2"], nested)]
    return [aligned(rows), ""]


def _un_rho(rho: Sequence[float], n: int, a: int, b: int) -> float:
    """rho of levels a > b in metafor's order (lower triangle, column by column)."""
    index = sum(n - 1 - c for c in range(b)) + (a - b - 1)
    return rho[index]


def _coefficient_rows(d: dict[str, Any], t_test: bool) -> list[list[str]]:
    head = ["", "estimate", "se", "tval" if t_test else "zval"] + (["df"] if t_test else []) + [
        "pval", "ci.lb", "ci.ub"]
    rows = [head]
    for c in d["coefficients"]:
        rows.append([c["term"], fmt(c["estimate"]), fmt(c["se"]), fmt(c["statistic"])]
                    + ([fmt(c["df"], 2) if c["df"] % 1 else f"{c['df']:.0f}"] if t_test else [])
                    + [_p(c["p_value"]), fmt(c["ci_lower"]), fmt(c["ci_upper"])])
    return rows


def multivariate_table(result: PrintedResult) -> str:
    """metafor print.rma.mv: variance components, QE, QM, model results (and contrasts,
    profile CIs)."""
    d = result.to_dict()
    t_test = result.ci_method != "z"
    lines = [f"Multivariate Meta-Analysis Model (k = {d['k']}; method: {d['method']})", "",
             "Variance Components:", "", *_sigma_lines(result, d),
             aligned([[f"outer factor: {result.outer_name}", f"(nlvls = {d['n_clusters']})"],
                      [f"inner factor: {result.inner_name}", f"(nlvls = {len(result.levels)})"]]),
             f"struct: {d['struct']}", ""]
    lines += _variance_lines(result, d)
    lines += ["Test for Residual Heterogeneity:",
              f"QE(df = {d['q_df']}) = {fmt(d['q'])}, {_p_line(d['q_p'])}", ""]
    if [c["term"] for c in d["coefficients"]] != ["intercept"]:     # metafor prints no QM then
        df1, df2 = d["qm_df"]
        name = "HTZ F" if result.ci_method == "cr2" else "F"
        df2_text = fmt(df2, 0 if df2 is None or df2 % 1 == 0 else 2)
        test = f"QM(df = {df1})" if df2 is None else f"{name}(df1 = {df1}, df2 = {df2_text})"
        first = 2 if d["coefficients"][0]["term"] == "intercept" else 1
        lines += [f"Test of Moderators (coefficients {first}:{len(d['coefficients'])}):",
                  f"{test} = {fmt(d['qm'])}, {_p_line(d['qm_p'])}", ""]
    lines += ["Model Results" + (" (CR2 robust se, Satterthwaite df)" if result.ci_method == "cr2" else "")
              + ":", "", aligned(_coefficient_rows(d, t_test))]
    if d["contrasts"]:
        rows = [["contrast", "estimate", "se", "tval" if t_test else "zval", "pval", "ci.lb", "ci.ub"]]
        rows += [[c["label"], fmt(c["estimate"]), fmt(c["se"]), fmt(c["statistic"]), _p(c["p_value"]),
                  fmt(c["ci_lower"]), fmt(c["ci_upper"])] for c in d["contrasts"]]
        lines += ["", aligned(rows)]
    if d["predictions"]:
        rows = [["level", "pred", "se", "ci.lb", "ci.ub", "pi.lb", "pi.ub", "I^2"]]
        rows += [[p["level"], fmt(p["estimate"]), fmt(p["se"]), fmt(p["ci_lower"]), fmt(p["ci_upper"]),
                  fmt(p["pi_lower"]), fmt(p["pi_upper"]), f"{fmt(p['i2'], 2)}%"] for p in d["predictions"]]
        lines += ["", "Predicted per level (predict(), tau2.levels = level):", "", aligned(rows)]
    if d["profile"]:
        rows = [["", "estimate", "ci.lb", "ci.ub"]]
        rows += [[p["parameter"], fmt(p["estimate"]), fmt(p["ci_lower"]), fmt(p["ci_upper"])]
                 for p in d["profile"]]
        lines += ["", f"Profile-likelihood {100 * result.level:g}% CIs:", "", aligned(rows)]
    lines += [f"  note: {note}" for note in result.notes]
    return "\n".join(lines)
