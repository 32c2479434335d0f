"""Forest plots: studies with weights, pooled diamonds, prediction interval, subgroups.

Layout is measured, not guessed: every text column is as wide as its widest entry, and the
figure grows by a fixed height per row, so 5 rows and 150 rows both read cleanly.
"""
from dataclasses import dataclass, field

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.patches import Polygon
from matplotlib.transforms import blended_transform_factory, offset_copy

from ..common.errors import InputError
from ..models.moderators import subgroup_analysis
from ..models.pooling import pool
from .common import FONT_SIZE, MEASURE_NAME, format_interval, new_figure, text_width_inches

ROW_HEIGHT = 0.22       # inches per row
PLOT_WIDTH = 3.2        # inches for the effect axis
PAD = 0.18              # inches between text columns
TOP, BOTTOM = 0.35, 0.8
SORT_KEYS = ("given", "effect", "weight", "year")


@dataclass
class Row:
    """One line of a forest plot."""

    kind: str                       # study, header, pooled, prediction, text, blank
    label: str = ""
    cells: tuple = ()               # extra left columns
    estimate: float = np.nan
    lower: float = np.nan
    upper: float = np.nan
    weight: float = np.nan          # percent
    gid: str = ""
    bold: bool = False
    right_text: str | None = None   # overrides the effect [CI] column


@dataclass
class ForestSpec:
    rows: list = field(default_factory=list)
    column_titles: tuple = ()
    label_title: str = "Study"
    xlabel: str = MEASURE_NAME
    show_weights: bool = True
    title: str | None = None


def _heterogeneity_text(result, prefix):
    parts = []
    if result.method != "FE":
        parts.append(f"tau\u00b2 = {result.tau2:.3f}")
    parts.append(f"I\u00b2 = {result.i2:.1f}%")
    p = "p < 0.001" if result.q_p < 0.001 else f"p = {result.q_p:.3f}"
    parts.append(f"Q({result.q_df}) = {result.q:.2f}, {p}")
    return f"{prefix} " + ", ".join(parts)


def _pooled_rows(result, label, gid, with_prediction=True):
    rows = [Row("pooled", label=label, estimate=result.estimate, lower=result.ci_lower, upper=result.ci_upper,
                weight=100.0, gid=gid, bold=True)]
    if with_prediction and result.method != "FE" and np.isfinite(result.pi_lower):
        rows.append(Row("prediction", label="Prediction interval", estimate=result.estimate,
                        lower=result.pi_lower, upper=result.pi_upper, gid="prediction-interval",
                        right_text=f"[{result.pi_lower:.2f}, {result.pi_upper:.2f}]"))
    if result.k > 1:
        rows.append(Row("text", label=_heterogeneity_text(result, "Heterogeneity:")))
    return rows


def _model_label(result):
    if result.method == "FE":
        return "Fixed-effect model"
    ci = ", Knapp-Hartung" if result.ci_method == "knha" else ""
    return f"Random-effects model ({result.method}{ci})"


def _order(yi, weights, years, sort):
    if sort not in SORT_KEYS:
        raise InputError(f"unknown sort '{sort}'; choose from {', '.join(SORT_KEYS)}")
    if sort == "effect":
        return np.argsort(yi, kind="stable")
    if sort == "weight":
        return np.argsort(-weights, kind="stable")
    if sort == "year":
        if years is None:
            raise InputError("sorting by year needs a year column")
        return np.argsort(np.asarray(years, dtype=float), kind="stable")
    return np.arange(len(yi))


def _study_rows(yi, vi, labels, columns, weights, order, level):
    z = _critical(level)
    rows = []
    for i in order:
        half = z * np.sqrt(vi[i])
        rows.append(Row("study", label=str(labels[i]), cells=tuple(str(c[i]) for c in columns.values()),
                        estimate=yi[i], lower=yi[i] - half, upper=yi[i] + half, weight=weights[i]))
    return rows


def _critical(level):
    from ..common.distributions import critical_value
    from ..models.pooling import as_fraction

    return critical_value(as_fraction(level))


def forest_plot(yi, vi, labels, *, columns=None, sort="given", years=None, method="REML", ci_method="z",
                level=95, show_fixed=False, title=None):
    """Forest plot of one meta-analysis (metafor forest.rma, with a prediction interval)."""
    columns = columns or {}
    result = pool(yi, vi, method=method, ci_method=ci_method, level=level, with_tau2_ci=False)
    yi, vi = result.fit.y, result.fit.v
    weights = 100 * result.fit.weights / result.fit.weights.sum()
    spec = ForestSpec(column_titles=tuple(columns), title=title)
    spec.rows += _study_rows(yi, vi, labels, columns, weights, _order(yi, weights, years, sort), level)
    spec.rows.append(Row("blank"))
    if show_fixed and method != "FE":
        fixed = pool(yi, vi, method="FE", level=level, with_tau2_ci=False)
        spec.rows.append(Row("pooled", label="Fixed-effect model", estimate=fixed.estimate, lower=fixed.ci_lower,
                             upper=fixed.ci_upper, gid="fixed-diamond", bold=True))
    spec.rows += _pooled_rows(result, _model_label(result), "pooled-diamond")
    return draw(spec)


def subgroup_forest_plot(yi, vi, labels, groups, *, by="subgroup", columns=None, sort="given", years=None,
                         method="REML", ci_method="z", level=95, title=None):
    """Forest plot with a header, the studies and a diamond per subgroup, then the overall
    diamond and the test for subgroup differences."""
    columns = columns or {}
    analysis = subgroup_analysis(yi, vi, groups, by=by, method=method, ci_method=ci_method, level=level)
    overall = analysis.overall
    yi, vi = overall.fit.y, overall.fit.v
    weights = 100 * overall.fit.weights / overall.fit.weights.sum()
    labels_array = np.array([str(g) for g in groups])
    spec = ForestSpec(column_titles=tuple(columns), title=title)
    for group in analysis.groups:
        members = np.flatnonzero(labels_array == group.level)
        order = members[_order(yi[members], weights[members], None if years is None else np.asarray(years)[members],
                               sort)]
        spec.rows.append(Row("header", label=f"{by}: {group.level}", gid="subgroup-header", bold=True))
        spec.rows += _study_rows(yi, vi, labels, columns, weights, order, level)
        group_fit = pool(yi[members], vi[members], method=method, ci_method=ci_method, level=level,
                         with_tau2_ci=False)
        spec.rows += _pooled_rows(group_fit, f"Subtotal (k = {group.k})", "subgroup-diamond",
                                  with_prediction=False)
        spec.rows.append(Row("blank"))
    spec.rows += _pooled_rows(overall, _model_label(overall), "pooled-diamond")
    p = analysis.q_between_p
    spec.rows.append(Row("text", label=f"Test for subgroup differences: Q({analysis.q_between_df}) = "
                                       f"{analysis.q_between:.2f}, " + ("p < 0.001" if p < 0.001 else f"p = {p:.3f}")))
    return draw(spec)


def estimates_forest_plot(fits, labels, reference, *, label_title, title=None):
    """Forest of pooled re-fits (leave-one-out or cumulative): one row per fit, no weights,
    the full pooled estimate as a dashed reference line."""
    spec = ForestSpec(label_title=label_title, show_weights=False, title=title)
    for fit, label in zip(fits, labels):
        spec.rows.append(Row("study", label=str(label), estimate=fit.estimate, lower=fit.ci_lower,
                             upper=fit.ci_upper, weight=np.nan))
    spec.rows.append(Row("blank"))
    spec.rows += _pooled_rows(reference, _model_label(reference), "pooled-diamond", with_prediction=False)
    return draw(spec, reference_line=reference.estimate)


def draw(spec, reference_line=None):
    """Render a ForestSpec; returns the Figure."""
    rows = spec.rows
    n = len(rows) + 1  # +1 for the column titles
    # Study labels share their rows with the extra columns; the other labels (headers, pooled
    # rows, heterogeneity lines) do not, so they may run across those columns but not into the plot.
    label_width = max([text_width_inches(r.label) for r in rows if r.kind == "study"]
                      + [text_width_inches(spec.label_title, bold=True)])
    wide_labels = max([text_width_inches(r.label, bold=r.bold) for r in rows
                       if r.kind in ("header", "pooled", "prediction", "text")] + [0.0])
    cell_widths = [max([text_width_inches(r.cells[j]) for r in rows if r.kind == "study"]
                       + [text_width_inches(t, bold=True)]) for j, t in enumerate(spec.column_titles)]
    effect_texts = [_right_text(r) for r in rows]
    effect_width = max([text_width_inches(t) for t in effect_texts] + [text_width_inches("g [95% CI]", bold=True)])
    weight_width = text_width_inches("Weight", bold=True) if spec.show_weights else 0.0
    left = PAD + max(label_width + sum(w + PAD for w in cell_widths), wide_labels) + PAD
    right = PAD + effect_width + PAD + (weight_width + PAD if spec.show_weights else 0)
    width = left + PLOT_WIDTH + right
    height = TOP + BOTTOM + n * ROW_HEIGHT + (0.3 if spec.title else 0)
    figure = new_figure(width, height)
    axis = figure.add_axes([left / width, BOTTOM / height, PLOT_WIDTH / width, n * ROW_HEIGHT / height])
    axis.set_ylim(0.5, n + 0.5)
    text_at = blended_transform_factory(figure.transFigure, axis.transData)

    def put(x_inches, y, text, gid="", bold=False, align="left"):
        axis.text(x_inches / width, y, text, transform=text_at, ha=align, va="center", fontsize=FONT_SIZE,
                  fontweight="bold" if bold else "normal", gid=gid or None, clip_on=False)

    # column titles
    top = n
    put(PAD, top, spec.label_title, bold=True)
    x = PAD + label_width + PAD
    column_x = []
    for title_text, cell_width in zip(spec.column_titles, cell_widths):
        column_x.append(x)
        put(x, top, title_text, bold=True)
        x += cell_width + PAD
    effect_x = left + PLOT_WIDTH + PAD + effect_width
    weight_x = effect_x + PAD + weight_width
    put(effect_x, top, "g [95% CI]", bold=True, align="right")
    if spec.show_weights:
        put(weight_x, top, "Weight", bold=True, align="right")

    lows = [r.lower for r in rows if r.kind in ("study", "pooled", "prediction")]
    highs = [r.upper for r in rows if r.kind in ("study", "pooled", "prediction")]
    low, high = min(lows + [0.0]), max(highs + [0.0])
    margin = 0.05 * (high - low or 1.0)
    axis.set_xlim(low - margin, high + margin)

    study_x, study_y, study_size, ci_segments = [], [], [], []
    max_weight = max([r.weight for r in rows if r.kind == "study" and np.isfinite(r.weight)] + [1.0])
    for index, row in enumerate(rows):
        y = n - 1 - index
        if row.kind in ("study", "header", "pooled", "prediction", "text"):
            gid = "study-label" if row.kind == "study" else ("subgroup-header" if row.kind == "header" else "")
            put(PAD, y, row.label, gid=gid, bold=row.bold)
        if row.kind == "study":
            for cell, cell_x in zip(row.cells, column_x):
                put(cell_x, y, cell)
            study_x.append(row.estimate)
            study_y.append(y)
            weight = row.weight if np.isfinite(row.weight) else max_weight / 3
            study_size.append(12 + 110 * weight / max_weight)
            ci_segments.append([(row.lower, y), (row.upper, y)])
        elif row.kind == "pooled":
            axis.add_patch(Polygon([(row.lower, y), (row.estimate, y + 0.32), (row.upper, y),
                                    (row.estimate, y - 0.32)], closed=True, facecolor="black",
                                   edgecolor="black", gid=row.gid))
        elif row.kind == "prediction":
            axis.plot([row.lower, row.upper], [y, y], color="black", linewidth=1.0, gid=row.gid)
            axis.plot([row.lower, row.lower], [y - 0.2, y + 0.2], color="black", linewidth=1.0)
            axis.plot([row.upper, row.upper], [y - 0.2, y + 0.2], color="black", linewidth=1.0)
        if row.kind in ("study", "pooled", "prediction"):
            put(effect_x, y, _right_text(row), align="right", bold=row.kind == "pooled")
            if spec.show_weights and row.kind == "study":
                put(weight_x, y, f"{row.weight:.1f}%", align="right")
    axis.add_collection(LineCollection(ci_segments, colors="black", linewidths=0.9, gid="study-ci"))
    axis.scatter(study_x, study_y, s=study_size, marker="s", color="black", zorder=3, gid="study-markers")
    axis.axvline(0.0, color="black", linewidth=0.8, gid="reference-line")
    if reference_line is not None:
        axis.axvline(reference_line, color="grey", linewidth=0.8, linestyle="--", gid="pooled-reference")
    for side in ("left", "right", "top"):
        axis.spines[side].set_visible(False)
    axis.set_yticks([])
    axis.tick_params(axis="x", labelsize=FONT_SIZE)
    axis.set_xlabel(spec.xlabel, fontsize=FONT_SIZE)
    below_label = offset_copy(blended_transform_factory(axis.transData, axis.transAxes), fig=figure,
                              y=-0.5, units="inches")
    axis.text(0.0, 0.0, "\u2190 Favours control  ", transform=below_label, ha="right", va="top",
              fontsize=FONT_SIZE - 1, gid="favours-control")
    axis.text(0.0, 0.0, "  Favours intervention \u2192", transform=below_label, ha="left", va="top",
              fontsize=FONT_SIZE - 1, gid="favours-intervention")
    if spec.title:
        figure.text(PAD / width, 1 - 0.25 / height, spec.title, fontsize=FONT_SIZE + 2, fontweight="bold",
                    va="center", gid="title")
    return figure


def _right_text(row):
    if row.right_text is not None:
        return row.right_text
    if row.kind in ("study", "pooled"):
        return format_interval(row.estimate, row.lower, row.upper)
    return ""
