"""Combining several effect sizes of one study into one (dependent outcomes)."""
from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Correlation assumed between a study's outcomes when none is known (Borenstein et al. 2009, ch. 24).
DEFAULT_WITHIN_STUDY_R = 0.5

K = TypeVar("K", bound=Hashable)


def composite_effect(yi: ArrayLike, vi: ArrayLike, r: float = DEFAULT_WITHIN_STUDY_R) -> tuple[float, float]:
    """Mean of m correlated effects and its variance (Borenstein et al. 2009, ch. 24):

    v = (1/m^2) (sum v_i + sum_{i != j} r sqrt(v_i v_j)), with an assumed correlation r.
    """
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    m = yi.size
    roots = np.sqrt(vi)
    cross = roots.sum() ** 2 - vi.sum()  # sum over i != j of sqrt(v_i v_j)
    return float(yi.mean()), float((vi.sum() + r * cross) / m ** 2)


def aggregate_by(keys: Sequence[K], yi: ArrayLike, vi: ArrayLike,
                 r: float = DEFAULT_WITHIN_STUDY_R) -> list[tuple[K, float, float, int]]:
    """One composite per distinct key, in order of first appearance: [(key, g, v, m), ...]."""
    order: list[K] = []
    members: dict[K, list[int]] = {}
    for index, key in enumerate(keys):
        if key not in members:
            order.append(key)
            members[key] = []
        members[key].append(index)
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    # a key of one row: composite_effect's arithmetic on every such row at once (the same numbers)
    single = np.array([members[key][0] for key in order if len(members[key]) == 1], dtype=int)
    v_single = vi[single]
    squared = np.array([root ** 2 for root in np.sqrt(v_single)])   # np.float64 ** 2, as composite_effect
    variances = (v_single + r * (squared - v_single)) / 1
    alone = dict(zip(single.tolist(), zip(yi[single].tolist(), variances.tolist())))
    return [(key, *alone[members[key][0]], 1) if len(members[key]) == 1
            else (key, *composite_effect(yi[members[key]], vi[members[key]], r), len(members[key]))
            for key in order]


def cluster_composites(cluster: Sequence[object], yi: Sequence[float] | NDArray[np.float64], vi: ArrayLike, *,
                       rho: float | None, ci_method: str,
                       multilevel_use: str, composite_use: str
                       ) -> tuple[list[str], NDArray[np.float64], NDArray[np.float64], str]:
    """One composite effect per cluster (order of first appearance) for the analyses that assume
    independent effects, averaged with r = ``rho`` (the CHE model's), else the default r, and the
    note that says so: ``multilevel_use`` (with ``{model}``) what the multilevel model is used for,
    ``composite_use`` what runs on the composites (z inference there, whatever ``ci_method``).
    Returns (labels, composite effects, their variances, note)."""
    r = DEFAULT_WITHIN_STUDY_R if rho is None else rho
    combined = aggregate_by([str(label) for label in cluster], yi, vi, r=r)
    model = "CHE" if rho is not None else "three-level"
    note = (f"{len(yi)} effects in {len(combined)} clusters: {multilevel_use.format(model=model)}; "
            f"{composite_use} "
            f"one composite effect per cluster (r = {r:g}, Borenstein et al. 2009, ch. 24)"
            + (f", with {ci_method} inference replaced by z" if ci_method != "z" else ""))
    return ([c[0] for c in combined], np.array([c[1] for c in combined]), np.array([c[2] for c in combined]),
            note)
