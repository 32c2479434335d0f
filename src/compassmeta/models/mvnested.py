"""Nested random effects beside ``~ inner | outer`` in a multivariate model: metafor's
rma.mv(random = list(~ inner | outer, ~ 1 | f)) and list(~ inner | outer, ~ 1 | a/b).

Term ``~ 1 | a/b`` gives two variance components (metafor's sigma^2.1, sigma^2.2): one shared by
the rows of each level of a, one by the rows of each level of the combination (a, b), as
metafor's nesting operator.  Every level of a term must lie within one outer cluster, so that
V stays block-diagonal by cluster (a crossed term is not offered).
"""
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..common.errors import InputError
from .multilevel import ClusterLabels, cluster_codes


@dataclass(frozen=True)
class NestedTerm:
    """One sigma^2 component: metafor's factor name (``a``, ``a/b``), its row codes and level count."""

    factor: str
    codes: np.ndarray
    n_levels: int


def parse_nested(text: str) -> tuple:
    """The column names of metafor's ``~ 1 | a/b`` written ``a/b`` (or one column)."""
    names = tuple(name.strip() for name in str(text).split("/"))
    if not all(names):
        raise InputError(f"nested term '{text}' must name columns as COL or COL/COL")
    return names


def nested_terms(nested: Mapping[str, ClusterLabels] | None, cluster_codes_: np.ndarray, *,
                 source: str | None = None) -> tuple[NestedTerm, ...]:
    """NestedTerm per component of ``nested`` (an ordered mapping column -> values, outermost
    first); an error names a level that spans two outer clusters."""
    terms = []
    combined = np.zeros(cluster_codes_.size, dtype=np.int64)
    nested = nested or {}
    names = list(nested)
    for depth, name in enumerate(names):
        codes = cluster_codes(nested[name], column=name, source=source)
        pairs = np.stack([combined, codes], axis=1)
        _, combined = np.unique(pairs, axis=0, return_inverse=True)
        combined = combined.ravel()
        n_levels = int(combined.max()) + 1
        first_cluster = np.full(n_levels, -1)
        first_cluster[combined[::-1]] = cluster_codes_[::-1]
        crossing = np.flatnonzero(first_cluster[combined] != cluster_codes_)
        if crossing.size:
            raise InputError(f"a level of the nested term '{'/'.join(names[:depth + 1])}' lies in two "
                             "clusters; a nested term must be nested within --cluster",
                             file=source, row=int(crossing[0]) + 1, column=name)
        terms.append(NestedTerm("/".join(names[:depth + 1]), combined, n_levels))
    return tuple(terms)


def numbered(name: str, count: int) -> list:
    """metafor's names of ``count`` parameters: ``name`` alone, else name.1, name.2, ..."""
    return [name] if count == 1 else [f"{name}.{i + 1}" for i in range(count)]
