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
