"""Immutable result objects with ``to_dict()`` (JSON-ready) and ``to_frame()`` (pandas).

Fields marked ``internal`` (the fitted model behind a result) stay out of both.
"""
import dataclasses
import html
import math

import numpy as np

INTERNAL = {"internal": True}


def _plain(value):
    """Numpy scalars and arrays to Python values; NaN and infinities to None (valid JSON)."""
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def html_cell(value):
    """One value as escaped table text (floats to 4 significant digits, None as a dash)."""
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def html_table(header, rows, caption=None):
    """A plain HTML table of ``rows`` (lists of values) under ``header``, for notebooks."""
    head = "".join(f"<th>{html.escape(str(name))}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{html_cell(value)}</td>" for value in row) + "</tr>" for row in rows)
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def records_table(records, caption=None):
    """A table of dictionaries with the same keys (nested values left out)."""
    header = [key for key, value in records[0].items() if not isinstance(value, (list, dict))] if records else []
    return html_table(header, [[record[key] for key in header] for record in records], caption)


@dataclasses.dataclass(frozen=True)
class Result:
    """Base class: a frozen dataclass whose public fields are its dictionary."""

    def _repr_html_(self):
        """Jupyter's view: the scalar fields as a field/value table, then each nested result or
        list of results as its own table."""
        data = self.to_dict()
        scalars = [[key, value] for key, value in data.items() if not isinstance(value, (list, dict))]
        parts = [html_table(["field", "value"], scalars, type(self).__name__)]
        for key, value in data.items():
            if isinstance(value, dict):
                parts.append(records_table([value], key))
            elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
                parts.append(records_table(value, key))
        return "".join(parts)

    def to_dict(self):
        return {f.name: _plain(getattr(self, f.name))
                for f in dataclasses.fields(self) if not f.metadata.get("internal")}

    def to_frame(self):
        """One-row DataFrame of the scalar fields (list-valued fields have their own frames)."""
        import pandas as pd

        scalars = {key: value for key, value in self.to_dict().items()
                   if not isinstance(value, (list, dict))}
        return pd.DataFrame([scalars])


@dataclasses.dataclass(frozen=True)
class Estimate(Result):
    """A coefficient or pooled effect with its inference."""

    estimate: float
    se: float
    statistic: float
    p_value: float
    ci_lower: float
    ci_upper: float


@dataclasses.dataclass(frozen=True)
class VarianceComponent(Result):
    """One between-study variance of a pooled model: tau^2 of a univariate model, sigma^2 of a
    level of a multilevel model, tau^2 of an inner level of a multivariate model, or the posterior
    median of tau^2 of a Bayesian model.  ``i2`` in percent where the model defines it."""

    name: str
    variance: float
    ci_lower: float | None = None
    ci_upper: float | None = None
    i2: float | None = None


@dataclasses.dataclass(frozen=True)
class Heterogeneity(Result):
    """The heterogeneity summary every pooled model gives: its variance components and the
    Q test (Cochran's Q with its df and p; None where the model has none, as a Bayesian one)."""

    components: tuple = ()
    q: float | None = None
    q_df: float | None = None
    q_p: float | None = None

    @property
    def total_variance(self) -> float:
        """The sum of the variance components (what a prediction interval adds to se^2)."""
        return float(sum(component.variance for component in self.components))

    @property
    def i2(self) -> float | None:
        """Total I^2 (percent): the sum over the components that define one."""
        shares = [component.i2 for component in self.components if component.i2 is not None]
        return float(sum(shares)) if shares else None


class PooledModel:
    """The interface of every pooled-model result (univariate, multilevel, multivariate, Bayesian).

    Report, CLI and JSON use only these members, never the class: ``k``, ``n_clusters``
    (None where rows are independent), ``converged``, ``pooled_estimate()`` (an :class:`Estimate`
    with its interval at the result's level), ``prediction_interval()``, ``heterogeneity()`` and
    ``describe()`` (the model in one line, e.g. "three-level model (REML), 9 rows in 6 trials").
    A subclass is a frozen :class:`Result` dataclass that also derives from this class.
    """

    k: int
    n_clusters: int | None
    converged: bool

    def pooled_estimate(self) -> "Estimate":
        raise NotImplementedError

    def prediction_interval(self) -> tuple[float, float]:
        raise NotImplementedError

    def heterogeneity(self) -> Heterogeneity:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError
