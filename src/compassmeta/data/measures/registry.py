"""The measure registry: every effect-size measure of metafor's ``escalc()`` that compassmeta
computes, with its inputs, its variance types (``vtype``) and its continuity correction.

A family module registers each measure with :func:`register`; :func:`escalc` looks the measure
up, checks the inputs, applies the continuity correction (count measures) and computes yi, vi.
Values metafor reports as NA (an infinite or undefined yi or vi, a negative vi) are NaN here.
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...common.errors import InputError

CONTINUITY_TARGETS = ("only0", "all", "if0all", "none")


@dataclass(frozen=True)
class Measure:
    """One escalc measure.

    ``inputs``: the columns it needs (metafor's argument names); ``vtypes``: the variance types,
    the default first; ``counts``: the cells a continuity correction adds to (empty: none);
    ``default_add``: metafor's default ``add`` for it.  ``compute(values, vtype)`` takes the
    inputs as float arrays (counts already corrected) and returns ``(yi, vi)``.
    """

    name: str
    family: str
    description: str
    inputs: tuple
    vtypes: tuple
    compute: Callable
    counts: tuple = ()
    default_add: float = 0.5


MEASURES: dict = {}


def register(name: str, family: str, description: str, inputs: tuple, vtypes: tuple = ("LS",),
             counts: tuple = (), default_add: float = 0.5) -> Callable:
    """Decorator: register ``compute(values, vtype) -> (yi, vi)`` as measure ``name``."""
    def decorate(compute):
        MEASURES[name] = Measure(name, family, description, tuple(inputs), tuple(vtypes), compute,
                                 tuple(counts), default_add)
        return compute
    return decorate


def lookup(name: str) -> Measure:
    """The registered measure ``name`` (case-insensitive), or an error listing them."""
    measure = MEASURES.get(str(name).upper())
    if measure is None:
        raise InputError(f"unknown measure '{name}' (measures: {', '.join(MEASURES)})")
    return measure


def weighted_mean(x, w):
    """Sum(w x) / sum(w) over the entries where both are defined (metafor's sample-size weighted
    average for vtype="AV")."""
    keep = ~(np.isnan(x) | np.isnan(w))
    return np.sum(x[keep] * w[keep]) / np.sum(w[keep])


def hedges_correction(df):
    """Exact small-sample bias correction c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)) (Hedges 1981,
    eq. 6e), through log-gamma so that it does not overflow; undefined (NaN) for m <= 1."""
    from scipy import special

    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.exp(special.gammaln(df / 2) - 0.5 * np.log(df / 2) - special.gammaln((df - 1) / 2))
    return np.where(df <= 1, np.nan, value)


def hyp2f1(a: float, b: float, c, x):
    """Gauss hypergeometric 2F1(a, b; c; x) for 0 <= x <= 1 and c > b > 0, NaN where c <= a + b
    (as metafor's .Fcalc), from Euler's integral (Abramowitz & Stegun 15.3.1)
    int t^(b-1) (1-t)^(c-b-1) (1-xt)^(-a) dt / B(b, c - b), both integrals by QUADPACK's QAWS
    rule for the algebraic end-point weights, so that their quadrature errors cancel.

    scipy.special.hyp2f1 (1.17) returns NaN or errors of 1e-3 near x = 1 (small correlations);
    GSL's, which metafor calls, errs by up to 1e-3 there too when c - a - b is an integer and c
    small (n <= ~20 and |r| < 0.1; docs/limitations.md).
    """
    from scipy import integrate

    def one(c_, x_):
        if not c_ > a + b:
            return np.nan
        beta = (b - 1, c_ - b - 1)
        if x_ == 1:  # (1 - t)^(-a) joins the weight
            return _qaws(lambda t: 1.0, (b - 1, c_ - b - 1 - a)) / _qaws(lambda t: 1.0, beta)
        return _qaws(lambda t: (1 - x_ * t) ** (-a), beta) / _qaws(lambda t: 1.0, beta)

    def _qaws(f, wvar):
        return integrate.quad(f, 0, 1, weight="alg", wvar=wvar, epsabs=0, epsrel=1e-13, limit=200)[0]

    return np.vectorize(one, otypes=[float])(np.asarray(c, dtype=float), np.asarray(x, dtype=float))


@dataclass(frozen=True)
class Correction:
    """A continuity correction: ``add`` to every count cell of the rows ``to`` selects."""

    add: float
    to: str


def continuity_corrected(measure: Measure, values: dict, correction: Correction) -> dict:
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


def finish(yi, vi):
    """metafor's clean-up: an infinite yi or vi, or an undefined yi, makes both NaN (NA); a vi
    left undefined by its formula (e.g. n <= 3 for COR) or negative is NaN alone."""
    yi, vi = (np.array(x, dtype=float) for x in np.broadcast_arrays(yi, vi))
    bad = np.isinf(yi) | np.isinf(vi) | np.isnan(yi)
    yi[bad], vi[bad] = np.nan, np.nan
    with np.errstate(invalid="ignore"):
        vi[vi < 0] = np.nan
    return yi, vi
