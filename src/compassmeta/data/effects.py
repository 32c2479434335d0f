"""Effect sizes: Hedges' g and its sampling variance from the statistics trials report.

All functions are vectorised (numpy arrays or scalars in, arrays out) and return
``(g, v)``.  g is positive when the first arm (the intervention) has the higher score;
:func:`orient` then flips outcomes where lower is better, so that a positive g always
means the intervention did better.

Definitions follow metafor's ``escalc(measure="SMD")`` with its default ``vtype="LS"``:
g = J(m) d with the exact correction J(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)),
m = n1 + n2 - 2 (Hedges 1981), and v = 1/n1 + 1/n2 + g^2 / (2 (n1 + n2)).

The Metapsy databases use another convention (``convention="metapsy"``): the approximate
correction J = 1 - 3 / (4 (n1 + n2) - 9) and the variance of the uncorrected d,
1/n1 + 1/n2 + d^2 / (2 (n1 + n2)); their ``.g`` differs from metafor's by up to ~1e-3.
"""

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..common import distributions as dist
from .measures import change, means
from .measures.registry import hedges_correction  # noqa: F401  (re-exported; one implementation, in measures)

CONVENTIONS = ("metafor", "metapsy")

Array = NDArray[np.float64]
Numbers = float | Array  # a number, or an array of them (the functions broadcast)


def g_from_d(d: ArrayLike, n1: ArrayLike, n2: ArrayLike, convention: str = "metafor") -> tuple[Array, Array]:
    """Hedges' g and its large-sample variance from Cohen's d and the arm sizes."""
    n1, n2 = np.asarray(n1, dtype=float), np.asarray(n2, dtype=float)
    d = np.asarray(d, dtype=float)
    if convention == "metapsy":
        g = (1 - 3 / (4 * (n1 + n2) - 9)) * d
        return g, 1 / n1 + 1 / n2 + d * d / (2 * (n1 + n2))
    if convention != "metafor":
        raise ValueError(f"unknown effect-size convention {convention!r}; choose from {CONVENTIONS}")
    return means.smd_from_d(d, n1, n2)


def pooled_sd(sd1: ArrayLike, n1: ArrayLike, sd2: ArrayLike, n2: ArrayLike) -> Array:
    """Pooled within-group standard deviation."""
    return means.pooled_sd(*(np.asarray(x, dtype=float) for x in (sd1, n1, sd2, n2)))


def g_from_means(mean1: ArrayLike, sd1: ArrayLike, n1: ArrayLike, mean2: ArrayLike, sd2: ArrayLike,
                 n2: ArrayLike, convention: str = "metafor") -> tuple[Array, Array]:
    """g from post-test (or change-score) means, SDs and sizes of two arms."""
    d = (np.asarray(mean1, dtype=float) - np.asarray(mean2, dtype=float)) / pooled_sd(sd1, n1, sd2, n2)
    return g_from_d(d, n1, n2, convention)


def change_sd(sd_pre: ArrayLike, sd_post: ArrayLike, r: ArrayLike) -> Array:
    """SD of the change score given pre and post SDs and their correlation r."""
    return change.change_sd(*(np.asarray(x, dtype=float) for x in (sd_pre, sd_post, r)))


def g_from_pre_post(pre1: ArrayLike, sd_pre1: ArrayLike, post1: ArrayLike, sd_post1: ArrayLike, n1: ArrayLike,
                    pre2: ArrayLike, sd_pre2: ArrayLike, post2: ArrayLike, sd_post2: ArrayLike, n2: ArrayLike,
                    r: ArrayLike = 0.5) -> tuple[Array, Array]:
    """g of the change scores (post - pre) when only pre and post means/SDs are reported.

    The SD of change needs the pre-post correlation ``r``, which trials rarely report; the
    default 0.5 is a convention (Cochrane Handbook 6.5.2.8) and must be stated with results.
    """
    change1 = np.asarray(post1, dtype=float) - np.asarray(pre1, dtype=float)
    change2 = np.asarray(post2, dtype=float) - np.asarray(pre2, dtype=float)
    return g_from_means(change1, change_sd(sd_pre1, sd_post1, r), n1,
                        change2, change_sd(sd_pre2, sd_post2, r), n2)


def g_from_t(t: ArrayLike, n1: ArrayLike, n2: ArrayLike) -> tuple[Array, Array]:
    """g from an independent-samples t statistic: d = t sqrt(1/n1 + 1/n2)."""
    n1, n2 = np.asarray(n1, dtype=float), np.asarray(n2, dtype=float)
    return g_from_d(np.asarray(t, dtype=float) * np.sqrt(1 / n1 + 1 / n2), n1, n2)


def g_from_f(f: ArrayLike, n1: ArrayLike, n2: ArrayLike, direction: ArrayLike) -> tuple[Array, Array]:
    """g from F(1, n1 + n2 - 2) of a two-group comparison; ``direction`` +1 or -1 gives the sign."""
    return g_from_t(np.sign(direction) * np.sqrt(np.asarray(f, dtype=float)), n1, n2)


def g_from_p(p: ArrayLike, n1: ArrayLike, n2: ArrayLike, direction: ArrayLike) -> tuple[Array, Array]:
    """g from a two-sided p value of the t test; ``direction`` +1 or -1 gives the sign."""
    n1, n2 = np.asarray(n1, dtype=float), np.asarray(n2, dtype=float)
    t = dist.t_quantile(1 - np.asarray(p, dtype=float) / 2, n1 + n2 - 2)
    return g_from_t(np.sign(direction) * t, n1, n2)


def g_from_se(g: ArrayLike, se: ArrayLike) -> tuple[Array, Array]:
    """A precomputed g with its standard error."""
    return np.asarray(g, dtype=float), np.asarray(se, dtype=float) ** 2


def g_from_ci(g: ArrayLike, ci_lower: ArrayLike, ci_upper: ArrayLike,
              level: float = 95) -> tuple[Array, Array]:
    """A precomputed g with a symmetric confidence interval: se = width / (2 z)."""
    z = dist.critical_value(level / 100 if level > 1 else level)
    se = (np.asarray(ci_upper, dtype=float) - np.asarray(ci_lower, dtype=float)) / (2 * z)
    return g_from_se(g, se)


def orient(g: ArrayLike, higher_is_better: ArrayLike) -> Array:
    """Flip g where lower scores are better, so that positive g favours the intervention."""
    return np.where(np.asarray(higher_is_better, dtype=bool), g, -np.asarray(g, dtype=float))


def g_from_g_and_ns(g: ArrayLike, n1: ArrayLike, n2: ArrayLike) -> tuple[Array, Array]:
    """A printed Hedges' g with the arm sizes: its variance from n1, n2 (escalc's d = g / J)."""
    n1, n2 = np.asarray(n1, dtype=float), np.asarray(n2, dtype=float)
    return g_from_d(np.asarray(g, dtype=float) / hedges_correction(n1 + n2 - 2), n1, n2)


def sd_from_se(se: ArrayLike, n: ArrayLike) -> Array:
    """SD of one arm from the SE of its mean: SD = SE sqrt(n) (Cochrane Handbook 6.5.2.2)."""
    return np.asarray(se, dtype=float) * np.sqrt(np.asarray(n, dtype=float))


def sd_from_ci(ci_lower: ArrayLike, ci_upper: ArrayLike, n: ArrayLike) -> Array:
    """SD of one arm from the 95% CI of its mean: SE = width / (2 t(0.975, n - 1)), SD = SE sqrt(n)
    (Cochrane Handbook 6.5.2.2, with the t quantile the interval was built from)."""
    n = np.asarray(n, dtype=float)
    width = np.asarray(ci_upper, dtype=float) - np.asarray(ci_lower, dtype=float)
    return sd_from_se(width / (2 * dist.t_quantile(0.975, n - 1)), n)


EXACT_RANGE_UP_TO = 50


def expected_normal_range(n: ArrayLike) -> Array:
    """xi(n): the expected range, in SDs, of a normal sample of size n (Wan et al. 2014, Table 1).

    Up to n = 50 it is 2 E[Z_(n)], the expected maximum of n standard normals, by numerical
    integration (the values of Wan's Table 1); above, Wan's approximation
    2 Phi^-1((n - 0.375) / (n + 0.25)).
    """
    from scipy import integrate, special

    def exact(size: float) -> float:
        def density(z: float) -> float:
            return z * size * np.exp(-z * z / 2) / np.sqrt(2 * np.pi) * special.ndtr(z) ** (size - 1)

        return 2 * integrate.quad(density, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-13)[0]

    n = np.asarray(n, dtype=float)
    approximate = 2 * dist.normal_quantile((n - 0.375) / (n + 0.25))
    small = np.vectorize(exact)(np.minimum(n, EXACT_RANGE_UP_TO))
    return np.where(n <= EXACT_RANGE_UP_TO, small, approximate)


def expected_normal_iqr(n: ArrayLike) -> Array:
    """eta(n) = 2 Phi^-1((0.75 n - 0.125) / (n + 0.25)): the expected IQR, in SDs, of a normal
    sample of size n (Wan et al. 2014, scenario C3)."""
    n = np.asarray(n, dtype=float)
    return 2 * dist.normal_quantile((0.75 * n - 0.125) / (n + 0.25))


def mean_sd_from_quantiles(n: ArrayLike, median: ArrayLike, q1: Numbers | None = None,
                           q3: Numbers | None = None, minimum: Numbers | None = None,
                           maximum: Numbers | None = None) -> tuple[Array, Array]:
    """Mean and SD of one arm from its median with quartiles and/or range.

    Mean: Luo et al. (2018), Stat Methods Med Res 27(6):1785-1805, scenarios S1 (median and
    range), S2 (median, quartiles and range) and S3 (median and quartiles).  SD: Wan et al.
    (2014), BMC Med Res Methodol 14:135, scenarios C1, C2 and C3 (the same three).  The
    scenario follows from which values are given.
    """
    n = np.asarray(n, dtype=float)
    median = np.asarray(median, dtype=float)
    if q1 is not None and q3 is not None and minimum is not None and maximum is not None:
        w1 = 2.2 / (2.2 + n ** 0.75)
        w2 = 0.7 - 0.72 / n ** 0.55
        mean = w1 * (minimum + maximum) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * median
        sd = (maximum - minimum) / (2 * expected_normal_range(n)) + (q3 - q1) / (2 * expected_normal_iqr(n))
    elif minimum is not None and maximum is not None:
        weight = 4 / (4 + n ** 0.75)
        mean = weight * (minimum + maximum) / 2 + (1 - weight) * median
        sd = (maximum - minimum) / expected_normal_range(n)
    elif q1 is not None and q3 is not None:
        weight = 0.7 + 0.39 / n
        mean = weight * (q1 + q3) / 2 + (1 - weight) * median
        sd = (q3 - q1) / expected_normal_iqr(n)
    else:
        raise ValueError("a median needs its quartiles, its range, or both")
    return mean, sd
