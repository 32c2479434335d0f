"""Two-by-two table measures: OR, RR, RD, AS, PETO from the cells ai, bi (group 1: events,
non-events) and ci, di (group 2), after the continuity correction.

Variances as in metafor's ``escalc()``: LS the large-sample (delta-method) variance (Woolf 1955 for
OR; Katz et al. 1978 for RR), AV with the sample-size weighted mean proportion of each group, H0
under no effect with the pooled proportion, UB (RD) with n - 1; AS the arcsine-root difference
(Rucker et al. 2009); PETO the one-step odds ratio (Yusuf et al. 1985).
"""
from collections.abc import Callable

import numpy as np

from .registry import Array, Compute, Values, YiVi, register, weighted_mean

CELLS = ("ai", "bi", "ci", "di")


def _groups(v: Values) -> tuple[Array, Array, Array, Array, Array]:
    """n1, n2, p1, p2 and the pooled proportion of a table."""
    n1, n2 = v["ai"] + v["bi"], v["ci"] + v["di"]
    with np.errstate(invalid="ignore", divide="ignore"):
        return n1, n2, v["ai"] / n1, v["ci"] / n2, (v["ai"] + v["ci"]) / (n1 + n2)


def _register_2x2(name: str, description: str, vtypes: tuple[str, ...] = ("LS", "AV", "H0"),
                  default_add: float = 0.5) -> Callable[[Compute], Compute]:
    return register(name, "2x2", description, CELLS, vtypes, counts=CELLS, default_add=default_add)


def _log_odds(p: Array) -> Array:
    return np.log(p / (1 - p))


@_register_2x2("OR", "log odds ratio")
def odds_ratio(v: Values, vtype: str) -> YiVi:
    n1, n2, p1, p2, p = _groups(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        yi = _log_odds(p1) - _log_odds(p2)
        return yi, {"LS": lambda: 1 / v["ai"] + 1 / v["bi"] + 1 / v["ci"] + 1 / v["di"],
                    "AV": lambda: sum((1 / (q * (1 - q) * n) for q, n in ((weighted_mean(p1, n1), n1),
                                                                        (weighted_mean(p2, n2), n2))),
                                  np.zeros_like(n1)),
                    "H0": lambda: (1 / n1 + 1 / n2) / (p * (1 - p))}[vtype]()


@_register_2x2("RR", "log risk ratio")
def risk_ratio(v: Values, vtype: str) -> YiVi:
    n1, n2, p1, p2, p = _groups(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        yi = np.log(p1) - np.log(p2)
        return yi, {"LS": lambda: 1 / v["ai"] - 1 / n1 + 1 / v["ci"] - 1 / n2,
                    "AV": lambda: sum(((1 - q) / (q * n) for q, n in ((weighted_mean(p1, n1), n1),
                                                                   (weighted_mean(p2, n2), n2))),
                                  np.zeros_like(n1)),
                    "H0": lambda: (1 - p) / p * (1 / n1 + 1 / n2)}[vtype]()


@_register_2x2("RD", "risk difference", ("LS", "UB", "AV", "H0"))
def risk_difference(v: Values, vtype: str) -> YiVi:
    n1, n2, p1, p2, p = _groups(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        return p1 - p2, {"LS": lambda: p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2,
                         "UB": lambda: p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1),
                         "AV": lambda: sum((q * (1 - q) / n for q, n in ((weighted_mean(p1, n1), n1),
                                                                      (weighted_mean(p2, n2), n2))),
                                       np.zeros_like(n1)),
                         "H0": lambda: (1 / n1 + 1 / n2) * p * (1 - p)}[vtype]()


@_register_2x2("AS", "arcsine square root risk difference", ("LS",), default_add=0)
def arcsine_difference(v: Values, vtype: str) -> YiVi:
    n1, n2, p1, p2, _ = _groups(v)
    return np.arcsin(np.sqrt(p1)) - np.arcsin(np.sqrt(p2)), 1 / (4 * n1) + 1 / (4 * n2)


@_register_2x2("PETO", "log odds ratio, Peto's one-step method", ("LS",))
def peto(v: Values, vtype: str) -> YiVi:
    """(O - E) / V with E = (ai + ci) n1 / n and the hypergeometric variance V; variance 1/V."""
    n1, n2, _, _, _ = _groups(v)
    n = n1 + n2
    events, non_events = v["ai"] + v["ci"], v["bi"] + v["di"]
    hypergeometric = events * non_events * (n1 / n) * (n2 / n) / (n - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (v["ai"] - events * n1 / n) / hypergeometric, 1 / hypergeometric
