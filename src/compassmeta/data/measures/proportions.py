"""Single-proportion measures: PR, PLN, PLO, PAS, PFT from xi events and mi non-events (or
ni = xi + mi), after the continuity correction.

As metafor's ``escalc()``: PR the raw proportion (LS p(1-p)/n, UB with n - 1, AV with the
sample-size weighted mean proportion); PLN its log and PLO its logit (delta-method variances);
PAS the arcsine square root, 1/(4n); PFT the Freeman & Tukey (1950) double arcsine, 1/(4n + 2).
"""
from collections.abc import Callable

import numpy as np

from .registry import Array, Compute, Values, YiVi, register, weighted_mean

COUNTS = ("xi", "mi")


def _register_proportion(name: str, description: str, vtypes: tuple[str, ...] = ("LS",),
                         default_add: float = 0.5) -> Callable[[Compute], Compute]:
    return register(name, "proportions", description, COUNTS, vtypes, counts=COUNTS, default_add=default_add)


def _proportion(v: Values) -> tuple[Array, Array]:
    n = v["xi"] + v["mi"]
    return n, v["xi"] / n


@_register_proportion("PR", "raw proportion", ("LS", "UB", "AV"))
def proportion(v: Values, vtype: str) -> YiVi:
    n, p = _proportion(v)
    return p, {"LS": lambda: p * (1 - p) / n, "UB": lambda: p * (1 - p) / (n - 1),
               "AV": lambda: weighted_mean(p, n) * (1 - weighted_mean(p, n)) / n}[vtype]()


@_register_proportion("PLN", "log proportion", ("LS", "AV"))
def log_proportion(v: Values, vtype: str) -> YiVi:
    n, p = _proportion(v)
    with np.errstate(divide="ignore"):
        return np.log(p), {"LS": lambda: 1 / v["xi"] - 1 / n,
                           "AV": lambda: 1 / (weighted_mean(p, n) * n) - 1 / n}[vtype]()


@_register_proportion("PLO", "logit proportion (log odds)", ("LS", "AV"))
def logit_proportion(v: Values, vtype: str) -> YiVi:
    n, p = _proportion(v)
    with np.errstate(divide="ignore"):
        yi = np.log(p / (1 - p))
        mean = weighted_mean(p, n)
        return yi, {"LS": lambda: 1 / v["xi"] + 1 / v["mi"],
                    "AV": lambda: 1 / (mean * n) + 1 / ((1 - mean) * n)}[vtype]()


@_register_proportion("PAS", "arcsine square root proportion", default_add=0)
def arcsine_proportion(v: Values, vtype: str) -> YiVi:
    n, p = _proportion(v)
    return np.arcsin(np.sqrt(p)), 1 / (4 * n)


@_register_proportion("PFT", "Freeman-Tukey double arcsine proportion", default_add=0)
def freeman_tukey_proportion(v: Values, vtype: str) -> YiVi:
    n, x = v["xi"] + v["mi"], v["xi"]
    return (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1)))) / 2, 1 / (4 * n + 2)
