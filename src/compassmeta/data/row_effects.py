"""Hedges' g and its sampling variance for one typed row of a study table, from whichever
statistics its ``stat_type`` names (formulas in :mod:`effects`); :func:`table_effects` gives
every row's at once, one vectorised call per ``stat_type``."""
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import effects
from .columns import TypedRows, codes_of, numbers_of
from .measure_routes import ROUTE_MEASURES, route_effect
from .schema import rows_as_columns

REQUIRED_STATISTICS = {
    "means": ("n1", "n2", "mean1", "sd1", "mean2", "sd2"),
    "change": ("n1", "n2", "mean1", "sd1", "mean2", "sd2"),
    "pre_post": ("n1", "n2", "mean1", "sd1", "mean2", "sd2", "pre_mean1", "pre_sd1", "pre_mean2",
                 "pre_sd2", "prepost_r"),
    "t": ("n1", "n2", "statistic"),
    "f": ("n1", "n2", "statistic", "direction"),
    "p": ("n1", "n2", "statistic", "direction"),
    "g_se": ("g", "se"),
    "g_ci": ("g", "ci_lower", "ci_upper"),
    "adjusted_se": ("n1", "n2", "mean1", "se1", "mean2", "se2"),
    "adjusted_ci": ("n1", "n2", "mean1", "ci_lower1", "ci_upper1", "mean2", "ci_lower2", "ci_upper2"),
    "d": ("n1", "n2", "statistic"),
    "g_n": ("n1", "n2", "g"),
    "median_iqr": ("n1", "n2", "median1", "q1_1", "q3_1", "median2", "q1_2", "q3_2"),
    "median_range": ("n1", "n2", "median1", "min1", "max1", "median2", "min2", "max2"),
    "median_iqr_range": ("n1", "n2", "median1", "q1_1", "q3_1", "min1", "max1", "median2", "q1_2", "q3_2",
                         "min2", "max2"),
    # routes of other measures than g (:mod:`measure_routes`; the row's ``measure`` names which)
    "events": ("n1", "n2", "events1", "events2"),
    "correlation": ("correlation", "correlation_n"),
    "pre_post_smcr": ("n1", "n2", "mean1", "pre_mean1", "pre_sd1", "mean2", "pre_mean2", "pre_sd2",
                      "prepost_r"),
}
CONVERTED_STAT_TYPES = ("median_iqr", "median_range", "median_iqr_range")
# routes whose number may be entered unsigned, its sign then given by ``direction``
SIGNED_BY_DIRECTION = {"t": "statistic", "d": "statistic", "g_se": "g", "g_ci": "g", "g_n": "g"}


def signed(row: Mapping[str, Any], name: str) -> Any:
    """The value of ``name`` with the sign ``direction`` gives it: an unsigned (positive) t, d or g
    takes the sign of ``direction`` (+1 intervention arm higher, -1 lower); a negative value, or
    a row without ``direction``, is taken as signed.  A negative value against direction +1 is
    refused by validation before any g is computed."""
    value, direction = row[name], row.get("direction")
    if np.ndim(value):   # columns of one stat_type (:func:`table_effects`); a blank direction is nan
        return np.where(np.isnan(direction) | (value < 0), value, direction * value)
    if direction is None or value < 0:
        return value
    return direction * value


def row_effect(row: Mapping[str, Any]) -> tuple:
    """Hedges' g (or the effect size of the row's measure, :mod:`measure_routes`) and its variance
    for one typed row, oriented so positive favours the intervention."""
    g, v = _effect(row, row["stat_type"])
    return float(g), float(v)


def table_effects(rows: Sequence[Mapping[str, Any]], columns: dict | None = None) -> tuple:
    """(g, v, done) for every typed row: arrays, ``done`` marking the rows computed.  Rows of each
    ``stat_type`` with every required statistic and a direction are computed together, under
    the same floating-point traps as :func:`row_effect` (overflow, division by zero); a group
    that trips one is left undone, for the caller to take row by row.  ``columns``: the rows'
    values by field, if at hand (:func:`schema.typed_rows`).  The groups are found over whole
    columns of floats (a typed number is finite, so nan marks a blank)."""
    g, v, done = np.full(len(rows), np.nan), np.full(len(rows), np.nan), np.zeros(len(rows), dtype=bool)
    names = sorted({name for needed in REQUIRED_STATISTICS.values() for name in needed})
    columns = columns or rows_as_columns(rows, names + ["stat_type", "higher_is_better", "measure"])
    numbers = rows if isinstance(rows, TypedRows) else TypedRows(rows, columns)
    codes, kinds = codes_of(numbers, "stat_type")
    directed = ~np.isnan(numbers_of(numbers, "higher_is_better"))
    for code, kind in enumerate(kinds):
        if kind not in REQUIRED_STATISTICS:    # blank, or a stat_type the schema refuses on its cell
            continue
        needed = REQUIRED_STATISTICS[kind] + ("higher_is_better",)
        complete = (codes == code) & directed
        for name in needed:
            complete &= ~np.isnan(numbers_of(numbers, name))
        members = np.flatnonzero(complete)
        if not len(members):
            continue
        group: dict[str, Any] = {name: numbers_of(numbers, name)[members] for name in needed}
        group["higher_is_better"], group["stat_type"] = group["higher_is_better"].astype(bool), kind
        if kind in SIGNED_BY_DIRECTION:
            group["direction"] = numbers_of(numbers, "direction")[members]
        if kind in ROUTE_MEASURES:
            group["measure"] = np.array([columns["measure"][number] for number in members], dtype=object)
        # a value out of a statistic's domain (an F below 0, a p above 1) gives nan silently: the
        # row rules flag the row and name its column (no numpy warning on stderr)
        with np.errstate(over="raise", divide="raise", invalid="ignore"):
            try:
                g[members], v[members] = _effect(group, kind)
            except (FloatingPointError, OverflowError, ZeroDivisionError):
                continue
        done[members] = True
    return g, v, done


def _effect(row: Mapping[str, Any], kind: str) -> tuple:
    """(g, v) of one row or of columns of rows of one ``stat_type`` (arrays keyed by field)."""
    n1, n2 = row.get("n1"), row.get("n2")
    if kind in ("means", "change"):
        g, v = effects.g_from_means(row["mean1"], row["sd1"], n1, row["mean2"], row["sd2"], n2)
    elif kind == "pre_post":
        g, v = effects.g_from_pre_post(row["pre_mean1"], row["pre_sd1"], row["mean1"], row["sd1"], n1,
                                       row["pre_mean2"], row["pre_sd2"], row["mean2"], row["sd2"], n2,
                                       r=row["prepost_r"])
    elif kind == "t":
        g, v = effects.g_from_t(signed(row, "statistic"), n1, n2)
    elif kind == "f":
        g, v = effects.g_from_f(row["statistic"], n1, n2, row["direction"])
    elif kind == "p":
        g, v = effects.g_from_p(row["statistic"], n1, n2, row["direction"])
    elif kind == "g_se":
        g, v = effects.g_from_se(signed(row, "g"), row["se"])
    elif kind == "g_ci":
        g, v = effects.g_from_ci(signed(row, "g"), row["ci_lower"], row["ci_upper"])
    elif kind == "d":
        g, v = effects.g_from_d(signed(row, "statistic"), n1, n2)
    elif kind == "g_n":
        g, v = effects.g_from_g_and_ns(signed(row, "g"), n1, n2)
    elif kind in ROUTE_MEASURES:
        g, v = route_effect(row, kind)
    else:
        g, v = effects.g_from_means(*arm_means_sds(row), convention="metafor")
    return effects.orient(g, row["higher_is_better"]), v


def arm_means_sds(row: Mapping[str, Any]) -> tuple:
    """(mean1, sd1, n1, mean2, sd2, n2) of a row whose statistics turn into means and SDs:
    adjusted means with SEs or CIs, or medians with quartiles and/or ranges (converted;
    see :func:`effects.mean_sd_from_quantiles`).  ``d`` and ``g_n`` rows give d against SD 1."""
    kind, n1, n2 = row["stat_type"], row["n1"], row["n2"]
    if kind == "adjusted_se":
        return (row["mean1"], effects.sd_from_se(row["se1"], n1), n1,
                row["mean2"], effects.sd_from_se(row["se2"], n2), n2)
    if kind == "adjusted_ci":
        return (row["mean1"], effects.sd_from_ci(row["ci_lower1"], row["ci_upper1"], n1), n1,
                row["mean2"], effects.sd_from_ci(row["ci_lower2"], row["ci_upper2"], n2), n2)
    if kind in CONVERTED_STAT_TYPES:
        quartiles, ranges = kind != "median_range", kind != "median_iqr"
        arms = []
        for arm, n in (("1", n1), ("2", n2)):
            mean, sd = effects.mean_sd_from_quantiles(
                n, row[f"median{arm}"],
                q1=row[f"q1_{arm}"] if quartiles else None, q3=row[f"q3_{arm}"] if quartiles else None,
                minimum=row[f"min{arm}"] if ranges else None, maximum=row[f"max{arm}"] if ranges else None)
            arms += [np.asarray(mean, dtype=float), np.asarray(sd, dtype=float), n]
        return tuple(arms)
    raise ValueError(f"stat_type {kind!r} has no means and SDs")
