"""Figures of the multivariate models (issue 23): the bivariate SCS-component model (both
component effects with their CI, the contrast between them and the correlation of the true
effects) and a trajectory (the estimate per timepoint window with its CI).

Artists carry gids: ``component-estimate`` (one errorbar per component), ``contrast-estimate``,
``trajectory-estimate`` (the estimates with their CI) and ``trajectory-line``.
"""
from collections.abc import Sequence

import numpy as np

from .common import MEASURE_NAME, new_figure

COLOUR = "#3b5b92"
CONTRAST = "#a23b2a"


def _errors(estimates, lower, upper):
    estimates = np.asarray(estimates, dtype=float)
    return estimates, [estimates - np.asarray(lower, dtype=float), np.asarray(upper, dtype=float) - estimates]


def components_title(title: str, rho: float) -> str:
    return f"{title}\ncorrelation of the true effects ρ = {rho:.2f}".strip()


def trajectory_title(title: str, rho: float) -> str:
    return f"{title}\nautocorrelation one window apart ρ = {rho:.2f}".strip()


def components_plot(levels: Sequence[str], estimates: Sequence[float], lower: Sequence[float],
                    upper: Sequence[float], rho: float, contrast: tuple | None = None, title: str = ""):
    """One row per component (estimate and CI), below them the contrast ``(label, estimate,
    lower, upper)``; rho (the correlation of the components' true effects) in the title."""
    rows = len(levels) + (contrast is not None)
    figure = new_figure(6.5, 1.2 + 0.45 * rows)
    axis = figure.add_subplot(1, 1, 1)
    positions = np.arange(rows)[::-1].astype(float)
    centres, errors = _errors(estimates, lower, upper)
    axis.errorbar(centres, positions[:len(levels)], xerr=errors, fmt="s", color=COLOUR, markersize=6,
                  capsize=3, gid="component-estimate")
    labels = list(levels)
    if contrast is not None:
        label, value, low, high = contrast
        centre, error = _errors([value], [low], [high])
        axis.errorbar(centre, positions[-1:], xerr=error, fmt="D", color=CONTRAST, markersize=6, capsize=3,
                      gid="contrast-estimate")
        labels.append(f"contrast {label}")
    axis.axvline(0, color="#9a9a9a", linewidth=0.8)
    axis.set_yticks(positions)
    axis.set_yticklabels(labels, fontsize=8)
    axis.set_ylim(-0.7, rows - 0.3)
    axis.set_xlabel(f"{MEASURE_NAME} (95% CI)")
    axis.set_title(components_title(title, rho), fontsize=9)
    figure.tight_layout()
    return figure


def trajectory_plot(windows: Sequence[str], estimates: Sequence[float], lower: Sequence[float],
                    upper: Sequence[float], rho: float, title: str = ""):
    """The estimate per timepoint window, in time order, with its CI; rho (the autocorrelation
    of a trial's true effects one window apart) in the title."""
    figure = new_figure(5.5, 3.2)
    axis = figure.add_subplot(1, 1, 1)
    x = np.arange(len(windows), dtype=float)
    centres, errors = _errors(estimates, lower, upper)
    axis.plot(x, centres, color=COLOUR, linewidth=1, gid="trajectory-line")
    axis.errorbar(x, centres, yerr=errors, fmt="o", color=COLOUR, markersize=6, capsize=3,
                  gid="trajectory-estimate")
    axis.axhline(0, color="#9a9a9a", linewidth=0.8)
    axis.set_xticks(x)
    axis.set_xticklabels(windows, fontsize=8)
    axis.set_xlim(-0.5, len(windows) - 0.5)
    axis.set_ylabel(f"{MEASURE_NAME} (95% CI)")
    axis.set_title(trajectory_title(title, rho), fontsize=9)
    figure.tight_layout()
    return figure
