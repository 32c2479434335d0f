"""A forest plot's rows (:class:`.forest_spec.ForestSpec`) drawn as SVG by :mod:`.svg_canvas`: the same
measured layout, columns, squares, diamonds and axis as the matplotlib drawer (:mod:`.forest_draw`),
text as ``<text>``.  Roles (ids): ``study-label``, ``study-marker`` (one square per study drawn),
``study-ci``, ``study-weight``, ``effect-text``, ``pooled-diamond`` (and ``subgroup-diamond``,
``fixed-diamond``), ``prediction-interval``, ``reference-line``, ``title``, ``caption``."""
from ..common.transforms import TRANSFORMS
from . import forest_spec as fs
from .common import FONT_SIZE
from .svg_canvas import Axes, Canvas, nice_ticks, text_width

INCH = 72.0     # points per inch


def _width_inches(text: str, size: float, bold: bool) -> float:
    return text_width(text, size, bold) / INCH


class _Forest:
    """The canvas, the effect axis (rows 0.5 .. n + 0.5 bottom to top) and text at x inches on a row."""

    def __init__(self, layout: fs.Layout, limits: tuple[float, float]):
        self.canvas = Canvas(layout.width * INCH, layout.height * INCH)
        top = (layout.height - layout.bottom - layout.n * fs.ROW_HEIGHT) * INCH
        box = (layout.left * INCH, top, fs.PLOT_WIDTH * INCH, layout.n * fs.ROW_HEIGHT * INCH)
        self.axes = Axes(self.canvas, box, limits, (0.5, layout.n + 0.5))

    def put(self, x_inches: float, row_y: float, text: str, role: str | None = None, bold: bool = False,
            anchor: str = "start") -> None:
        self.canvas.text(x_inches * INCH, float(self.axes.y(row_y)), text, role, bold=bold, anchor=anchor)


def _titles(forest: _Forest, spec: fs.ForestSpec, layout: fs.Layout, columns: fs.Columns) -> None:
    top = layout.n
    forest.put(fs.PAD, top, spec.label_title, "column-title", bold=True)
    for title_text, x in zip(spec.column_titles, columns.cells):
        forest.put(x, top, title_text, "column-title", bold=True)
    forest.put(columns.effect, top, spec.effect_title, "effect-title", bold=True, anchor="end")
    for title_text, x in zip(spec.weight_titles, columns.weights):
        forest.put(x, top, title_text, "weight-title", bold=True, anchor="end")
    for title_text, x in zip(spec.rob_titles, columns.rob):
        forest.put(x, top, title_text, "rob-title", bold=True, anchor="middle")


def _interval_mark(forest: _Forest, row: fs.Row, y: float) -> None:
    """A pooled row's diamond (half a row high 0.32 each way), or a prediction interval with end ticks."""
    axes, canvas = forest.axes, forest.canvas
    if row.kind == "pooled":
        xs = [row.lower, row.estimate, row.upper, row.estimate]
        canvas.polygon(axes.xy(xs, [y, y + 0.32, y, y - 0.32]), row.gid or "pooled-diamond")
    elif row.kind == "prediction":
        canvas.polyline(axes.xy([row.lower, row.upper], [y, y]), row.gid or "prediction-interval", width=1.0)
        for end in (row.lower, row.upper):
            canvas.polyline(axes.xy([end, end], [y - 0.2, y + 0.2]), "prediction-interval-end", width=1.0)


def _rows(forest: _Forest, rows: list, centres, columns: fs.Columns) -> None:
    """Labels, cells, diamonds, the effect [CI] text, the weights and RoB lights of every row."""
    for row, y in zip(rows, centres):
        if row.kind in fs.LABELLED:
            role = {"study": "study-label", "header": row.gid, "text": row.gid}.get(row.kind) or "row-label"
            forest.put(fs.PAD, y, row.label, role, bold=row.bold)
        if row.kind == "study":
            for cell, cell_x in zip(row.cells, columns.cells):
                forest.put(cell_x, y, cell, "cell")
        _interval_mark(forest, row, y)
        if row.kind in ("study", "pooled", "prediction"):
            forest.put(columns.effect, y, fs.right_text(row), "effect-text", bold=row.kind == "pooled",
                       anchor="end")
        if row.kind == "study":
            for weight, x in zip(row.weights, columns.weights):
                forest.put(x, y, f"{weight:.1f}%", "study-weight", anchor="end")
            _rob(forest, row.rob, y, columns.rob)


def _rob(forest: _Forest, ratings: tuple, y: float, xs: list) -> None:
    """A row's RoB 2 judgements as robvis's coloured circles with their symbols."""
    from .rob import COLOURS, SYMBOLS

    for rating, x in zip(ratings, xs):
        forest.canvas.circle(x * INCH, float(forest.axes.y(y)), 6.2, "rob-light", fill=COLOURS[rating],
                             stroke="black", stroke_width=0.4)
        forest.put(x, y, SYMBOLS[rating], "rob-symbol", bold=True, anchor="middle")


def _marks(forest: _Forest, marks: fs.StudyMarks) -> None:
    """Interval segments, squares (side: the root of the area in points^2) and arrows of the studies."""
    axes, canvas = forest.axes, forest.canvas
    for (low, y), (high, _) in marks.segments:
        canvas.polyline(axes.xy([low, high], [y, y]), "study-ci", width=0.9)
    for x, y, area in zip(marks.x, marks.y, marks.size):
        side = area ** 0.5
        canvas.rect(float(axes.x(x)) - side / 2, float(axes.y(y)) - side / 2, side, side, "study-marker")
    for points, direction, role in ((marks.arrows_left, -1, "ci-arrow-left"),
                                    (marks.arrows_right, 1, "ci-arrow-right")):
        for x, y in points:
            tip, middle = float(axes.x(x)) + 2.5 * direction, float(axes.y(y))
            back = tip - 5 * direction
            canvas.polygon([(tip, middle), (back, middle - 3), (back, middle + 3)], role)


def _frame(forest: _Forest, spec: fs.ForestSpec, layout: fs.Layout, reference_line: float | None,
           null: float) -> None:
    """The null line, the optional reference line, the effect axis, 'favours' labels, caption, title."""
    axes, canvas = forest.axes, forest.canvas
    left, top, width, height = axes.box
    canvas.line(float(axes.x(null)), top, float(axes.x(null)), top + height, "reference-line")
    if reference_line is not None:
        canvas.line(float(axes.x(reference_line)), top, float(axes.x(reference_line)), top + height,
                    "pooled-reference", colour="grey", dash="3,2")
    ticks = nice_ticks(*axes.xlim)
    labels = None
    if spec.atransf:
        labels = [f"{float(TRANSFORMS[spec.atransf](x)):.2f}" for x in ticks]
    axes.x_axis(ticks, labels)
    canvas.text(left + width / 2, top + height + 5 + 1.2 * FONT_SIZE + 2, spec.xlabel, "x-label",
                anchor="middle", valign="top")
    below = top + height + 0.5 * INCH
    canvas.text(float(axes.x(null)) - 4, below, "\u2190 Favours control", "favours-control",
                size=FONT_SIZE - 1, anchor="end", valign="top")
    canvas.text(float(axes.x(null)) + 4, below, "Favours intervention \u2192", "favours-intervention",
                size=FONT_SIZE - 1, anchor="start", valign="top")
    if layout.caption_lines:
        caption_top = (layout.height - fs.CAPTION_LINE * len(layout.caption_lines) - 0.1) * INCH
        canvas.text(fs.PAD * INCH, caption_top, "\n".join(layout.caption_lines), "caption",
                    size=FONT_SIZE - 1, italic=True, valign="top")
    if spec.title:
        canvas.text(fs.PAD * INCH, 0.25 * INCH, spec.title, "title", size=FONT_SIZE + 2, bold=True)


def forest_svg(spec: fs.ForestSpec, reference_line: float | None = None) -> str:
    """The spec as SVG text, laid out as :func:`.forest_draw.draw` lays it out (transf/atransf too)."""
    spec, null, reference_line = fs.on_scale(spec, reference_line)
    layout = fs.measure(spec, _width_inches)
    limits = fs.axis_limits(spec.rows, null)
    forest = _Forest(layout, limits)
    columns = fs.place_columns(spec, layout)
    _titles(forest, spec, layout, columns)
    _rows(forest, spec.rows, layout.centres, columns)
    _marks(forest, fs.StudyMarks.of(spec.rows, layout.centres, limits))
    _frame(forest, spec, layout, reference_line, null)
    return forest.canvas.markup()
