"""Permutation tests for meta-regression and subgroup differences, with metafor permutest()
semantics: the rows of the moderators are permuted against (yi, vi) (signs of yi are flipped
for an intercept-only model); exact when the distinct permutations are no more than asked
for, otherwise seeded random ones with the observed data as the first."""
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..common.results import Result
from ..models.batch import Batch, fit_batch
from ..models.moderators import design_matrix, meta_regression
from ..models.pooling import as_fraction, check_effects, pool

COMPARISON_TOLERANCE = np.finfo(float).eps ** 0.5  # metafor's comptol
CHUNK = 2048


@dataclass(frozen=True)
class PermutationTest(Result):
    """Permutation p-values of the omnibus test (QM) and of each coefficient (two-sided, |z| or |t|)."""

    permutations: int
    exact: bool
    qm: float
    qm_p: float
    terms: tuple[str, ...]
    coefficient_p: tuple[float, ...]

    def __str__(self) -> str:
        from .printing import permutation_lines

        return permutation_lines(self)


@dataclass(frozen=True)
class WithPermutationTest(Result):
    """A meta-regression or subgroup result with its permutation test: the result's own
    dictionary plus ``permutation_test``."""

    result: Result
    permutation_test: PermutationTest

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "permutation_test": self.permutation_test.to_dict()}

    def records(self) -> list[dict]:
        return self.result.records()

    def __str__(self) -> str:
        return f"{self.result}\n{self.permutation_test}"


def distinct_permutations(labels: Sequence[int | str]) -> NDArray[Any]:
    """All distinct orderings of a multiset of labels (rows of X that are equal are interchangeable)."""
    counts = Counter(labels)
    items = sorted(counts)
    result: list[list[Any]] = []
    current: list[Any] = []

    def extend(remaining: int) -> None:
        if remaining == 0:
            result.append(list(current))
            return
        for item in items:
            if counts[item]:
                counts[item] -= 1
                current.append(item)
                extend(remaining - 1)
                current.pop()
                counts[item] += 1

    extend(len(labels))
    return np.array(result)


def count_distinct_permutations(labels: Sequence[int | str]) -> int:
    counts = Counter(labels).values()
    return math.factorial(len(labels)) // math.prod(math.factorial(c) for c in counts)


def permutation_test(yi: ArrayLike, vi: ArrayLike, moderators: dict[str, Any] | None = None, *,
                     permutations: int = 1000, seed: int | None = None, method: str = "REML",
                     ci_method: str = "z", level: float = 95,
                     progress: Callable[[int], object] | None = None) -> PermutationTest:
    """Permutation p-values for the model of ``yi`` on ``moderators`` (None: intercept only)."""
    yi, vi = cast("tuple[NDArray[np.float64], NDArray[np.float64]]", check_effects(yi, vi))
    k = yi.size
    level = as_fraction(level)
    if moderators:
        observed = meta_regression(yi, vi, moderators, method=method, ci_method=ci_method, level=level)
        X, terms = design_matrix(moderators, k)
        statistic = np.array([c.statistic for c in observed.coefficients])
        qm = observed.qm
        _, row_labels = np.unique(X, axis=0, return_inverse=True)
        row_labels = row_labels.ravel()
        exact = count_distinct_permutations(row_labels.tolist()) <= permutations
        if exact:
            orders = _orders_from_labels(distinct_permutations(row_labels.tolist()), row_labels)
        else:
            rng = np.random.default_rng(seed)
            orders = np.array([np.arange(k)] + [rng.permutation(k) for _ in range(permutations - 1)])
        make_batch = lambda rows: Batch(yi, vi, np.ones((len(rows), k)), X[rows])  # noqa: E731
    else:
        pooled = pool(yi, vi, method=method, ci_method=ci_method, level=level, with_tau2_ci=False)
        terms, statistic = ["intercept"], np.array([pooled.statistic])
        qm = pooled.statistic ** 2  # z^2, or the F(1, k - 1) = t^2 of Knapp-Hartung
        exact = 2 ** k <= permutations
        if exact:
            orders = 1 - 2 * ((np.arange(2 ** k)[:, None] >> np.arange(k)) & 1)
        else:
            rng = np.random.default_rng(seed)
            orders = np.vstack([np.ones(k, dtype=int), rng.choice([-1, 1], size=(permutations - 1, k))])
        make_batch = lambda signs: Batch(signs * yi, vi, np.ones((len(signs), k)))  # noqa: E731
    statistic_chunks, qm_chunks = [], []
    for start in range(0, len(orders), CHUNK):
        result = fit_batch(make_batch(orders[start:start + CHUNK]), method=method, ci_method=ci_method,
                           level=level)
        statistic_chunks.append(result.statistic)
        qm_chunks.append(result.qm)
        if progress:
            progress(len(orders[start:start + CHUNK]))
    statistics, qms = np.vstack(statistic_chunks), np.concatenate(qm_chunks)
    coefficient_p = np.mean(np.abs(statistics) >= np.abs(statistic) - COMPARISON_TOLERANCE, axis=0)
    return PermutationTest(permutations=len(orders), exact=exact, qm=float(qm),
                           qm_p=float(np.mean(qms >= qm - COMPARISON_TOLERANCE)), terms=tuple(terms),
                           coefficient_p=tuple(float(p) for p in np.minimum(coefficient_p, 1.0)))


def _orders_from_labels(label_orders: NDArray[Any], labels: NDArray[Any]) -> NDArray[np.int_]:
    """Row orders realising each distinct label sequence (equal rows are interchangeable)."""
    positions = {label: list(np.flatnonzero(labels == label)) for label in np.unique(labels)}
    orders = np.empty(label_orders.shape, dtype=int)
    for index, sequence in enumerate(label_orders):
        used = {label: iter(rows) for label, rows in positions.items()}
        orders[index] = [next(used[label]) for label in sequence]
    return orders
