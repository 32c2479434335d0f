"""Figures of a simulation grid: coverage and bias against k, one line per method, a panel per tau^2."""
from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import FONT_SIZE, new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PANEL_MEASURES = {"coverage": "CI coverage", "bias": "bias of the pooled estimate"}


def _method(row: Mapping[str, Any]) -> str:
    return f"{row['estimator']} {row['ci_method']}"


def measure_figure(rows: Sequence[Mapping[str, Any]], measure: str, title: str) -> Figure:
    """One panel per tau^2 (k on x, ``measure`` on y with +-2 MCSE bars, a line per method)."""
    tau2_values = sorted({row["tau2"] for row in rows})
    methods = list(dict.fromkeys(_method(row) for row in rows))
    figure = new_figure(3.2 * len(tau2_values), 3.2)
    axes = figure.subplots(1, len(tau2_values), sharey=True, squeeze=False)[0]
    for panel, tau2 in zip(axes, tau2_values):
        for method in methods:
            points = sorted((row["k"], row[measure], row[measure + "_mcse"]) for row in rows
                            if row["tau2"] == tau2 and _method(row) == method)
            k, value, mcse = zip(*points)
            panel.errorbar(k, value, yerr=[2 * m for m in mcse], marker="o", markersize=3, capsize=2,
                           label=method, gid=f"line-{method}")
        if measure == "coverage":
            panel.axhline(rows[0]["level"] / 100, color="grey", linestyle="--", linewidth=0.8, gid="nominal")
        else:
            panel.axhline(0, color="grey", linestyle="--", linewidth=0.8, gid="nominal")
        panel.set_xticks(sorted({row["k"] for row in rows}))
        panel.set_title(f"tau^2 = {tau2:g}", fontsize=FONT_SIZE)
        panel.set_xlabel("k (studies)", fontsize=FONT_SIZE)
        panel.tick_params(labelsize=FONT_SIZE - 1)
    axes[0].set_ylabel(PANEL_MEASURES[measure], fontsize=FONT_SIZE)
    axes[-1].legend(fontsize=FONT_SIZE - 1)
    figure.suptitle(title, fontsize=FONT_SIZE)
    figure.tight_layout()
    return figure


def grid_figures(rows: Sequence[Mapping[str, Any]], directory: str | os.PathLike[str]) -> list[Path]:
    """coverage*.png and bias*.png in ``directory``: one file per combination of true effect,
    study sizes and level (named after it when the grid varies them). Returns the paths."""
    directory = Path(directory)
    others = ("true_effect", "study_size", "level")
    combinations = list(dict.fromkeys(tuple(row[name] for name in others) for row in rows))
    paths = []
    for combination, measure in itertools.product(combinations, PANEL_MEASURES):
        chosen = [row for row in rows if tuple(row[name] for name in others) == combination]
        effect, sizes, level = combination
        title = f"true effect {effect:g}, arm sizes {sizes}, {level:g}% CIs (bars: +-2 MCSE)"
        suffix = "" if len(combinations) == 1 else "-" + "-".join(
            "".join(c if c.isalnum() or c in ".," else "_" for c in str(value)) for value in combination)
        path = directory / f"{measure}{suffix}.png"
        paths.append(save_figure(measure_figure(chosen, measure, title), path))
    return paths
