"""Numbers as the report writes them, in its bias summaries and on its page."""
import math


def p_text(p: float) -> str:
    """'p < 0.001' or 'p = 0.123'."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def interval_text(estimate: float, lower: float, upper: float) -> str:
    """'0.58 [0.41, 0.75]'; '0.58 (CI not estimable)' where a bound is missing or not finite."""
    if any(value is None or not math.isfinite(value) for value in (lower, upper)):
        return f"{estimate:.2f} (CI not estimable)"
    return f"{estimate:.2f} [{lower:.2f}, {upper:.2f}]"


def number(value: float | None, digits: int = 2) -> str:
    """A value rounded to ``digits``, or a dash where there is none (None, NaN, infinite)."""
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"
