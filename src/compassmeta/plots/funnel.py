"""Funnel plot: effect against its standard error (inverted), with the pseudo-confidence
region around the pooled estimate, optional contour-enhanced significance regions (Peters et
al. 2008), trim-and-fill's imputed studies and Egger's regression line."""
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..analyses.bias import regression_test, trim_and_fill
from ..common.distributions import normal_quantile
from ..models.pooling import pool
from .common import FONT_SIZE, MEASURE_NAME, new_figure

CONTOURS = ((0.10, "0.10 > p > 0.05", "0.9"), (0.05, "0.05 > p > 0.01", "0.8"),
            (0.01, "p < 0.01", "0.68"))


@dataclass(frozen=True)
class FunnelGeometry:
    """What a funnel plot shows: the studies (yi, se), trim-and-fill's imputed ones (or None), the
    centre (the pooled estimate, trim-and-fill's adjusted one when filled), the critical value z of
    the pseudo confidence region centre -/+ z * se, the largest se drawn and the x limits."""

    result: Any
    yi: np.ndarray
    se: np.ndarray
    filled: Any
    filled_se: np.ndarray
    se_max: float
    centre: float
    z: float
    low: float
    high: float


def funnel_geometry(yi, vi, *, method="REML", level=95, contours=False, trimfill=False,
                    selmodel=None) -> FunnelGeometry:
    """The funnel's numbers (:class:`FunnelGeometry`), for the matplotlib and the SVG drawer."""
    result = pool(yi, vi, method=method, level=level, with_tau2_ci=False)
    assert result.fit is not None, "pool() keeps its fit"
    yi, vi = result.fit.y, result.fit.v
    se = np.sqrt(vi)
    filled = trim_and_fill(yi, vi, method=method, level=level) if trimfill else None
    filled_se = np.sqrt(np.array(filled.filled_vi)) if filled and filled.k0 else np.array([])
    se_max = max(se.max(), filled_se.max() if filled_se.size else 0.0) * 1.08
    centre = filled.estimate if filled else result.estimate
    z = normal_quantile(1 - (1 - result.level / 100) / 2)
    all_effects = np.concatenate([yi, np.array(filled.filled_yi) if filled else []])
    span = max(np.abs(all_effects - centre).max(), z * se_max) * 1.1
    reach = z * se_max * (1.1 if contours else 0)  # the contours need both sides of 0
    low, high = min(centre - span, -reach), max(centre + span, reach)
    if selmodel is not None:
        low, high = min(low, selmodel.estimate), max(high, selmodel.estimate)
    return FunnelGeometry(result, yi, se, filled, filled_se, float(se_max), float(centre), float(z),
                          float(low), float(high))


def funnel_plot(yi, vi, *, method="REML", level=95, contours=False, trimfill=False, egger=False,
                selmodel=None, title=None):
    """Draw the funnel (:func:`funnel_geometry`); returns the Figure.  ``selmodel``: a fitted
    SelectionModel whose adjusted estimate is drawn as a vertical line."""
    shown = funnel_geometry(yi, vi, method=method, level=level, contours=contours, trimfill=trimfill,
                            selmodel=selmodel)
    result, yi, se, filled, filled_se = shown.result, shown.yi, shown.se, shown.filled, shown.filled_se
    vi = result.fit.v
    se_max, centre, z, low, high = shown.se_max, shown.centre, shown.z, shown.low, shown.high
    figure = new_figure(6.4, 5.4)
    axis = figure.add_subplot(1, 1, 1)
    grid = np.array([0.0, se_max])
    legend = _contours(axis, grid, low, high) if contours else []
    axis.plot(centre - z * grid, grid, color="black", linestyle="--", linewidth=0.8, gid="pseudo-ci")
    axis.plot(centre + z * grid, grid, color="black", linestyle="--", linewidth=0.8)
    axis.plot([centre, centre], [0, se_max], color="black", linewidth=0.8, gid="pooled-line")
    crowded = yi.size > 50  # smaller, translucent points so that overlapping studies stay visible
    axis.scatter(yi, se, s=16 if crowded else 28, color="black", alpha=0.6 if crowded else 1.0, zorder=3,
                 gid="study-points")
    if filled and filled.k0:
        axis.scatter(filled.filled_yi, filled_se, s=28, facecolor="white", edgecolor="black", zorder=3,
                     gid="filled-studies")
    if egger and yi.size >= 3:
        test = regression_test(yi, vi, model="lm", predictor="sei")
        axis.plot(test.limit_estimate + test.intercept * grid, grid, color="tab:red", linewidth=1.0,
                  gid="egger-line", label="Egger's regression line (" + (
                      "p < 0.001" if test.p_value < 0.001 else f"p = {test.p_value:.3f}") + ")")
    if selmodel is not None:
        axis.plot([selmodel.estimate] * 2, [0, se_max], color="tab:blue", linestyle="-.", linewidth=1.0,
                  gid="selmodel-line",
                  label=f"selection model ({selmodel.type}) estimate {selmodel.estimate:.2f}")
    axis.set_xlim(low, high)
    axis.set_ylim(se_max, 0)
    axis.set_xlabel(MEASURE_NAME, fontsize=FONT_SIZE + 1)
    axis.set_ylabel("Standard error", fontsize=FONT_SIZE + 1)
    axis.tick_params(labelsize=FONT_SIZE)
    _legend(axis, legend, filled)
    axis.set_title(funnel_title(title, result, filled, centre), fontsize=FONT_SIZE + 1)
    figure.tight_layout()
    return figure


def _contours(axis, grid, low, high):
    """Shade the significance regions of CONTOURS (Peters et al. 2008); returns their legend patches."""
    from matplotlib.patches import Patch

    axis.set_facecolor("white")
    legend = [Patch(facecolor="white", edgecolor="0.6", label="p > 0.10")]
    for p, label, shade in CONTOURS:
        edge = normal_quantile(1 - p / 2) * grid
        # |effect| beyond edge is significant at p: shade both tails out to the axis limits
        axis.fill_betweenx(grid, [low, low], -edge, color=shade, linewidth=0, gid=f"contour-p{p:g}")
        axis.fill_betweenx(grid, edge, [high, high], color=shade, linewidth=0)
        legend.append(Patch(facecolor=shade, label=label))
    return legend


def _legend(axis, legend, filled):
    """The contour patches, the labelled lines and trim-and-fill's open circles, below the axes."""
    handles = legend + [h for h in axis.get_legend_handles_labels()[0]]
    if filled and filled.k0:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="white",
                              markeredgecolor="black", label=f"imputed by trim-and-fill (k0 = {filled.k0})"))
    if handles:  # below the axes, never over a study
        axis.legend(handles=handles, fontsize=FONT_SIZE - 1, loc="upper center", bbox_to_anchor=(0.5, -0.13),
                    ncol=2, frameon=False)


def funnel_title(title, result, filled, centre):
    """The given title (or a default), then what trim-and-fill did, if it was asked for: "with
    trim-and-fill" only when it imputed studies (k0 > 0), else a subtitle saying it imputed none."""
    if filled is None:
        return title or f"Funnel plot (k = {result.k}; centre: {result.method} estimate {centre:.2f})"
    if filled.k0 > 0:
        head = f"{title} with trim-and-fill" if title else f"Funnel plot with trim-and-fill (k = {result.k})"
        return f"{head}\nk0 = {filled.k0} imputed ({filled.side} side); adjusted estimate {centre:.2f}"
    head = title or f"Funnel plot (k = {result.k}; centre: {result.method} estimate {centre:.2f})"
    return f"{head}\ntrim-and-fill imputed no study (k0 = 0)"
