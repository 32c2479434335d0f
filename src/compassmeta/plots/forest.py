"""Forest plots: studies with weights, pooled diamonds, prediction interval, subgroups, clusters.

Layout is measured, not guessed: every text column is as wide as its widest entry, and the
figure grows by a fixed height per line, so 5 rows and 150 rows both read cleanly.  Squares
are capped in size so that confidence intervals stay visible, and the effect axis is clipped
to the bulk of the intervals: an interval running past it ends in an arrow.
"""
import numpy as np

from ..common.errors import InputError
from ..models.moderators import subgroup_analysis
from ..models.pooling import pool
from .forest_spec import SQUARE_AREA, ForestSpec, Row, axis_limits
from .labels import HEADING_WRAP, is_comparator_tiers, level_order, readable_column, readable_levels, wrap

SORT_KEYS = ("given", "effect", "weight", "year")
LARGE_FOREST = 100      # study rows beyond which a forest is hard to read (offer --summary-only)
ROB_TITLES = ("D1", "D2", "D3", "D4", "D5", "O")
ROB_CAPTION = ("Risk of bias (RoB 2): D1 randomization process; D2 deviations from intended interventions; "
               "D3 missing outcome data; D4 measurement of the outcome; D5 selection of the reported result; "
               "O overall. + low, \u2212 some concerns, \u00d7 high; blank: no judgement entered.")

__all__ = ["LARGE_FOREST", "SORT_KEYS", "SQUARE_AREA", "ForestSpec", "Row", "axis_limits", "forest_spec",
           "forest_plot", "subgroup_forest_spec", "subgroup_forest_plot", "cluster_forest_spec",
           "cluster_forest_plot", "estimates_forest_plot"]


def _draw(spec, reference_line=None):
    """The spec drawn by matplotlib (imported here: the report draws specs as SVG without it)."""
    from .forest_draw import draw

    return draw(spec, reference_line)


def forest_plot(yi, vi, labels, **options):
    """:func:`forest_spec` drawn by matplotlib; returns the Figure."""
    return _draw(forest_spec(yi, vi, labels, **options))


def subgroup_forest_plot(yi, vi, labels, groups, **options):
    """:func:`subgroup_forest_spec` drawn by matplotlib; returns the Figure."""
    return _draw(subgroup_forest_spec(yi, vi, labels, groups, **options))


def cluster_forest_plot(yi, vi, labels, clusters, cluster_labels, **options):
    """:func:`cluster_forest_spec` drawn by matplotlib; returns the Figure."""
    return _draw(cluster_forest_spec(yi, vi, labels, clusters, cluster_labels, **options))


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


def _study_rows(yi, vi, labels, columns, weight_columns, order, level, marker_weights=None, rob=None):
    z = _critical(level)
    marker_weights = weight_columns[0] if marker_weights is None else marker_weights
    rows = []
    for i in order:
        half = z * np.sqrt(vi[i])
        rows.append(Row("study", label=wrap(str(labels[i])), cells=tuple(str(c[i]) for c in columns.values()),
                        estimate=yi[i], lower=yi[i] - half, upper=yi[i] + half,
                        weights=tuple(w[i] for w in weight_columns), marker_weight=marker_weights[i],
                        rob=tuple(rob[i] or ()) if rob is not None else ()))
    return rows


def _heaviest(units, weights, max_shown, noun="trials"):
    """The ``units`` (study indices, or clusters with ``weights`` summed per cluster) a forest draws:
    all, or the ``max_shown`` with the most weight in their given order; and the text rows saying
    how many (and what share of the weight) are left out."""
    if max_shown is None or len(units) <= max_shown:
        return list(units), []
    ranked = np.argsort(-np.asarray(weights, dtype=float), kind="stable")
    kept = set(ranked[:max_shown].tolist())
    left = [i for i in range(len(units)) if i not in kept]
    share = float(np.asarray(weights, dtype=float)[left].sum())
    note = (f"{len(left)} further {noun} ({share:.1f}% of the weight) not drawn: the {max_shown} "
            "with the most weight are shown")
    rows = [Row("text", label=note, gid="studies-left-out"), Row("blank")]
    return [unit for i, unit in enumerate(units) if i in kept], rows


def _critical(level):
    from ..common.distributions import critical_value
    from ..models.pooling import as_fraction

    return critical_value(as_fraction(level))


def _percent_weights(result):
    return 100 * result.fit.weights / result.fit.weights.sum()


def forest_spec(yi, vi, labels, *, columns=None, sort="given", years=None, method="REML", ci_method="z",
                level=95, show_fixed=False, title=None, spread=True, rob=None, transf=None, atransf=None,
                max_studies=None):
    """Forest plot of one meta-analysis (metafor forest.rma, with a prediction interval and the
    heterogeneity line unless ``spread`` is False: too few studies to estimate them).
    ``show_fixed`` adds the fixed-effect diamond and the fixed-effect weights beside the
    random-effects ones; ``rob`` (one RoB 2 tuple d1..d5, overall per study, or None where none
    is entered) adds the risk-of-bias columns, as R meta's forest() of a meta object with rob.
    ``transf`` / ``atransf``: metafor's (see :func:`forest_draw.draw`), in every forest here.
    ``max_studies``: draw only that many studies, those with the most weight, and say so in a line
    (the diamond still pools every study)."""
    columns = columns or {}
    result = pool(yi, vi, method=method, ci_method=ci_method, level=level, with_tau2_ci=False)
    assert result.fit is not None, "pool() keeps its fit"
    yi, vi = result.fit.y, result.fit.v
    weights = [_percent_weights(result)]
    spec = ForestSpec(column_titles=tuple(columns), title=title, transf=transf, atransf=atransf)
    if rob is not None:
        spec.rob_titles, spec.caption = ROB_TITLES, ROB_CAPTION
    fixed = None
    if show_fixed and result.method != "FE":
        fixed = pool(yi, vi, method="FE", level=level, with_tau2_ci=False)
        weights.append(_percent_weights(fixed))
        spec.weight_titles = ("RE weight", "FE weight")
    order = _order(yi, weights[0], years, sort)
    shown, left_out = _heaviest(order, weights[0][order], max_studies)
    spec.rows += _study_rows(yi, vi, labels, columns, weights, shown, level, rob=rob)
    spec.rows.append(Row("blank"))
    spec.rows += left_out
    if fixed is not None:
        spec.rows.append(Row("pooled", label="Fixed-effect model", estimate=fixed.estimate,
                             lower=fixed.ci_lower, upper=fixed.ci_upper, gid="fixed-diamond", bold=True))
    spec.rows += _pooled_rows(result, _model_label(result), "pooled-diamond", with_prediction=spread,
                              with_heterogeneity=spread)
    return spec


def subgroup_forest_spec(yi, vi, labels, groups, *, by="subgroup", columns=None, sort="given",
                         years=None, method="REML", ci_method="z", level=95, title=None, overall=None,
                         summary_only=False, transf=None, atransf=None):
    """Forest plot with a header, the studies and a diamond per subgroup, then the overall
    diamond and the test for subgroup differences.

    ``overall=None`` draws the overall diamond unless the subgroups are comparator tiers
    (different questions, pooled within each tier only); True/False force it.
    ``summary_only`` draws one diamond per subgroup and no study rows (for large forests).
    """
    columns = columns or {}
    analysis = subgroup_analysis(yi, vi, groups, by=by, method=method, ci_method=ci_method, level=level)
    whole = analysis.overall
    assert whole.fit is not None, "pool() keeps its fit"
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
    spec.transf, spec.atransf = transf, atransf
    for group_level in level_order(levels):
        members = np.flatnonzero(group_labels == group_level)
        group_fit = pool(yi[members], vi[members], method=method, ci_method=ci_method, level=level,
                         with_tau2_ci=False)
        if not overall:  # no overall model: each study's share of its own subgroup's pooled estimate
            shown_weights[members] = _percent_weights(group_fit)
        if summary_only:
            spec.rows.append(Row("pooled", label=f"{names[group_level]} (k = {members.size})",
                                 estimate=group_fit.estimate, lower=group_fit.ci_lower,
                                 upper=group_fit.ci_upper, gid="subgroup-diamond"))
            continue
        member_years = None if years is None else np.asarray(years)[members]
        order = members[_order(yi[members], weights[members], member_years, sort)]
        spec.rows.append(Row("header", label=wrap(f"{heading}: {names[group_level]}", HEADING_WRAP),
                             gid="subgroup-header", bold=True))
        spec.rows += _study_rows(yi, vi, labels, columns, [shown_weights], order, level,
                                 marker_weights=weights)
        spec.rows += _pooled_rows(group_fit, f"Subtotal (k = {members.size})", "subgroup-diamond",
                                  with_prediction=False)
        spec.rows.append(Row("blank"))
    if summary_only:
        spec.rows.append(Row("blank"))
    if overall:
        spec.rows += _pooled_rows(whole, _model_label(whole), "pooled-diamond",
                                  with_prediction=not summary_only)
    else:
        spec.caption = (f"No overall diamond: the {heading.lower()} subgroups ask different questions, "
                        "so effects are pooled within each only.")
    p = analysis.q_between_p
    p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    spec.rows.append(Row("text", label=f"Test for subgroup differences: Q({analysis.q_between_df}) = "
                                       f"{analysis.q_between:.2f}, {p_text}"))
    return spec


def cluster_forest_spec(yi, vi, labels, clusters, cluster_labels, *, method="REML", ci_method="z", level=95,
                        overall=None, overall_label=None, title=None, transf=None, atransf=None,
                        max_clusters=None):
    """Forest plot with the effects of one cluster (trial) together under the cluster's label.

    ``labels`` name each row within its cluster (instrument, time point); ``cluster_labels``
    maps a cluster to its heading ("Author Year").  ``overall`` is any pooled model
    (:class:`compassmeta.common.results.PooledModel`: its pooled_estimate() is the diamond, its
    prediction_interval() the bar below where finite), e.g. a multilevel model's; without one the
    univariate model is drawn and the caption says that it treats the rows of a trial as independent.
    ``max_clusters``: draw only that many clusters, those with the most (summed) weight, and say so.
    """
    result = pool(yi, vi, method=method, ci_method=ci_method, level=level, with_tau2_ci=False)
    assert result.fit is not None, "pool() keeps its fit"
    yi, vi = result.fit.y, result.fit.v
    weights = _percent_weights(result)
    cluster_of = [str(c) for c in clusters]
    spec = ForestSpec(title=title, transf=transf, atransf=atransf)
    members_of: dict[str, list[int]] = {}
    for i, cluster in enumerate(cluster_of):
        members_of.setdefault(cluster, []).append(i)
    shown, left_out = _heaviest(list(members_of), [weights[m].sum() for m in members_of.values()],
                                max_clusters)
    for cluster in shown:
        members = members_of[cluster]
        if len(members) == 1:
            spec.rows += _study_rows(yi, vi, {members[0]: cluster_labels[cluster]}, {}, [weights], members,
                                     level)
            continue
        spec.rows.append(Row("header", label=wrap(cluster_labels[cluster], HEADING_WRAP),
                             gid="cluster-header", bold=True))
        spec.rows += _study_rows(yi, vi, {i: "   " + str(labels[i]) for i in members}, {}, [weights], members,
                                 level)
    spec.rows.append(Row("blank"))
    spec.rows += left_out
    n_clusters = len(set(cluster_of))
    if overall is None:
        spec.rows += _pooled_rows(result, _model_label(result), "pooled-diamond")
        spec.caption = (f"{result.k} effects from {n_clusters} trials: rows of one trial are not "
                        "independent, and this univariate model pools them as if they were.")
    else:
        pooled = overall.pooled_estimate()
        spec.rows.append(Row("pooled", label=overall_label or "Multilevel model", estimate=pooled.estimate,
                             lower=pooled.ci_lower, upper=pooled.ci_upper, gid="pooled-diamond", bold=True))
        pi_lower, pi_upper = (np.nan if bound is None else bound for bound in overall.prediction_interval())
        if np.isfinite(pi_lower) and np.isfinite(pi_upper):
            spec.rows.append(Row("prediction", label="Prediction interval", estimate=pooled.estimate,
                                 lower=pi_lower, upper=pi_upper, gid="prediction-interval",
                                 right_text=f"[{pi_lower:.2f}, {pi_upper:.2f}]"))
        spec.caption = (f"{result.k} effects from {n_clusters} trials; weights are those of the "
                        "univariate model.")
    return spec


def estimates_forest_plot(fits, labels, reference, *, label_title, title=None, transf=None, atransf=None):
    """Forest of pooled re-fits (leave-one-out or cumulative): one row per fit, no weights,
    the full pooled estimate as a dashed reference line."""
    spec = ForestSpec(label_title=label_title, weight_titles=(), title=title, transf=transf, atransf=atransf)
    for fit, label in zip(fits, labels):
        spec.rows.append(Row("study", label=wrap(str(label)), estimate=fit.estimate, lower=fit.ci_lower,
                             upper=fit.ci_upper))
    spec.rows.append(Row("blank"))
    spec.rows += _pooled_rows(reference, _model_label(reference), "pooled-diamond", with_prediction=False)
    return _draw(spec, reference_line=reference.estimate)
