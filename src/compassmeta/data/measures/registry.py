"""The measure registry: every effect-size measure of metafor's ``escalc()`` that compassmeta
computes, with its inputs, its variance types (``vtype``) and its continuity correction.

A family module registers each measure with :func:`register`; :func:`escalc` looks the measure
up, checks the inputs, applies the continuity correction (count measures) and computes yi, vi.
Values metafor reports as NA (an infinite or undefined yi or vi, a negative vi) are NaN here.
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ...common import distributions as dist
from ...common.errors import InputError

CONTINUITY_TARGETS = ("only0", "all", "if0all", "none")

Array = NDArray[np.float64]
Values = dict[str, Array]          # a measure's inputs by metafor's argument names
YiVi = tuple[Array, Array]
Compute = Callable[[Values, str], YiVi]


@dataclass(frozen=True)
class Measure:
    """One escalc measure.

    ``inputs``: the columns it needs (metafor's argument names); ``vtypes``: the variance types,
    the default first; ``counts``: the cells a continuity correction adds to (empty: none);
    ``default_add``: metafor's default ``add`` for it.  ``compute(values, vtype)`` takes the
    inputs as float arrays (counts already corrected) and returns ``(yi, vi)``.
    ``alternatives`` (e.g. di, ti, pi) can stand in, row by row, for the ``replaceable`` inputs:
    ``Alternatives.fill(values)`` completes those inputs where a row gives an alternative.
    """

    name: str
    family: str
    description: str
    inputs: tuple[str, ...]
    vtypes: tuple[str, ...]
    compute: Compute
    counts: tuple[str, ...] = ()
    default_add: float = 0.5
    alternatives: "Alternatives | None" = None


@dataclass(frozen=True)
class Alternatives:
    """Other statistics a row may give instead of some inputs (metafor's di, ti, pi, ri routes):
    ``columns`` the alternative columns, ``replaces`` the inputs they stand in for, ``fill`` the
    function completing those inputs (NaN where a row gives neither)."""

    columns: tuple[str, ...]
    replaces: tuple[str, ...]
    fill: Callable[[Values], Values]


MEASURES: dict[str, Measure] = {}


def register(name: str, family: str, description: str, inputs: tuple[str, ...],
             vtypes: tuple[str, ...] = ("LS",), counts: tuple[str, ...] = (), default_add: float = 0.5,
             alternatives: Alternatives | None = None) -> Callable[[Compute], Compute]:
    """Decorator: register ``compute(values, vtype) -> (yi, vi)`` as measure ``name``."""
    def decorate(compute: Compute) -> Compute:
        MEASURES[name] = Measure(name, family, description, tuple(inputs), tuple(vtypes), compute,
                                 tuple(counts), default_add, alternatives)
        return compute
    return decorate


def filled(given: Array, fallback: ArrayLike) -> Array:
    """``given`` where it is a number, else ``fallback`` (metafor's replmiss)."""
    return np.where(np.isnan(given), fallback, given)


def t_from_p(p: Array, df: ArrayLike) -> Array:
    """t from a signed two-sided p value: sign(p) qt(|p|/2, df, lower.tail = FALSE) (metafor's
    .convp2t); NaN where p is missing."""
    from scipy import stats

    return np.sign(p) * stats.t.isf(np.abs(p) / 2, df)


def entered_as_d(v: Values, d: Array, paired: bool = False) -> Values:
    """``v`` with the rows that give d entered as means d and 0 with SDs 1 (and r = 0.5 for
    paired designs, so that the SD of the change is 1), as metafor does."""
    given = ~np.isnan(d)
    out = dict(v, m1i=np.where(given, d, v["m1i"]), m2i=np.where(given, 0.0, v["m2i"]),
               sd1i=np.where(given, 1.0, v["sd1i"]), sd2i=np.where(given, 1.0, v["sd2i"]))
    if paired:
        out["ri"] = np.where(given, 0.5, v["ri"])
    return out


def lookup(name: str) -> Measure:
    """The registered measure ``name`` (case-insensitive), or an error listing them."""
    measure = MEASURES.get(str(name).upper())
    if measure is None:
        raise InputError(f"unknown measure '{name}' (measures: {', '.join(MEASURES)})")
    return measure


def weighted_mean(x: Array, w: Array) -> float:
    """Sum(w x) / sum(w) over the entries where both are defined (metafor's sample-size weighted
    average for vtype="AV")."""
    keep = ~(np.isnan(x) | np.isnan(w))
    return np.sum(x[keep] * w[keep]) / np.sum(w[keep])


def hedges_correction(df: ArrayLike) -> Array:
    """Exact small-sample bias correction c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)) (Hedges 1981,
    eq. 6e), through log-gamma so that it does not overflow; undefined (NaN) for m <= 1.  Computed
    once per distinct m (a table's dfs are a few hundred sample sizes, however many rows)."""
    df = np.asarray(df, dtype=float)
    distinct, where = np.unique(df, return_inverse=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.where(distinct > 1, distinct, np.nan) / 2
        value = np.exp(dist.log_gamma(half) - 0.5 * np.log(half) - dist.log_gamma(half - 0.5))
    return np.where(df <= 1, np.nan, value[where.reshape(df.shape)])


SERIES_FROM_C = 30  # from this c on the power series converges within a few hundred terms for 0 <= x < 1


def hyp2f1(a: float, b: float, c: ArrayLike, x: ArrayLike) -> Array:
    """Gauss hypergeometric 2F1(a, b; c; x) for 0 <= x <= 1 and c > b > 0; NaN where c <= a + b
    (as metafor's .Fcalc).  At x = 1 Gauss's sum Gamma(c) Gamma(c-a-b) / (Gamma(c-a) Gamma(c-b))
    (as Pochhammer ratios); for c >= 30 the power series (Abramowitz & Stegun 15.1.1); below,
    Euler's integral (A&S 15.3.1) int t^(b-1) (1-t)^(c-b-1) (1-xt)^(-a) dt / B(b, c-b), both
    integrals by QUADPACK's QAWS rule for algebraic end-point weights, so that their errors cancel.

    scipy.special.hyp2f1 (1.17) returns NaN, inf or errors of 1e-3 near x = 1 (small correlations);
    GSL's, which metafor calls, errs by up to 1e-3 there too when c - a - b is an integer and c is
    small (|r| < 0.1 with an even n <= ~20; docs/limitations.md).
    """
    from scipy import special

    c, x = (np.array(v, dtype=float) for v in np.broadcast_arrays(np.asarray(c, dtype=float),
                                                                    np.asarray(x, dtype=float)))
    value = np.full(c.shape, np.nan)
    defined = c > a + b
    at_one = defined & (x == 1)
    value[at_one] = special.poch(c[at_one] - a, a) / special.poch(c[at_one] - a - b, a)
    series = defined & (x < 1) & (c >= SERIES_FROM_C)
    value[series] = _series(a, b, c[series], x[series])
    integral = defined & (x < 1) & (c < SERIES_FROM_C)
    value[integral] = [_euler_integral(a, b, c_, x_) for c_, x_ in zip(c[integral], x[integral])]
    return value


def _series(a: float, b: float, c: Array, x: Array) -> Array:
    """sum_k (a)_k (b)_k / ((c)_k k!) x^k until a term adds less than 1e-17 of the sum."""
    term, total = np.ones_like(x), np.ones_like(x)
    for k in range(100_000):
        term = term * (a + k) * (b + k) / ((c + k) * (k + 1)) * x
        total += term
        if not (term > 1e-17 * total).any():
            return total
    raise ArithmeticError("hypergeometric series did not converge")  # pragma: no cover (c >= 30)


def _euler_integral(a: float, b: float, c: float, x: float) -> float:
    from scipy import integrate

    def qaws(f: Callable[[float], float], wvar: tuple[float, float]) -> float:
        return integrate.quad(f, 0, 1, weight="alg", wvar=wvar, epsabs=0, epsrel=1e-13, limit=200)[0]

    beta = (b - 1, c - b - 1)
    return qaws(lambda t: (1 - x * t) ** (-a), beta) / qaws(lambda t: 1.0, beta)


@dataclass(frozen=True)
class Correction:
    """A continuity correction: ``add`` to every count cell of the rows ``to`` selects."""

    add: float
    to: str


def continuity_corrected(measure: Measure, values: Values, correction: Correction) -> Values:
    """The count cells after metafor's ``add``/``to`` rule: ``all`` rows, ``only0`` rows with a
    zero cell, ``if0all`` every row when any row has a zero cell, ``none``."""
    if not measure.counts or correction.to == "none" or correction.add == 0:
        return values
    cells = np.vstack([values[name] for name in measure.counts])
    has_zero = (cells == 0).any(axis=0)
    rows = {"all": np.ones_like(has_zero), "only0": has_zero,
            "if0all": np.full_like(has_zero, has_zero.any())}[correction.to]
    corrected = dict(values)
    for name in measure.counts:
        corrected[name] = np.where(rows, values[name] + correction.add, values[name])
    return corrected


def finish(yi: ArrayLike, vi: ArrayLike) -> YiVi:
    """metafor's clean-up: an infinite yi or vi makes both NaN (NA); a negative vi is NaN.  An
    undefined yi or vi stays undefined alone (metafor's vtype="AV" gives a variance where the
    bias correction, and so yi, is undefined)."""
    yi, vi = (np.array(x, dtype=float) for x in np.broadcast_arrays(yi, vi))
    bad = np.isinf(yi) | np.isinf(vi)
    yi[bad], vi[bad] = np.nan, np.nan
    with np.errstate(invalid="ignore"):
        vi[vi < 0] = np.nan
    return yi, vi
