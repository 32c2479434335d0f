"""The within-cluster sampling covariance S_j of a multivariate model (metafor vcalc() logic).

Diagonal: the sampling variances v_i.  Off the diagonal, for rows i, l of one cluster:

* a constant sampling correlation: rho sqrt(v_i v_l) (vcalc(vi, cluster, rho = rho));
* autocorrelation over time: phi^|t_i - t_l| sqrt(v_i v_l) (vcalc(vi, cluster, time1 = t,
  phi = phi));
* both: rho phi^|t_i - t_l| sqrt(v_i v_l);
* comparisons sharing a group (a multi-arm trial's control), given their arms and sizes: the
  shared group's correlation times 1 (the same measure) or the correlation above (different
  measures), metafor vcalc(grp1, grp2, w1, w2) (:mod:`.sharedgroups`, Gleser & Olkin 2009);
* published covariances given as pairs of rows (e.g. Berkey et al. 1998's v1i, v2i), which
  replace the entries they name.
"""
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from ..common.errors import InputError
from .multilevel import ClusterBlocks
from .sharedgroups import ArmGroups, shared_group_correlation


def _slots(blocks: ClusterBlocks) -> tuple[NDArray[np.int_], NDArray[np.int_], NDArray[np.int_]]:
    """For every row: (group, cluster within group, position within cluster)."""
    group_of = np.empty(blocks.k, dtype=int)
    member_of = np.empty(blocks.k, dtype=int)
    position_of = np.empty(blocks.k, dtype=int)
    for g, rows in enumerate(blocks.groups):
        group_of[rows] = g
        member_of[rows] = np.arange(rows.shape[0])[:, None]
        position_of[rows] = np.arange(rows.shape[1])[None, :]
    return group_of, member_of, position_of


def sampling_covariance(blocks: ClusterBlocks, v: np.ndarray, *, rho: float | None = None,
                        times: np.ndarray | None = None, phi: float | None = None,
                        pairs: Iterable[tuple[float, float, float]] | None = None,
                        cluster_labels: np.ndarray | Sequence[object] | None = None,
                        source: str | None = None, arm_groups: ArmGroups | None = None) -> list[np.ndarray]:
    """S_j per size group, (m, n, n) arrays; an error names a cluster whose S_j is not positive
    definite or a pair of rows from different clusters.  ``arm_groups``: the rows' arms and sizes."""
    groups = []
    for rows in blocks.groups:
        sd = np.sqrt(v[rows])
        eye = np.eye(rows.shape[1])
        correlation = np.broadcast_to(eye if rho is None else eye + rho * (1.0 - eye),
                                      rows.shape + (rows.shape[1],))
        if phi is not None:
            assert times is not None, "phi needs each row's time"
            t = times[rows]
            correlation = np.where(eye > 0, 1.0, (1.0 if rho is None else correlation)
                                   * phi ** np.abs(t[:, :, None] - t[:, None, :]))
        if arm_groups is not None:
            correlation = shared_group_correlation(arm_groups, rows, correlation)[0]
        S = correlation * sd[:, :, None] * sd[:, None, :]
        groups.append(S)
    if pairs is not None:
        _place_pairs(blocks, groups, pairs, source)
    for rows, S in zip(blocks.groups, groups):
        eigen = np.linalg.eigvalsh(S)
        bad = np.nonzero(eigen[:, 0] <= 0)[0]
        if bad.size:
            row = int(rows[bad[0], 0])
            name = cluster_labels[row] if cluster_labels is not None else row + 1
            raise InputError(f"the sampling covariance of cluster {name} is not positive definite",
                             file=source, row=row + 1)
    return groups


def _place_pairs(blocks: ClusterBlocks, groups: list[np.ndarray], pairs: Iterable[tuple[float, float, float]],
                 source: str | None) -> None:
    """Write the published covariances (row i, row l, cov) into the blocks (rows 0-based)."""
    group_of, member_of, position_of = _slots(blocks)
    for first, second, cov in pairs:
        i, j = int(first), int(second)
        if group_of[i] != group_of[j] or member_of[i] != member_of[j]:
            raise InputError(f"a covariance pairs rows {i + 1} and {j + 1}, which lie in different "
                             "clusters", file=source, row=i + 1)
        S = groups[group_of[i]][member_of[i]]
        S[position_of[i], position_of[j]] = S[position_of[j], position_of[i]] = float(cov)
