"""Two-group measures from means, SDs and group sizes: SMD, SMD1, SMDH, MD, ROM, VR, CVR.

Formulas as in metafor's ``escalc()`` (Viechtbauer 2010) and the sources it cites:
SMD Hedges (1981, 1982, 1983), Hedges & Olkin (1985), Borenstein (2009); SMDH Bonett (2008, 2009);
ROM Hedges, Gurevitch & Curtis (1999), Lajeunesse (2015); VR and CVR Nakagawa et al. (2015),
Senior et al. (2020).  Group 1 minus (or over) group 2.
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
    register,
    t_from_p,
    weighted_mean,
)

TWO_GROUPS = ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i")


def smd_variance(g: Array, d: Array, c: Array, n1: Array, n2: Array, n_p: Array, df: Array, vtype: str,
                 weights: Array) -> Array:
    """Sampling variance of a bias-corrected standardised mean difference g = c(df) d.

    LS: 1/n1 + 1/n2 + g^2 / (2 n_p) (Hedges 1982, eq. 8; Hedges & Olkin 1985, eq. 15);
    LS2: c^2 (1/n1 + 1/n2 + d^2 / (2 n_p)) (Borenstein 2009, eq. 12.17);
    UB: 1/n1 + 1/n2 + (1 - (df - 2) / (df c^2)) g^2 (Hedges 1983, eq. 9);
    AV: LS with the sample-size weighted mean of g; H0: c^2 (1/n1 + 1/n2) df / (df - 2).
    ``n_p`` is n1 + n2 (SMD) or n2 (SMD1); ``weights`` the sample sizes of AV's mean.
    """
    base = 1 / n1 + 1 / n2
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"LS": lambda: base + g ** 2 / (2 * n_p),
                "LS2": lambda: c ** 2 * (base + d ** 2 / (2 * n_p)),
                "UB": lambda: base + (1 - (df - 2) / (df * c ** 2)) * g ** 2,
                "AV": lambda: base + weighted_mean(g, weights) ** 2 / (2 * n_p),
                "H0": lambda: np.where(df > 2, c ** 2 * base * df / np.where(df > 2, df - 2, 1), np.nan),
                }[vtype]()


def smd_from_d(d: Array, n1: Array, n2: Array, vtype: str = "LS") -> YiVi:
    """Hedges' g = c(n1 + n2 - 2) d and its variance from Cohen's d (pooled-SD standardiser)."""
    d, n1, n2 = (np.asarray(x, dtype=float) for x in (d, n1, n2))
    df = n1 + n2 - 2
    c = hedges_correction(df)
    g = c * d
    return g, smd_variance(g, d, c, n1, n2, n1 + n2, df, vtype, n1 + n2)


def pooled_sd(sd1: Array, n1: Array, sd2: Array, n2: Array) -> Array:
    """Pooled within-group SD sqrt(((n1 - 1) sd1^2 + (n2 - 1) sd2^2) / (n1 + n2 - 2))."""
    return np.sqrt(((n1 - 1) * sd1 ** 2 + (n2 - 1) * sd2 ** 2) / (n1 + n2 - 2))


def d_from_statistics(v: Values) -> Values:
    """metafor's other SMD inputs, row by row: di (Cohen's d); else ti (d = t sqrt(1/n1 + 1/n2));
    else a signed two-sided pi (t from its quantile on n1 + n2 - 2 df); else a point-biserial ri
    (d = sqrt(h) r / sqrt(1 - r^2), h = m/n1 + m/n2, m = n1 + n2 - 2; Jacobs & Viechtbauer 2017)."""
    n1, n2 = v["n1i"], v["n2i"]
    m = n1 + n2 - 2
    t = filled(v["ti"], t_from_p(v["pi"], m))
    d = filled(v["di"], t * np.sqrt(1 / n1 + 1 / n2))
    d = filled(d, np.sqrt(m / n1 + m / n2) * v["ri"] / np.sqrt(1 - v["ri"] ** 2))
    return entered_as_d(v, d)


@register("SMD", "means", "standardised mean difference (Hedges' g, pooled SD)", TWO_GROUPS,
          ("LS", "LS2", "UB", "AV", "H0"),
          alternatives=Alternatives(("di", "ti", "pi", "ri"), ("m1i", "m2i", "sd1i", "sd2i"),
                                    d_from_statistics))
def smd(v: Values, vtype: str) -> YiVi:
    return smd_from_d((v["m1i"] - v["m2i"]) / pooled_sd(v["sd1i"], v["n1i"], v["sd2i"], v["n2i"]),
                      v["n1i"], v["n2i"], vtype)


@register("SMD1", "means", "standardised mean difference, standardised by the SD of group 2",
          ("m1i", "m2i", "sd2i", "n1i", "n2i"), ("LS", "LS2", "UB", "AV", "H0"))
def smd1(v: Values, vtype: str) -> YiVi:
    n1, n2 = v["n1i"], v["n2i"]
    d = (v["m1i"] - v["m2i"]) / v["sd2i"]
    c = hedges_correction(n2 - 1)
    g = c * d
    return g, smd_variance(g, d, c, n1, n2, n2, n2 - 1, vtype, n1 + n2)


@register("SMDH", "means", "standardised mean difference with heteroscedastic SDs (Bonett 2008)",
          TWO_GROUPS, ("LS", "LS2", "LS3"))
def smdh(v: Values, vtype: str) -> YiVi:
    """g = c(n1 + n2 - 2) (m1 - m2) / sqrt((sd1^2 + sd2^2) / 2); LS Bonett (2008, eq. 8),
    LS2 with n in place of n - 1, LS3 the delta-method mix of the two."""
    n1, n2, s1, s2 = v["n1i"], v["n2i"], v["sd1i"] ** 2, v["sd2i"] ** 2
    s = (s1 + s2) / 2
    g = hedges_correction(n1 + n2 - 2) * (v["m1i"] - v["m2i"]) / np.sqrt(s)
    fourth_minus1 = g ** 2 * (s1 ** 2 / (n1 - 1) + s2 ** 2 / (n2 - 1)) / (8 * s ** 2)
    return g, {"LS": lambda: fourth_minus1 + (s1 / (n1 - 1) + s2 / (n2 - 1)) / s,
               "LS2": lambda: (s1 / n1 + s2 / n2) / s + g ** 2 * (s1 ** 2 / n1 + s2 ** 2 / n2) / (8 * s ** 2),
               "LS3": lambda: (s1 / n1 + s2 / n2) / s + fourth_minus1}[vtype]()


@register("MD", "means", "raw mean difference", TWO_GROUPS, ("LS", "UB", "HO"))
def md(v: Values, vtype: str) -> YiVi:
    """m1 - m2 with sd1^2/n1 + sd2^2/n2 (LS, UB) or the pooled variance (HO)."""
    n1, n2 = v["n1i"], v["n2i"]
    if vtype == "HO":
        variance = pooled_sd(v["sd1i"], n1, v["sd2i"], n2) ** 2 * (1 / n1 + 1 / n2)
    else:
        variance = v["sd1i"] ** 2 / n1 + v["sd2i"] ** 2 / n2
    return v["m1i"] - v["m2i"], variance


def cv2_over_n(sd: Array, m: Array, n: Array) -> Array:
    """sd^2 / (n m^2): the squared coefficient of variation over n."""
    return sd ** 2 / (n * m ** 2)


@register("ROM", "means", "log ratio of means (bias-corrected, Lajeunesse 2015)", TWO_GROUPS,
          ("LS", "HO", "AV", "AVHO", "LS2"))
def rom(v: Values, vtype: str) -> YiVi:
    """log(m1/m2) + (cv1^2/n1 - cv2^2/n2) / 2 (Lajeunesse 2015, eq. 8); LS the delta-method
    variance, LS2 its second-order form (eq. 9), HO with the pooled SD, AV / AVHO with the
    sample-size weighted mean CVs per group / over both groups."""
    m1, m2, sd1, sd2, n1, n2 = (v[name] for name in TWO_GROUPS)
    a, b = cv2_over_n(sd1, m1, n1), cv2_over_n(sd2, m2, n2)
    with np.errstate(invalid="ignore", divide="ignore"):
        yi = np.log(m1 / m2) + (a - b) / 2
    cv1, cv2 = sd1 / m1, sd2 / m2

    def av_pooled() -> Array:
        keep = ~(np.isnan(cv1) | np.isnan(cv2))
        mean = (np.sum(n1[keep] * cv1[keep]) + np.sum(n2[keep] * cv2[keep])) / np.sum((n1 + n2)[keep])
        return mean ** 2 * (1 / n1 + 1 / n2)

    sp = pooled_sd(sd1, n1, sd2, n2)
    return yi, {"LS": lambda: a + b,
                "HO": lambda: cv2_over_n(sp, m1, n1) + cv2_over_n(sp, m2, n2),
                "AV": lambda: weighted_mean(cv1, n1) ** 2 / n1 + weighted_mean(cv2, n2) ** 2 / n2,
                "AVHO": av_pooled,
                "LS2": lambda: a + b + a ** 2 / 2 + b ** 2 / 2}[vtype]()


def log_sd_variance(n1: Array, n2: Array, vtype: str) -> Array:
    """Variance of log(sd1/sd2): 1/(2(n1-1)) + 1/(2(n2-1)) (LS), or n/(2(n-1)^2) summed (LS2,
    Senior et al. 2020, eq. 15)."""
    if vtype == "LS2":
        return (n1 / (n1 - 1) ** 2 + n2 / (n2 - 1) ** 2) / 2
    return 1 / (2 * (n1 - 1)) + 1 / (2 * (n2 - 1))


@register("VR", "means", "log variability ratio (log SD ratio)", ("sd1i", "sd2i", "n1i", "n2i"),
          ("LS", "LS2"))
def vr(v: Values, vtype: str) -> YiVi:
    """log(sd1/sd2) + 1/(2(n1-1)) - 1/(2(n2-1)) (Nakagawa et al. 2015, eq. 9)."""
    n1, n2 = v["n1i"], v["n2i"]
    yi = np.log(v["sd1i"] / v["sd2i"]) + 1 / (2 * (n1 - 1)) - 1 / (2 * (n2 - 1))
    return yi, log_sd_variance(n1, n2, vtype)


@register("CVR", "means", "log coefficient-of-variation ratio", TWO_GROUPS, ("LS", "LS2"))
def cvr(v: Values, vtype: str) -> YiVi:
    """log(cv1/cv2) with the bias terms of Senior et al. (2020, eq. 6); LS Nakagawa et al. (2015,
    eq. 12) without the mean-SD correlation terms, LS2 Senior et al. (2020, eq. 16)."""
    m1, m2, sd1, sd2, n1, n2 = (v[name] for name in TWO_GROUPS)
    a, b = cv2_over_n(sd1, m1, n1), cv2_over_n(sd2, m2, n2)
    with np.errstate(invalid="ignore", divide="ignore"):
        yi = np.log(sd1 / m1) - np.log(sd2 / m2) + 1 / (2 * (n1 - 1)) - 1 / (2 * (n2 - 1)) + (b - a) / 2
    extra = a ** 2 / 2 + b ** 2 / 2 if vtype == "LS2" else 0
    return yi, a + b + extra + log_sd_variance(n1, n2, vtype)
