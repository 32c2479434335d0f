"""Tail probabilities and quantiles of the normal, t, chi-square and F distributions.

One module owns them.  A scalar (or a small array, looped) is computed by the pure-Python routines
of ``common.special`` (AS 241, Numerical Recipes 6.2 and 6.4), so that the single-fit commands never
import scipy (``scipy.special`` alone costs about 0.3 s of start-up).  An array of more than
``BATCH_SIZE`` elements (the batched engines: simulations, GOSH, permutations, batch tau^2) goes to
scipy.special's ufuncs, imported then (Phi: beyond NORMAL_ELEMENTWISE), as are t and F on more than
LARGE_DF degrees of freedom.
Each function returns a numpy float for scalar input and an
array for an array (as the ufuncs do), hence the ``Any`` return types.  NaN in, NaN out; a
parameter outside its domain (df <= 0) gives NaN, as in scipy.
"""
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import special as sp
from .errors import ConvergenceError, InputError

# a number or an array of numbers (the functions broadcast)
FloatOrArray = float | NDArray[np.float64]
BATCH_SIZE = 512  # arrays larger than this use scipy.special's ufuncs
# t and F with a df above this use scipy.special (Boost) too: there the continued fraction of the
# incomplete beta function (Numerical Recipes 6.4) loses digits (1e-11 at df = 10^6, 4e-12 at 10^5)
LARGE_DF = 2e4
_SQRT2 = math.sqrt(2.0)
# Phi elementwise through math.erfc (np.frompyfunc, no scipy import) on arrays up to this size when
# a caller asks (the Bayesian grids evaluate a few thousand values at a time and import no scipy);
# scipy's ndtr is 10 to 15 times faster on such arrays, so callers in a loop (the selection models'
# quadrature) keep the default BATCH_SIZE
NORMAL_ELEMENTWISE = 64 * BATCH_SIZE
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def _scipy_special() -> Any:
    from scipy import special  # imported only when needed: 0.3 s of start-up

    return special


def _apply(scalar: Callable[..., float], batch: Callable[[Any], Any], *args: Any) -> Any:
    """``scalar`` on Python floats (NaN if any is NaN), elementwise over broadcast arrays (once
    per distinct argument tuple: a simulation's t quantiles share one df), or
    ``batch(scipy.special)`` for arrays of more than BATCH_SIZE elements."""
    if all(np.ndim(a) == 0 for a in args):
        values = [float(a) for a in args]
        return np.float64(math.nan if any(map(math.isnan, values)) else scalar(*values))
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in args))
    if arrays[0].size > BATCH_SIZE:
        return batch(_scipy_special())
    done: dict[tuple[float, ...], float] = {}
    out = []
    for point in zip(*(a.ravel().tolist() for a in arrays), strict=True):
        if point not in done:
            done[point] = math.nan if any(map(math.isnan, point)) else scalar(*point)
        out.append(done[point])
    return np.array(out, dtype=float).reshape(arrays[0].shape)


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / _SQRT2)


def _t_sf(t: float, df: float) -> float:
    """P(T > t) = I_x(df/2, 1/2) / 2 with x = df / (df + t^2) for t > 0 (Abramowitz & Stegun 26.7.1)."""
    if not df > 0:
        return math.nan
    if math.isinf(df):
        return _normal_sf(t)
    if df > LARGE_DF:
        return float(_scipy_special().stdtr(df, -t))
    t2 = t * t
    if t2 > 1e300:  # sf = df^(df/2 - 1) |t|^-df / B(df/2, 1/2) to double precision out here
        log_beta = math.lgamma(df / 2.0) + math.lgamma(0.5) - math.lgamma(df / 2.0 + 0.5)
        tail = math.exp((df / 2.0 - 1.0) * math.log(df) - df * math.log(abs(t)) - log_beta)
        return tail if t > 0 else 1.0 - tail
    lower, upper = sp.incomplete_beta(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))
    return 0.5 * lower if t > 0 else 1.0 - 0.5 * lower


def _chi2_tails(x: float, df: float) -> tuple[float, float]:
    if not df > 0:
        return math.nan, math.nan
    return sp.incomplete_gamma(df / 2.0, max(x, 0.0) / 2.0)


def _f_sf(x: float, df1: float, df2: float) -> float:
    """P(X > x) = I_y(df2/2, df1/2), y = df2 / (df2 + df1 x) (Abramowitz & Stegun 26.6.2)."""
    if not (df1 > 0 and df2 > 0):
        return math.nan
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if max(df1, df2) > LARGE_DF:
        return float(_scipy_special().fdtrc(df1, df2, x))
    denominator = df2 + df1 * x
    return sp.incomplete_beta(df2 / 2.0, df1 / 2.0, df2 / denominator, df1 * x / denominator)[0]


def _positive_root(log_tail: Callable[[float], tuple[float, float]], target: float, guesses: list[float],
                   increasing: bool) -> float:
    """x > 0 with log_tail(x)[0] = log(target), by Newton's method in log x (log_tail returns the log
    of a monotone tail and its derivative in log x), safeguarded by bisection of the bracket."""
    log_target = math.log(target)
    x = min(guesses, key=lambda g: abs(log_tail(g)[0] - log_target))
    low, high = 0.0, math.inf
    for _ in range(400):
        value, slope = log_tail(x)
        gap = value - log_target
        if gap == 0.0:
            return x
        if (gap > 0) == increasing:
            high = x
        else:
            low = x
        step = -gap / slope if slope != 0.0 else math.inf
        new = x * math.exp(step) if abs(step) < 700 else math.inf
        if not low < new < high:
            new = (math.sqrt(low * high) if low > 0.0 else high / 16.0) if math.isfinite(high) else 16.0 * low
        if math.isinf(new):  # the root lies beyond the largest double
            return new
        if abs(new - x) <= 4.0 * sp.EPS * x or high - low <= 4.0 * sp.EPS * low:
            return new
        x = new
    raise ConvergenceError(f"quantile search for tail {target:g}")


def _chi2_isf(q: float, df: float) -> float:
    """x with P(X > x) = q, X ~ chi-square(df): Newton on the log of the smaller tail from the
    Wilson-Hilferty and small-x starting points."""
    if not (df > 0 and 0.0 <= q <= 1.0):
        return math.nan
    if q == 0.0 or q == 1.0:
        return math.inf if q == 0.0 else 0.0
    a = df / 2.0
    upper = q < 0.5
    target = q if upper else 1.0 - q

    def log_tail(x: float) -> tuple[float, float]:
        lower_tail, upper_tail = sp.incomplete_gamma(a, x / 2.0)
        tail = upper_tail if upper else lower_tail
        if tail <= 0.0:
            return -math.inf, (-1.0 if upper else 1.0)
        slope = sp.gamma_prefactor(a, x / 2.0) / tail
        return math.log(tail), (-slope if upper else slope)

    z = -sp.normal_ppf(q)
    wilson_hilferty = df * (1.0 - 2.0 / (9.0 * df) + z * math.sqrt(2.0 / (9.0 * df))) ** 3
    small = 2.0 * math.exp((math.log(1.0 - q) + math.lgamma(a + 1.0)) / a) if not upper else 0.0
    guesses = [g for g in (wilson_hilferty, small, df) if g > 0.0 and math.isfinite(g)]
    return _positive_root(log_tail, target, guesses, increasing=not upper)


def _t_ppf(p: float, df: float) -> float:
    """t with P(T <= t) = p: Newton on the log of the upper tail from the Cornish-Fisher and the
    power-tail starting points (sf ~ df^(df/2 - 1) t^-df / B(df/2, 1/2))."""
    if not (df > 0 and 0.0 <= p <= 1.0):
        return math.nan
    if math.isinf(df):
        return sp.normal_ppf(p)
    q = min(p, 1.0 - p)
    if q == 0.5:
        return 0.0
    if q == 0.0:
        return math.inf if p > 0.5 else -math.inf
    a = df / 2.0

    def log_tail(t: float) -> tuple[float, float]:
        tail, t2 = _t_sf(t, df), t * t
        if tail <= 0.0 or t2 > 1e300:  # out there log sf = const - df log t
            return (math.log(tail) if tail > 0.0 else -math.inf), -df
        return math.log(tail), -sp.beta_prefactor(a, 0.5, df / (df + t2), t2 / (df + t2)) / tail

    z = -sp.normal_ppf(q)
    cornish_fisher = z + (z ** 3 + z) / (4.0 * df)
    log_beta = math.lgamma(a) + math.lgamma(0.5) - math.lgamma(a + 0.5)
    log_power = 0.5 * math.log(df) - (math.log(df * q) + log_beta) / df
    guesses = [g for g in (cornish_fisher, math.exp(min(log_power, 700.0))) if g > 0.0 and math.isfinite(g)]
    t = _positive_root(log_tail, q, guesses or [1.0], increasing=False)
    return t if p > 0.5 else -t


def normal_cdf(z: FloatOrArray, elementwise_up_to: int = BATCH_SIZE) -> Any:
    """P(Z <= z) for a standard normal Z, Phi(z) = erfc(-z / sqrt 2) / 2: math.erfc elementwise on
    arrays of up to ``elementwise_up_to`` values, scipy's ndtr on larger ones."""
    if 0 < np.ndim(z) and 0 < np.size(z) <= elementwise_up_to:
        return 0.5 * np.asarray(_ERFC(-np.asarray(z, dtype=float) / _SQRT2), dtype=float)
    return _apply(lambda v: _normal_sf(-v), lambda s: s.ndtr(z), z)


def normal_two_sided_p(z: FloatOrArray) -> Any:
    """P(|Z| > |z|) for a standard normal Z."""
    return _apply(lambda v: 2.0 * _normal_sf(abs(v)), lambda s: 2.0 * s.ndtr(-np.abs(z)), z)


def normal_quantile(prob: FloatOrArray) -> Any:
    """Quantile of the standard normal distribution (Wichura 1988, AS 241)."""
    return _apply(sp.normal_ppf, lambda s: s.ndtri(prob), prob)


def t_cdf(t: FloatOrArray, df: FloatOrArray) -> Any:
    """P(T <= t) for T ~ t(df)."""
    return _apply(lambda v, d: _t_sf(-v, d), lambda s: s.stdtr(df, t), t, df)


def t_two_sided_p(t: FloatOrArray, df: FloatOrArray) -> Any:
    """P(|T| > |t|) for T ~ t(df)."""
    return _apply(lambda v, d: 2.0 * _t_sf(abs(v), d), lambda s: 2.0 * s.stdtr(df, -np.abs(t)), t, df)


def t_quantile(prob: FloatOrArray, df: FloatOrArray) -> Any:
    """Quantile of the t distribution with ``df`` degrees of freedom."""
    return _apply(_t_ppf, lambda s: s.stdtrit(df, prob), prob, df)


def chi2_sf(x: FloatOrArray, df: FloatOrArray) -> Any:
    """Upper tail P(X > x) for X ~ chi-square(df) = Q(df/2, x/2)."""
    return _apply(lambda v, d: _chi2_tails(v, d)[1], lambda s: s.chdtrc(df, x), x, df)


def chi2_cdf(x: FloatOrArray, df: FloatOrArray) -> Any:
    """Lower tail P(X <= x) for X ~ chi-square(df) = P(df/2, x/2)."""
    return _apply(lambda v, d: _chi2_tails(v, d)[0], lambda s: s.chdtr(df, x), x, df)


def chi2_quantile(prob: FloatOrArray, df: FloatOrArray) -> Any:
    """Quantile (lower-tail probability ``prob``) of the chi-square distribution."""
    return _apply(lambda p, d: _chi2_isf(1.0 - p, d), lambda s: s.chdtri(df, 1.0 - prob), prob, df)


def gamma_lower(a: FloatOrArray, x: FloatOrArray) -> Any:
    """Regularised lower incomplete gamma function P(a, x) (scipy.special.gammainc)."""
    return _apply(lambda s, v: sp.incomplete_gamma(s, v)[0] if s > 0 and v >= 0 else math.nan,
                  lambda s: s.gammainc(a, x), a, x)


def f_sf(x: FloatOrArray, df1: FloatOrArray, df2: FloatOrArray) -> Any:
    """Upper tail P(X > x) for X ~ F(df1, df2)."""
    return _apply(_f_sf, lambda s: s.fdtrc(df1, df2, x), x, df1, df2)


def _log_gamma(x: float) -> float:
    return math.inf if x <= 0.0 and x == math.floor(x) else math.lgamma(x)


def log_gamma(x: FloatOrArray) -> Any:
    """log |Gamma(x)| (inf at the poles 0, -1, -2, ..., as scipy.special.gammaln)."""
    return _apply(_log_gamma, lambda s: s.gammaln(x), x)


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
