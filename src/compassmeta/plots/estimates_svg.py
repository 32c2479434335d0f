"""Figures of a few estimates per row as SVG (:mod:`.svg_canvas`, no matplotlib): the multivariate
models' components and trajectory plots (as :mod:`.joint` draws them) and the RoB 2 traffic-light
plot (as :func:`.rob.rob_plot` draws it, robvis's layout).

Roles (ids): ``component-estimate`` (a square per component) with ``component-ci``,
``contrast-estimate`` (a diamond) with ``contrast-ci``, ``trajectory-estimate`` (a circle per window)
with ``trajectory-ci``, ``trajectory-line``; ``rob-d1`` .. ``rob-d5``, ``rob-overall`` (a circle per
judged row)."""
from collections.abc import Sequence

import numpy as np

from ..data.rob2 import DOMAIN_NAMES, DOMAINS, RATINGS
from .common import FONT_SIZE, MEASURE_NAME
from .joint import COLOUR, CONTRAST, components_title, trajectory_title
from .rob import COLOURS, COLUMNS, SYMBOLS
from .svg_canvas import Axes, Canvas, nice_ticks, text_width, titled_panel

INCH = 72.0


def _limits(lower, upper) -> tuple[float, float]:
    low, high = min(min(lower), 0.0), max(max(upper), 0.0)
    margin = 0.05 * (high - low or 1.0)
    return low - margin, high + margin


def _interval(axes: Axes, centre: float, low: float, high: float, at: float, role: str, colour: str,
              horizontal: bool = True) -> None:
    """An estimate's CI as a bar with end caps (matplotlib errorbar's capsize 3)."""
    if horizontal:
        y = float(axes.y(at))
        axes.canvas.line(float(axes.x(low)), y, float(axes.x(high)), y, role, colour=colour, width=1.2)
        for end in (low, high):
            end_x = float(axes.x(end))
            axes.canvas.line(end_x, y - 3, end_x, y + 3, role + "-cap", colour=colour)
    else:
        x = float(axes.x(at))
        axes.canvas.line(x, float(axes.y(low)), x, float(axes.y(high)), role, colour=colour, width=1.2)
        for end in (low, high):
            end_y = float(axes.y(end))
            axes.canvas.line(x - 3, end_y, x + 3, end_y, role + "-cap", colour=colour)


def components_svg(levels: Sequence[str], estimates: Sequence[float], lower: Sequence[float],
                   upper: Sequence[float], rho: float, contrast: tuple | None = None, title: str = "") -> str:
    """One row per component (a square at the estimate, its CI), below them the contrast
    ``(label, estimate, lower, upper)`` as a diamond; rho in the title (:func:`.joint.components_plot`)."""
    labels = list(levels) + ([f"contrast {contrast[0]}"] if contrast is not None else [])
    rows = len(labels)
    left = 16 + max(text_width(label, 8) for label in labels)
    canvas, box = titled_panel(6.5 * INCH, (1.2 + 0.45 * rows) * INCH, components_title(title, rho),
                               (left, 8, 16, 40), size=9)
    every_low = list(lower) + ([contrast[2]] if contrast else [])
    every_high = list(upper) + ([contrast[3]] if contrast else [])
    axes = Axes(canvas, box, _limits(every_low, every_high), (-0.7, rows - 0.3))
    top, height = box[1], box[3]
    canvas.line(float(axes.x(0.0)), top, float(axes.x(0.0)), top + height, "null-line", colour="#9a9a9a")
    positions = np.arange(rows)[::-1].astype(float)
    for estimate, low, high, y in zip(estimates, lower, upper, positions):
        _interval(axes, estimate, low, high, y, "component-ci", COLOUR)
        canvas.rect(float(axes.x(estimate)) - 3, float(axes.y(y)) - 3, 6, 6, "component-estimate",
                    fill=COLOUR)
    if contrast is not None:
        _, value, low, high = contrast
        y = positions[-1]
        _interval(axes, value, low, high, y, "contrast-ci", CONTRAST)
        cx, cy = float(axes.x(value)), float(axes.y(y))
        canvas.polygon([(cx - 4, cy), (cx, cy - 4), (cx + 4, cy), (cx, cy + 4)], "contrast-estimate",
                       fill=CONTRAST)
    axes.y_axis(positions.tolist(), labels, size=8)
    axes.x_axis(nice_ticks(*axes.xlim), label=f"{MEASURE_NAME} (95% CI)")
    axes.frame()
    return canvas.markup()


def trajectory_svg(windows: Sequence[str], estimates: Sequence[float], lower: Sequence[float],
                   upper: Sequence[float], rho: float, title: str = "") -> str:
    """The estimate per timepoint window, in time order, with its CI; rho in the title
    (:func:`.joint.trajectory_plot`)."""
    canvas, box = titled_panel(5.5 * INCH, 3.2 * INCH, trajectory_title(title, rho), (62, 8, 16, 46), size=9)
    low, high = _limits(lower, upper)
    axes = Axes(canvas, box, (-0.5, len(windows) - 0.5), (low, high))
    left, _, width, _ = box
    canvas.line(left, float(axes.y(0.0)), left + width, float(axes.y(0.0)), "null-line", colour="#9a9a9a")
    x = np.arange(len(windows), dtype=float)
    canvas.polyline(axes.xy(x, estimates), "trajectory-line", colour=COLOUR, width=1.0)
    for position, estimate, bottom, top in zip(x, estimates, lower, upper):
        _interval(axes, estimate, bottom, top, position, "trajectory-ci", COLOUR, horizontal=False)
        canvas.circle(float(axes.x(position)), float(axes.y(estimate)), 3, "trajectory-estimate", fill=COLOUR)
    axes.x_axis(x.tolist(), list(windows), size=8)
    axes.y_axis(nice_ticks(low, high), label=f"{MEASURE_NAME} (95% CI)")
    axes.frame()
    return canvas.markup()


def traffic_light_svg(judgements, labels: Sequence[str], title: str | None = None) -> str:
    """RoB 2 traffic lights (McGuinness & Higgins 2021): one row per judged result, one circle per
    domain and the overall, coloured and marked by its judgement; the domains' key and the
    judgements' legend below."""
    row_height, column_width = 0.32 * INCH, 0.5 * INCH
    label_width = max(text_width(label) for label in labels) + 20
    width = max(6.4 * INCH, label_width + len(COLUMNS) * column_width + 40)
    top = 30 + (22 if title else 0)
    height = top + row_height * len(judgements) + 95
    canvas = Canvas(width, height)
    if title:
        canvas.text(width / 2, 8, title, "title", size=FONT_SIZE + 2, anchor="middle", valign="top")
    xs = [label_width + column_width * (i + 0.5) for i in range(len(COLUMNS))]
    for name, x in zip(COLUMNS, xs):
        heading = name.upper() if name != "overall" else "Overall"
        canvas.text(x, top - 12, heading, "rob-heading", anchor="middle")
    separator = label_width + column_width * len(DOMAINS)
    canvas.line(separator, top - 4, separator, top + row_height * len(judgements), "rob-separator",
                colour="#666666")
    for row, (judgement, label) in enumerate(zip(judgements, labels)):
        y = top + row_height * (row + 0.5)
        canvas.text(label_width - 10, y, label, "rob-label", anchor="end")
        ratings = [judgement.domains[name] for name in DOMAINS] + [judgement.overall]
        for name, rating, x in zip(COLUMNS, ratings, xs):
            canvas.circle(x, y, 8, f"rob-{name}", fill=COLOURS[rating], stroke="black", stroke_width=0.5)
            canvas.text(x, y, SYMBOLS[rating], "rob-symbol", size=FONT_SIZE + 2, anchor="middle", bold=True)
    key = [f"{name.upper()} {DOMAIN_NAMES[name].lower()}" for name in DOMAINS]
    below = top + row_height * len(judgements) + 14
    canvas.text(width / 2, below, "; ".join(key[:2]) + "\n" + "; ".join(key[2:4]) + "\n" + key[4], "rob-key",
                size=FONT_SIZE - 1, anchor="middle", valign="top", colour="#4d4d4d")
    legend_y = below + 3 * 1.2 * (FONT_SIZE - 1) + 22
    canvas.text(width / 2, legend_y - 14, "Judgement", "rob-legend-title", anchor="middle")
    for index, rating in enumerate(RATINGS):
        x = width / 2 + (index - 1) * 120 - 30
        canvas.circle(x, legend_y, 6, "rob-legend", fill=COLOURS[rating], stroke="black", stroke_width=0.5)
        canvas.text(x + 10, legend_y, f"{SYMBOLS[rating]}  {rating.capitalize()}", "rob-legend-label")
    return canvas.markup()
