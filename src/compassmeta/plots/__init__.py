"""Figures: forest, funnel, bubble, Baujat and sensitivity forests (matplotlib, Agg backend).

Each drawing function returns a matplotlib Figure whose artists carry ``gid``s
(``study-marker``, ``pooled-diamond``, ``prediction-interval``, ...) so that tests and
users can find what was drawn.  :func:`save_figure` writes PNG, SVG or PDF by extension,
atomically.  The report's inline figures are drawn from the same numbers (forest specs, funnel
geometry, bubble fit) as SVG by compassmeta itself (``svg_canvas``, ``forest_svg``, ``panels_svg``,
``estimates_svg``: text as ``<text>``, ids ``{prefix}-{role}``), without importing matplotlib.

The names below are loaded on first use (PEP 562), so that importing ``plots.labels`` (the
report's study labels) does not import matplotlib (0.4 s of start-up): only drawing does.
"""
from importlib import import_module
from typing import Any

_HOMES = {"save_figure": "common", "LARGE_FOREST": "forest", "forest_plot": "forest",
          "cluster_forest_plot": "forest", "subgroup_forest_plot": "forest",
          "estimates_forest_plot": "forest", "funnel_plot": "funnel", "baujat_plot": "other",
          "bubble_plot": "other", "gosh_plot": "other"}
__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOMES[name]}", __name__), name)
