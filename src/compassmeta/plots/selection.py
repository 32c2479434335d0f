"""The estimated weight function of a selection model, like metafor's plot.rma.uni.selmodel:
relative likelihood of selection against the (one- or two-sided) p-value, with a rug of the studies'
p-values."""
import numpy as np

from .common import FONT_SIZE, new_figure


def weight_function_plot(result, *, points=1000, title=None):
    """Draw ``result.weight`` on [p_min, 1 - p_min] (a step function for 'stepfun'); returns the Figure."""
    p_min = 1e-5 if result.type in ("beta", "power") else 0.0
    p = np.linspace(p_min, 1 - p_min, points)
    if result.type == "stepfun":
        p = np.unique(np.concatenate([p, result.steps]))
    weights = result.weight(p)
    figure = new_figure(6.0, 4.2)
    axis = figure.add_subplot(1, 1, 1)
    if result.type == "stepfun":
        # w is delta_j on (s_{j-1}, s_j]: hold each value up to its bound ("S" in R, steps-pre here)
        axis.step(p, weights, where="pre", color="black", linewidth=2, gid="weight-function")
    else:
        axis.plot(p, weights, color="black", linewidth=2, gid="weight-function")
    rug_height = 0.03 * (np.nanmax(weights[np.isfinite(weights)]) or 1.0)
    axis.vlines(result.p_values, 0, rug_height, color="0.3", linewidth=0.8, gid="p-value-rug")
    axis.set_xlim(0, 1)
    axis.set_ylim(bottom=0)
    sidedness = "two-sided" if result.alternative == "two.sided" else "one-sided"
    axis.set_xlabel(f"p-value ({sidedness})", fontsize=FONT_SIZE + 1)
    axis.set_ylabel("Relative likelihood of selection", fontsize=FONT_SIZE + 1)
    axis.tick_params(labelsize=FONT_SIZE)
    axis.set_title(title or f"Selection model ({result.type}, k = {result.k}): estimated weight function",
                   fontsize=FONT_SIZE + 1)
    figure.tight_layout()
    return figure
