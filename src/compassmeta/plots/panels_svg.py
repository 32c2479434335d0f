"""The report's funnel and bubble plots as SVG (:mod:`.svg_canvas`, no matplotlib), from the same
numbers as the matplotlib plots: :func:`.funnel.funnel_geometry` (studies, trim-and-fill's imputed
ones, the pseudo 95% region) and :func:`.other.bubble_fit` / :func:`.other.regression_band` (weights,
bubble areas, the fitted line and its band).  More than RASTER_POINTS points are drawn as an image.

Roles (ids): funnel ``pseudo-ci`` (both region lines), ``pooled-line``, ``study-point`` (one per
study; ``study-points`` for the image), ``filled-study``; bubble ``ci-band``, ``fitted-line``,
``study-point``/``study-points``, ``null-line``, ``weight-key``."""
import numpy as np

from .common import FONT_SIZE, MEASURE_NAME, RASTER_POINTS
from .funnel import funnel_geometry, funnel_title
from .labels import readable_column
from .other import bubble_fit, bubble_title, regression_band
from .svg_canvas import Axes, nice_ticks, raster_points, titled_panel

INCH = 72.0
BUBBLE_FILL, BUBBLE_EDGE = "#334d99", "#1a1a4d"   # matplotlib's (0.2, 0.3, 0.6) and (0.1, 0.1, 0.3)


def _points(axes: Axes, xs, ys, radius: float, role: str, fill: str = "black", opacity: float = 1.0,
            stroke: str | None = None) -> None:
    """One circle per point, or the points as an image beyond RASTER_POINTS."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if xs.size > RASTER_POINTS:
        colour = tuple(int(fill[i:i + 2], 16) for i in (1, 3, 5)) if fill.startswith("#") else (0, 0, 0)
        raster_points(axes, xs, ys, radius, colour, opacity, role + "s")  # type: ignore[arg-type]
        return
    for x, y in zip(axes.x(xs).tolist(), axes.y(ys).tolist()):
        axes.canvas.circle(x, y, radius, role, fill=fill, opacity=None if opacity == 1.0 else opacity,
                           stroke=stroke)


def funnel_svg(yi, vi, *, method: str = "REML", level: float = 95, trimfill: bool = False,
               title: str | None = None) -> str:
    """The funnel plot (effect against its standard error, inverted; the dashed pseudo 95% region
    centre -/+ z * se; trim-and-fill's imputed studies as open circles) as SVG text."""
    shown = funnel_geometry(yi, vi, method=method, level=level, trimfill=trimfill)
    filled = shown.filled
    imputed = bool(filled and filled.k0)
    heading = funnel_title(title, shown.result, filled, shown.centre)
    canvas, box = titled_panel(6.4 * INCH, 5.4 * INCH, heading, (62, 18, 18, 70 if imputed else 52))
    axes = Axes(canvas, box, (shown.low, shown.high), (shown.se_max, 0.0))
    edge, centre, z = shown.se_max, shown.centre, shown.z
    for side in (-1, 1):
        canvas.polyline(axes.xy([centre, centre + side * z * edge], [0.0, edge]), "pseudo-ci", dash="4,3")
    canvas.polyline(axes.xy([centre, centre], [0.0, edge]), "pooled-line")
    crowded = shown.yi.size > 50  # smaller, translucent points so that overlapping studies stay visible
    _points(axes, shown.yi, shown.se, 2.0 if crowded else 2.65, "study-point",
            opacity=0.6 if crowded else 1.0)
    if imputed:
        _points(axes, filled.filled_yi, shown.filled_se, 2.65, "filled-study", fill="white", stroke="black")
        left, top, width, height = box
        key_x, key_y = left + width / 2 - 90, top + height + 52
        canvas.circle(key_x, key_y, 2.65, "key-filled", fill="white", stroke="black")
        canvas.text(key_x + 8, key_y, f"imputed by trim-and-fill (k0 = {filled.k0})", "key-filled-text",
                    size=FONT_SIZE - 1)
    axes.x_axis(nice_ticks(shown.low, shown.high), label=MEASURE_NAME)
    axes.y_axis(nice_ticks(0.0, edge), label="Standard error")
    axes.frame()
    return canvas.markup()


def _limits(values, pad: float = 0.05) -> tuple[float, float]:
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    margin = pad * (high - low) if high > low else 0.5
    return low - margin, high + margin


def bubble_svg(yi, vi, moderator, name: str, *, method: str = "REML", ci_method: str = "z", level: float = 95,
               title: str | None = None) -> str:
    """The bubble plot of a meta-regression on one numeric moderator (each study's g against it,
    circles with area by weight; the fitted line and its 95% band; three reference bubbles) as SVG
    text (metafor regplot())."""
    result, weights, sizes = bubble_fit(yi, vi, moderator, name, method=method, ci_method=ci_method,
                                        level=level)
    fit = result.fit
    x = np.asarray(moderator, dtype=float)
    grid, fitted, lower, upper = regression_band(fit, x)
    canvas, box = titled_panel(6.4 * INCH, 4.8 * INCH, bubble_title(title, name, result), (62, 18, 80, 52))
    axes = Axes(canvas, box, _limits(x), _limits(np.concatenate([fit.y, lower, upper, [0.0]])))
    band = axes.xy(np.concatenate([grid, grid[::-1]]), np.concatenate([lower, upper[::-1]]))
    canvas.polygon(band, "ci-band", fill="#cccccc", opacity=0.7)
    canvas.polyline(axes.xy(grid, fitted), "fitted-line", width=1.4)
    left, top, width, _ = box
    canvas.line(left, float(axes.y(0.0)), left + width, float(axes.y(0.0)), "null-line", width=0.6)
    if x.size > RASTER_POINTS:
        _points(axes, x, fit.y, float(np.sqrt(np.median(sizes))) / 2, "study-point", fill=BUBBLE_FILL,
                opacity=0.25)
    else:
        for px, py, area in zip(axes.x(x).tolist(), axes.y(fit.y).tolist(), sizes.tolist()):
            canvas.circle(px, py, np.sqrt(area) / 2, "study-point", fill=BUBBLE_FILL, opacity=0.25,
                          stroke=BUBBLE_EDGE)
    axes.x_axis(nice_ticks(*axes.xlim), label=readable_column(name))
    axes.y_axis(nice_ticks(*axes.ylim), label=MEASURE_NAME)
    axes.frame()
    _weight_key(axes, weights, sizes)
    return canvas.markup()


def _weight_key(axes: Axes, weights, sizes) -> None:
    """Three reference bubbles (largest, half, a tenth of the largest weight) right of the panel."""
    left, top, width, _ = axes.box
    x = left + width + 22
    axes.canvas.text(x - 8, top + 6, "Weight", "weight-key-title", size=FONT_SIZE - 1)
    heaviest, area_per_weight = weights.max(), (sizes.max() - 4) / weights.max()
    y = top + 22
    for weight in (heaviest, heaviest / 2, heaviest / 10):
        radius = np.sqrt(4 + area_per_weight * weight) / 2
        y += radius
        axes.canvas.circle(x, y, radius, "weight-key", fill=BUBBLE_FILL, opacity=0.25, stroke=BUBBLE_EDGE)
        axes.canvas.text(x + radius + 4, y, f"{weight:.2g}%", "weight-key-label", size=FONT_SIZE - 1)
        y += radius + 10
