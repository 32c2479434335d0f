"""A forest plot's rows (ForestSpec) and everything about drawing them that does not depend on
how they are drawn: the measured layout (inches), the columns' places, the effect axis' limits,
each study's square, clipped interval and arrows, the transformed scale.  The matplotlib drawer
(:mod:`.forest_draw`) and the SVG drawer (:mod:`.forest_svg`) both draw from these.

Layout is measured, not guessed: every text column is as wide as its widest entry, and the
figure grows by a fixed height per line, so 5 rows and 150 rows both read cleanly.  Squares
are capped in size so that confidence intervals stay visible, and the effect axis is clipped
to the bulk of the intervals: an interval running past it ends in an arrow.
"""
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ..common.errors import InputError
from ..common.transforms import TRANSFORMS
from .common import FONT_SIZE, MEASURE_NAME, format_interval

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
class Layout:
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



#: (text, font size in points, bold) -> width in inches: matplotlib's measure or the SVG table
TextWidth = Callable[[str, float, bool], float]


def measure(spec: ForestSpec, width_of: TextWidth) -> Layout:
    """Every text column as wide as its widest entry (``width_of``); a fixed height per line.  Study
    labels share their rows with the extra columns; the other labels (headers, pooled rows,
    heterogeneity lines) do not, so they may run across those columns but not into the plot."""
    def widest(texts, bold=False) -> float:
        return max([width_of(t, FONT_SIZE, bold) if t else 0.0 for t in texts], default=0.0)

    rows = spec.rows
    studies = [r for r in rows if r.kind == "study"]
    heights = [r.lines for r in rows]
    n = sum(heights) + 1  # +1 line for the column titles
    centres = n - np.cumsum([0] + heights[:-1]) - np.array(heights) / 2 - 0.5
    label_width = max(widest(line for r in studies for line in r.label.split("\n")),
                      widest([spec.label_title], bold=True))
    wide_labels = max([widest([line], bold=r.bold) for r in rows if r.kind in LABELLED[1:]
                       for line in r.label.split("\n")] + [0.0])
    cell_widths = [max(widest(r.cells[j] for r in studies), widest([t], bold=True))
                   for j, t in enumerate(spec.column_titles)]
    effect_width = max(widest(right_text(r) for r in rows), widest([spec.effect_title], bold=True))
    weight_widths = [widest([t], bold=True) for t in spec.weight_titles]
    left = PAD + max(label_width + sum(w + PAD for w in cell_widths), wide_labels) + PAD
    right = PAD + effect_width + PAD + sum(w + PAD for w in weight_widths)
    right += (ROB_CELL * len(spec.rob_titles) + PAD) if spec.rob_titles else 0.0
    width = left + PLOT_WIDTH + right
    caption_lines = _wrap_caption(spec.caption, width, width_of)
    bottom = BOTTOM + CAPTION_LINE * len(caption_lines)
    height = TOP + bottom + n * ROW_HEIGHT + (0.3 if spec.title else 0)
    return Layout(n, centres, label_width, cell_widths, effect_width, weight_widths, left, width, bottom,
                  height, caption_lines)


@dataclass
class Columns:
    """x (inches) of the extra left columns, the right-aligned effect column and the weight columns."""

    cells: list
    effect: float
    weights: list
    rob: list = field(default_factory=list)


def place_columns(spec: ForestSpec, layout: Layout) -> Columns:
    """Where each column sits (its titles on the top line)."""
    x = PAD + layout.label_width + PAD
    cells = []
    for cell_width in layout.cell_widths:
        cells.append(x)
        x += cell_width + PAD
    effect_x = layout.left + PLOT_WIDTH + PAD + layout.effect_width
    weights = layout.weight_widths
    weight_x = list(effect_x + PAD + np.cumsum(weights) + PAD * np.arange(len(weights)))
    start = (weight_x[-1] if weight_x else effect_x) + PAD
    rob_x = [start + ROB_CELL * (i + 0.5) for i in range(len(spec.rob_titles))]
    return Columns(cells, effect_x, weight_x, rob_x)


@dataclass
class StudyMarks:
    """Squares (x, y and area in points^2), interval segments and arrows of the study rows."""

    low: float
    high: float
    max_weight: float
    x: list = field(default_factory=list)
    y: list = field(default_factory=list)
    size: list = field(default_factory=list)
    segments: list = field(default_factory=list)
    arrows_left: list = field(default_factory=list)
    arrows_right: list = field(default_factory=list)

    @classmethod
    def of(cls, rows: list, centres, limits: tuple[float, float]) -> "StudyMarks":
        """The marks of every study row: squares sized by marker weight relative to the heaviest."""
        weights = [r.marker_weight for r in rows if r.kind == "study" and np.isfinite(r.marker_weight)]
        max_weight = max(weights, default=1.0)
        marks = cls(*limits, max_weight)
        for row, y in zip(rows, centres):
            if row.kind == "study":
                marks.add(row, y)
        return marks

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


def on_scale(spec: ForestSpec, reference_line: float | None) -> tuple[ForestSpec, float, float | None]:
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


def _wrap_caption(caption, width_inches, width_of: TextWidth):
    if not caption:
        return []
    import textwrap

    characters = max(40, int((width_inches - 2 * PAD) / width_of("n", FONT_SIZE - 1, False)))
    return textwrap.wrap(caption, characters)


def right_text(row):
    if row.right_text is not None:
        return row.right_text
    if row.kind in ("study", "pooled"):
        return format_interval(row.estimate, row.lower, row.upper)
    return ""
