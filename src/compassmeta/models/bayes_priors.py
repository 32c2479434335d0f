"""Priors on the heterogeneity tau of the Bayesian random-effects model (models.bayes).

A prior is parsed from a spec (``halfnormal:0.5``, ``turner:mental-health``) through a registry
of factories; each prior gives its log density on tau, its support, whether it is proper and the
power of its polynomial tail (None for a tail lighter than every power), which decides which
posterior moments exist.  Densities as bayesmeta's ``dhalfnormal()``, ``dhalfcauchy()``,
``dhalft()`` (Roever 2020, J Stat Softw 93(6), sec. 2.3) and its Jeffreys prior
(Roever 2020, eq. 19: p(tau) proportional to sqrt(sum_i (tau / (sigma_i^2 + tau^2))^2)).
"""
import dataclasses
import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from ..common.errors import InputError

# Turner et al. (2015, Stat Med 34(6):984-998, Table IV): log-normal(mu, sigma) priors for tau^2
# (log odds ratios), comparison "non-pharmacological vs. placebo / control" (the column of
# self-compassion trials); "any" is the marginal setting (p. 993).  As bayesmeta's TurnerEtAlPrior().
TURNER = {
    "all-cause-mortality": (-4.17, 1.55), "obstetric": (-3.74, 1.91),
    "cause-specific-mortality": (-3.93, 1.91), "resource-use": (-2.56, 1.91),
    "surgical": (-2.36, 1.91), "withdrawals": (-3.21, 1.91), "internal": (-2.93, 1.92),
    "general-physical-health": (-2.51, 1.72), "adverse-events": (-2.10, 1.71),
    "infection": (-2.71, 1.71), "signs-symptoms": (-2.28, 1.71), "pain": (-2.05, 1.71),
    "quality-of-life": (-2.77, 1.73), "mental-health": (-2.34, 1.72),
    "biological-markers": (-1.99, 1.71), "subjective": (-2.92, 1.71), "any": (-2.56, 1.74),
}
# Rhodes et al. (2015, J Clin Epidemiol 68(1):52-60, Table 3): log-t(5) priors (location, scale)
# for tau^2 of standardized mean differences, comparison "non-pharmacological (any)", medical
# area "other"; "any" is the general setting (sec. 3.3).  As bayesmeta's RhodesEtAlPrior().
RHODES = {
    "obstetric": (-3.99, 2.11), "resource-use": (-2.41, 2.57), "structure-related": (-2.29, 2.32),
    "general-health": (-3.02, 2.27), "signs-symptoms": (-2.86, 2.33), "mental-health": (-3.85, 1.93),
    "biological-marker": (-3.27, 2.66), "subjective": (-2.62, 2.41), "any": (-3.44, 2.59),
}


#: (tau values, the studies' standard errors or None) -> log density at each tau.
LogPdf = Callable[[np.ndarray, ArrayLike | None], np.ndarray | float]


@dataclasses.dataclass(frozen=True)
class TauPrior:
    """A prior on tau: ``logpdf(tau, sigma)`` (sigma: the studies' standard errors, used by
    Jeffreys' prior only), support [lower, upper], ``tail`` the power p of a density that falls
    as tau^-p (None: lighter than every power), and ``proper``."""

    spec: str
    label: str
    logpdf_fn: LogPdf = dataclasses.field(repr=False)
    lower: float = 0.0
    upper: float = math.inf
    tail: float | None = None
    proper: bool = True

    def logpdf(self, tau: ArrayLike, sigma: ArrayLike | None = None) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        inside = (tau >= self.lower) & (tau <= self.upper)
        out = np.full(tau.shape, -np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[inside] = self.logpdf_fn(tau[inside], sigma)
        return np.where(np.isnan(out), -np.inf, out)   # log-normal and log-t at tau = 0


def _positive(value: float, name: str, spec: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"tau prior '{spec}': {name} must be a positive number")
    return value


def _halfnormal(spec: str, scale: float) -> TauPrior:
    scale = _positive(scale, "scale", spec)
    return TauPrior(spec, f"half-normal(scale={scale:g})",
                    lambda t, s: math.log(2 / (math.sqrt(2 * math.pi) * scale)) - 0.5 * (t / scale) ** 2)


def _halfcauchy(spec: str, scale: float) -> TauPrior:
    scale = _positive(scale, "scale", spec)
    return TauPrior(spec, f"half-Cauchy(scale={scale:g})",
                    lambda t, s: math.log(2 / (math.pi * scale)) - np.log1p((t / scale) ** 2), tail=2.0)


def _halft(spec: str, scale: float, df: float) -> TauPrior:
    scale, df = _positive(scale, "scale", spec), _positive(df, "df", spec)
    const = (math.log(2) - math.log(scale) + math.lgamma((df + 1) / 2) - math.lgamma(df / 2)
             - 0.5 * math.log(df * math.pi))
    return TauPrior(spec, f"half-Student-t(scale={scale:g}, df={df:g})",
                    lambda t, s: const - (df + 1) / 2 * np.log1p((t / scale) ** 2 / df), tail=df + 1)


def _uniform(spec: str, lower: float, upper: float) -> TauPrior:
    if not (math.isfinite(lower) and math.isfinite(upper) and 0 <= lower < upper):
        raise InputError(f"tau prior '{spec}': needs 0 <= A < B")
    return TauPrior(spec, f"uniform(min={lower:g}, max={upper:g})",
                    lambda t, s: np.full(t.shape, -math.log(upper - lower)), lower=lower, upper=upper)


def _exponential(spec: str, rate: float) -> TauPrior:
    rate = _positive(rate, "rate", spec)
    return TauPrior(spec, f"exponential(rate={rate:g})", lambda t, s: math.log(rate) - rate * t)


def _lognormal(spec: str, mu: float, sigma: float, label: str | None = None) -> TauPrior:
    sigma = _positive(sigma, "sigma", spec)
    if not math.isfinite(mu):
        raise InputError(f"tau prior '{spec}': mu must be a number")

    def logpdf(t: np.ndarray, s: ArrayLike | None) -> np.ndarray:
        with np.errstate(divide="ignore"):
            logt = np.log(t)
        return -logt - math.log(sigma) - 0.5 * math.log(2 * math.pi) - 0.5 * ((logt - mu) / sigma) ** 2

    return TauPrior(spec, label or f"log-normal(mu={mu:g}, sigma={sigma:g})", logpdf)


def _log_t5(spec: str, location: float, scale: float, label: str) -> TauPrior:
    const = math.lgamma(3.0) - math.lgamma(2.5) - 0.5 * math.log(5 * math.pi) - math.log(scale)

    def logpdf(t: np.ndarray, s: ArrayLike | None) -> np.ndarray:
        with np.errstate(divide="ignore"):
            logt = np.log(t)
        return const - logt - 3.0 * np.log1p(((logt - location) / scale) ** 2 / 5)

    return TauPrior(spec, label, logpdf)


def _jeffreys(spec: str) -> TauPrior:
    def logpdf(t: np.ndarray, sigma: ArrayLike | None) -> np.ndarray:
        ratio = t[:, None] / (np.asarray(sigma)[None, :] ** 2 + t[:, None] ** 2)
        with np.errstate(divide="ignore"):
            return 0.5 * np.log((ratio ** 2).sum(axis=1))

    return TauPrior(spec, "Jeffreys prior", logpdf, tail=1.0, proper=False)


def _table_prior(spec: str, name: str, table: dict[str, tuple[float, float]], outcome: str) -> TauPrior:
    if outcome not in table:
        raise InputError(f"tau prior '{spec}': unknown outcome '{outcome}' (one of {', '.join(table)})")
    location, scale = table[outcome]
    if name == "turner":   # log-normal for tau^2 is log-normal(mu/2, sigma/2) for tau
        return _lognormal(spec, location / 2, scale / 2,
                          f"Turner et al. (2015) {outcome}: log-normal(mu={location / 2:.3f}, "
                          f"sigma={scale / 2:.3f})")
    return _log_t5(spec, location / 2, scale / 2,
                   f"Rhodes et al. (2015) {outcome}: log-Student-t(location={location / 2:.3f}, "
                   f"scale={scale / 2:.3f}, d.f.=5)")


# name -> (number of numeric parameters, factory)
REGISTRY: dict[str, tuple[int, Callable[..., TauPrior]]] = {
    "halfnormal": (1, _halfnormal), "halfcauchy": (1, _halfcauchy), "halft": (2, _halft),
    "uniform": (2, _uniform), "exponential": (1, _exponential), "lognormal": (2, _lognormal),
    "jeffreys": (0, _jeffreys),
}


def parse_tau_prior(spec: str) -> TauPrior:
    """A prior from its spec: ``halfnormal:SCALE``, ``halfcauchy:SCALE``, ``halft:SCALE,DF``,
    ``uniform:A,B``, ``exponential:RATE``, ``lognormal:MU,SIGMA``, ``jeffreys``,
    ``turner:OUTCOME`` or ``rhodes:OUTCOME``."""
    name, _, args = spec.strip().partition(":")
    name = name.lower()
    if name in ("turner", "rhodes"):
        return _table_prior(spec, name, TURNER if name == "turner" else RHODES, args.strip().lower())
    if name not in REGISTRY:
        raise InputError(f"unknown tau prior '{spec}' (one of {', '.join(REGISTRY)}, turner, rhodes)")
    count, factory = REGISTRY[name]
    try:
        values = [float(part) for part in args.split(",")] if args.strip() else []
    except ValueError:
        raise InputError(f"tau prior '{spec}': parameters must be numbers") from None
    if len(values) != count:
        raise InputError(f"tau prior '{spec}': {name} takes {count} parameter(s)")
    return factory(spec, *values)


def parse_mu_prior(spec: str | None) -> tuple[float, float] | None:
    """``uniform`` (None, the improper flat prior) or ``normal:MEAN,SD`` -> (mean, sd)."""
    if spec is None or spec.strip().lower() == "uniform":
        return None
    name, _, args = spec.strip().partition(":")
    try:
        mean, sd = (float(part) for part in args.split(","))
    except ValueError:
        raise InputError(f"mu prior '{spec}': expected uniform or normal:MEAN,SD") from None
    if name.lower() != "normal" or not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
        raise InputError(f"mu prior '{spec}': expected uniform or normal:MEAN,SD with SD > 0")
    return mean, sd
