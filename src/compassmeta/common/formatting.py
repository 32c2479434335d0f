"""Number formatting shared by every printed result: rounding, p values, intervals, aligned
columns, and the one-line model description and heterogeneity lines of metafor's print.rma."""
from collections.abc import Sequence
from typing import Any

CI_NAMES = {"z": "Wald z", "knha": "Knapp-Hartung t"}


def fmt(value: float | None, digits: int = 4) -> str:
    """A number rounded for a table; '-' for a missing one."""
    if value is None or value != value:
        return "-"
    return f"{value:.{digits}f}"


def fmt_g(value: float) -> str:
    """An effect size in a message: two decimals, or three significant digits beyond 10^6 (a g of
    1e308 from a mistyped cell would otherwise print as 300 digits)."""
    return f"{value:.2f}" if abs(value) < 1e6 else f"{value:.3g}"


def fmt_p(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    return "<0.0001" if value < 0.0001 else f"{value:.4f}"


def p_text(value: float | None) -> str:
    """'p = 0.0123' or 'p < 0.0001'."""
    text = fmt_p(value)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def interval(lower: float | None, upper: float | None, digits: int = 4) -> str:
    return f"[{fmt(lower, digits)}, {fmt(upper, digits)}]"


def aligned(rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; the first column left-aligned, others right."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [str(cell).ljust(widths[0]) if i == 0 else str(cell).rjust(widths[i])
                 for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def model_line(kind: str, k: int, method: str, ci_method: str, df: float | None, label: str) -> str:
    """'Random-effects model (k = 18; tau^2 estimator: restricted maximum likelihood [REML]; CI: Knapp-Hartung
    t(17))'; ``label`` is the estimator's printed name (models.tau2's registry)."""
    test = CI_NAMES[ci_method] + (f"({df:g})" if df is not None else "")
    if method == "FE":
        return f"Fixed-effect {kind} (k = {k}; CI: {test})"
    effects = "Random" if kind == "model" else "Mixed"
    return f"{effects}-effects {kind} (k = {k}; tau^2 estimator: {label} [{method}]; CI: {test})"


def heterogeneity_lines(result: Any, q_name: str = "Q") -> list[str]:
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
