"""The report's figures as inline SVG, drawn at render time from the report's data alone (the
dictionaries of ``Report.to_dict()``: a subset's ``effects`` and ``pooled``, a moderator's ``effects``)
by compassmeta's own SVG drawers (plots.svg_canvas: text as ``<text>``, no matplotlib import);
:func:`subset_forest` and :func:`joint_figure` draw the same with matplotlib (PNG files)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.plan import LARGE_SUBSETS
from .settings import METHOD

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..plots.forest_spec import ForestSpec

CAPTIONS = {
    "forest": "Squares: each trial's g with its 95% CI, sized by weight; diamond: the pooled g.",
    "dependent-forest": "A trial's rows are grouped under its name (squares sized by their univariate "
                        "weight); diamond: the multilevel pooled g.",
    "prediction": " Bar below it: the 95% prediction interval.",
    "no-prediction": " No prediction interval below 3 trials (the analysis plan).",
    "funnel": "Each trial's g against its standard error; dashed: the pseudo 95% confidence region "
              "around the pooled g.",
    "trimfill": " Open circles: trials imputed by trim-and-fill.",
    "dependent-funnel": " A trial's rows are averaged into one point, as the bias analyses use them.",
    "subgroup-forest": "Trials grouped by the moderator, each subgroup pooled with its own τ²; "
                       "the test compares the subgroup estimates.",
    "large-forest": " Only the {shown} trials with the most weight of {k} are drawn (the analysis plan, "
                    "large_subsets.forest_max_trials); the diamond and every number pool all {k}.",
    "bubble": "Each trial's g against the moderator (circles sized by weight), the fitted "
              "meta-regression line and its 95% confidence band.",
}


def forest_limit(report: dict) -> int:
    """The most trials a forest plot of the report draws (its plan's large_subsets.forest_max_trials;
    a report written before that key: the default)."""
    return report["plan"].get("large_subsets", LARGE_SUBSETS)["forest_max_trials"]


def subset_captions(item: dict, bias_k: int = 10, spread_k: int = 3, max_trials: int | None = None) -> dict:
    """The captions of a subset's forest and funnel plots (trim-and-fill drawn from ``bias_k`` trials,
    the plan's minimum_k.publication_bias; the prediction interval from ``spread_k``; at most
    ``max_trials`` trials drawn in the forest)."""
    dependent = item["dependent"]
    large = max_trials is not None and item["k_trials"] > max_trials
    return {"forest": CAPTIONS["dependent-forest" if dependent else "forest"]
            + CAPTIONS["prediction" if item["k_trials"] >= spread_k else "no-prediction"].replace(
                "3 trials", f"{spread_k} trials")
            + (CAPTIONS["large-forest"].format(shown=max_trials, k=item["k_trials"]) if large else ""),
            "funnel": CAPTIONS["funnel"] + (CAPTIONS["trimfill"] if item["k_trials"] >= bias_k else "")
            + (CAPTIONS["dependent-funnel"] if dependent else "")}


def _subset_title(item: Mapping[str, Any]) -> str:
    control = "all controls" if item["control"] == "all" else f"{item['control']} controls"
    return f"{item['outcome']}, {item.get('timepoint') or 'all timepoints'}, {control}"


def _diamond(pooled: Mapping[str, Any], prediction: bool = True) -> SimpleNamespace:
    """A subset's pooled model read back from its dictionary with the two PooledModel members
    the forest plot draws: pooled_estimate() (estimate and CI) and prediction_interval() (a
    missing bound, JSON null, as NaN; NaN, not drawn, without ``prediction``)."""
    def value(name: str) -> float:
        return math.nan if pooled.get(name) is None else pooled[name]

    estimate = SimpleNamespace(**{name: value(name) for name in ("estimate", "ci_lower", "ci_upper")})
    interval = (value("pi_lower"), value("pi_upper")) if prediction else (math.nan, math.nan)
    return SimpleNamespace(pooled_estimate=lambda: estimate, prediction_interval=lambda: interval)


def forest_svg(item: dict, spread_k: int = 3, max_trials: int | None = None) -> str:
    """A pooled subset's forest plot (:func:`subset_forest_spec`) as SVG text."""
    from ..plots.forest_svg import forest_svg as draw_svg

    return draw_svg(subset_forest_spec(item, spread_k, max_trials))


def subset_forest(item: dict, spread_k: int = 3, max_trials: int | None = None) -> Figure:
    """A pooled subset's forest plot (:func:`subset_forest_spec`) drawn by matplotlib."""
    from ..plots.forest_draw import draw

    return draw(subset_forest_spec(item, spread_k, max_trials))


def subset_forest_spec(item: dict, spread_k: int = 3, max_trials: int | None = None) -> ForestSpec:
    """A pooled subset's forest plot: one effect per trial, or, where trials contribute several
    rows, a trial's rows together under its name with the multilevel pooled g as the diamond;
    the prediction interval from ``spread_k`` trials (the plan's minimum_k.heterogeneity); at most
    ``max_trials`` trials drawn, those with the most weight (the plan's
    large_subsets.forest_max_trials)."""
    from ..plots.forest import cluster_forest_spec, forest_spec

    effects, title = item["effects"], f"Forest plot: {_subset_title(item)}"
    if item["dependent"]:
        return cluster_forest_spec(np.array(effects["rows_yi"]), np.array(effects["rows_vi"]),
                                   effects["row_labels"], effects["row_trials"],
                                   dict(zip(effects["trials"], effects["labels"])), method=METHOD,
                                   overall=_diamond(item["pooled"], item["k_trials"] >= spread_k),
                                   overall_label=item["model_description"].rsplit(", ", 1)[0], title=title,
                                   max_clusters=max_trials)
    return forest_spec(np.array(effects["yi"]), np.array(effects["vi"]), effects["labels"], method=METHOD,
                       title=title, spread=item["k_trials"] >= spread_k, max_studies=max_trials)


def funnel_svg(item: dict, bias_k: int = 10) -> str:
    """A pooled subset's funnel plot, one effect per trial as the bias analyses use them
    (trim-and-fill drawn from ``bias_k`` trials, the plan's minimum_k.publication_bias)."""
    from ..plots.panels_svg import funnel_svg as draw_svg

    yi, vi = np.array(item["effects"]["yi"]), np.array(item["effects"]["vi"])
    return draw_svg(yi, vi, method=METHOD, trimfill=yi.size >= bias_k,
                    title=f"Funnel plot: {_subset_title(item)}")


def moderator_svg(item: dict, max_trials: int | None = None) -> str:
    """An analysed moderator's figure: the bubble plot of a meta-regression or the forest plot
    of the subgroups (one diamond per subgroup, no trial rows, beyond ``max_trials`` trials: the
    plan's large_subsets.forest_max_trials)."""
    from ..plots.forest import subgroup_forest_spec
    from ..plots.forest_svg import forest_svg as draw_forest
    from ..plots.panels_svg import bubble_svg

    effects, outcome, name = item["effects"], item["outcome"], item["moderator"]
    yi, vi = np.array(effects["yi"]), np.array(effects["vi"])
    if item["kind"] == "meta-regression":
        return bubble_svg(yi, vi, effects["values"], name, method=METHOD,
                          title=f"{outcome}: meta-regression on {name}")
    return draw_forest(subgroup_forest_spec(yi, vi, effects["labels"], [str(v) for v in effects["values"]],
                                            by=name, method=METHOD, title=f"{outcome}: subgroups by {name}",
                                            summary_only=max_trials is not None and yi.size > max_trials))


def _joint_arguments(joint: Mapping[str, Any]) -> tuple:
    """The arguments of a multivariate model's figure (components or trajectory) from its dictionary
    (report.joint_models): levels, estimates, CI bounds, rho (and the contrast), title."""
    result = joint["result"]
    coefficients = result["coefficients"]
    values = ([c["estimate"] for c in coefficients], [c["ci_lower"] for c in coefficients],
              [c["ci_upper"] for c in coefficients])
    if joint["kind"] == "components":
        contrast = next(((c["label"], c["estimate"], c["ci_lower"], c["ci_upper"])
                         for c in result["contrasts"]), None)
        return (joint["levels"], *values, result["rho"][0], contrast, f"SCS components, {joint['window']}")
    return (joint["levels"], *values, result["rho"][0], f"Trajectory: {joint['outcome']}")


def joint_figure(joint: Mapping[str, Any]) -> Figure:
    """A multivariate model's figure drawn by matplotlib: the components' estimates, their contrast
    and correlation, or the trajectory over the timepoint windows."""
    from ..plots.joint import components_plot, trajectory_plot

    return (components_plot if joint["kind"] == "components" else trajectory_plot)(*_joint_arguments(joint))


def joint_svg(joint: Mapping[str, Any]) -> str:
    """A multivariate model's figure (as :func:`joint_figure`) as SVG text."""
    from ..plots.estimates_svg import components_svg, trajectory_svg

    return (components_svg if joint["kind"] == "components" else trajectory_svg)(*_joint_arguments(joint))
