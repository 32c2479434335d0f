"""Incidence-rate measures: IR, IRLN, IRS, IRFT (one group: xi events in person-time ti) and IRR,
IRD, IRSD (two groups: x1i, t1i against x2i, t2i), after the continuity correction of the counts.

As metafor's ``escalc()``: IR x/t with x/t^2; IRLN log(x/t) with 1/x; IRS sqrt(x/t) with 1/(4t);
IRFT the Freeman-Tukey rate (sqrt(x/t) + sqrt((x + 1)/t)) / 2 with 1/(4t); IRR the log rate ratio
with 1/x1 + 1/x2; IRD the rate difference with x1/t1^2 + x2/t2^2; IRSD the root rate difference
with 1/(4 t1) + 1/(4 t2).
"""
import numpy as np

from .registry import Values, YiVi, register

ONE_GROUP = ("xi", "ti")
TWO_GROUPS = ("x1i", "x2i", "t1i", "t2i")


@register("IR", "rates", "incidence rate", ONE_GROUP, counts=("xi",))
def rate(v: Values, vtype: str) -> YiVi:
    return v["xi"] / v["ti"], v["xi"] / v["ti"] ** 2


@register("IRLN", "rates", "log incidence rate", ONE_GROUP, counts=("xi",))
def log_rate(v: Values, vtype: str) -> YiVi:
    with np.errstate(divide="ignore"):
        return np.log(v["xi"] / v["ti"]), 1 / v["xi"]


@register("IRS", "rates", "square root incidence rate", ONE_GROUP, counts=("xi",), default_add=0)
def root_rate(v: Values, vtype: str) -> YiVi:
    return np.sqrt(v["xi"] / v["ti"]), 1 / (4 * v["ti"])


@register("IRFT", "rates", "Freeman-Tukey transformed incidence rate", ONE_GROUP, counts=("xi",),
          default_add=0)
def freeman_tukey_rate(v: Values, vtype: str) -> YiVi:
    rate_ = v["xi"] / v["ti"]
    return (np.sqrt(rate_) + np.sqrt(rate_ + 1 / v["ti"])) / 2, 1 / (4 * v["ti"])


@register("IRR", "rates", "log incidence rate ratio", TWO_GROUPS, counts=("x1i", "x2i"))
def rate_ratio(v: Values, vtype: str) -> YiVi:
    with np.errstate(divide="ignore"):
        return np.log(v["x1i"] / v["t1i"]) - np.log(v["x2i"] / v["t2i"]), 1 / v["x1i"] + 1 / v["x2i"]


@register("IRD", "rates", "incidence rate difference", TWO_GROUPS, counts=("x1i", "x2i"))
def rate_difference(v: Values, vtype: str) -> YiVi:
    return v["x1i"] / v["t1i"] - v["x2i"] / v["t2i"], v["x1i"] / v["t1i"] ** 2 + v["x2i"] / v["t2i"] ** 2


@register("IRSD", "rates", "square root incidence rate difference", TWO_GROUPS, counts=("x1i", "x2i"),
          default_add=0)
def root_rate_difference(v: Values, vtype: str) -> YiVi:
    yi = np.sqrt(v["x1i"] / v["t1i"]) - np.sqrt(v["x2i"] / v["t2i"])
    return yi, 1 / (4 * v["t1i"]) + 1 / (4 * v["t2i"])
