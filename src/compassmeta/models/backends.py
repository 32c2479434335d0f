"""The two back-ends on which every tau^2 estimator of :mod:`compassmeta.models.tau2` runs.

An estimator is written once against this small interface: ``k``, ``p``, ``df``, ``fits(w)``
(weighted least-squares fits, see :mod:`compassmeta.models.wls`), the weight vectors, sums over
studies and a few element-wise operations on per-meta-analysis state.

* :class:`Single` is one meta-analysis; its state is Python floats and its fits the closed-form
  sums of :mod:`compassmeta.models.wls` (a fit at k = 20 costs microseconds, so numpy calls, not
  arithmetic, are what the single fit must save).
* :class:`Batch` is R meta-analyses at once (GOSH subsets, permutations, simulations): row r
  holds the studies with ``mask[r] == 1``; its state is arrays of length R and its fits are
  computed for every row together.  Iterations update only the rows still active.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from .wls import InterceptOnlyFit, WeightedFit, weighted_fit

Array = NDArray[np.float64]
T = TypeVar("T", float, bool)
#: A per-meta-analysis value: a float on :class:`Single`, an array of length R on :class:`Batch`.
Values = float | Array
#: Per-meta-analysis flags: a bool on :class:`Single`, a boolean array of length R on :class:`Batch`.
Flags = bool | NDArray[np.bool_]
#: The indices of the rows to update, or None for all of them.
Rows = NDArray[np.intp] | Sequence[int] | None
#: Per-row state taken or put in one call mixes floats, counts and flags (the caller unpacks a known
#: layout), so it is typed Any.
State = Any


def _sum(a: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.add.reduce(a, axis=-1)


def safe_divide(numerator: Values, denominator: Values) -> NDArray[np.float64]:
    """numerator / denominator where the denominator is positive, else 0 (rows with k <= p)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 0.0)


class InterceptFits:
    """Weighted fits of y on an intercept for every row: W is (R, k), y is (k,) or (R, k)."""

    p = 1

    def __init__(self, y: Array, w: Array) -> None:
        self.w = w
        self.sum_w = _sum(w)
        self.mean = _sum(w * y) / self.sum_w
        self.resid = y - self.mean[:, None]
        self.u = w * self.resid            # Py
        self._sum_w2: Array | None = None

    @property
    def beta(self) -> Array:
        return self.mean[:, None]

    @property
    def cov(self) -> Array:
        return (1.0 / self.sum_w)[:, None, None]

    def sum_w2(self) -> Array:
        if self._sum_w2 is None:
            self._sum_w2 = _sum(self.w * self.w)
        return self._sum_w2

    def rss(self) -> Array:
        return _sum(self.u * self.resid)

    def trace_cov_moment(self, a: Array) -> Array:
        return _sum(a) / self.sum_w

    def trace_p(self) -> Array:
        return self.sum_w - self.sum_w2() / self.sum_w

    def trace_pp(self) -> Array:
        sum_w2 = self.sum_w2()
        return sum_w2 - 2.0 * _sum(self.w * self.w * self.w) / self.sum_w + (sum_w2 / self.sum_w) ** 2

    def trace_pa(self, a: Array) -> Array:
        return _sum(self.w * a) - _sum(self.w * self.w * a) / self.sum_w

    def trace_papb(self, a: Array, b: Array) -> Array:
        w2 = self.w * self.w
        return (_sum(w2 * a * b) - 2.0 * _sum(w2 * self.w * a * b) / self.sum_w
                + _sum(w2 * a) * _sum(w2 * b) / self.sum_w ** 2)

    def ypp_y(self) -> Array:
        return _sum(self.u * self.u)

    def ypppy(self) -> Array:
        return _sum(self.w * self.u * self.u) - _sum(self.w * self.u) ** 2 / self.sum_w

    def log_det_xwx(self) -> Array:
        return np.log(self.sum_w)


class DesignFits:
    """Weighted fits with a design per row: X is (R, k, p) (or (k, p) shared by all rows)."""

    def __init__(self, X: Array, y: Array, w: Array) -> None:
        self.X = X if X.ndim == 3 else np.broadcast_to(X, (w.shape[0],) + X.shape)
        self.p = self.X.shape[2]
        self.w = w
        weighted_X = self.X * w[:, :, None]
        self.cov = np.linalg.inv(np.einsum("rkp,rkq->rpq", weighted_X, self.X))
        y_rows = np.broadcast_to(y, w.shape)
        self.beta = np.einsum("rpq,rq->rp", self.cov, np.einsum("rkp,rk->rp", weighted_X, y_rows))
        self.resid = y_rows - np.einsum("rkp,rp->rk", self.X, self.beta)
        self.u = w * self.resid

    def _moment(self, a: Array) -> Array:
        return np.einsum("rkp,rk,rkq->rpq", self.X, a, self.X)

    def rss(self) -> Array:
        return _sum(self.u * self.resid)

    def trace_cov_moment(self, a: Array) -> Array:
        return np.einsum("rpq,rqp->r", self.cov, self._moment(a))

    def trace_p(self) -> Array:
        return _sum(self.w) - self.trace_cov_moment(self.w * self.w)

    def trace_pp(self) -> Array:
        return self.trace_papb(np.ones_like(self.w), np.ones_like(self.w))

    def trace_pa(self, a: Array) -> Array:
        return _sum(self.w * a) - self.trace_cov_moment(self.w * self.w * a)

    def trace_papb(self, a: Array, b: Array) -> Array:
        w2 = self.w * self.w
        ca, cb = self.cov @ self._moment(w2 * a), self.cov @ self._moment(w2 * b)
        return (_sum(w2 * a * b) - 2.0 * self.trace_cov_moment(w2 * self.w * a * b)
                + np.einsum("rpq,rqp->r", ca, cb))

    def ypp_y(self) -> Array:
        return _sum(self.u * self.u)

    def ypppy(self) -> Array:
        xwu = np.einsum("rkp,rk->rp", self.X, self.w * self.u)
        return _sum(self.w * self.u * self.u) - np.einsum("rp,rpq,rq->r", xwu, self.cov, xwu)

    def log_det_xwx(self) -> Array:
        return -np.linalg.slogdet(self.cov)[1]


@dataclass
class Batch:
    """R meta-analyses: effects y and variances v, each (k,) shared by all rows or (R, k), a 0/1
    mask (R, k), for meta-regressions designs X (R, k, p) or (k, p), and user weights (GENQ)."""

    y: np.ndarray
    v: np.ndarray
    mask: np.ndarray
    X: np.ndarray | None = None
    user_weights: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return self.mask.shape[0]

    @property
    def k(self) -> Array:
        return _sum(self.mask)

    @property
    def p(self) -> int:
        return 1 if self.X is None else self.X.shape[-1]

    @property
    def df(self) -> Array:
        return self.k - self.p

    def fits(self, w: Array) -> InterceptFits | DesignFits:
        """Weighted fits of every row with weights ``w`` (zero outside the mask)."""
        return InterceptFits(self.y, w) if self.X is None else DesignFits(self.X, self.y, w)

    def weights(self, tau2: Values) -> Array:
        """1/(v + tau^2) of the members of each row."""
        return self.mask / (self.v + np.asarray(tau2)[:, None])

    def unit_weights(self) -> Array:
        return self.mask.astype(float)

    def inverse_variance(self) -> Array:
        return self.mask / self.v

    def given_weights(self) -> Array:
        """The user's weights of each row's members (GENQ, GENQM)."""
        return self.mask * self.user_weights

    def sum_log_variance(self, tau2: Values) -> Array:
        """sum log(v + tau^2) over each row's members."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return _sum(np.where(self.mask > 0, np.log(self.v + np.asarray(tau2)[:, None]), 0.0))

    def masked(self, a: Array) -> Array:
        """A per-study vector (such as v) as each row's members see it (zero elsewhere)."""
        return self.mask * a

    def sum(self, a: Array) -> Array:
        return _sum(a)

    def variance_of_y(self) -> Array:
        """The (biased) variance of each row's effects, SJ's start."""
        y = np.broadcast_to(self.y, self.mask.shape)
        mean = safe_divide(_sum(self.mask * y), self.k)
        return safe_divide(_sum(self.mask * (y - mean[:, None]) ** 2), self.k)

    # element-wise operations on per-row state (arrays of length R)
    divide = staticmethod(safe_divide)

    @staticmethod
    def ratio(numerator: Values, denominator: Values) -> Values:
        """numerator / denominator, inf or nan where the denominator is 0."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return numerator / denominator

    @staticmethod
    def where(condition: Flags, a: Values, b: Values) -> Array:
        return np.where(condition, a, b)

    @staticmethod
    def maximum(a: Values, b: Values) -> Array:
        return np.maximum(a, b)

    @staticmethod
    def negate(flags: Flags) -> NDArray[np.bool_]:
        return np.logical_not(flags)

    @staticmethod
    def isfinite(values: Values) -> NDArray[np.bool_]:
        return np.isfinite(values)

    def full(self, value: float) -> NDArray[Any]:
        return np.full(self.rows, value)

    def any(self, flags: Flags) -> bool:
        return bool(np.any(flags))

    def active_rows(self, active: NDArray[np.bool_]) -> NDArray[np.intp] | None:
        """Indices of the active rows, or None when every row is active (no copy needed)."""
        return None if active.all() else np.flatnonzero(active)

    def subset(self, rows: Rows) -> Batch:
        """The batch of the given rows only (shared arrays stay shared)."""
        if rows is None:
            return self

        def pick(array: np.ndarray | None, row_dims: int) -> Any:
            return array if array is None or array.ndim < row_dims else array[rows]
        return Batch(pick(self.y, 2), pick(self.v, 2), self.mask[rows], pick(self.X, 3),
                     pick(self.user_weights, 2))

    @staticmethod
    def take(rows: Rows, *states: State) -> tuple[State, ...]:
        """The given rows of each per-row state array (all rows: the arrays themselves)."""
        return states if rows is None else tuple(state[rows] for state in states)

    @staticmethod
    def put(rows: Rows, *updates: tuple[State, State]) -> tuple[State, ...]:
        """Each (state, values) with the given rows set to the values, in place (all rows: the values)."""
        if rows is None:
            return tuple(values for _, values in updates)
        for state, values in updates:
            state[rows] = values
        return tuple(state for state, _ in updates)

    def row_indices(self, flags: Flags) -> NDArray[np.intp]:
        return np.flatnonzero(flags)

    def per_row(self, estimator: Callable[[Single], float]) -> Array:
        """``estimator`` (of a :class:`Single`) applied to each row with k > p, 0 elsewhere."""
        return np.array([estimator(self.row(r)) if df > 0 else 0.0 for r, df in enumerate(self.df)])

    def row(self, r: int) -> Single:
        """One row as a :class:`Single` problem (for the estimators solved row by row)."""
        members = np.flatnonzero(self.mask[r] > 0)
        design = None if self.X is None else (self.X[r] if self.X.ndim == 3 else self.X)
        X = np.ones((members.size, 1)) if design is None else design[members]

        def take(a: np.ndarray | None) -> Any:
            return None if a is None else (a[r] if a.ndim == 2 else a)[members]
        return Single(X, take(self.y), take(self.v), take(self.user_weights))


class Single:
    """One meta-analysis: design X (k x p), effects y, variances v, optional user weights."""

    rows = 1

    def __init__(self, X: Array, y: Array, v: Array, user_weights: Array | None = None) -> None:
        self.X, self.y, self.v, self.user_weights = X, y, v, user_weights
        self.k, self.p = X.shape
        self.df = self.k - self.p

    def fits(self, w: Array) -> WeightedFit | InterceptOnlyFit:
        return weighted_fit(self.X, self.y, w)

    def weights(self, tau2: Values) -> Array:
        return 1.0 / (self.v + tau2)

    def unit_weights(self) -> Array:
        return np.ones(self.k)

    def inverse_variance(self) -> Array:
        return 1.0 / self.v

    def given_weights(self) -> Array:
        assert self.user_weights is not None, "this estimator needs the user's weights"
        return self.user_weights

    def sum_log_variance(self, tau2: Values) -> float:
        return float(np.add.reduce(np.log(self.v + tau2)))

    def masked(self, a: Array) -> Array:
        return a

    def sum(self, a: Array) -> float:
        return float(np.add.reduce(a))

    def variance_of_y(self) -> float:
        deviation = self.y - float(np.add.reduce(self.y)) / self.k
        return float(np.dot(deviation, deviation)) / self.k

    @staticmethod
    def divide(numerator: Values, denominator: Values) -> Values:
        return numerator / denominator

    @staticmethod
    def ratio(numerator: Values, denominator: Values) -> Values:
        return numerator / denominator if denominator != 0 else float("nan")

    @staticmethod
    def where(condition: Flags, a: Values, b: Values) -> Values:
        return a if condition else b

    @staticmethod
    def maximum(a: Values, b: Values) -> Values:
        """max(a, b), nan when b is nan (as numpy's maximum)."""
        return b if (b != b or b > a) else a


    @staticmethod
    def negate(flag: Flags) -> bool:
        return not flag

    @staticmethod
    def isfinite(value: Values) -> bool:
        return math.isfinite(value)

    @staticmethod
    def full(value: T) -> T:
        return value

    @staticmethod
    def any(flag: Flags) -> bool:
        return bool(flag)

    @staticmethod
    def active_rows(active: Flags) -> None:
        return None

    def subset(self, rows: Rows) -> Single:
        return self

    @staticmethod
    def take(rows: Rows, *states: State) -> tuple[State, ...]:
        return states

    @staticmethod
    def put(rows: Rows, *updates: tuple[State, State]) -> tuple[State, ...]:
        return tuple(values for _, values in updates)

    @staticmethod
    def row_indices(flag: Flags) -> list[int]:
        return [0] if flag else []

    def per_row(self, estimator: Callable[[Single], float]) -> float:
        return estimator(self)

    def row(self, r: int) -> Single:
        return self


#: Either back-end: the problem every tau^2 estimator takes.
Problem = Single | Batch
#: A weighted fit on either back-end.
Fit = InterceptFits | DesignFits | WeightedFit | InterceptOnlyFit
