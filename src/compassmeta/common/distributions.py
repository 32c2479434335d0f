"""Tail probabilities and quantiles of the normal, t, chi-square and F distributions.

Thin wrappers over ``scipy.special`` (fast to import, unlike ``scipy.stats``), so that
``compassmeta pool`` starts quickly; Kendall's rank correlation test for the same reason.
"""
import numpy as np
from scipy import special


def normal_two_sided_p(z):
    """P(|Z| > |z|) for a standard normal Z."""
    return 2.0 * special.ndtr(-abs(z))


def normal_quantile(prob):
    """Quantile of the standard normal distribution."""
    return special.ndtri(prob)


def t_two_sided_p(t, df):
    """P(|T| > |t|) for T ~ t(df)."""
    return 2.0 * special.stdtr(df, -abs(t))


def t_quantile(prob, df):
    """Quantile of the t distribution with ``df`` degrees of freedom."""
    return special.stdtrit(df, prob)


def chi2_sf(x, df):
    """Upper tail P(X > x) for X ~ chi-square(df)."""
    return special.chdtrc(df, x)


def chi2_quantile(prob, df):
    """Quantile (lower-tail probability ``prob``) of the chi-square distribution."""
    return special.chdtri(df, 1.0 - prob)


def f_sf(x, df1, df2):
    """Upper tail P(X > x) for X ~ F(df1, df2)."""
    return special.fdtrc(df1, df2, x)


def critical_value(level, df=None):
    """Two-sided critical value for a ``level`` (0-1) interval: z, or t with ``df``."""
    upper = 1.0 - (1.0 - level) / 2.0
    return normal_quantile(upper) if df is None else t_quantile(upper, df)


def _tie_sums(values):
    """sum t(t-1), sum t(t-1)(t-2) and sum t(t-1)(2t+5) over the sizes t of groups of tied values."""
    _, sizes = np.unique(values, return_counts=True)
    t = sizes[sizes > 1].astype(float)
    return (float(np.sum(t * (t - 1))), float(np.sum(t * (t - 1) * (t - 2))),
            float(np.sum(t * (t - 1) * (2 * t + 5))))


def _inversions_cdf(n, d):
    """P(D <= d) for D the number of inversions of a random permutation of n items (the null
    distribution of the discordant pairs, Kendall 1970, Rank Correlation Methods, ch. 4), by the
    recurrence I_j(d) = sum_{i=0}^{min(d, j-1)} I_{j-1}(d - i), kept as probabilities."""
    probability = np.zeros(d + 1)
    probability[0] = 1.0
    for j in range(2, n + 1):
        cumulative = np.cumsum(probability)
        shifted = np.concatenate([np.zeros(j), cumulative[:d + 1 - j]]) if j <= d else np.zeros(d + 1)
        probability = (cumulative - shifted) / j
    return float(probability.sum())


def kendall_tau_test(x, y, exact: bool) -> tuple[float, float]:
    """Kendall's tau-b of x and y with its two-sided p-value (Kendall 1970, ch. 3-4): exact from the
    distribution of the number of discordant pairs (no ties), or the normal approximation to
    S = concordant - discordant with the tie-corrected variance
    Var S = [n(n-1)(2n+5) - sum t(t-1)(2t+5) - sum u(u-1)(2u+5)] / 18
            + sum t(t-1)(t-2) sum u(u-1)(u-2) / (9 n(n-1)(n-2)) + sum t(t-1) sum u(u-1) / (2 n(n-1))."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = x.size
    s = 0.0
    for i in range(n - 1):
        s += float(np.sum(np.sign(x[i + 1:] - x[i]) * np.sign(y[i + 1:] - y[i])))
    pairs = n * (n - 1) / 2
    x2, x3, x5 = _tie_sums(x)
    y2, y3, y5 = _tie_sums(y)
    if x2 / 2 == pairs or y2 / 2 == pairs:  # one variable constant: tau undefined
        return float("nan"), float("nan")
    tau = min(1.0, max(-1.0, s / np.sqrt(pairs - x2 / 2) / np.sqrt(pairs - y2 / 2)))
    if exact:
        discordant = int(round((pairs - s) / 2))
        return float(tau), float(min(1.0, 2 * _inversions_cdf(n, min(discordant, int(pairs) - discordant))))
    m = n * (n - 1.0)
    variance = (m * (2 * n + 5) - x5 - y5) / 18 + x2 * y2 / (2 * m) + x3 * y3 / (9 * m * (n - 2))
    return float(tau), float(normal_two_sided_p(s / np.sqrt(variance)))
