"""Correlation measures: COR, UCOR, ZCOR from ri and ni.

COR: r with (1 - r^2)^2 / (n - 1) (LS), the sample-size weighted mean r in place of r (AV), or
(1 - r^2) / (n - 2) under rho = 0 (H0); UCOR: Olkin & Pratt's (1958) unbiased r
r 2F1(1/2, 1/2; (n - 2)/2; 1 - r^2) with the unbiased variance (UB, Hedges 1989) too; ZCOR:
Fisher's z with 1 / (n - 3).  Variances for n <= 3 are undefined, as in metafor.
"""
import numpy as np

from .registry import Alternatives, Array, Values, YiVi, filled, hyp2f1, register, t_from_p, weighted_mean


def correlation_variance(yi: Array, r: Array, n: Array, vtype: str) -> Array:
    """Variance of a (raw or unbiased) correlation ``yi`` of ``vtype``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        vi = {"LS": lambda: (1 - yi ** 2) ** 2 / (n - 1),
              "AV": lambda: (1 - weighted_mean(yi, n) ** 2) ** 2 / (n - 1),
              "H0": lambda: (1 - yi ** 2) / (n - 2),
              "UB": lambda: yi ** 2 - 1 + (n - 3) / (n - 2) * (1 - r ** 2) * hyp2f1(1, 1, n / 2, 1 - r ** 2),
              }[vtype]()
    return np.where(n <= 3, np.nan, vi)


def r_from_t(v: Values) -> Values:
    """metafor's other correlation inputs, row by row: ti (r = t / sqrt(t^2 + n - 2)); else a signed
    two-sided pi (t on n - 2 df)."""
    n = v["ni"]
    t = filled(v["ti"], t_from_p(v["pi"], n - 2))
    return dict(v, ri=filled(v["ri"], t / np.sqrt(t ** 2 + n - 2)))


FROM_T = Alternatives(("ti", "pi"), ("ri",), r_from_t)


@register("COR", "correlations", "raw correlation coefficient", ("ri", "ni"), ("LS", "AV", "H0"),
          alternatives=FROM_T)
def cor(v: Values, vtype: str) -> YiVi:
    return v["ri"], correlation_variance(v["ri"], v["ri"], v["ni"], vtype)


@register("UCOR", "correlations", "unbiased correlation coefficient (Olkin & Pratt 1958)", ("ri", "ni"),
          ("LS", "UB", "AV"), alternatives=FROM_T)
def ucor(v: Values, vtype: str) -> YiVi:
    r, n = v["ri"], v["ni"]
    yi = r * hyp2f1(0.5, 0.5, (n - 2) / 2, 1 - r ** 2)
    return yi, correlation_variance(yi, r, n, vtype)


def fisher_z(r: Array) -> Array:
    """Fisher's r-to-z transformation atanh(r)."""
    return np.arctanh(r)


@register("ZCOR", "correlations", "Fisher's r-to-z transformed correlation", ("ri", "ni"),
          alternatives=FROM_T)
def zcor(v: Values, vtype: str) -> YiVi:
    n = v["ni"]
    with np.errstate(divide="ignore"):
        return fisher_z(v["ri"]), np.where(n <= 3, np.nan, 1 / np.where(n <= 3, 1, n - 3))
