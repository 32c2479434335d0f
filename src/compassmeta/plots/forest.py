"""Forest plots: studies with weights, pooled diamonds, prediction interval, subgroups, clusters.

Layout is measured, not guessed: every text column is as wide as its widest entry, and the
figure grows by a fixed height per line, so 5 rows and 150 rows both read cleanly.  Squares
are capped in size so that confidence intervals stay visible, and the effect axis is clipped
to the bulk of the intervals: an interval running past it ends in an arrow.
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
from .labels import HEADING_WRAP, is_comparator_tiers, level_order, readable_column, readable_levels, wrap

ROW_HEIGHT = 0.22       # inches per line of text
PLOT_WIDTH = 3.2        # inches for the effect axis
PAD = 0.18              # inches between text columns
TOP, BOTTOM = 0.35, 0.8
CAPTION_LINE = 0.17     # inches per caption line
SORT_KEYS = ("given", "effect", "weight", "year")
LARGE_FOREST = 100      # study rows beyond which a forest is hard to read (offer --summary-only)
SQUARE_AREA = (4.0, 80.0)   # points^2 of the lightest and heaviest study's square (side <= 0.57 row)
FENCE = 2.0             # axis limit: interval ends beyond quartile -/+ FENCE * IQR are clipped


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


def _heterogeneity_text(result, prefix):
    parts = []
    if result.method != "FE":
        parts.append(f"tau\u00b2 = {result.tau2:.3f}")
    parts.append(f"I\u00b2 = {result.i2:.1f}%")
    p = "p < 0.001" if result.q_p < 0.001 else f"p = {result.q_p:.3f}"
    parts.append(f"Q({result.q_df}) = {result.q:.2f}, {p}")
    return f"{prefix} " + ", ".join(parts)


def _pooled_rows(result, label, gid, with_prediction=True, with_heterogeneity=True):
    rows = [Row("pooled", label=label, estimate=result.estimate, lower=result.ci_lower, upper=result.ci_upper,
                gid=gid, bold=True)]
    if with_prediction and result.method != "FE" and np.isfinite(result.pi_lower):
        rows.append(Row("prediction", label="Prediction interval", estimate=result.estimate,
                        lower=result.pi_lower, upper=result.pi_upper, gid="prediction-interval",
                        right_text=f"[{result.pi_lower:.2f}, {result.pi_upper:.2f}]"))
    if result.k > 1 and with_heterogeneity:
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


def _study_rows(yi, vi, labels, columns, weight_columns, order, level, marker_weights=None):
    z = _critical(level)
    marker_weights = weight_columns[0] if marker_weights is None else marker_weights
    rows = []
    for i in order:
        half = z * np.sqrt(vi[i])
        rows.append(Row("study", label=wrap(str(labels[i])), cells=tuple(str(c[i]) for c in columns.values()),
                        estimate=yi[i], lower=yi[i] - half, upper=yi[i] + half,
                        weights=tuple(w[i] for w in weight_columns), marker_weight=marker_weights[i]))
    return rows


def _critical(level):
    from ..common.distributions import critical_value
    from ..models.pooling import as_fraction

    return critical_value(as_fraction(level))


def _percent_weights(result):
    return 100 * result.fit.weights / result.fit.weights.sum()


def forest_plot(yi, vi, labels, *, columns=None, sort="given", years=None, method="REML", ci_method="z",
                level=95, show_fixed=False, title=None, spread=True):
    """Forest plot of one meta-analysis (metafor forest.rma, with a prediction interval and the
    heterogeneity line unless ``spread`` is False: too few studies to estimate them).
    ``show_fixed`` adds the fixed-effect diamond and the fixed-effect
    weights beside the random-effects ones."""
    columns = columns or {}
    result = pool(yi, vi, method=method, ci_method=ci_method, level=level, with_tau2_ci=False)
    yi, vi = result.fit.y, result.fit.v
    weights = [_percent_weights(result)]
    spec = ForestSpec(column_titles=tuple(columns), title=title)
    fixed = None
    if show_fixed and result.method != "FE":
        fixed = pool(yi, vi, method="FE", level=level, with_tau2_ci=False)
        weights.append(_percent_weights(fixed))
        spec.weight_titles = ("RE weight", "FE weight")
    spec.rows += _study_rows(yi, vi, labels, columns, weights, _order(yi, weights[0], years, sort), level)
    spec.rows.append(Row("blank"))
    if fixed is not None:
        spec.rows.append(Row("pooled", label="Fixed-effect model", estimate=fixed.estimate, lower=fixed.ci_lower,
                             upper=fixed.ci_upper, gid="fixed-diamond", bold=True))
    spec.rows += _pooled_rows(result, _model_label(result), "pooled-diamond", with_prediction=spread,
                              with_heterogeneity=spread)
    return draw(spec)


def subgroup_forest_plot(yi, vi, labels, groups, *, by="subgroup", columns=None, sort="given", years=None,
                         method="REML", ci_method="z", level=95, title=None, overall=None, summary_only=False):
    """Forest plot with a header, the studies and a diamond per subgroup, then the overall
    diamond and the test for subgroup differences.

    ``overall=None`` draws the overall diamond unless the subgroups are comparator tiers
    (different questions, pooled within each tier only); True/False force it.
    ``summary_only`` draws one diamond per subgroup and no study rows (for large forests).
    """
    columns = columns or {}
    analysis = subgroup_analysis(yi, vi, groups, by=by, method=method, ci_method=ci_method, level=level)
    whole = analysis.overall
    yi, vi = whole.fit.y, whole.fit.v
    weights = _percent_weights(whole)
    shown_weights = weights.copy()
    group_labels = np.array([str(g) for g in groups])
    levels = [group.level for group in analysis.groups]
    names = readable_levels(levels)
    heading = by if by != by.lower() or " " in by else readable_column(by)
    if overall is None:
        overall = not is_comparator_tiers(levels)
    spec = ForestSpec(column_titles=() if summary_only else tuple(columns), title=title,
                      label_title=heading if summary_only else "Study", weight_titles=() if summary_only
                      else ("Weight",) if overall else ("Weight in subgroup",))
    for group_level in level_order(levels):
        members = np.flatnonzero(group_labels == group_level)
        group_fit = pool(yi[members], vi[members], method=method, ci_method=ci_method, level=level,
                         with_tau2_ci=False)
        if not overall:  # no overall model: each study's share of its own subgroup's pooled estimate
            shown_weights[members] = _percent_weights(group_fit)
        if summary_only:
            spec.rows.append(Row("pooled", label=f"{names[group_level]} (k = {members.size})",
                                 estimate=group_fit.estimate, lower=group_fit.ci_lower, upper=group_fit.ci_upper,
                                 gid="subgroup-diamond"))
            continue
        order = members[_order(yi[members], weights[members], None if years is None else np.asarray(years)[members],
                               sort)]
        spec.rows.append(Row("header", label=wrap(f"{heading}: {names[group_level]}", HEADING_WRAP),
                             gid="subgroup-header", bold=True))
        spec.rows += _study_rows(yi, vi, labels, columns, [shown_weights], order, level, marker_weights=weights)
        spec.rows += _pooled_rows(group_fit, f"Subtotal (k = {members.size})", "subgroup-diamond",
                                  with_prediction=False)
        spec.rows.append(Row("blank"))
    if summary_only:
        spec.rows.append(Row("blank"))
    if overall:
        spec.rows += _pooled_rows(whole, _model_label(whole), "pooled-diamond", with_prediction=not summary_only)
    else:
        spec.caption = (f"No overall diamond: the {heading.lower()} subgroups ask different questions, "
                        "so effects are pooled within each only.")
    p = analysis.q_between_p
    spec.rows.append(Row("text", label=f"Test for subgroup differences: Q({analysis.q_between_df}) = "
                                       f"{analysis.q_between:.2f}, " + ("p < 0.001" if p < 0.001 else f"p = {p:.3f}")))
    return draw(spec)


def cluster_forest_plot(yi, vi, labels, clusters, cluster_labels, *, method="REML", ci_method="z", level=95,
                        overall=None, overall_label=None, title=None):
    """Forest plot with the effects of one cluster (trial) together under the cluster's label.

    ``labels`` name each row within its cluster (instrument, time point); ``cluster_labels``
    maps a cluster to its heading ("Author Year").  ``overall`` is any pooled result with
    ``estimate``, ``ci_lower`` and ``ci_upper`` (and optionally ``pi_lower``/``pi_upper``),
    e.g. a multilevel model's; without one the univariate model is drawn and the caption says
    that it treats the rows of a trial as independent.
    """
    result = pool(yi, vi, method=method, ci_method=ci_method, level=level, with_tau2_ci=False)
    yi, vi = result.fit.y, result.fit.v
    weights = _percent_weights(result)
    cluster_of = [str(c) for c in clusters]
    spec = ForestSpec(title=title)
    for cluster in dict.fromkeys(cluster_of):
        members = [i for i, c in enumerate(cluster_of) if c == cluster]
        if len(members) == 1:
            spec.rows += _study_rows(yi, vi, {members[0]: cluster_labels[cluster]}, {}, [weights], members, level)
            continue
        spec.rows.append(Row("header", label=wrap(cluster_labels[cluster], HEADING_WRAP), gid="cluster-header",
                             bold=True))
        spec.rows += _study_rows(yi, vi, {i: "   " + str(labels[i]) for i in members}, {}, [weights], members,
                                 level)
    spec.rows.append(Row("blank"))
    n_clusters = len(set(cluster_of))
    if overall is None:
        spec.rows += _pooled_rows(result, _model_label(result), "pooled-diamond")
        spec.caption = (f"{result.k} effects from {n_clusters} trials: rows of one trial are not independent, "
                        "and this univariate model pools them as if they were.")
    else:
        spec.rows.append(Row("pooled", label=overall_label or "Multilevel model", estimate=overall.estimate,
                             lower=overall.ci_lower, upper=overall.ci_upper, gid="pooled-diamond", bold=True))
        pi_lower, pi_upper = getattr(overall, "pi_lower", np.nan), getattr(overall, "pi_upper", np.nan)
        if np.isfinite(pi_lower) and np.isfinite(pi_upper):
            spec.rows.append(Row("prediction", label="Prediction interval", estimate=overall.estimate,
                                 lower=pi_lower, upper=pi_upper, gid="prediction-interval",
                                 right_text=f"[{pi_lower:.2f}, {pi_upper:.2f}]"))
        spec.caption = f"{result.k} effects from {n_clusters} trials; weights are those of the univariate model."
    return draw(spec)


def estimates_forest_plot(fits, labels, reference, *, label_title, title=None):
    """Forest of pooled re-fits (leave-one-out or cumulative): one row per fit, no weights,
    the full pooled estimate as a dashed reference line."""
    spec = ForestSpec(label_title=label_title, weight_titles=(), title=title)
    for fit, label in zip(fits, labels):
        spec.rows.append(Row("study", label=wrap(str(label)), estimate=fit.estimate, lower=fit.ci_lower,
                             upper=fit.ci_upper))
    spec.rows.append(Row("blank"))
    spec.rows += _pooled_rows(reference, _model_label(reference), "pooled-diamond", with_prediction=False)
    return draw(spec, reference_line=reference.estimate)


def axis_limits(rows):
    """Effect-axis limits: 0, every diamond and prediction interval, and the study intervals
    up to Tukey-style fences on their ends (quartile -/+ FENCE * IQR), so that one extreme
    study does not squeeze the rest; intervals beyond the limits end in arrows."""
    must = [0.0] + [x for r in rows if r.kind in ("pooled", "prediction") for x in (r.lower, r.upper)]
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


def draw(spec, reference_line=None):
    """Render a ForestSpec; returns the Figure."""
    rows = spec.rows
    heights = [r.lines for r in rows]
    n = sum(heights) + 1  # +1 line for the column titles
    centres = n - np.cumsum([0] + heights[:-1]) - np.array(heights) / 2 - 0.5
    # Study labels share their rows with the extra columns; the other labels (headers, pooled
    # rows, heterogeneity lines) do not, so they may run across those columns but not into the plot.
    label_width = max([text_width_inches(line) for r in rows if r.kind == "study" for line in r.label.split("\n")]
                      + [text_width_inches(spec.label_title, bold=True)])
    wide_labels = max([text_width_inches(line, bold=r.bold) for r in rows
                       if r.kind in ("header", "pooled", "prediction", "text") for line in r.label.split("\n")]
                      + [0.0])
    cell_widths = [max([text_width_inches(r.cells[j]) for r in rows if r.kind == "study"]
                       + [text_width_inches(t, bold=True)]) for j, t in enumerate(spec.column_titles)]
    effect_texts = [_right_text(r) for r in rows]
    effect_width = max([text_width_inches(t) for t in effect_texts] + [text_width_inches("g [95% CI]", bold=True)])
    weight_widths = [text_width_inches(t, bold=True) for t in spec.weight_titles]
    left = PAD + max(label_width + sum(w + PAD for w in cell_widths), wide_labels) + PAD
    right = PAD + effect_width + PAD + sum(w + PAD for w in weight_widths)
    width = left + PLOT_WIDTH + right
    caption_lines = _wrap_caption(spec.caption, width)
    bottom = BOTTOM + CAPTION_LINE * len(caption_lines)
    height = TOP + bottom + n * ROW_HEIGHT + (0.3 if spec.title else 0)
    figure = new_figure(width, height)
    axis = figure.add_axes([left / width, bottom / height, PLOT_WIDTH / width, n * ROW_HEIGHT / height])
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
    weight_x = list(effect_x + PAD + np.cumsum(weight_widths) + PAD * np.arange(len(weight_widths)))
    put(effect_x, top, "g [95% CI]", bold=True, align="right")
    for title_text, x in zip(spec.weight_titles, weight_x):
        put(x, top, title_text, bold=True, align="right", gid="weight-title")

    low, high = axis_limits(rows)
    axis.set_xlim(low, high)

    study_x, study_y, study_size, ci_segments, arrows_left, arrows_right = [], [], [], [], [], []
    max_weight = max([r.marker_weight for r in rows if r.kind == "study" and np.isfinite(r.marker_weight)],
                     default=1.0)
    smallest, largest = SQUARE_AREA
    for row, y in zip(rows, centres):
        if row.kind in ("study", "header", "pooled", "prediction", "text"):
            gid = {"study": "study-label", "header": row.gid}.get(row.kind, "")
            put(PAD, y, row.label, gid=gid, bold=row.bold)
        if row.kind == "study":
            for cell, cell_x in zip(row.cells, column_x):
                put(cell_x, y, cell)
            if low <= row.estimate <= high:
                study_x.append(row.estimate)
                study_y.append(y)
                weight = row.marker_weight if np.isfinite(row.marker_weight) else max_weight / 3
                study_size.append(smallest + (largest - smallest) * weight / max_weight)
            ci_segments.append([(min(max(row.lower, low), high), y), (max(min(row.upper, high), low), y)])
            if row.lower < low:
                arrows_left.append((low, y))
            if row.upper > high:
                arrows_right.append((high, y))
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
            if row.kind == "study":
                for weight, x in zip(row.weights, weight_x):
                    put(x, y, f"{weight:.1f}%", align="right", gid="study-weight")
    axis.add_collection(LineCollection(ci_segments, colors="black", linewidths=0.9, gid="study-ci"))
    axis.scatter(study_x, study_y, s=study_size, marker="s", color="black", zorder=3, gid="study-markers")
    for points, marker, gid in ((arrows_left, "<", "ci-arrow-left"), (arrows_right, ">", "ci-arrow-right")):
        if points:
            axis.scatter(*zip(*points), s=22, marker=marker, color="black", zorder=4, clip_on=False, gid=gid)
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
    if caption_lines:
        figure.text(PAD / width, (CAPTION_LINE * len(caption_lines) + 0.1) / height, "\n".join(caption_lines),
                    fontsize=FONT_SIZE - 1, style="italic", va="top", gid="caption")
    if spec.title:
        figure.text(PAD / width, 1 - 0.25 / height, spec.title, fontsize=FONT_SIZE + 2, fontweight="bold",
                    va="center", gid="title")
    return figure


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
