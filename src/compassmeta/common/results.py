"""Immutable result objects with ``to_dict()`` (JSON-ready) and ``to_frame()`` (pandas).

Fields marked ``internal`` (the fitted model behind a result) stay out of both.
:class:`Estimate` (and :class:`Coefficient`) carry an estimate's inference; every pooled-model
result implements :class:`PooledModel`.
"""
import dataclasses
import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .distributions import as_fraction, critical_value

if TYPE_CHECKING:
    import pandas as pd

INTERNAL = {"internal": True}
_COLUMN_TYPES, _FLOAT = frozenset((str, float, int)), frozenset((float,))
_AS_IS = frozenset((str, int, bool, type(None)))


def _plain(value: object) -> Any:
    """Numpy scalars and arrays to Python values; NaN and infinities to None (valid JSON)."""
    if type(value) in _AS_IS:   # most fields: text, counts, flags, None
        return value
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, (list, tuple, np.ndarray)):
        items = value.tolist() if isinstance(value, np.ndarray) and value.ndim == 1 else value
        types = set(map(type, items))
        if types <= _COLUMN_TYPES:   # a column of numbers or labels
            if float not in types or (types == _FLOAT and all(map(math.isfinite, items))):
                return list(items)
            return [None if type(item) is float and not math.isfinite(item) else item for item in items]
        return [_plain(item) for item in items]
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


def html_cell(value: object) -> str:
    """One value as escaped table text (floats to 4 significant digits, None as a dash)."""
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def html_table(header: Sequence[object], rows: Iterable[Iterable[object]], caption: str | None = None) -> str:
    """A plain HTML table of ``rows`` (lists of values) under ``header``, for notebooks."""
    head = "".join(f"<th>{html.escape(str(name))}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{html_cell(value)}</td>" for value in row) + "</tr>"
                   for row in rows)
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def records_table(records: Sequence[Mapping[str, Any]], caption: str | None = None) -> str:
    """A table of dictionaries with the same keys (nested values left out)."""
    header = ([key for key, value in records[0].items() if not isinstance(value, (list, dict))]
              if records else [])
    return html_table(header, [[record[key] for key in header] for record in records], caption)


@dataclasses.dataclass(frozen=True)
class Result:
    """Base class: a frozen dataclass whose public fields are its dictionary.

    Class-level hooks shape the views without per-class copies: ``leading_keys`` (keys that
    ``to_dict`` puts first, keeping a table's column order when fields come from a base class),
    ``html_columns`` ((header, function of the result) pairs: the notebook view becomes one row,
    as a journal prints it), ``html_rows`` (the name of a list field: the view becomes its table
    followed by ``html_note()``), ``html_caption()`` and ``records()`` (the rows of ``to_frame``).
    """

    leading_keys: ClassVar[tuple[str, ...]] = ()
    html_columns: ClassVar[tuple[tuple[str, Callable], ...]] = ()
    html_rows: ClassVar[str | None] = None

    def _repr_html_(self) -> str:
        """Jupyter's view: the ``html_columns`` row, the ``html_rows`` table, or the scalar fields
        as a field/value table followed by each nested result or list of results as its own table."""
        if self.html_columns:
            return html_table([header for header, _ in self.html_columns],
                              [[value(self) for _, value in self.html_columns]], self.html_caption())
        if self.html_rows:
            rows = [row.to_dict() for row in getattr(self, self.html_rows)]
            return records_table(rows, self.html_caption()) + f"<p>{self.html_note()}</p>"
        data = self.to_dict()
        scalars = [[key, value] for key, value in data.items() if not isinstance(value, (list, dict))]
        parts = [html_table(["field", "value"], scalars, self.html_caption())]
        for key, value in data.items():
            if isinstance(value, dict):
                parts.append(records_table([value], key))
            elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
                parts.append(records_table(value, key))
        return "".join(parts)

    def html_caption(self) -> str:
        return type(self).__name__

    def html_note(self) -> str:
        """The text under the ``html_rows`` table (its tests, in a sentence)."""
        return ""

    def to_dict(self) -> dict:
        names = [f.name for f in dataclasses.fields(self) if not f.metadata.get("internal")]
        ordered = [*self.leading_keys, *(name for name in names if name not in self.leading_keys)]
        return {name: _plain(getattr(self, name)) for name in ordered}

    def records(self) -> list[dict]:
        """The rows of :meth:`to_frame`: here one, the scalar fields (list-valued fields have
        their own frames)."""
        return [{key: value for key, value in self.to_dict().items() if not isinstance(value, (list, dict))}]

    def to_frame(self) -> "pd.DataFrame":
        """:meth:`records` as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.records())


@dataclasses.dataclass(frozen=True)
class Estimate(Result):
    """A coefficient or pooled effect with its inference: ``statistic`` is z (``df`` None) or t
    on ``df``; ``p_value`` is two-sided; [ci_lower, ci_upper] is the interval at ``level`` percent."""

    estimate: float
    se: float
    statistic: float
    df: float | None = dataclasses.field(default=None, kw_only=True)
    p_value: float
    ci_lower: float
    ci_upper: float
    level: float = dataclasses.field(default=95.0, kw_only=True)

    def conf_int(self, level: float | None = None) -> tuple[float, float]:
        """The Wald-type interval estimate -/+ c se at ``level`` (95 or 0.95; default the result's
        own), c the normal quantile, or the t quantile on ``df`` (as metafor's predict(level =))."""
        crit = float(critical_value(as_fraction(self.level if level is None else level), self.df))
        return self.estimate - crit * self.se, self.estimate + crit * self.se

    def estimate_fields(self) -> dict:
        """The fields of :class:`Estimate` alone, to build an Estimate (or another subclass) from it."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(Estimate)}


@dataclasses.dataclass(frozen=True)
class Coefficient(Estimate):
    """One coefficient of a (meta-)regression; the term comes first, as in a printed table."""

    leading_keys = ("term",)

    term: str = dataclasses.field(kw_only=True)


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


def _interval_text(bounds: tuple[float, float]) -> str:
    return f"[{bounds[0]:.4g}, {bounds[1]:.4g}]"


def _q_text(heterogeneity: Heterogeneity) -> str | None:
    if heterogeneity.q is None:
        return None
    return f"{heterogeneity.q:.4g} ({heterogeneity.q_df:g})"


def finite_or_none(value: float) -> float | None:
    """A number, or None where it is NaN (not computed)."""
    return None if value is None or math.isnan(value) else float(value)


class PooledModel:
    """The interface of every pooled-model result (univariate, multilevel, multivariate, Bayesian).

    Report, CLI and JSON use only these members, never the class: ``k``, ``n_clusters``
    (None where rows are independent), ``converged``, ``pooled_estimate()`` (an :class:`Estimate`
    with its interval at the result's level), ``prediction_interval()``, ``heterogeneity()`` and
    ``describe()`` (the model in one line, e.g. "three-level model (REML), 9 rows in 6 clusters").
    A subclass is a frozen :class:`Result` dataclass that also derives from this class, listed
    first (``class X(PooledModel, Estimate)``) so that the notebook view below is its own.
    """

    k: int
    n_clusters: int | None
    converged: bool

    html_columns: ClassVar[tuple[tuple[str, Callable], ...]] = (
        ("model", lambda r: r.describe()),
        ("estimate", lambda r: r.pooled_estimate().estimate),
        ("CI", lambda r: _interval_text((r.pooled_estimate().ci_lower, r.pooled_estimate().ci_upper))),
        ("PI", lambda r: _interval_text(r.prediction_interval())),
        ("p", lambda r: r.pooled_estimate().p_value),
        ("total variance", lambda r: r.heterogeneity().total_variance),
        ("I2 (%)", lambda r: r.heterogeneity().i2),
        ("Q (df)", lambda r: _q_text(r.heterogeneity())),
    )

    def html_caption(self) -> str:
        return f"Pooled effect ({self.pooled_estimate().level:g}% intervals)"

    def pooled_estimate(self) -> Estimate:
        raise NotImplementedError

    def prediction_interval(self) -> tuple[float, float]:
        raise NotImplementedError

    def heterogeneity(self) -> Heterogeneity:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError
