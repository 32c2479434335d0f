"""GOSH: the model fitted to every subset of the studies (Olkin, Dahabreh & Trikalinos 2012,
Res Synth Methods 3:214), as metafor's gosh(): all 2^k - 1 subsets up to k = 20, a seeded
random sample of subsets beyond (subset sizes drawn from Binomial(k, 1/2) as metafor)."""
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..common.errors import InputError
from ..common.parallel import map_in_threads
from ..common.results import Result
from ..models.batch import Batch, fit_batch
from ..models.pooling import check_effects

if TYPE_CHECKING:
    import pandas as pd

EXACT_UP_TO = 20
CHUNK_ROWS = 1 << 15


@dataclass(frozen=True)
class GoshResult(Result):
    """One entry per subset; ``subsets`` holds each subset as a bit code (bit i = study i)."""

    method: str
    exact: bool
    subsets: np.ndarray
    k: np.ndarray
    estimate: np.ndarray
    q: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    tau2: np.ndarray

    def to_frame(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame({"subset": self.subsets, "k": self.k, "estimate": self.estimate, "q": self.q,
                             "i2": self.i2, "h2": self.h2, "tau2": self.tau2})

    def to_csv(self) -> str:
        """The per-subset table as CSV, the text pandas' ``to_csv(index=False)`` writes for
        ``to_frame()`` (shortest round-trip floats, NaN empty), built from Python's float repr:
        pandas' formatting takes about twice as long for the 262,143 rows of k = 18."""
        columns = {"subset": self.subsets, "k": self.k, "estimate": self.estimate, "q": self.q,
                   "i2": self.i2, "h2": self.h2, "tau2": self.tau2}
        cells = [_csv_cells(values) for values in columns.values()]
        return ",".join(columns) + "\n" + "".join(",".join(row) + "\n" for row in zip(*cells))

    def to_dict(self) -> dict[str, Any]:
        """Summary only (the per-subset arrays go to CSV through to_frame())."""
        return {"method": self.method, "exact": self.exact, "fits": int(self.subsets.size),
                "estimate_range": [float(self.estimate.min()), float(self.estimate.max())],
                "i2_range": [float(self.i2.min()), float(self.i2.max())]}


def _csv_cells(values: np.ndarray) -> list[str]:
    """CSV cells of one column: integers as written, floats as repr, NaN as an empty cell."""
    if values.dtype.kind != "f":
        return list(map(str, values.tolist()))
    cells = list(map(repr, values.tolist()))
    for index in np.flatnonzero(np.isnan(values)).tolist():
        cells[index] = ""
    return cells


def subset_codes(k: int, subsets: int | None = None,
                 seed: int | None = None) -> tuple[NDArray[np.int64], bool]:
    """Bit codes of the subsets to fit: all of them when 2^k - 1 <= ``subsets`` (default all
    up to k = 20), else ``subsets`` random ones (size ~ Binomial(k, 1/2), at least 1)."""
    total = (1 << k) - 1
    limit = subsets if subsets is not None else (total if k <= EXACT_UP_TO else 10 ** 6)
    if limit >= total:
        if k > 62:
            raise InputError(f"cannot enumerate the subsets of k = {k} studies")
        return np.arange(1, total + 1, dtype=np.int64), True
    if k > 62:
        raise InputError("random GOSH subsets are supported up to k = 62 studies")
    rng = np.random.default_rng(seed)
    sizes = rng.binomial(k, 0.5, size=limit)
    sizes[sizes < 1] = 1
    order = np.argsort(rng.random((limit, k)), axis=1)
    chosen = order < sizes[:, None]          # the first `size` studies of a random order
    codes = (chosen * (1 << np.arange(k, dtype=np.int64))).sum(axis=1)
    return codes, False


def gosh(yi: ArrayLike, vi: ArrayLike, *, method: str = "FE", subsets: int | None = None,
         seed: int | None = None, progress: Callable[[int], object] | None = None,
         workers: int = 2) -> GoshResult:
    """Fit the model to each subset; ``progress(n)`` is called as chunks of n fits finish."""
    yi, vi = cast("tuple[NDArray[np.float64], NDArray[np.float64]]", check_effects(yi, vi))
    k = yi.size
    codes, exact = subset_codes(k, subsets, seed)
    bits = 1 << np.arange(k, dtype=np.int64)
    chunks = [codes[start:start + CHUNK_ROWS] for start in range(0, codes.size, CHUNK_ROWS)]

    def fit_chunk(chunk: NDArray[np.int64]) -> Any:
        mask = ((chunk[:, None] & bits) != 0).astype(float)
        result = fit_batch(Batch(yi, vi, mask), method=method)
        if progress:
            progress(chunk.size)
        return result

    results = map_in_threads(fit_chunk, chunks, workers)
    join = lambda name: np.concatenate([getattr(r, name) for r in results])  # noqa: E731
    return GoshResult(method=method.upper(), exact=exact, subsets=codes, k=join("k").astype(int),
                      estimate=np.concatenate([r.estimate for r in results]), q=join("q"), i2=join("i2"),
                      h2=join("h2"), tau2=join("tau2"))
