"""Root of a monotone function on a bracket.

A small Illinois (modified regula falsi) solver, used instead of ``scipy.optimize.brentq``
only because importing ``scipy.optimize`` costs about half a second of start-up for every
``compassmeta pool`` call.  For the smooth, monotone Q(tau^2) curves solved here it
converges superlinearly, and it never leaves the bracket.
"""
from collections.abc import Callable

from .errors import ConvergenceError


def solve_monotone(func: Callable[[float], float], lower: float, upper: float, *, scale: float = 1.0,
                   rtol: float = 1e-14, max_iter: int = 500) -> float:
    """Return x in [lower, upper] with func(x) = 0, given func(lower), func(upper) of opposite sign.

    Stops when successive iterates differ by less than ``rtol * max(scale, |x|)``.
    """
    f_lower, f_upper = func(lower), func(upper)
    if f_lower == 0.0:
        return lower
    if f_upper == 0.0:
        return upper
    if (f_lower > 0) == (f_upper > 0):
        raise ConvergenceError(f"no sign change of the target function on [{lower:g}, {upper:g}]")
    side = 0
    previous = None
    for _ in range(max_iter):
        x = (lower * f_upper - upper * f_lower) / (f_upper - f_lower)
        fx = func(x)
        if fx == 0.0 or (previous is not None and abs(x - previous) <= rtol * max(scale, abs(x))):
            return x
        previous = x
        if (fx > 0) == (f_lower > 0):
            lower, f_lower = x, fx
            if side == -1:
                f_upper /= 2.0
            side = -1
        else:
            upper, f_upper = x, fx
            if side == 1:
                f_lower /= 2.0
            side = 1
        if abs(upper - lower) <= rtol * max(scale, abs(x)):
            return x
    raise ConvergenceError(f"root search did not converge in {max_iter} iterations")


def expand_upper(func: Callable[[float], float], start: float, *, factor: float = 2.0,
                 max_steps: int = 200) -> float:
    """Smallest ``start * factor**n`` at which the decreasing ``func`` is negative."""
    upper = start
    for _ in range(max_steps):
        if func(upper) < 0:
            return upper
        upper *= factor
    raise ConvergenceError("could not bracket the root (function stays positive)")


def brent_zeroin(func: Callable[[float], float], lower: float, upper: float, *, tol: float,
                 max_iter: int = 1000) -> float:
    """Brent's (1973, Algorithms for Minimization without Derivatives, ch. 4) zeroin, the root
    finder of R's uniroot(): kept step for step because a fail-safe number is the ceiling of the
    point where this search, with uniroot's tolerance, stops on a step function (metafor fsn())."""
    a, b = float(lower), float(upper)
    fa, fb = func(a), func(b)
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    c, fc = a, fa
    eps = 2.220446049250313e-16
    for _ in range(max_iter + 1):
        previous_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * eps * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(previous_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:                      # secant
                t1 = fb / fa
                p, q = cb * t1, 1.0 - t1
            else:                           # inverse quadratic interpolation
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < 0.75 * cb * q - abs(tol_act * q) / 2 and p < abs(previous_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = func(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    raise ConvergenceError(f"root search did not converge in {max_iter} iterations")


_GOLDEN = (3.0 - 5.0 ** 0.5) / 2.0          # 1 - 1/phi, the golden-section fraction
_SQRT_EPS = 2.2e-16 ** 0.5                # sqrt(eps) as scipy rounds it: the same iterates as scipy's


def brent_minimize(func: Callable[[float], float], lower: float, upper: float, *, xatol: float,
                   max_iter: int = 500) -> tuple[float, float]:
    """(x, func(x)) at a local minimum of ``func`` on [lower, upper]: Brent's (1973, Algorithms for
    Minimization without Derivatives, ch. 5) localmin, golden-section steps safeguarding parabolic
    interpolation through the three best points.  Tolerance as in scipy's ``minimize_scalar(method=
    "bounded")``: sqrt(eps) |x| + xatol / 3, so the iterates (and the Bayesian summaries found with
    it before) are the same."""
    a, b = float(lower), float(upper)
    x = w = v = a + _GOLDEN * (b - a)       # best point, second best, previous second best
    fx = fw = fv = func(x)
    d = e = 0.0                             # this step and the one before last
    for _ in range(max_iter):
        m = (a + b) / 2
        tol = _SQRT_EPS * abs(x) + xatol / 3
        if abs(x - m) <= 2 * tol - (b - a) / 2:
            return x, fx
        parabolic = False
        if abs(e) > tol:                    # fit a parabola through x, w, v
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2 * (q - r)
            p, q = (-p, q) if q > 0 else (p, -q)
            e_previous, e = e, d
            if abs(p) < abs(q * e_previous / 2) and q * (a - x) < p < q * (b - x):
                parabolic, d = True, p / q
                if x + d - a < 2 * tol or b - (x + d) < 2 * tol:     # too near an end
                    d = tol if m >= x else -tol
        if not parabolic:                   # golden section into the larger part
            e = (a if x >= m else b) - x
            d = _GOLDEN * e
        u = x + (d if abs(d) >= tol else (tol if d >= 0 else -tol))
        fu = func(u)
        if fu <= fx:
            a, b = (x, b) if u >= x else (a, x)
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            a, b = (a, u) if u >= x else (u, b)
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu
    raise ConvergenceError(f"minimisation did not converge in {max_iter} iterations")
