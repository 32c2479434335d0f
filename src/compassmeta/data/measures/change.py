"""Single-group change (pre-post, matched) measures: MC, SMCC, SMCR, SMCRH, ROMC.

m1i, sd1i: one measurement occasion (metafor: "post"), m2i, sd2i: the other ("pre"), ri their
correlation, ni the number of pairs.  Formulas as in metafor's ``escalc()``: SMCC Gibbons et al.
(1993), Viechtbauer (2007); SMCR Becker (1988), Viechtbauer (2007), Morris (2000); SMCRH Bonett
(2008); ROMC Lajeunesse (2011), Senior et al. (2020).
"""
import numpy as np

from .registry import (
    Alternatives,
    Array,
    Values,
    YiVi,
    entered_as_d,
    filled,
    hedges_correction,
    hyp2f1,
    register,
    t_from_p,
)

PAIRED = ("m1i", "m2i", "sd1i", "sd2i", "ri", "ni")


def change_sd(sd1: Array, sd2: Array, r: Array) -> Array:
    """SD of the differences: sqrt(sd1^2 + sd2^2 - 2 r sd1 sd2)."""
    return np.sqrt(sd1 ** 2 + sd2 ** 2 - 2 * r * sd1 * sd2)


def unbiased_r(r: Array, n: Array) -> Array:
    """The (approximately) unbiased correlation r 2F1(1/2, 1/2; (n - 2)/2; 1 - r^2) (Olkin & Pratt
    1958); NaN for n <= 4."""
    return r * hyp2f1(0.5, 0.5, (n - 2) / 2, 1 - r ** 2)


def standardised_change_variance(g: Array, d: Array, c: Array, n: Array, spread: tuple, vtype: str) -> Array:
    """Variance of g = c(n - 1) d, with ``spread`` = 1 (SMCC) or 2 (1 - r) (SMCR, r unbiased for
    UB and H0): LS spread/n + g^2/(2n); LS2 c^2 (spread/n + d^2/(2n)); UB spread/n +
    (1 - (m - 2)/(m c^2)) g^2 (Viechtbauer 2007, eqs. 26, 37); H0 c^2 spread/n m/(m - 2)."""
    m = n - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"LS": lambda: spread[0] / n + g ** 2 / (2 * n),
                "LS2": lambda: c ** 2 * (spread[0] / n + d ** 2 / (2 * n)),
                "UB": lambda: spread[1] / n + (1 - (m - 2) / (m * c ** 2)) * g ** 2,
                "H0": lambda: np.where(m > 2, c ** 2 * spread[1] / n * m / np.where(m > 2, m - 2, 1), np.nan),
                }[vtype]()


@register("MC", "change", "raw mean change", PAIRED)
def mc(v: Values, vtype: str) -> YiVi:
    return v["m1i"] - v["m2i"], change_sd(v["sd1i"], v["sd2i"], v["ri"]) ** 2 / v["ni"]


def paired_d_from_statistics(v: Values) -> Values:
    """metafor's other SMCC inputs, row by row: di; else ti (d = t / sqrt(n)); else a signed
    two-sided pi (t on n - 1 df)."""
    n = v["ni"]
    d = filled(v["di"], filled(v["ti"], t_from_p(v["pi"], n - 1)) * np.sqrt(1 / n))
    return entered_as_d(v, d, paired=True)


@register("SMCC", "change", "standardised mean change, change-score standardisation", PAIRED,
          ("LS", "LS2", "UB", "H0"),
          alternatives=Alternatives(("di", "ti", "pi"), ("m1i", "m2i", "sd1i", "sd2i", "ri"),
                                    paired_d_from_statistics))
def smcc(v: Values, vtype: str) -> YiVi:
    n = v["ni"]
    d = (v["m1i"] - v["m2i"]) / change_sd(v["sd1i"], v["sd2i"], v["ri"])
    c = hedges_correction(n - 1)
    one = np.ones_like(n)
    return c * d, standardised_change_variance(c * d, d, c, n, (one, one), vtype)


def smcr_from_change(mean_change: Array, sd: Array, r: Array, n: Array, vtype: str = "LS") -> YiVi:
    """g = c(n - 1) mean_change / sd: change standardised by one occasion's SD (raw-score
    standardisation; Becker 1988, eq. 13 for LS), with its variance of ``vtype``."""
    mean_change, sd, r, n = (np.asarray(x, dtype=float) for x in (mean_change, sd, r, n))
    d = mean_change / sd
    c = hedges_correction(n - 1)
    spread = (2 * (1 - r), 2 * (1 - unbiased_r(r, n)) if vtype in ("UB", "H0") else None)
    return c * d, standardised_change_variance(c * d, d, c, n, spread, vtype)


@register("SMCR", "change", "standardised mean change, raw-score (sd1i) standardisation",
          ("m1i", "m2i", "sd1i", "ri", "ni"), ("LS", "LS2", "UB", "H0"))
def smcr(v: Values, vtype: str) -> YiVi:
    return smcr_from_change(v["m1i"] - v["m2i"], v["sd1i"], v["ri"], v["ni"], vtype)


@register("SMCRH", "change", "standardised mean change, raw-score standardisation, heteroscedastic",
          PAIRED, ("LS", "LS2"))
def smcrh(v: Values, vtype: str) -> YiVi:
    """g as SMCR; LS sd_diff^2/(sd1^2 (n-1)) + g^2/(2(n-1)) (Bonett 2008, eq. 13), LS2 with n."""
    n, sd1 = v["ni"], v["sd1i"]
    g = hedges_correction(n - 1) * (v["m1i"] - v["m2i"]) / sd1
    size = n - 1 if vtype == "LS" else n
    return g, change_sd(sd1, v["sd2i"], v["ri"]) ** 2 / (sd1 ** 2 * size) + g ** 2 / (2 * size)


@register("ROMC", "change", "log ratio of means for paired data", PAIRED, ("LS", "LS2"))
def romc(v: Values, vtype: str) -> YiVi:
    """log(m1/m2) + (sd1^2/(n m1^2) - sd2^2/(n m2^2)) / 2 (Senior et al. 2020, eq. 7); LS eq. 18,
    LS2 eq. 19."""
    m1, m2, sd1, sd2, r, n = (v[name] for name in PAIRED)
    a, b = sd1 ** 2 / (n * m1 ** 2), sd2 ** 2 / (n * m2 ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        yi = np.log(m1 / m2) + (a - b) / 2
    cross = 2 * r * sd1 * sd2 / (m1 * m2 * n)
    if vtype == "LS2":
        both = r ** 2 * sd1 ** 2 * sd2 ** 2 * (m1 ** 4 + m2 ** 4) / (2 * n ** 2 * m1 ** 4 * m2 ** 4)
        return yi, a + b + a ** 2 / 2 + b ** 2 / 2 - cross + both
    return yi, a + b - cross
