"""Scalar special functions in pure Python (``math`` only) behind ``common.distributions``.

Importing ``scipy.special`` costs about 0.3 s of start-up (its array-API layer imports
``numpy.testing`` and ``numpy.f2py``), more than a whole ``compassmeta pool`` should take, so the
single-fit paths use these double-precision scalar routines instead:

* the standard normal quantile by Wichura (1988), Algorithm AS 241, Applied Statistics 37, 477-484;
* the regularised incomplete gamma functions P(a, x), Q(a, x) by the series and the Legendre
  continued fraction (modified Lentz) of Press et al., Numerical Recipes 3rd ed. (2007), 6.2;
* the regularised incomplete beta function I_x(a, b) by its continued fraction (Lentz),
  Numerical Recipes 3rd ed., 6.4;
* their prefactors x^a e^-x / Gamma(a) and x^a y^b / B(a, b) written around Stirling's series
  (the form of DiDonato & Morris 1992, ACM TOMS 18, 360-373, and Temme 1992), so that they stay
  accurate for shape parameters up to 10^6 where exp(a log x - lgamma(a)) loses 9 digits (the
  beta continued fraction itself loses digits above a ~ 10^4: distributions.LARGE_DF).
The quantiles (Newton's method on the log of a tail) are in ``common.distributions``.
"""
import math

from .errors import ConvergenceError

EPS = 2.220446049250313e-16
_FPMIN = 1e-300
_MAX_ITERATIONS = 1_000_000  # the continued fractions take O(sqrt(a)) steps: about 10^4 at a = 10^6
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# Stirling's series for log Gamma(a) - ((a - 1/2) log a - a + log sqrt(2 pi)), Abramowitz & Stegun 6.1.41
_STIRLING = (1.0 / 12, -1.0 / 360, 1.0 / 1260, -1.0 / 1680, 1.0 / 1188, -691.0 / 360360, 1.0 / 156)


def log1pmx(u: float) -> float:
    """log(1 + u) - u without cancellation for small u (series in s = u / (2 + u), as 2 atanh s)."""
    if abs(u) >= 0.5:
        return math.log1p(u) - u
    s = u / (2.0 + u)
    s2, term, total = s * s, s, 0.0
    for power in range(3, 200, 2):
        term *= s2
        total += term / power
        if abs(term) < EPS * abs(total):
            break
    return -s * u + 2.0 * total


def stirling_correction(a: float) -> float:
    """log Gamma(a) - ((a - 1/2) log a - a + log sqrt(2 pi)) for a > 0 (A&S 6.1.41 for a >= 10)."""
    if a < 10.0:
        return math.lgamma(a) - ((a - 0.5) * math.log(a) - a + _LOG_SQRT_2PI)
    inverse, inverse2 = 1.0 / a, 1.0 / (a * a)
    total, power = 0.0, inverse
    for coefficient in _STIRLING:
        total += coefficient * power
        power *= inverse2
    return total


def _log_ratio_term(a: float, ratio: float, u: float) -> float:
    """a (log(ratio) - u) where ratio = 1 + u, accurate when u is small."""
    if abs(u) < 0.5:
        return a * log1pmx(u)
    return a * (math.log(ratio) - u)


def gamma_prefactor(a: float, x: float) -> float:
    """x^a e^-x / Gamma(a), written as exp(a log1pmx((x - a) / a)) sqrt(a / 2 pi) / e^stirling(a)."""
    if x == 0.0:
        return 0.0
    exponent = _log_ratio_term(a, x / a, (x - a) / a) - stirling_correction(a)
    return math.exp(exponent) * math.sqrt(a / (2.0 * math.pi))


def incomplete_gamma(a: float, x: float) -> tuple[float, float]:
    """(P(a, x), Q(a, x)) for a > 0, x >= 0 (Numerical Recipes 3rd ed. 6.2: series below a + 1,
    continued fraction above; the other tail as the complement)."""
    if x <= 0.0:
        return 0.0, 1.0
    if math.isinf(x):
        return 1.0, 0.0
    prefactor = gamma_prefactor(a, x)
    if x < a + 1.0:
        term = total = 1.0 / a
        n = a
        for _ in range(_MAX_ITERATIONS):
            n += 1.0
            term *= x / n
            total += term
            if term < total * EPS:
                lower = total * prefactor
                return lower, 1.0 - lower
        raise ConvergenceError(f"incomplete gamma series at a = {a:g}, x = {x:g}")
    b = x + 1.0 - a
    c, d = 1.0 / _FPMIN, 1.0 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _FPMIN if abs(d) < _FPMIN else d
        c = b + an / c
        c = _FPMIN if abs(c) < _FPMIN else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < EPS:
            upper = prefactor * h
            return 1.0 - upper, upper
    raise ConvergenceError(f"incomplete gamma continued fraction at a = {a:g}, x = {x:g}")


def _log_ratio(ratio: float, u: float) -> float:
    """log(ratio) for ratio = 1 + u, from u when ratio is near 1."""
    return math.log1p(u) if 0.5 < ratio < 2.0 else math.log(ratio)


def beta_prefactor(a: float, b: float, x: float, y: float) -> float:
    """x^a y^b / B(a, b) with y = 1 - x, as (x / x0)^a (y / y0)^b sqrt(ab / 2 pi (a + b))
    e^(stirling(a + b) - stirling(a) - stirling(b)), x0 = a / (a + b), y0 = b / (a + b)."""
    if x == 0.0 or y == 0.0:
        return 0.0
    total = a + b
    x0, y0 = a / total, b / total
    if x0 < y0:  # the difference of the two smaller numbers is the accurate one
        d = x - x0
        u, v = d / x0, -d / y0
    else:
        d = y - y0
        u, v = -d / x0, d / y0
    if abs(u) < 0.5 and abs(v) < 0.5:
        exponent = a * log1pmx(u) + b * log1pmx(v)
    else:  # log1p of the accurate u, v near 1; the plain log of the ratio far from it
        exponent = a * _log_ratio(x / x0, u) + b * _log_ratio(y / y0, v)
    exponent += stirling_correction(total) - stirling_correction(a) - stirling_correction(b)
    return math.exp(exponent) * math.sqrt(a * b / (2.0 * math.pi * total))


def _beta_fraction(a: float, b: float, x: float, y: float) -> float:
    """The continued fraction of I_x(a, b) (Numerical Recipes 3rd ed. 6.4, modified Lentz); its first
    denominator 1 - (a + b) x / (a + 1) is also (1 - b + (a + b) y) / (a + 1), y = 1 - x: of the two,
    the one that cancels less (near x = 1 with a large the first loses digits)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    ratio, shifted = qab * x / qap, qab * y
    first, second = 1.0 - ratio, (1.0 - b + shifted) / qap
    # the form that cancels less: |terms| / |result| of each
    if max(1.0, ratio) * abs(second) <= max(abs(1.0 - b), shifted) / qap * abs(first):
        c, d = 1.0, first
    else:
        c, d = 1.0, second
    d = 1.0 / (_FPMIN if abs(d) < _FPMIN else d)
    h = d
    for m in range(1, _MAX_ITERATIONS):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                          -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + numerator * d
            d = 1.0 / (_FPMIN if abs(d) < _FPMIN else d)
            c = 1.0 + numerator / c
            c = _FPMIN if abs(c) < _FPMIN else c
            delta = d * c
            h *= delta
        if abs(delta - 1.0) < EPS:
            return h
    raise ConvergenceError(f"incomplete beta continued fraction at a = {a:g}, b = {b:g}, x = {x:g}")


def incomplete_beta(a: float, b: float, x: float, y: float) -> tuple[float, float]:
    """(I_x(a, b), 1 - I_x(a, b)) for a, b > 0 and x + y = 1 (both given, each to full relative
    precision); the fraction runs on whichever side converges (Numerical Recipes 3rd ed. 6.4)."""
    if x <= 0.0:
        return 0.0, 1.0
    if y <= 0.0:
        return 1.0, 0.0
    prefactor = beta_prefactor(a, b, x, y)
    if x < (a + 1.0) / (a + b + 2.0):
        lower = prefactor * _beta_fraction(a, b, x, y) / a
        return lower, 1.0 - lower
    upper = prefactor * _beta_fraction(b, a, y, x) / b
    return 1.0 - upper, upper


def normal_ppf(p: float) -> float:
    """Standard normal quantile, Wichura (1988) AS 241 PPND16 (about 1e-16 relative)."""
    if not 0.0 < p < 1.0:
        if p == 0.0:
            return -math.inf
        return math.inf if p == 1.0 else math.nan
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r
                    + 6.7265770927008700853e+4) * r + 4.5921953931549871457e+4) * r
                  + 1.3731693765509461125e+4) * r + 1.9715909503065514427e+3) * r
                + 1.3314166789178437745e+2) * r + 3.3871328727963666080e+0)
        den = (((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r
                    + 3.9307895800092710610e+4) * r + 2.1213794301586595867e+4) * r
                  + 5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r
                + 4.2313330701600911252e+1) * r + 1.0)
        return q * num / den
    r = math.sqrt(-math.log(p if q < 0.0 else 1.0 - p))
    if r <= 5.0:
        r -= 1.6
        num = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r
                    + 2.41780725177450611770e-1) * r + 1.27045825245236838258e+0) * r
                  + 3.64784832476320460504e+0) * r + 5.76949722146069140550e+0) * r
                + 4.63033784615654529590e+0) * r + 1.42343711074968357734e+0)
        den = (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r
                    + 1.51986665636164571966e-2) * r + 1.48103976427480074590e-1) * r
                  + 6.89767334985100004550e-1) * r + 1.67638483018380384940e+0) * r
                + 2.05319162663775882187e+0) * r + 1.0)
    else:
        r -= 5.0
        num = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                    + 1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r
                  + 2.96560571828504891230e-1) * r + 1.78482653991729133580e+0) * r
                + 5.46378491116411436990e+0) * r + 6.65790464350110377720e+0)
        den = (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r
                    + 1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r
                  + 1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r
                + 5.99832206555887937690e-1) * r + 1.0)
    x = num / den
    return -x if q < 0.0 else x
