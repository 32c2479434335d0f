"""The design matrix of a meta-regression: an intercept, numeric moderators as they are and
categorical ones as treatment-coded dummies (R's factor order), and single rows of it at given
moderator values (metafor predict(newmods =)) or at reference values for marginal means."""
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..common.errors import InputError

#: One moderator's values, one per study (numbers, or labels of a categorical moderator).
Column = Sequence[object] | np.ndarray
#: Moderator name -> its column.
Moderators = Mapping[str, Column]


def is_numeric(values: Column) -> bool:
    """True when every value is a number; text (even "1", "2") makes a moderator categorical."""
    return all(isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
               for value in values)


def sorted_levels(labels: Iterable[str]) -> list[str]:
    """Distinct labels in R's factor order under a usual locale (case-insensitive)."""
    return sorted(set(labels), key=lambda label: (label.lower(), label))


def design_matrix(moderators: Moderators, k: int) -> tuple[np.ndarray, list[str]]:
    """Intercept plus one column per continuous moderator and dummies per categorical one.

    ``moderators`` maps a name to k values.  A categorical moderator is dummy coded against
    its first level in R's factor order (treatment contrasts); its terms are
    ``name[level]``.  Returns ``(X, terms)``.
    """
    columns, terms = [np.ones(k)], ["intercept"]
    for name, values in moderators.items():
        values = np.asarray(values, dtype=object)
        if values.shape != (k,):
            raise InputError(f"moderator has {values.size} values for {k} studies", column=name)
        if is_numeric(values):
            numeric = values.astype(float)
            bad = np.flatnonzero(~np.isfinite(numeric))
            if bad.size:
                raise InputError("moderator value is missing or not finite", row=int(bad[0]) + 1,
                                 column=name)
            columns.append(numeric)
            terms.append(name)
            continue
        labels = np.array([str(value) for value in values])
        missing = np.flatnonzero(np.isin(labels, ["", "nan", "None", "NA"]))
        if missing.size:
            raise InputError("moderator value is missing", row=int(missing[0]) + 1, column=name)
        levels = sorted_levels(labels)
        if len(levels) < 2:
            raise InputError(f"categorical moderator has a single level '{levels[0]}'", column=name)
        for level in levels[1:]:
            columns.append((labels == level).astype(float))
            terms.append(f"{name}[{level}]")
    X = np.column_stack(columns)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise InputError("moderators are collinear (a term is a combination of others)")
    return X, terms


def levels_of(values: Column) -> list[str]:
    """The levels of a categorical moderator in R's factor order."""
    return sorted_levels([str(value) for value in values])


def design_row(moderators: Moderators, terms: Sequence[str], values: Mapping[str, str | float]) -> np.ndarray:
    """The design row of the model for moderator ``values`` (name -> number or level)."""
    unknown = [name for name in values if name not in moderators]
    if unknown:
        raise InputError(f"'{unknown[0]}' is not a moderator of the model (--newmods)", column=unknown[0])
    missing = [name for name in moderators if name not in values]
    if missing:
        raise InputError(f"no value given for moderator '{missing[0]}' (--newmods)", column=missing[0])
    row = {"intercept": 1.0}
    for name, column in moderators.items():
        value = values[name]
        if is_numeric(column):
            try:
                row[name] = float(value)
            except (TypeError, ValueError):
                raise InputError(f"moderator is numeric; got '{value}'", column=name) from None
            continue
        levels = levels_of(column)
        if str(value) not in levels:
            raise InputError(f"'{value}' is not a level of the moderator ({', '.join(levels)})", column=name)
        row.update({f"{name}[{level}]": float(str(value) == level) for level in levels[1:]})
    return np.array([row[term] for term in terms])


def reference_row(moderators: Moderators, terms: Sequence[str], factor: str, level: str) -> np.ndarray:
    """Design row at ``level`` of ``factor``: numeric moderators at their mean, other factors'
    dummies at 1 / (their number of levels)."""
    row = {"intercept": 1.0}
    for name, column in moderators.items():
        if is_numeric(column):
            row[name] = float(np.mean(np.asarray(column, dtype=float)))
            continue
        levels = levels_of(column)
        for other in levels[1:]:
            row[f"{name}[{other}]"] = float(other == level) if name == factor else 1.0 / len(levels)
    return np.array([row[term] for term in terms])


class DesignShape:
    """``k`` (rows) and ``p`` (coefficients) of a fit's design matrix ``X``, for the fit classes."""

    X: np.ndarray

    @property
    def k(self) -> int:
        return int(self.X.shape[0])

    @property
    def p(self) -> int:
        return int(self.X.shape[1])


@dataclass(frozen=True)
class FittedData(DesignShape):
    """What a univariate or three-level fit was fitted to and how: design ``X``, effects ``y``,
    sampling variances ``v``, the coefficients' ``terms``, the estimation ``method`` and the
    confidence ``level`` as a fraction (e.g. 0.95)."""

    X: np.ndarray
    y: np.ndarray
    v: np.ndarray
    terms: tuple[str, ...]
    method: str
    level: float
