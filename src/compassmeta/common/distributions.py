"""Tail probabilities and quantiles of the normal, t, chi-square and F distributions.

Thin wrappers over ``scipy.special`` (fast to import, unlike ``scipy.stats``), so that
``compassmeta pool`` starts quickly.  Each returns a float for scalar input and an array for an
array (as scipy.special's ufuncs do), hence the ``Any`` return types.
"""
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

from .errors import InputError

# a number or an array of numbers (the functions broadcast)
FloatOrArray = float | NDArray[np.float64]


def normal_two_sided_p(z: FloatOrArray) -> Any:
    """P(|Z| > |z|) for a standard normal Z."""
    return 2.0 * special.ndtr(-np.abs(z))


def normal_quantile(prob: FloatOrArray) -> Any:
    """Quantile of the standard normal distribution."""
    return special.ndtri(prob)


def t_two_sided_p(t: FloatOrArray, df: FloatOrArray) -> Any:
    """P(|T| > |t|) for T ~ t(df)."""
    return 2.0 * special.stdtr(df, -np.abs(t))


def t_quantile(prob: FloatOrArray, df: FloatOrArray) -> Any:
    """Quantile of the t distribution with ``df`` degrees of freedom."""
    return special.stdtrit(df, prob)


def chi2_sf(x: FloatOrArray, df: FloatOrArray) -> Any:
    """Upper tail P(X > x) for X ~ chi-square(df)."""
    return special.chdtrc(df, x)


def chi2_quantile(prob: FloatOrArray, df: FloatOrArray) -> Any:
    """Quantile (lower-tail probability ``prob``) of the chi-square distribution."""
    return special.chdtri(df, 1.0 - prob)


def f_sf(x: FloatOrArray, df1: FloatOrArray, df2: FloatOrArray) -> Any:
    """Upper tail P(X > x) for X ~ F(df1, df2)."""
    return special.fdtrc(df1, df2, x)


def critical_value(level: float, df: FloatOrArray | None = None) -> Any:
    """Two-sided critical value for a ``level`` (0-1) interval: z, or t with ``df``."""
    upper = 1.0 - (1.0 - level) / 2.0
    return normal_quantile(upper) if df is None else t_quantile(upper, df)


def as_fraction(level: float) -> float:
    """Confidence level given as 95 or 0.95 -> 0.95 (metafor accepts both)."""
    level = float(level)
    fraction = level / 100.0 if level > 1 else level
    if not 0 < fraction < 1:
        raise InputError(f"confidence level {level:g} must lie between 0 and 100")
    return fraction
