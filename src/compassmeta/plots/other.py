"""Bubble plot of a meta-regression, Baujat plot and GOSH plot."""
import numpy as np

from ..analyses.sensitivity import influence
from ..models.moderators import design_matrix, is_numeric, meta_regression, sorted_levels
from .common import FONT_SIZE, MEASURE_NAME, new_figure
from .labels import level_order, readable_column, readable_levels, wrap

BUBBLE_AREA = 300.0     # points^2 of the heaviest study's bubble at k <= 20; shrinks as 1/sqrt(k) beyond
LABEL_OFFSETS = ((4, 4, "left", "bottom"), (-4, 4, "right", "bottom"), (4, -4, "left", "top"),
                 (-4, -4, "right", "top"), (6, 0, "left", "center"), (-6, 0, "right", "center"))


def bubble_fit(yi, vi, moderator, name, *, method="REML", ci_method="z", level=95):
    """(the meta-regression, each study's percent weight, its bubble's area in points^2): the heaviest
    study's BUBBLE_AREA at k <= 20, shrinking as 1/sqrt(k) beyond, for every bubble plot's drawer."""
    result = meta_regression(yi, vi, {name: list(moderator)}, method=method, ci_method=ci_method, level=level)
    fit = result.fit
    assert fit is not None, "meta_regression() keeps its fit"
    weights = 100 * fit.weights / fit.weights.sum()
    largest = BUBBLE_AREA * min(1.0, np.sqrt(20 / fit.k))
    return result, weights, 4 + largest * weights / weights.max()


def regression_band(fit, x, points: int = 200):
    """(grid, fitted line, lower, upper) of a meta-regression on one numeric moderator: the line over
    ``points`` values from the least to the largest ``x`` and its confidence band, fitted -/+ the
    critical value times sqrt(x' V x) (metafor predict.rma)."""
    grid = np.linspace(np.min(x), np.max(x), points)
    design = np.column_stack([np.ones_like(grid), grid])
    predicted = design @ fit.beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", design, fit.vcov, design))
    return grid, predicted, predicted - fit.critical_value * se, predicted + fit.critical_value * se


def bubble_title(title, name, result):
    p = "p < 0.001" if result.qm_p < 0.001 else f"p = {result.qm_p:.3f}"
    return title or (f"Meta-regression on {readable_column(name).lower()}\n(k = {result.k}; "
                     f"QM = {result.qm:.2f}, {p}; R\u00b2 = {result.r2:.0f}%)")


def bubble_plot(yi, vi, moderator, name, *, method="REML", ci_method="z", level=95, title=None):
    """Effects against a continuous moderator (translucent points with area proportional to
    their weight, the fitted line and its CI band), or, for a categorical one, each level's
    model-based estimate with its CI (metafor regplot())."""
    result, weights, sizes = bubble_fit(yi, vi, moderator, name, method=method, ci_method=ci_method,
                                        level=level)
    fit = result.fit
    crit = fit.critical_value
    figure = new_figure(6.4, 4.8)
    axis = figure.add_subplot(1, 1, 1)
    points = dict(s=sizes, facecolor=(0.2, 0.3, 0.6, 0.25), edgecolor=(0.1, 0.1, 0.3, 0.6), linewidth=0.6,
                  gid="study-points")
    if is_numeric(list(moderator)):
        x = np.asarray(moderator, dtype=float)
        grid, predicted, lower, upper = regression_band(fit, x)
        axis.fill_between(grid, lower, upper, color="0.8", alpha=0.7, gid="ci-band", zorder=3)
        axis.plot(grid, predicted, color="black", linewidth=1.4, gid="fitted-line", zorder=4)
        axis.scatter(x, fit.y, **points)
    else:
        labels = [str(value) for value in moderator]
        _, terms = design_matrix({name: labels}, len(labels))
        reference = sorted_levels(labels)[0]
        levels = level_order(sorted(set(labels)))
        names = readable_levels(levels)
        positions = {lvl: i for i, lvl in enumerate(levels)}
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(labels))
        axis.scatter([positions[lab] + j for lab, j in zip(labels, jitter)], fit.y, **points)
        for index, lvl in enumerate(levels):
            row = np.zeros(fit.p)
            row[0] = 1.0
            if lvl != reference:
                row[terms.index(f"{name}[{lvl}]")] = 1.0
            estimate, se = row @ fit.beta, np.sqrt(row @ fit.vcov @ row)
            axis.errorbar(index, estimate, yerr=crit * se, fmt="D", color="black", capsize=4, zorder=4,
                          gid="level-estimate")
        axis.set_xticks(range(len(levels)), [wrap(names[lvl], 11) for lvl in levels], fontsize=FONT_SIZE - 1)
    axis.set_xlabel(readable_column(name), fontsize=FONT_SIZE + 1)
    axis.axhline(0, color="black", linewidth=0.6)
    axis.set_ylabel(MEASURE_NAME, fontsize=FONT_SIZE + 1)
    axis.tick_params(labelsize=FONT_SIZE)
    _weight_legend(axis, weights, sizes)
    axis.set_title(bubble_title(title, name, result), fontsize=FONT_SIZE + 1)
    figure.tight_layout()
    return figure


def _weight_legend(axis, weights, sizes):
    """Three reference bubbles (largest, half, a tenth of the largest weight), outside the data."""
    from matplotlib.lines import Line2D

    top, area_per_weight = weights.max(), (sizes.max() - 4) / weights.max()
    handles = [Line2D([], [], linestyle="", marker="o", markersize=np.sqrt(4 + area_per_weight * w),
                      markerfacecolor=(0.2, 0.3, 0.6, 0.25), markeredgecolor=(0.1, 0.1, 0.3, 0.6),
                      label=f"{w:.2g}%") for w in (top, top / 2, top / 10)]
    axis.legend(handles=handles, title="Weight", fontsize=FONT_SIZE - 1, title_fontsize=FONT_SIZE - 1,
                loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, labelspacing=1.2)


def baujat_plot(yi, vi, labels, *, method="REML", ci_method="z", level=95, title=None):
    """Contribution to heterogeneity (x) against influence on the pooled result (y)
    (Baujat et al. 2002; metafor baujat()).  Standing-out studies are labelled inside the
    axes, each label at the first of a few offsets that overlaps no point and no other label."""
    rows = influence(yi, vi, labels, method=method, ci_method=ci_method, level=level)
    x = np.array([row.baujat_x for row in rows])
    y = np.array([row.baujat_y for row in rows])
    figure = new_figure(6.0, 4.8)
    axis = figure.add_subplot(1, 1, 1)
    axis.scatter(x, y, s=18, color="black", gid="study-points")
    axis.margins(0.08)
    axis.set_xlabel("Squared Pearson residual (contribution to Q)", fontsize=FONT_SIZE + 1)
    axis.set_ylabel("Influence on the pooled estimate", fontsize=FONT_SIZE + 1)
    axis.tick_params(labelsize=FONT_SIZE)
    axis.set_title(title or "Baujat plot (labelled: above twice the mean on either axis)",
                   fontsize=FONT_SIZE + 1)
    figure.tight_layout()
    # Label the studies that stand out on either axis; the crowd near the origin stays unlabelled.
    standing_out = [i for i in range(x.size) if x[i] > 2 * x.mean() or y[i] > 2 * y.mean()]
    _place_labels(figure, axis, x, y, [rows[i].study for i in standing_out], standing_out)
    return figure


def _place_labels(figure, axis, x, y, texts, indices):
    """Annotate points ``indices`` with ``texts`` at the first offset whose box stays inside
    the axes and clear of every point and earlier label (the largest points first)."""
    renderer = figure.canvas.get_renderer()
    frame = axis.get_window_extent(renderer)
    centres = axis.transData.transform(np.column_stack([x, y]))
    radius = 4.0 * figure.dpi / 72  # a marker of 18 pt^2 is about 4 pt across
    taken = []
    for text, index in sorted(zip(texts, indices), key=lambda pair: -x[pair[1]]):
        for dx, dy, ha, va in LABEL_OFFSETS:
            label = axis.annotate(text, (x[index], y[index]), xytext=(dx, dy), textcoords="offset points",
                                  ha=ha, va=va, fontsize=FONT_SIZE - 1, gid="study-label")
            box = label.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            hits_point = np.any((centres[:, 0] + radius > box.x0) & (centres[:, 0] - radius < box.x1)
                                & (centres[:, 1] + radius > box.y0) & (centres[:, 1] - radius < box.y1))
            if inside and not hits_point and not any(box.overlaps(other) for other in taken):
                taken.append(box)
                break
            label.remove()
        else:  # no free spot: keep the label inside the axes, up-left of the point
            label = axis.annotate(text, (x[index], y[index]), xytext=(-4, 4), textcoords="offset points",
                                  ha="right", va="bottom", fontsize=FONT_SIZE - 1, gid="study-label")
            taken.append(label.get_window_extent(renderer))


def gosh_plot(result, title=None):
    """GOSH plot: pooled estimate against I^2 of every subset, as a log-density hexbin (readable
    for a million points) with its colour scale and the marginal histograms; the axes end at
    the data."""
    figure = new_figure(6.4, 5.6)
    grid = figure.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(1, 4), wspace=0.05, hspace=0.05)
    axis = figure.add_subplot(grid[1, 0])
    top = figure.add_subplot(grid[0, 0], sharex=axis)
    side = figure.add_subplot(grid[1, 1], sharey=axis)
    estimate, i2 = np.asarray(result.estimate), np.asarray(result.i2)
    x_range = _padded(estimate.min(), estimate.max())
    y_range = _padded(i2.min(), i2.max())
    density = axis.hexbin(estimate, i2, gridsize=70, bins="log", cmap="viridis", mincnt=1,
                          extent=(*x_range, *y_range), gid="gosh-hexbin")
    top.hist(estimate, bins=80, range=x_range, color="0.4")
    side.hist(i2, bins=80, range=y_range, color="0.4", orientation="horizontal")
    axis.set_xlim(*x_range)
    axis.set_ylim(*y_range)
    top.axis("off")
    side.axis("off")
    corner = figure.add_subplot(grid[0, 1])
    corner.axis("off")
    scale = corner.inset_axes([0.1, 0.45, 0.85, 0.14], gid="density-scale")
    colorbar = figure.colorbar(density, cax=scale, orientation="horizontal")
    colorbar.set_label("subsets per hexagon", fontsize=FONT_SIZE - 1)
    colorbar.ax.tick_params(labelsize=FONT_SIZE - 2)
    axis.set_xlabel(MEASURE_NAME, fontsize=FONT_SIZE + 1)
    axis.set_ylabel("I\u00b2 (%)", fontsize=FONT_SIZE + 1)
    axis.tick_params(labelsize=FONT_SIZE)
    kind = "all" if result.exact else "random"
    top.set_title(title or f"GOSH plot: {kind} {result.subsets.size:,} subsets ({result.method})",
                  fontsize=FONT_SIZE + 1)
    return figure


def _padded(low, high, fraction=0.03):
    pad = fraction * (high - low) if high > low else 0.5
    return float(low - pad), float(high + pad)
