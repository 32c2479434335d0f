"""Numerical machinery of the Bayesian random-effects model (models.bayes).

- :class:`AdaptiveDensity`: a density on tau >= 0 known up to a constant, integrated exactly
  in the sense of numerical analysis: a monotone map (exponential near 0, rational towards
  infinity) takes [0, inf) to [0, 1), and the
  transformed density is interpolated by Chebyshev polynomials on panels that are halved until
  the last coefficients of every panel are below ``TOLERANCE`` times the total mass (or, for
  large k, 64 eps (|log f| + k): the rounding noise of a log density summed over k studies); the
  interpolants give the normalising constant, the CDF, quantiles and moments.  The stated error
  bound: each panel's interpolation error is below TOLERANCE of the total mass, so the CDF is
  exact to about 1e-13 (Trefethen 2019, Approximation Theory and Approximation Practice, ch. 8).
- :func:`direct_grid`: the DIRECT discretisation of Roever & Friede (2017, J Comput Graph Stat
  26(1):217-222) of a mixture over tau: bin margins and reference points spaced so that
  neighbouring conditional distributions differ by a symmetrised Kullback-Leibler divergence
  ``delta``, up to the 1 - ``epsilon`` quantile of tau; the mixture's error is bounded by delta
  (their Theorem 1), as in bayesmeta (defaults delta = 0.01, epsilon = 1e-4).
- :func:`mixture_quantiles`: quantiles of normal mixtures, many mixtures at once.
"""
import math
from collections.abc import Callable
from typing import Protocol

import numpy as np
from numpy.polynomial import chebyshev
from numpy.typing import ArrayLike

from ..common.distributions import NORMAL_ELEMENTWISE, normal_cdf, normal_quantile
from ..common.roots import brent_minimize, brent_zeroin

NODES = 24
CUT = 60.0          # log-density drop beyond which the posterior's mass is negligible (e^-60)
TOLERANCE = 1e-14
_THETA = np.pi * (np.arange(NODES) + 0.5) / NODES
_X = np.cos(_THETA)                        # Chebyshev points of the first kind on [-1, 1]
_DCT = 2.0 / NODES * np.cos(np.outer(np.arange(NODES), _THETA))
_DCT[0] /= 2
_COS = np.cos(np.outer(np.arange(NODES), _THETA))   # Chebyshev series -> values at the nodes
_M = np.arange(NODES)
_XTOL = 2e-12      # brentq's default xtol, used for the CUT levels before
_FEJER = _DCT.T @ np.divide(2.0, 1.0 - _M ** 2, out=np.zeros(NODES), where=_M % 2 == 0)   # weights on [-1, 1]

#: An unnormalised log density, vectorised over tau.
LogDensity = Callable[[np.ndarray], np.ndarray]


class Moments(Protocol):
    """Conditional means and variances (mu, theta_new, each theta_i or those of ``studies``) at tau."""

    def __call__(self, tau: float, studies: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...


class AdaptiveDensity:
    """An unnormalised log density ``logf`` (vectorised over tau) on [lower, upper]."""

    def __init__(self, logf: LogDensity, lower: float = 0.0, upper: float = math.inf, scale: float = 1.0,
                 max_panels: int = 4000, terms: int = 1) -> None:
        self.logf, self.scale, self.terms = logf, scale, terms
        self.u_lower, self.u_upper = self._to_u(lower), self._to_u(upper)
        self.mode, self.log_max = self._find_mode(lower, upper)
        self.converged = self._build(max_panels)

    # The map from u in [0, 1) to tau: tau = t0 exp(1 - u0 / u) below u0 (so a density with a
    # logarithmic singularity at tau = 0, as the log-t priors, becomes smooth in u), and
    # tau = t0 + c (u - u0) / (1 - u) above (a polynomial tail becomes smooth at u = 1).
    U0, T0 = 0.2, 0.05

    def _to_u(self, t: float) -> float:
        if math.isinf(t):
            return 1.0
        t0 = self.T0 * self.scale
        if t < t0:
            return 0.0 if t <= 0 else self.U0 / (1.0 - math.log(t / t0))
        r = (t - t0) / self.scale
        return (self.U0 + r) / (1.0 + r)

    def _to_t(self, u: ArrayLike) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        t0 = self.T0 * self.scale
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            low = t0 * np.exp(1.0 - self.U0 / u)
            high = t0 + self.scale * (u - self.U0) / (1.0 - u)
        return np.where(u < self.U0, np.where(u > 0, low, 0.0), high)

    def _log_g(self, u: np.ndarray) -> np.ndarray:
        """Log density in u (with the Jacobian of the map)."""
        t = self._to_t(u)
        with np.errstate(divide="ignore", invalid="ignore"):
            jac_low = np.log(t) + math.log(self.U0) - 2 * np.log(u)
            jac_high = math.log(self.scale * (1 - self.U0)) - 2.0 * np.log1p(-u)
        return self.logf(t) + np.where(u < self.U0, jac_low, jac_high)

    def _find_mode(self, lower: float, upper: float) -> tuple[float, float]:
        """The mode of the density in tau (the best of 65 points, polished by Brent's method),
        its log density, and the range of u where the log density is within CUT of it."""
        u = np.linspace(self.u_lower, self.u_upper, 66)[:-1] if math.isinf(upper) else \
            np.linspace(self.u_lower, self.u_upper, 65)
        t = self._to_t(u)
        values = self.logf(t)
        best = int(np.argmax(values))
        mode, log_max = float(t[best]), float(values[best])
        left, right = t[max(best - 1, 0)], t[min(best + 1, t.size - 1)]
        if right > left:
            x, neg = brent_minimize(lambda x: -float(self.logf(np.array([x]))[0]), left, right,
                                    xatol=1e-13 * max(1.0, right))
            if -neg > log_max + 1e-13 * max(1.0, abs(log_max)):   # not a rounding tie with the grid
                mode, log_max = float(x), float(-neg)
        keep = np.flatnonzero(values > log_max - CUT)
        first, last = (keep[0], keep[-1]) if keep.size else (best, best)
        level = lambda x: float(self.logf(self._to_t(np.array([x])))[0]) - (log_max - CUT)  # noqa: E731
        if first > 0:
            self.u_lower = brent_zeroin(level, u[first - 1], max(u[first], self._to_u(mode)), tol=_XTOL)
        if last < u.size - 1:
            self.u_upper = brent_zeroin(level, min(u[last], self._to_u(mode)), u[last + 1], tol=_XTOL)
        return mode, log_max

    def _panel(self, a: float, b: float) -> np.ndarray:
        u = a + (b - a) * (_X + 1) / 2
        values = np.exp(self._log_g(u) - self.log_max)
        return _DCT @ values

    def _build(self, max_panels: int) -> bool:
        mode_u = self._to_u(self.mode)
        edges = np.unique(np.concatenate([np.linspace(self.u_lower, self.u_upper, 17), [mode_u]]))
        todo = list(zip(edges[:-1], edges[1:]))
        done: list[tuple[float, float, np.ndarray]] = []
        converged = True
        tolerance = max(TOLERANCE, 64 * np.finfo(float).eps * (abs(self.log_max) + self.terms))
        coefs = self._panels(todo)
        total = max(sum(_integral(c, a, b) for (a, b), c in zip(todo, coefs)), 1e-300)
        while todo:
            split: list[tuple[float, float]] = []
            for (a, b), c in zip(todo, coefs):
                tail = np.abs(c[-3:]).max() * (b - a)
                if tail <= tolerance * total or len(done) + len(split) > max_panels:
                    converged &= tail <= 1e-10 * total
                    done.append((a, b, c))
                else:
                    mid = (a + b) / 2
                    split += [(a, mid), (mid, b)]
            todo = split
            coefs = self._panels(todo)
        done.sort(key=lambda item: item[0])
        self.edges = np.array([a for a, _, _ in done] + [done[-1][1]])
        self.coefs = np.array([c for _, _, c in done])
        widths = np.diff(self.edges) / 2
        self.antiderivatives = chebyshev.chebint(self.coefs.T, lbnd=-1).T * widths[:, None]
        masses = self.antiderivatives.sum(axis=1)          # T_m(1) = 1
        self.cumulative = np.concatenate([[0.0], np.cumsum(masses)])
        self.total = float(self.cumulative[-1])
        return bool(converged and self.total > 0)

    def _panels(self, panels: list[tuple[float, float]]) -> list[np.ndarray]:
        if not panels:
            return []
        a = np.array([p[0] for p in panels])[:, None]
        b = np.array([p[1] for p in panels])[:, None]
        u = (a + (b - a) * (_X + 1) / 2).ravel()
        values = np.exp(self._log_g(u) - self.log_max).reshape(len(panels), NODES)
        return list(values @ _DCT.T)

    @property
    def log_integral(self) -> float:
        """log of the integral of exp(logf) over the support."""
        return math.log(self.total) + self.log_max

    def cdf(self, t: ArrayLike) -> np.ndarray:
        """Normalised CDF at tau values."""
        u = np.array([self._to_u(x) for x in np.atleast_1d(np.asarray(t, dtype=float))])
        u = np.clip(u, self.edges[0], self.edges[-1])
        index = np.clip(np.searchsorted(self.edges, u, side="right") - 1, 0, len(self.coefs) - 1)
        x = 2 * (u - self.edges[index]) / (self.edges[index + 1] - self.edges[index]) - 1
        partial = chebyshev.chebval(x, self.antiderivatives[index].T, tensor=False)
        return np.clip((self.cumulative[index] + partial) / self.total, 0.0, 1.0)

    def quantile(self, p: float) -> float:
        """The tau with CDF p (Brent's method inside the panel that holds it)."""
        if p <= 0:
            return float(self._to_t(self.edges[0]))
        target = p * self.total
        i = int(np.clip(np.searchsorted(self.cumulative, target) - 1, 0, len(self.coefs) - 1))
        a, b = self.edges[i], self.edges[i + 1]
        func = lambda x: chebyshev.chebval(x, self.antiderivatives[i]) + self.cumulative[i] - target  # noqa: E731
        lo, hi = func(-1.0), func(1.0)
        if lo >= 0 or hi <= 0:
            x = -1.0 if lo >= 0 else 1.0
        else:
            x = brent_zeroin(func, -1.0, 1.0, tol=1e-15)
        return float(self._to_t(a + (b - a) * (x + 1) / 2))

    def moment(self, power: int) -> float:
        """E[tau^power] by Fejer's first rule on each panel (the panels' own nodes)."""
        a, b = self.edges[:-1, None], self.edges[1:, None]
        u = a + (b - a) * (_X + 1) / 2
        values = (self.coefs @ _COS) * self._to_t(u) ** power
        return float(((b - a)[:, 0] / 2) @ (values @ _FEJER)) / self.total

    def pdf(self, t: ArrayLike) -> np.ndarray:
        """Normalised density at tau values (exact, not interpolated)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        return np.exp(self.logf(t) - self.log_max - math.log(self.total))


def _integral(c: np.ndarray, a: float, b: float) -> float:
    """Integral over [a, b] of the Chebyshev series c (on [-1, 1])."""
    m = np.arange(0, len(c), 2)
    return float((b - a) / 2 * np.sum(c[::2] * 2.0 / (1.0 - m ** 2)))


def symmetric_kl(m1: np.ndarray, v1: np.ndarray, m2: np.ndarray, v2: np.ndarray) -> np.ndarray:
    """Symmetrised Kullback-Leibler divergence of N(m1, v1) and N(m2, v2) (Roever & Friede 2017, eq. 4)."""
    return ((m1 - m2) ** 2 * (v1 + v2) + (v1 - v2) ** 2) / (2 * v1 * v2)


def solve_divergence(divergence: Callable[[float], float], start: float, step: float, delta: float) -> float:
    """The tau > start where divergence(start, tau) = delta.  sqrt(divergence) grows about
    linearly in tau, so Brent's method on it converges in a few steps; the bracket grows from
    start + 1.5 step."""
    target = math.sqrt(delta)
    upper = start + 1.5 * step
    value = divergence(upper)
    while value <= delta:
        upper = start + 2 * (upper - start)
        value = divergence(upper)
    return brent_zeroin(lambda t: math.sqrt(max(divergence(t), 0.0)) - target, start, upper, tol=1e-14)


def direct_grid(moments: Moments, cdf: Callable[[np.ndarray], np.ndarray], maxtau: float,
                delta: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Reference points and weights of the DIRECT grid over tau (bayesmeta's ``discretize()``).

    ``moments(tau, studies=None)`` gives the conditional means and variances (mu, theta_new,
    then each study's theta_i, or those of ``studies``) whose largest pairwise symmetrised KL
    divergence between neighbouring points is held at ``delta``; bins run from tau = 0 until a
    bin's upper margin passes ``maxtau``; weights are the posterior masses of the bins,
    renormalised.  Returns (tau, weight) arrays.
    """
    start = (0.0, moments(0.0))
    margin, at_margin, watched = _next_point(moments, start, max(maxtau, 1e-8) / 64, delta)
    points, margins = [0.0], [margin]
    while margin <= maxtau or len(points) < 2:
        step = (margin - points[-1]) / (2 if len(points) == 1 else 1)
        point, at_point, watched = _next_point(moments, (margin, at_margin), step, delta, watched)
        margin, at_margin, watched = _next_point(moments, (point, at_point), point - margin, delta, watched)
        points.append(point)
        margins.append(margin)
    probs = cdf(np.array(margins))
    weights = np.maximum(np.diff(np.concatenate([[0.0], probs])), 0.0)
    return np.array(points), weights / weights.sum()


def _next_point(moments: Moments, start: tuple[float, tuple[np.ndarray, np.ndarray]], step: float,
                delta: float, studies: np.ndarray | None = None,
                watch: int = 16) -> tuple[float, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """The tau > start whose conditionals lie at divergence delta from start's, their moments,
    and the ``watch`` studies that diverged most (the watched set of the next step).

    The root is solved on the watched conditionals (``studies``, or the ``watch`` that diverge
    most at a first guess): O(1) per evaluation beyond mu's sums; every conditional is checked
    at the root, and the ones past delta join the watched set until none is (each divergence
    grows with tau, so the root of the watched set is then the root of all)."""
    tau0, (m1, v1) = start
    if studies is None:
        studies = _most_divergent(symmetric_kl(m1, v1, *moments(tau0 + step)), watch)
    for _ in range(100):
        root = solve_divergence(_watched_divergence(moments, m1, v1, studies), tau0, step, delta)
        m2, v2 = moments(root)
        divergences = symmetric_kl(m1, v1, m2, v2)
        beyond = np.flatnonzero(divergences[2:] > delta * (1 + 1e-12))
        new = np.setdiff1d(beyond, studies)
        if not new.size:
            return root, (m2, v2), _most_divergent(divergences, watch)
        studies = np.union1d(studies, new)
    raise RuntimeError("DIRECT grid: the watched set did not settle")


def _most_divergent(divergences: np.ndarray, watch: int) -> np.ndarray:
    """Indices of the ``watch`` studies (entries after mu and theta_new) of largest divergence."""
    if divergences.size <= watch + 2:
        return np.arange(divergences.size - 2)
    return np.argpartition(divergences[2:], -watch)[-watch:]


def _watched_divergence(moments: Moments, m1: np.ndarray, v1: np.ndarray,
                        studies: np.ndarray) -> Callable[[float], float]:
    """tau -> the largest divergence from (m1, v1) among mu, theta_new and ``studies``."""
    chosen = np.concatenate(([0, 1], studies + 2))
    first_m, first_v = m1[chosen], v1[chosen]

    def divergence(t: float) -> float:
        mean, var = moments(t, studies)
        return float(np.max(symmetric_kl(first_m, first_v, mean, var)))
    return divergence


def mixture_cdf(x: np.ndarray, weights: np.ndarray, means: np.ndarray, sds: np.ndarray) -> np.ndarray:
    """CDF at x (shape (n,)) of n normal mixtures (means, sds: (n, J); weights: (J,))."""
    return normal_cdf((x[:, None] - means) / sds, NORMAL_ELEMENTWISE) @ weights


def mixture_quantiles(p: ArrayLike, weights: np.ndarray, means: np.ndarray, sds: np.ndarray,
                      tol: float = 1e-12) -> np.ndarray:
    """The p-quantile of each of n normal mixtures (means, sds of shape (n, J)): safeguarded
    Newton iterations on all mixtures at once (bisection when a step leaves the bracket, which
    starts as the components' 12-sd range), until the step is below tol times the mixture's sd."""
    p = np.broadcast_to(np.asarray(p, dtype=float), (means.shape[0],))
    lo = (means - 12 * sds).min(axis=1)
    hi = (means + 12 * sds).max(axis=1)
    mean = means @ weights
    sd = np.sqrt(((means - mean[:, None]) ** 2 + sds ** 2) @ weights)
    x = mean + sd * normal_quantile(p)
    active = np.arange(x.size)
    for _ in range(200):
        m, s, xa = means[active], sds[active], x[active]
        z = (xa[:, None] - m) / s
        f = normal_cdf(z, NORMAL_ELEMENTWISE) @ weights - p[active]
        dens = (np.exp(-0.5 * z ** 2) / (s * math.sqrt(2 * math.pi))) @ weights
        lo[active] = np.where(f < 0, xa, lo[active])
        hi[active] = np.where(f > 0, xa, hi[active])
        with np.errstate(divide="ignore", invalid="ignore"):
            new = xa - f / dens
        bad = ~((new >= lo[active]) & (new <= hi[active]))
        new[bad] = (lo[active][bad] + hi[active][bad]) / 2
        x[active] = new
        keep = (np.abs(new - xa) > tol * sd[active]) & (f != 0)
        active = active[keep]
        if not active.size:
            break
    return x


def shortest_interval(quantile: Callable[[float], float], cdf: Callable[[float], float], level: float,
                      lower: float, upper: float) -> tuple[float, float]:
    """The shortest interval of probability ``level``: its left end minimises
    quantile(level + cdf(left)) - left over [lower, upper] (bayesmeta's ``post.interval()``)."""
    width = lambda left: quantile(level + cdf(left)) - left  # noqa: E731
    left, _ = brent_minimize(width, lower, upper, xatol=1e-10 * max(1.0, abs(upper - lower)))
    if width(lower) <= width(left):
        left = float(lower)
    return left, float(quantile(level + cdf(left)))
