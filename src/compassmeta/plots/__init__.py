"""Figures: forest, funnel, bubble, Baujat and sensitivity forests (matplotlib, Agg backend).

Each drawing function returns a matplotlib Figure whose artists carry ``gid``s
(``study-marker``, ``pooled-diamond``, ``prediction-interval``, ...) so that tests and
users can find what was drawn.  :func:`save_figure` writes PNG, SVG or PDF by extension,
atomically.
"""
from .common import save_figure
from .forest import (
                     LARGE_FOREST,
                     cluster_forest_plot,
                     estimates_forest_plot,
                     forest_plot,
                     subgroup_forest_plot,
)
from .funnel import funnel_plot
from .other import baujat_plot, bubble_plot, gosh_plot

__all__ = ["save_figure", "LARGE_FOREST", "forest_plot", "cluster_forest_plot", "subgroup_forest_plot",
           "estimates_forest_plot", "funnel_plot", "baujat_plot", "bubble_plot", "gosh_plot"]
