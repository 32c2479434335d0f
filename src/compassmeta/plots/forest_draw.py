"""Drawing a forest plot from its rows (:class:`.forest_spec.ForestSpec`) with matplotlib (the
PNG/PDF/SVG files of the forest commands; the report draws the same spec with :mod:`.forest_svg`)."""
from matplotlib.collections import LineCollection
from matplotlib.patches import Polygon
from matplotlib.transforms import blended_transform_factory, offset_copy

from ..common.transforms import TRANSFORMS
from .common import FONT_SIZE, new_figure, text_width_inches
from .forest_spec import (
    CAPTION_LINE,
    LABELLED,
    PAD,
    PLOT_WIDTH,
    ROW_HEIGHT,
    Columns,
    ForestSpec,
    Layout,
    Row,
    StudyMarks,
    axis_limits,
    measure,
    on_scale,
    place_columns,
    right_text,
)


class _Canvas:
    """The figure, its effect axis, and text placed at x inches from the left on a row's y."""

    def __init__(self, layout: Layout):
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


def _draw_titles(canvas: _Canvas, spec: ForestSpec, layout: Layout) -> Columns:
    """The column titles on the top line; returns where each column sits."""
    top, columns = layout.n, place_columns(spec, layout)
    canvas.put(PAD, top, spec.label_title, bold=True)
    for title_text, x in zip(spec.column_titles, columns.cells):
        canvas.put(x, top, title_text, bold=True)
    canvas.put(columns.effect, top, spec.effect_title, bold=True, align="right")
    for title_text, x in zip(spec.weight_titles, columns.weights):
        canvas.put(x, top, title_text, bold=True, align="right", gid="weight-title")
    for title_text, x in zip(spec.rob_titles, columns.rob):
        canvas.put(x, top, title_text, bold=True, align="center", gid="rob-title")
    return columns


def _draw_marks(axis, marks: StudyMarks):
    """The study rows' interval segments, squares and arrows, together."""
    axis.add_collection(LineCollection(marks.segments, colors="black", linewidths=0.9, gid="study-ci"))
    axis.scatter(marks.x, marks.y, s=marks.size, marker="s", color="black", zorder=3, gid="study-markers")
    for points, marker, gid in ((marks.arrows_left, "<", "ci-arrow-left"),
                                (marks.arrows_right, ">", "ci-arrow-right")):
        if points:
            axis.scatter(*zip(*points), s=22, marker=marker, color="black", zorder=4, clip_on=False, gid=gid)


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


def _draw_rows(canvas: _Canvas, rows: list, centres, columns: Columns, limits: tuple[float, float]):
    """Labels, cells, marks, the effect [CI] text and the weights of every row."""
    for row, y in zip(rows, centres):
        if row.kind in LABELLED:
            gid = {"study": "study-label", "header": row.gid, "text": row.gid}.get(row.kind, "")
            canvas.put(PAD, y, row.label, gid=gid, bold=row.bold)
        if row.kind == "study":
            for cell, cell_x in zip(row.cells, columns.cells):
                canvas.put(cell_x, y, cell)
        _draw_interval_mark(canvas.axis, row, y)
        if row.kind in ("study", "pooled", "prediction"):
            canvas.put(columns.effect, y, right_text(row), align="right", bold=row.kind == "pooled")
        if row.kind == "study":
            for weight, x in zip(row.weights, columns.weights):
                canvas.put(x, y, f"{weight:.1f}%", align="right", gid="study-weight")
            _draw_rob(canvas, row.rob, y, columns.rob)
    _draw_marks(canvas.axis, StudyMarks.of(rows, centres, limits))


def _draw_rob(canvas: _Canvas, ratings: tuple, y: float, xs: list):
    """A row's RoB 2 judgements as robvis's coloured circles with their symbols (meta's forest with
    rob); a row without a judgement stays blank."""
    from .rob import COLOURS, SYMBOLS

    for rating, x in zip(ratings, xs):
        canvas.axis.scatter([x / canvas.width], [y], s=120, color=COLOURS[rating], edgecolor="black",
                            linewidth=0.4, transform=canvas.text_at, clip_on=False, zorder=2, gid="rob-light")
        canvas.put(x, y, SYMBOLS[rating], align="center", bold=True)


def _draw_frame(canvas: _Canvas, spec: ForestSpec, layout: Layout, reference_line, null: float = 0.0):
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
    spec, null, reference_line = on_scale(spec, reference_line)
    layout = measure(spec, text_width_inches)
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
