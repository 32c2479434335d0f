"""The page's multivariate models (report.joint_models), from the report's data alone: the
bivariate SCS-component model (both effects, their heterogeneity and correlation, the contrast)
and each outcome's trajectory over the timepoint windows, the model stated under each."""
import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .figures import joint_svg
from .numbers import interval_text, number, p_text

#: Draws one of the page's tables: (header cells, rows of cells, CSS class) -> HTML.
TableRenderer = Callable[[Sequence[str], Sequence[Sequence[str]], str], str]
#: Wraps a figure: (SVG, caption, kind) -> HTML.
FigureRenderer = Callable[[str, str, str], str]


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _panel(joint: Mapping[str, Any], table: TableRenderer, figure: FigureRenderer) -> str:
    result = joint["result"]
    components = joint["kind"] == "components"
    title = (f"SCS components: compassionate vs uncompassionate, {joint['window']}" if components
             else f"Trajectory: {joint['outcome']} ({joint['window']})")
    head = (f'<div class="joint" data-kind="{_e(joint["kind"])}"><h3>{_e(title)}</h3>'
            f'<p class="note">{joint["k_rows"]} rows in {joint["n_trials"]} trials.</p>')
    if result is None:
        return head + f'<p class="note">{_e(joint["note"])}.</p></div>'
    heterogeneous = len(result["tau2"]) == len(joint["levels"])
    rows = [[_e(level), interval_text(c["estimate"], c["ci_lower"], c["ci_upper"]), p_text(c["p_value"]),
             number(result["tau2"][i if heterogeneous else 0], 3)]
            for i, (level, c) in enumerate(zip(joint["levels"], result["coefficients"]))]
    body = table(["Component" if components else "Window", "#g [95% CI]", "#p", "#τ²"],
                 rows, "joint")
    rho = ("Correlation of the true effects (ρ)" if heterogeneous
           else "Autocorrelation of a trial's true effects one window apart (ρ)")
    lines = [f"{rho}: {number(result['rho'][0], 3)}"]
    lines += [f"Contrast {_e(c['label'])}: {interval_text(c['estimate'], c['ci_lower'], c['ci_upper'])}, "
              f"{p_text(c['p_value'])}" for c in result["contrasts"]]
    if not result["converged"]:
        lines.append("the estimation did not converge: the numbers are not reliable")
    drawn = figure(joint_svg(joint), f"Model: {joint['model']}.", f"joint-{joint['kind']}")
    return (head + body + "".join(f'<p class="test">{line}</p>' for line in lines)
            + f'<p class="note">Model: {_e(joint["model"])}.</p>' + drawn + "</div>")


def joint_section(report: Mapping[str, Any], table: TableRenderer, figure: FigureRenderer) -> str:
    """The section of the report's multivariate models ('' where it has none); ``table`` draws
    the page's tables, ``figure`` wraps a figure's SVG with its caption (the model)."""
    models = report.get("joint_models") or ()
    if not models:
        return ""
    return ('<section id="multivariate"><h2>Multivariate models</h2>'
            '<p class="note">Where trials report both SCS components, their effects are estimated together '
            "(Muris &amp; Otgaar 2022: the components measure different things); where an outcome has rows "
            "after the end of treatment as well as at it, its trajectory over the timepoint windows.</p>"
            + "".join(_panel(joint, table, figure) for joint in models) + "</section>")
