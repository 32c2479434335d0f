"""Bubble plot of a meta-regression and Baujat plot."""
import numpy as np

from ..models.moderators import design_matrix, is_numeric, meta_regression
from ..analyses.sensitivity import influence
from .common import FONT_SIZE, MEASURE_NAME, new_figure


def bubble_plot(yi, vi, moderator, name, *, method="REML", ci_method="z", level=95, title=None):
    """Effects against a continuous moderator (points sized by weight, the fitted line and its
    CI band), or, for a categorical one, each level's model-based estimate with its CI."""
    result = meta_regression(yi, vi, {name: list(moderator)}, method=method, ci_method=ci_method, level=level)
    fit = result.fit
    weights = fit.weights
    sizes = 15 + 300 * weights / weights.max()
    crit = fit.critical_value
    figure = new_figure(6.0, 4.5)
    axis = figure.add_subplot(1, 1, 1)
    if is_numeric(list(moderator)):
        x = np.asarray(moderator, dtype=float)
        grid = np.linspace(x.min(), x.max(), 200)
        design = np.column_stack([np.ones_like(grid), grid])
        predicted = design @ fit.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", design, fit.vcov, design))
        axis.fill_between(grid, predicted - crit * se, predicted + crit * se, color="0.85", gid="ci-band")
        axis.plot(grid, predicted, color="black", linewidth=1.2, gid="fitted-line")
        axis.scatter(x, fit.y, s=sizes, facecolor="none", edgecolor="black", gid="study-points")
        axis.set_xlabel(name, fontsize=FONT_SIZE + 1)
    else:
        labels = [str(value) for value in moderator]
        _, terms = design_matrix({name: labels}, len(labels))
        levels = [levels for levels in [sorted(set(labels), key=lambda s: (s.lower(), s))]][0]
        positions = {level: i for i, level in enumerate(levels)}
        rng = np.random.default_rng(0)
        jitter = rng.uniform(-0.12, 0.12, len(labels))
        axis.scatter([positions[l] + j for l, j in zip(labels, jitter)], fit.y, s=sizes, facecolor="none",
                     edgecolor="0.4", gid="study-points")
        for index, level in enumerate(levels):
            row = np.zeros(fit.p)
            row[0] = 1.0
            if index:
                row[terms.index(f"{name}[{level}]")] = 1.0
            estimate, se = row @ fit.beta, np.sqrt(row @ fit.vcov @ row)
            axis.errorbar(index, estimate, yerr=crit * se, fmt="D", color="black", capsize=4, gid="level-estimate")
        axis.set_xticks(range(len(levels)), levels, fontsize=FONT_SIZE)
        axis.set_xlabel(name, fontsize=FONT_SIZE + 1)
    axis.axhline(0, color="black", linewidth=0.6)
    axis.set_ylabel(MEASURE_NAME, fontsize=FONT_SIZE + 1)
    axis.tick_params(labelsize=FONT_SIZE)
    p = "p < 0.001" if result.qm_p < 0.001 else f"p = {result.qm_p:.3f}"
    axis.set_title(title or f"Meta-regression on {name}\n(k = {result.k}; QM = {result.qm:.2f}, {p}; "
                            f"R\u00b2 = {result.r2:.0f}%)", fontsize=FONT_SIZE + 1)
    figure.tight_layout()
    return figure


def baujat_plot(yi, vi, labels, *, method="REML", ci_method="z", level=95, title=None):
    """Contribution to heterogeneity (x) against influence on the pooled result (y)
    (Baujat et al. 2002; metafor baujat())."""
    rows = influence(yi, vi, labels, method=method, ci_method=ci_method, level=level)
    x = [row.baujat_x for row in rows]
    y = [row.baujat_y for row in rows]
    figure = new_figure(6.0, 4.8)
    axis = figure.add_subplot(1, 1, 1)
    axis.scatter(x, y, s=18, color="black", gid="study-points")
    # Label the studies that stand out on either axis; the crowd near the origin stays unlabelled.
    x_cut, y_cut = 2 * np.mean(x), 2 * np.mean(y)
    for row in rows:
        if row.baujat_x <= x_cut and row.baujat_y <= y_cut:
            continue
        axis.annotate(row.study, (row.baujat_x, row.baujat_y), xytext=(3, 3), textcoords="offset points",
                      fontsize=FONT_SIZE - 1, gid="study-label")
    axis.set_xlabel("Squared Pearson residual (contribution to Q)", fontsize=FONT_SIZE + 1)
    axis.set_ylabel("Influence on the pooled estimate", fontsize=FONT_SIZE + 1)
    axis.tick_params(labelsize=FONT_SIZE)
    axis.set_title(title or "Baujat plot (labelled: above twice the mean on either axis)",
                   fontsize=FONT_SIZE + 1)
    figure.tight_layout()
    return figure


def gosh_plot(result, title=None):
    """GOSH plot: pooled estimate against I^2 of every subset, as a log-density hexbin (readable
    for a million points), with the marginal histograms."""
    figure = new_figure(6.4, 5.6)
    grid = figure.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(1, 4), wspace=0.05, hspace=0.05)
    axis = figure.add_subplot(grid[1, 0])
    top = figure.add_subplot(grid[0, 0], sharex=axis)
    side = figure.add_subplot(grid[1, 1], sharey=axis)
    axis.hexbin(result.estimate, result.i2, gridsize=70, bins="log", cmap="Greys", mincnt=1, gid="gosh-hexbin")
    top.hist(result.estimate, bins=80, color="0.4")
    side.hist(result.i2, bins=80, color="0.4", orientation="horizontal")
    top.axis("off")
    side.axis("off")
    axis.set_xlabel(MEASURE_NAME, fontsize=FONT_SIZE + 1)
    axis.set_ylabel("I\u00b2 (%)", fontsize=FONT_SIZE + 1)
    axis.tick_params(labelsize=FONT_SIZE)
    kind = "all" if result.exact else "random"
    top.set_title(title or f"GOSH plot: {kind} {result.subsets.size:,} subsets ({result.method})",
                  fontsize=FONT_SIZE + 1)
    return figure
