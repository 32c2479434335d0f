"""Clusters of effect sizes (a trial's rows): integer codes for their labels, and the rows grouped
by cluster with clusters of equal size stacked, as the multilevel and multivariate fits use them."""
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..common.errors import InputError

#: A cluster label per effect (text or numbers), as a sequence or an array.
ClusterLabels = Sequence[object] | np.ndarray

MISSING_LABELS = ("", "nan", "NaN", "NA", "None")


def cluster_codes(cluster: ClusterLabels, *, column: str = "cluster",
                  source: str | None = None) -> np.ndarray:
    """Integer codes 0..m-1 for cluster labels (stripped), numbered in the labels' sorted order
    (numpy's unique); a missing label is an error naming its row."""
    found = _text_codes(cluster) if isinstance(cluster, (list, tuple)) else None
    codes, missing = found if found is not None else _array_codes(cluster)
    if missing.any():
        raise InputError("cluster value is missing", file=source, row=int(np.argmax(missing)) + 1,
                         column=column)
    return codes


def _array_codes(cluster: ClusterLabels) -> tuple[np.ndarray, np.ndarray]:
    """(codes, missing) of labels of any kind, by numpy: text stripped, NaN or empty text missing."""
    values = np.asarray(cluster)
    if values.dtype.kind in "iub":
        missing = np.zeros(values.shape, dtype=bool)
    elif values.dtype.kind == "f":
        missing = ~np.isfinite(values)
    else:
        values = np.char.strip(values.astype(str))
        missing = np.isin(values, MISSING_LABELS)
    return np.unique(values, return_inverse=True)[1].ravel(), missing


def _text_codes(labels: Sequence[object]) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_array_codes` of text labels through a dict of the distinct labels, sorted in Python
    (numpy's conversion and sort of 10^5 labels took 0.1 s, this 0.03 s): the same code-point
    order.  None (numpy's way) for labels other than text, or holding a NUL, which numpy drops
    at a label's end."""
    first: dict[str, int] = {}     # each distinct label, the first row that has it
    try:
        rows = np.fromiter(map(first.setdefault, map(str.strip, labels), range(len(labels))),  # type: ignore
                           dtype=np.intp, count=len(labels))
    except TypeError:              # not text
        return None
    if any("\0" in label for label in first):
        return None
    code_of_row = np.zeros(len(labels), dtype=np.intp)    # the code at each first row
    code_of_row[[first[label] for label in sorted(first)]] = np.arange(len(first))
    return code_of_row[rows], np.isin(rows, [first[label] for label in MISSING_LABELS if label in first])


class ClusterBlocks:
    """Rows grouped by cluster, and clusters of equal size stacked into (m, n) index arrays."""

    def __init__(self, codes: ArrayLike) -> None:
        codes = np.asarray(codes)
        order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        self.n_clusters = sizes.size
        self.k = codes.size
        #: one (m, n) array of row indices per distinct cluster size n
        self.groups = [order[starts[sizes == n][:, None] + np.arange(n)] for n in np.unique(sizes)]

    def stack(self, values: np.ndarray) -> list[np.ndarray]:
        """``values`` (k, ...) gathered per group: a list of (m, n, ...) arrays."""
        return [values[rows] for rows in self.groups]
