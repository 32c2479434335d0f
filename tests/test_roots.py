"""The project's own scalar minimiser against scipy.optimize.minimize_scalar(method="bounded")."""
import math

import pytest
from scipy import optimize

from compassmeta.common.errors import ConvergenceError
from compassmeta.common.roots import brent_minimize, brent_zeroin

CASES = [
    (lambda x: (x - 1.3) ** 2, 0.0, 4.0, 1e-10),
    (math.cos, 0.0, 6.0, 1e-12),
    (lambda x: x ** 4 - 3 * x, -1.0, 3.0, 1e-13),
    (lambda x: abs(x - 0.5), 0.0, 1.0, 1e-10),          # not smooth: golden-section steps
    (lambda x: x, 2.0, 5.0, 1e-10),                     # minimum at the lower bound
    (lambda x: -math.exp(-x * x) * x, 0.0, 10.0, 1e-12),
]


@pytest.mark.parametrize(("func", "lower", "upper", "xatol"), CASES)
def test_brent_minimize_matches_scipy_bounded(func, lower, upper, xatol):
    reference = optimize.minimize_scalar(func, bounds=(lower, upper), method="bounded",
                                         options={"xatol": xatol})
    x, fx = brent_minimize(func, lower, upper, xatol=xatol)
    assert x == pytest.approx(reference.x, rel=1e-12, abs=1e-14)
    assert fx == pytest.approx(reference.fun, rel=1e-12, abs=1e-14)


def test_brent_minimize_finds_known_minimum():
    x, fx = brent_minimize(lambda t: (t - math.pi) ** 2 + 1.0, 0.0, 10.0, xatol=1e-12)
    assert x == pytest.approx(math.pi, rel=1e-7)
    assert fx == pytest.approx(1.0, rel=1e-14)


def test_brent_minimize_reports_non_convergence():
    with pytest.raises(ConvergenceError):
        brent_minimize(math.cos, 0.0, 6.0, xatol=1e-12, max_iter=3)


def test_brent_zeroin_matches_scipy_brentq():
    func = lambda x: math.exp(x) - 3.0  # noqa: E731
    reference = optimize.brentq(func, 0.0, 4.0, xtol=1e-15, rtol=4 * 2.220446049250313e-16)
    assert brent_zeroin(func, 0.0, 4.0, tol=1e-15) == pytest.approx(reference, rel=1e-15)
    assert reference == pytest.approx(math.log(3.0), rel=1e-15)
