"""Tail probabilities and quantiles of the normal, t, chi-square and F distributions.

Thin wrappers over ``scipy.special`` (fast to import, unlike ``scipy.stats``), so that
``compassmeta pool`` starts quickly.
"""
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
