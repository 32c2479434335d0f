"""Grid files of ``compassmeta simulate --grid``: the factors of a simulation grid, read and
checked (one-line errors naming the grid key), and the cells they make.

A grid file (TOML, read with the standard library, or JSON) names the factors; scalars or
lists are accepted for each::

    reps = 1000            # replications per cell
    seed = 2014            # master seed (the command's --seed overrides it)
    k = [2, 3, 5, 10]
    tau2 = [0.0, 0.1]
    true_effect = 0.0
    estimators = ["DL", "REML"]
    ci_methods = ["z", "knha"]
    level = 95             # percent, or a fraction such as 0.95
    alpha = 0.05           # for the rejection rate of effect = 0
    [[study_size]]         # arm sizes uniform on [n_min, n_max] (as `compassmeta simulate`)
    n_min = 20
    n_max = 100
    [[study_size]]         # ceil(large_fraction * k) trials with arms n * large_factor, others n
    n = 25
    large_fraction = 0.25
    large_factor = 10

Every factor must be finite and within +-1e9, and reps x k at most 10^7 values per cell, so a
cell's arrays fit in memory.
"""
import dataclasses
import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..common.errors import InputError
from ..models.tau2 import UNWEIGHTED_METHODS
from .simulate import CI_METHODS

GRID_KEYS = {"reps", "seed", "k", "tau2", "true_effect", "study_size", "estimators", "ci_methods",
             "level", "alpha"}


@dataclass(frozen=True)
class StudySize:
    """How the arm sizes of a meta-analysis's k trials are drawn (both arms equal)."""

    n_min: int = 0
    n_max: int = 0
    n: int = 0
    large_fraction: float = 0.0
    large_factor: float = 1.0

    @property
    def label(self) -> str:
        if self.n:
            return f"{self.n} ({self.large_fraction:g} x{self.large_factor:g})"
        return f"U({self.n_min},{self.n_max})"

    def draw(self, k: int, reps: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """Arm sizes (reps, k): uniform integers on [n_min, n_max] (one draw per trial), or n
        for all trials but the first ceil(large_fraction * k), which get n * large_factor."""
        if not self.n:
            return rng.integers(self.n_min, self.n_max + 1, size=(reps, k)).astype(float)
        sizes = np.full((reps, k), float(self.n))
        sizes[:, :math.ceil(self.large_fraction * k)] *= self.large_factor
        return sizes


@dataclass(frozen=True)
class Cell:
    index: int
    k: int
    tau2: float
    true_effect: float
    study_size: StudySize

    def key(self) -> tuple[int, int, float, float, str]:
        """The values this cell writes in the cell columns of the results."""
        return (self.index, self.k, self.tau2, self.true_effect, self.study_size.label)


@dataclass(frozen=True)
class Grid:
    path: str
    reps: int
    seed: int | None
    k: tuple[int, ...]
    tau2: tuple[float, ...]
    true_effect: tuple[float, ...]
    study_size: tuple[StudySize, ...]
    estimators: tuple[str, ...]
    ci_methods: tuple[str, ...]
    levels: tuple[float, ...]
    alpha: float

    def cells(self) -> list[Cell]:
        """Every cell, in the canonical order (last factor varying fastest)."""
        return [Cell(i, *values) for i, values in enumerate(
            itertools.product(self.k, self.tau2, self.true_effect, self.study_size))]

    @property
    def methods_per_cell(self) -> int:
        return len(self.estimators) * len(self.ci_methods) * len(self.levels)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _numbers(spec: Mapping[str, Any], key: str, path: Path | None, kind: type, minimum: float,
             default: float | None = None, largest: float | None = None) -> tuple[Any, ...]:
    """The list under ``key`` as finite numbers of ``kind`` >= ``minimum`` and within +-``largest``
    (LARGEST_FACTOR unless given); an InputError naming the key otherwise."""
    if key not in spec:
        if default is None:
            raise InputError(f"the grid needs '{key}'", file=path, column=key)
        return (default,)
    values = _as_list(spec[key])
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        raise InputError(f"'{key}' must be a number or a non-empty list of numbers", file=path, column=key)
    # an int is finite (math.isfinite overflows on one of 400 digits; the range check refuses it)
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        raise InputError(f"'{key}' must hold finite numbers (no inf or nan)", file=path, column=key)
    if kind is int and any(v != int(v) for v in values):
        raise InputError(f"'{key}' must hold whole numbers", file=path, column=key)
    if any(v < minimum for v in values):
        raise InputError(f"'{key}' must be >= {minimum}", file=path, column=key)
    largest = largest or LARGEST_FACTOR
    if any(abs(v) > largest for v in values):
        raise InputError(f"'{key}' must lie within +-{largest:g}", file=path, column=key)
    return tuple(kind(v) for v in values)


LARGEST_FACTOR = 1e9          # any factor: beyond it the arithmetic (and the arrays) stop making sense
MAX_DRAWS_PER_CELL = 10 ** 7  # reps x k values per array of a cell (80 MB each as floats)


def _checked_sizes(reps: int, ks: tuple[int, ...], path: Path | None) -> None:
    """reps x k within MAX_DRAWS_PER_CELL for every k (a cell's arrays must fit in memory)."""
    if reps * max(ks) > MAX_DRAWS_PER_CELL:
        raise InputError(f"reps x k = {reps:,} x {max(ks):,} values per cell is more than "
                         f"{MAX_DRAWS_PER_CELL:,} (the arrays would not fit in memory); lower reps or k",
                         file=path, column="k")


def _study_size(entry: Any, path: Path | None) -> StudySize:
    column = "study_size"
    if not isinstance(entry, dict):
        raise InputError("each study_size must be a table such as {n_min = 20, n_max = 100}", file=path,
                         column=column)
    if set(entry) == {"n_min", "n_max"}:
        n_min, n_max = _numbers(entry, "n_min", path, int, 2)[0], _numbers(entry, "n_max", path, int, 2)[0]
        if n_max < n_min:
            raise InputError("study_size needs n_min <= n_max", file=path, column=column)
        return StudySize(n_min=n_min, n_max=n_max)
    if set(entry) == {"n", "large_fraction", "large_factor"}:
        fraction = _numbers(entry, "large_fraction", path, float, 0)[0]
        if fraction > 1:
            raise InputError("large_fraction must be between 0 and 1", file=path, column=column)
        return StudySize(n=_numbers(entry, "n", path, int, 2)[0], large_fraction=fraction,
                         large_factor=_numbers(entry, "large_factor", path, float, 1)[0])
    raise InputError("a study_size has either n_min and n_max, or n, large_fraction and large_factor",
                     file=path, column=column)


# a condition's factors: (kind, least value) of each, in a grid file and in simulate's options
FACTORS = {"k": (int, 2), "tau2": (float, 0), "true_effect": (float, -math.inf)}


def check_condition(k: int, tau2: float, true_effect: float, reps: int, n_min: int, n_max: int) -> None:
    """The one condition of ``simulate --k --tau2 --true-effect`` checked as a grid's factors are
    (finite, in range, reps x k that fits in memory): an InputError naming the factor otherwise."""
    spec = {"reps": reps, "k": k, "tau2": tau2, "true_effect": true_effect}
    _numbers(spec, "reps", None, int, 1)
    for key, (kind, minimum) in FACTORS.items():
        _numbers(spec, key, None, kind, minimum)
    _study_size({"n_min": n_min, "n_max": n_max}, None)
    _checked_sizes(reps, (k,), None)


def with_reps(grid: Grid, reps: int) -> Grid:
    """``grid`` with ``reps`` replications per cell (``--reps``), checked as the grid file's."""
    path = Path(grid.path)
    reps = _numbers({"reps": reps}, "reps", path, int, 2)[0]
    _checked_sizes(reps, grid.k, path)
    return dataclasses.replace(grid, reps=reps)


def _names(spec: Mapping[str, Any], key: str, path: Path, allowed: Sequence[str],
           default: str) -> tuple[str, ...]:
    values = tuple(str(v) for v in _as_list(spec.get(key, default)))
    spelling = {name.upper(): name for name in allowed} if key == "estimators" else {}
    normalised = tuple(spelling.get(v.upper(), v) for v in values)
    unknown = [v for v in normalised if v not in allowed]
    if unknown or not values:
        got = ", ".join(unknown) or "none"
        raise InputError(f"'{key}' must name some of {', '.join(allowed)} (got {got})",
                         file=path, column=key)
    return normalised


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of a grid file or results file; one-line errors naming it otherwise."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read {what}: {error.strerror}", file=path) from None
    except UnicodeDecodeError as error:
        raise InputError(f"cannot read {what}: not UTF-8 text (byte {error.start})", file=path) from None


def read_grid(path: str | os.PathLike[str]) -> Grid:
    """The :class:`Grid` described by a ``.toml`` or ``.json`` file."""
    path = Path(path)
    text = read_text(path, "the grid")
    try:
        if path.suffix.lower() == ".json":
            spec = json.loads(text)
        elif path.suffix.lower() == ".toml":
            import tomllib

            spec = tomllib.loads(text)
        else:
            raise InputError("a grid is a .toml or .json file", file=path)
    except (ValueError, json.JSONDecodeError) as error:  # tomllib.TOMLDecodeError is a ValueError
        raise InputError(f"not a valid grid file: {error}", file=path) from None
    if not isinstance(spec, dict):
        raise InputError("a grid file holds a table of factors", file=path)
    unknown = sorted(set(spec) - GRID_KEYS)
    if unknown:
        raise InputError(f"unknown grid key(s) {', '.join(unknown)}; use {', '.join(sorted(GRID_KEYS))}",
                         file=path, column=unknown[0])
    levels = tuple(v / 100 if v > 1 else v for v in _numbers(spec, "level", path, float, 0, default=95.0))
    if any(not 0 < v < 1 for v in levels):
        raise InputError("'level' must be between 0 and 100 (percent)", file=path, column="level")
    alpha = _numbers(spec, "alpha", path, float, 0, default=0.05)[0]
    if not 0 < alpha < 1:
        raise InputError("'alpha' must be between 0 and 1", file=path, column="alpha")
    seed = spec.get("seed")
    if seed is not None:
        seed = _numbers(spec, "seed", path, int, 0, largest=2 ** 63)[0]
    sizes = spec.get("study_size", {"n_min": 20, "n_max": 100})
    reps, ks = _numbers(spec, "reps", path, int, 2)[0], _numbers(spec, "k", path, *FACTORS["k"])
    _checked_sizes(reps, ks, path)
    tau2s = _numbers(spec, "tau2", path, *FACTORS["tau2"])
    return Grid(path=str(path), reps=reps, seed=seed, k=ks, tau2=tau2s,
                true_effect=_numbers(spec, "true_effect", path, *FACTORS["true_effect"]),
                study_size=tuple(_study_size(entry, path) for entry in _as_list(sizes)),
                estimators=_names(spec, "estimators", path, UNWEIGHTED_METHODS, "REML"),
                ci_methods=_names(spec, "ci_methods", path, CI_METHODS, "z"), levels=levels, alpha=alpha)
