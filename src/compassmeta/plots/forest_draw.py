"""Drawing a forest plot from its rows (ForestSpec): measured layout, text columns, squares,
intervals, diamonds and prediction intervals.

Layout is measured, not guessed: every text column is as wide as its widest entry, and the
figure grows by a fixed height per line, so 5 rows and 150 rows both read cleanly.  Squares
are capped in size so that confidence intervals stay visible, and the effect axis is clipped
to the bulk of the intervals: an interval running past it ends in an arrow.
"""
from dataclasses import dataclass, field, replace

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.patches import Polygon
from matplotlib.transforms import blended_transform_factory, offset_copy

from ..common.errors import InputError
from ..common.transforms import TRANSFORMS
from .common import FONT_SIZE, MEASURE_NAME, format_interval, new_figure, text_width_inches

ROW_HEIGHT = 0.22       # inches per line of text
ROB_CELL = 0.26         # inches per risk-of-bias column
PLOT_WIDTH = 3.2        # inches for the effect axis
PAD = 0.18              # inches between text columns
TOP, BOTTOM = 0.35, 0.8
CAPTION_LINE = 0.17     # inches per caption line
SQUARE_AREA = (4.0, 80.0)   # points^2 of the lightest and heaviest study's square (side <= 0.57 row)
FENCE = 2.0             # axis limit: interval ends beyond quartile -/+ FENCE * IQR are clipped
EFFECT_TITLE = "g [95% CI]"
LABELLED = ("study", "header", "pooled", "prediction", "text")


@dataclass
class Row:
    """One line of a forest plot (or several, for a wrapped label)."""

    kind: str                       # study, header, pooled, prediction, text, blank
    label: str = ""
    cells: tuple = ()               # extra left columns
    estimate: float = np.nan
    lower: float = np.nan
    upper: float = np.nan
    weights: tuple = ()             # percent, one per weight column
    marker_weight: float = np.nan   # sizes the square (default: the first weight)
    gid: str = ""
    bold: bool = False
    right_text: str | None = None   # overrides the effect [CI] column
    rob: tuple = ()                 # RoB 2 judgements (d1..d5, overall) for the risk-of-bias columns

    @property
    def lines(self):
        return self.label.count("\n") + 1


@dataclass
class ForestSpec:
    rows: list = field(default_factory=list)
    column_titles: tuple = ()
    label_title: str = "Study"
    xlabel: str = MEASURE_NAME
    weight_titles: tuple = ("Weight",)
    title: str | None = None
    caption: str | None = None
    rob_titles: tuple = ()          # titles of the risk-of-bias columns right of the weights
    transf: str | None = None       # metafor's transf: draw on the back-transformed scale
    atransf: str | None = None      # metafor's atransf: drawn as given, axis labels and values transformed
    effect_title: str = EFFECT_TITLE



def axis_limits(rows, null: float = 0.0):
    """Effect-axis limits: the null effect, every diamond and prediction interval, and the study
    intervals up to Tukey-style fences on their ends (quartile -/+ FENCE * IQR), so that one extreme
    study does not squeeze the rest; intervals beyond the limits end in arrows."""
    must = [null] + [x for r in rows if r.kind in ("pooled", "prediction") for x in (r.lower, r.upper)]
    ends = np.array([x for r in rows if r.kind == "study" for x in (r.lower, r.upper)], dtype=float)
    ends = ends[np.isfinite(ends)]
    low, high = min(must), max(must)
    if ends.size:
        q1, q3 = np.percentile(ends, [25, 75])
        spread = q3 - q1
        low = min(low, max(ends.min(), q1 - FENCE * spread))
        high = max(high, min(ends.max(), q3 + FENCE * spread))
    margin = 0.04 * (high - low or 1.0)
    return low - margin, high + margin




@dataclass
class _Layout:
    """Measured sizes (inches) of a forest's text columns and figure, and each row's centre line."""

    n: int                     # lines, the column titles included
    centres: np.ndarray
    label_width: float
    cell_widths: list
    effect_width: float
    weight_widths: list
    left: float
    width: float
    bottom: float
    height: float
    caption_lines: list


def _widest(texts, bold=False) -> float:
    return max([text_width_inches(t, bold=bold) for t in texts], default=0.0)


def _measure(spec: ForestSpec) -> _Layout:
    """Every text column as wide as its widest entry; a fixed height per line.  Study labels share
    their rows with the extra columns; the other labels (headers, pooled rows, heterogeneity lines)
    do not, so they may run across those columns but not into the plot."""
    rows = spec.rows
    studies = [r for r in rows if r.kind == "study"]
    heights = [r.lines for r in rows]
    n = sum(heights) + 1  # +1 line for the column titles
    centres = n - np.cumsum([0] + heights[:-1]) - np.array(heights) / 2 - 0.5
    label_width = max(_widest(line for r in studies for line in r.label.split("\n")),
                      text_width_inches(spec.label_title, bold=True))
    wide_labels = max([text_width_inches(line, bold=r.bold) for r in rows if r.kind in LABELLED[1:]
                       for line in r.label.split("\n")] + [0.0])
    cell_widths = [max(_widest(r.cells[j] for r in studies), text_width_inches(t, bold=True))
                   for j, t in enumerate(spec.column_titles)]
    effect_width = max(_widest(_right_text(r) for r in rows), text_width_inches(spec.effect_title, bold=True))
    weight_widths = [text_width_inches(t, bold=True) for t in spec.weight_titles]
    left = PAD + max(label_width + sum(w + PAD for w in cell_widths), wide_labels) + PAD
    right = PAD + effect_width + PAD + sum(w + PAD for w in weight_widths)
    right += (ROB_CELL * len(spec.rob_titles) + PAD) if spec.rob_titles else 0.0
    width = left + PLOT_WIDTH + right
    caption_lines = _wrap_caption(spec.caption, width)
    bottom = BOTTOM + CAPTION_LINE * len(caption_lines)
    height = TOP + bottom + n * ROW_HEIGHT + (0.3 if spec.title else 0)
    return _Layout(n, centres, label_width, cell_widths, effect_width, weight_widths, left, width, bottom,
                   height, caption_lines)


class _Canvas:
    """The figure, its effect axis, and text placed at x inches from the left on a row's y."""

    def __init__(self, layout: _Layout):
        self.width = layout.width
        self.figure = new_figure(layout.width, layout.height)
        self.axis = self.figure.add_axes([layout.left / layout.width, layout.bottom / layout.height,
                                          PLOT_WIDTH / layout.width, layout.n * ROW_HEIGHT / layout.height])
        self.axis.set_ylim(0.5, layout.n + 0.5)
        self.text_at = blended_transform_factory(self.figure.transFigure, self.axis.transData)

    def put(self, x_inches, y, text, gid="", bold=False, align="left"):
        self.axis.text(x_inches / self.width, y, text, transform=self.text_at, ha=align, va="center",
                       fontsize=FONT_SIZE, fontweight="bold" if bold else "normal", gid=gid or None,
                       clip_on=False)


@dataclass
class _Columns:
    """x (inches) of the extra left columns, the right-aligned effect column and the weight columns."""

    cells: list
    effect: float
    weights: list
    rob: list = field(default_factory=list)


def _draw_titles(canvas: _Canvas, spec: ForestSpec, layout: _Layout) -> _Columns:
    """The column titles on the top line; returns where each column sits."""
    top = layout.n
    canvas.put(PAD, top, spec.label_title, bold=True)
    x = PAD + layout.label_width + PAD
    cells = []
    for title_text, cell_width in zip(spec.column_titles, layout.cell_widths):
        cells.append(x)
        canvas.put(x, top, title_text, bold=True)
        x += cell_width + PAD
    effect_x = layout.left + PLOT_WIDTH + PAD + layout.effect_width
    weights = layout.weight_widths
    weight_x = list(effect_x + PAD + np.cumsum(weights) + PAD * np.arange(len(weights)))
    canvas.put(effect_x, top, spec.effect_title, bold=True, align="right")
    for title_text, x in zip(spec.weight_titles, weight_x):
        canvas.put(x, top, title_text, bold=True, align="right", gid="weight-title")
    start = (weight_x[-1] if weight_x else effect_x) + PAD
    rob_x = [start + ROB_CELL * (i + 0.5) for i in range(len(spec.rob_titles))]
    for title_text, x in zip(spec.rob_titles, rob_x):
        canvas.put(x, top, title_text, bold=True, align="center", gid="rob-title")
    return _Columns(cells, effect_x, weight_x, rob_x)


@dataclass
class _StudyMarks:
    """Squares, interval segments and arrows of the study rows, drawn together at the end."""

    low: float
    high: float
    max_weight: float
    x: list = field(default_factory=list)
    y: list = field(default_factory=list)
    size: list = field(default_factory=list)
    segments: list = field(default_factory=list)
    arrows_left: list = field(default_factory=list)
    arrows_right: list = field(default_factory=list)

    def add(self, row: Row, y: float):
        low, high = self.low, self.high
        if low <= row.estimate <= high:
            smallest, largest = SQUARE_AREA
            weight = row.marker_weight if np.isfinite(row.marker_weight) else self.max_weight / 3
            self.x.append(row.estimate)
            self.y.append(y)
            self.size.append(smallest + (largest - smallest) * weight / self.max_weight)
        self.segments.append([(min(max(row.lower, low), high), y), (max(min(row.upper, high), low), y)])
        if row.lower < low:
            self.arrows_left.append((low, y))
        if row.upper > high:
            self.arrows_right.append((high, y))

    def draw(self, axis):
        axis.add_collection(LineCollection(self.segments, colors="black", linewidths=0.9, gid="study-ci"))
        axis.scatter(self.x, self.y, s=self.size, marker="s", color="black", zorder=3, gid="study-markers")
        for points, marker, gid in ((self.arrows_left, "<", "ci-arrow-left"),
                                    (self.arrows_right, ">", "ci-arrow-right")):
            if points:
                axis.scatter(*zip(*points), s=22, marker=marker, color="black", zorder=4, clip_on=False,
                             gid=gid)


def _draw_interval_mark(axis, row: Row, y: float):
    """A pooled row's diamond, or a prediction interval's line with end ticks."""
    if row.kind == "pooled":
        axis.add_patch(Polygon([(row.lower, y), (row.estimate, y + 0.32), (row.upper, y),
                                (row.estimate, y - 0.32)], closed=True, facecolor="black",
                               edgecolor="black", gid=row.gid))
    elif row.kind == "prediction":
        axis.plot([row.lower, row.upper], [y, y], color="black", linewidth=1.0, gid=row.gid)
        axis.plot([row.lower, row.lower], [y - 0.2, y + 0.2], color="black", linewidth=1.0)
        axis.plot([row.upper, row.upper], [y - 0.2, y + 0.2], color="black", linewidth=1.0)


def _draw_rows(canvas: _Canvas, rows: list, centres, columns: _Columns, limits: tuple[float, float]):
    """Labels, cells, marks, the effect [CI] text and the weights of every row."""
    max_weight = max([r.marker_weight for r in rows if r.kind == "study" and np.isfinite(r.marker_weight)],
                     default=1.0)
    marks = _StudyMarks(*limits, max_weight)
    for row, y in zip(rows, centres):
        if row.kind in LABELLED:
            gid = {"study": "study-label", "header": row.gid, "text": row.gid}.get(row.kind, "")
            canvas.put(PAD, y, row.label, gid=gid, bold=row.bold)
        if row.kind == "study":
            for cell, cell_x in zip(row.cells, columns.cells):
                canvas.put(cell_x, y, cell)
            marks.add(row, y)
        _draw_interval_mark(canvas.axis, row, y)
        if row.kind in ("study", "pooled", "prediction"):
            canvas.put(columns.effect, y, _right_text(row), align="right", bold=row.kind == "pooled")
        if row.kind == "study":
            for weight, x in zip(row.weights, columns.weights):
                canvas.put(x, y, f"{weight:.1f}%", align="right", gid="study-weight")
            _draw_rob(canvas, row.rob, y, columns.rob)
    marks.draw(canvas.axis)


def _draw_rob(canvas: _Canvas, ratings: tuple, y: float, xs: list):
    """A row's RoB 2 judgements as robvis's coloured circles with their symbols (meta's forest with
    rob); a row without a judgement stays blank."""
    from .rob import COLOURS, SYMBOLS

    for rating, x in zip(ratings, xs):
        canvas.axis.scatter([x / canvas.width], [y], s=120, color=COLOURS[rating], edgecolor="black",
                            linewidth=0.4, transform=canvas.text_at, clip_on=False, zorder=2, gid="rob-light")
        canvas.put(x, y, SYMBOLS[rating], align="center", bold=True)


def _draw_frame(canvas: _Canvas, spec: ForestSpec, layout: _Layout, reference_line, null: float = 0.0):
    """The null line, the optional reference line, the effect axis, 'favours' labels, caption, title."""
    axis, figure, width, height = canvas.axis, canvas.figure, layout.width, layout.height
    axis.axvline(null, color="black", linewidth=0.8, gid="reference-line")
    if reference_line is not None:
        axis.axvline(reference_line, color="grey", linewidth=0.8, linestyle="--", gid="pooled-reference")
    for side in ("left", "right", "top"):
        axis.spines[side].set_visible(False)
    axis.set_yticks([])
    axis.tick_params(axis="x", labelsize=FONT_SIZE)
    axis.set_xlabel(spec.xlabel, fontsize=FONT_SIZE)
    below_label = offset_copy(blended_transform_factory(axis.transData, axis.transAxes), fig=figure,
                              y=-0.5, units="inches")
    axis.text(null, 0.0, "\u2190 Favours control  ", transform=below_label, ha="right", va="top",
              fontsize=FONT_SIZE - 1, gid="favours-control")
    axis.text(null, 0.0, "  Favours intervention \u2192", transform=below_label, ha="left", va="top",
              fontsize=FONT_SIZE - 1, gid="favours-intervention")
    lines = layout.caption_lines
    if lines:
        figure.text(PAD / width, (CAPTION_LINE * len(lines) + 0.1) / height, "\n".join(lines),
                    fontsize=FONT_SIZE - 1, style="italic", va="top", gid="caption")
    if spec.title:
        figure.text(PAD / width, 1 - 0.25 / height, spec.title, fontsize=FONT_SIZE + 2, fontweight="bold",
                    va="center", gid="title")


def draw(spec: ForestSpec, reference_line: float | None = None):
    """Render a ForestSpec; returns the Figure.  With ``spec.transf`` every estimate and bound (and
    the null and reference lines) is drawn and printed back-transformed; with ``spec.atransf`` they
    are drawn as given and the axis labels and printed values are back-transformed (metafor's
    forest(transf =, atransf =))."""
    spec, null, reference_line = _on_scale(spec, reference_line)
    layout = _measure(spec)
    canvas = _Canvas(layout)
    columns = _draw_titles(canvas, spec, layout)
    limits = axis_limits(spec.rows, null)
    canvas.axis.set_xlim(*limits)
    _draw_rows(canvas, spec.rows, layout.centres, columns, limits)
    _draw_frame(canvas, spec, layout, reference_line, null)
    if spec.atransf:
        from matplotlib.ticker import FuncFormatter

        labels = TRANSFORMS[spec.atransf]
        canvas.axis.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{float(labels(x)):.2f}"))
    return canvas.figure


def _on_scale(spec: ForestSpec, reference_line: float | None) -> tuple[ForestSpec, float, float | None]:
    """(the spec with its rows on the scale drawn, the null effect there, the reference line there)."""
    if spec.transf and spec.atransf:
        raise InputError("transf and atransf are alternatives: give one")
    name = spec.transf or spec.atransf
    if name is None:
        return spec, 0.0, reference_line
    if TRANSFORMS[name].targs:
        raise InputError(f"a forest plot is not drawn with {name}: it needs each study's "
                         f"{', '.join(TRANSFORMS[name].targs)}")
    function = TRANSFORMS[name]

    def values(row: Row) -> tuple[float, float, float]:
        estimate, lower, upper = (float(function(x)) for x in (row.estimate, row.lower, row.upper))
        return estimate, lower, upper

    rows = []
    for row in spec.rows:
        if row.kind not in ("study", "pooled", "prediction"):
            rows.append(row)
            continue
        estimate, lower, upper = values(row)
        text = (f"[{lower:.2f}, {upper:.2f}]" if row.kind == "prediction"
                else format_interval(estimate, lower, upper))
        rows.append(replace(row, estimate=estimate, lower=lower, upper=upper, right_text=text) if spec.transf
                    else replace(row, right_text=text))
    # the effect is then not (only) g: the forests of the measure routes and of escalc output
    xlabel = f"Effect size ({'transf' if spec.transf else 'atransf'} = {name})"
    shown = replace(spec, rows=rows, xlabel=xlabel, effect_title=f"{name}(estimate) [95% CI]")
    if not spec.transf:
        return shown, 0.0, reference_line
    moved = None if reference_line is None else float(function(reference_line))
    return shown, float(function(0.0)), moved


def _wrap_caption(caption, width_inches):
    if not caption:
        return []
    import textwrap

    characters = max(40, int((width_inches - 2 * PAD) / text_width_inches("n", FONT_SIZE - 1)))
    return textwrap.wrap(caption, characters)


def _right_text(row):
    if row.right_text is not None:
        return row.right_text
    if row.kind in ("study", "pooled"):
        return format_interval(row.estimate, row.lower, row.upper)
    return ""
