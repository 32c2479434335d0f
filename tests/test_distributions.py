"""common.distributions (pure Python for scalars and small arrays, issue 20's latency budget) against
scipy.special 1.17 on wide grids at 1e-12 relative, and against closed forms (chi-square on 1 and
2 df, t on 1 and 2 df, F on 2 and d2 df) where scipy.special is itself less accurate: chi-square at
df >= 10^4 (errors up to 2e-11, checked with mpmath), the t cdf near 0 (stdtr(1, 1e-10) = 0.5).
t and F on more than distributions.LARGE_DF df are scipy's own."""
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from compassmeta.common import distributions as dist

RTOL = 1e-12
DFS = [0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0, 1e3, 1e4]
BIG_DFS = [1e5, 1e6]
PROBABILITIES = [1e-300, 1e-100, 1e-20, 1e-10, 1e-5, 1e-3, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95,
                 0.975, 0.999, 1 - 1e-10]
ROOT = Path(__file__).resolve().parents[1]


def close(actual, expected, rtol=RTOL):
    np.testing.assert_allclose(float(actual), float(expected), rtol=rtol, atol=0)


def chi2_points(df):
    return [x for x in [1e-300, 1e-100, 1e-10, 1e-3, 0.1, 0.5, 1, 2, 5, 10, 30, 100, 300, 1000, 1400]
            + [df * f for f in (0.5, 0.9, 0.99, 1, 1.01, 1.1, 1.5, 2, 3)]]


@pytest.mark.parametrize("df", DFS[:-1])
def test_chi2_tails_against_scipy(df):
    for x in chi2_points(df):
        for mine, theirs in ((dist.chi2_sf(x, df), special.chdtrc(df, x)),
                             (dist.chi2_cdf(x, df), special.chdtr(df, x))):
            if theirs > 1e-300:
                close(mine, theirs)


@pytest.mark.parametrize("x", [1e-300, 1e-20, 1e-3, 0.5, 1, 3, 10, 50, 100, 500, 1300])
def test_chi2_closed_forms(x):
    close(dist.chi2_sf(x, 2.0), math.exp(-x / 2))
    close(dist.chi2_cdf(x, 2.0), -math.expm1(-x / 2))
    close(dist.chi2_sf(x, 1.0), math.erfc(math.sqrt(x / 2)))
    close(dist.chi2_cdf(x, 1.0), math.erf(math.sqrt(x / 2)))


@pytest.mark.parametrize("df", [1e4] + BIG_DFS)
def test_chi2_large_df_agrees_with_scipy(df):
    # scipy's igam errs by up to 2e-11 here (mpmath at 40 digits: ours by 3e-14 at df = 10^6, x = 9.9e5)
    for x in [df * f for f in (0.5, 0.9, 1.5, 2)]:
        close(dist.chi2_sf(x, df), special.chdtrc(df, x), rtol=1e-10)
    close(dist.chi2_sf(df, df) + dist.chi2_cdf(df, df), 1.0)


@pytest.mark.parametrize("df", DFS + BIG_DFS)
def test_t_against_scipy(df):
    for t in [1e-3, 0.1, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 100, 1e3, 1e5, 1e10, 1e50, 1e100]:
        for value in (t, -t):
            expected = special.stdtr(df, value)
            if expected > 1e-300:
                close(dist.t_cdf(value, df), expected)
        if 2 * special.stdtr(df, -t) > 1e-300:
            close(dist.t_two_sided_p(t, df), 2 * special.stdtr(df, -t))


@pytest.mark.parametrize("t", [1e-12, 1e-8, 1e-3, 0.5, 1, 7, 1e3, 1e8, 1e100, 1e200])
def test_t_closed_forms(t):
    for value in (t, -t):
        close(dist.t_cdf(value, 1.0), 0.5 + math.atan(value) / math.pi if value > -1 else
              math.atan(-1 / value) / math.pi)
        if abs(value) < 1e150:
            close(dist.t_cdf(value, 2.0), 0.5 + value / (2 * math.sqrt(2 + value * value)) if value > -1
                  else 1 / (math.sqrt(2 + value * value) * (math.sqrt(2 + value * value) - value)))


@pytest.mark.parametrize("df1", DFS)
def test_f_against_scipy(df1):
    for df2 in DFS:
        for x in [1e-5, 0.01, 0.5, 1, 1.5, 2, 5, 10, 100, 1e4]:
            expected = special.fdtrc(df1, df2, x)
            if expected > 1e-300:
                close(dist.f_sf(x, df1, df2), expected)


@pytest.mark.parametrize("df2", [1.0, 10.0, 1e3, 1e5, 1e6])
def test_f_closed_form_on_two_numerator_df(df2):
    for x in [1e-5, 0.01, 0.5, 1, 1.5, 2, 5, 10, 100]:
        expected = math.exp(-df2 / 2 * math.log1p(2 * x / df2))   # P(F(2, d2) > x) = (1 + 2x/d2)^(-d2/2)
        if expected > 1e-300:
            close(dist.f_sf(x, 2.0, df2), expected)


def test_normal_against_scipy():
    for z in np.linspace(-37, 37, 297):
        close(dist.normal_cdf(z), special.ndtr(z))
        close(dist.normal_two_sided_p(z), 2 * special.ndtr(-abs(z)))
    for p in [1e-300, 1e-200, 1e-50, 1e-10, 1e-3, 0.02, 0.3, 0.5 - 1e-12, 0.7, 0.98, 1 - 1e-12]:
        close(dist.normal_quantile(p), special.ndtri(p))
    assert dist.normal_quantile(0.5) == 0.0


@pytest.mark.parametrize("df", DFS + BIG_DFS)
def test_quantiles_against_scipy(df):
    for p in PROBABILITIES:
        expected = special.stdtrit(df, p)
        if 1e-300 < abs(expected) < 1e150:
            close(dist.t_quantile(p, df), expected)
        expected = special.chdtri(df, 1 - p)
        if 1e-300 < expected:
            close(dist.chi2_quantile(p, df), expected, rtol=RTOL if df < 1e4 else 1e-10)


@pytest.mark.parametrize("p", [1e-200, 1e-10, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-10])
def test_quantile_closed_forms(p):
    if p != 0.5:
        cauchy = -1 / math.tan(math.pi * p) if p < 0.5 else 1 / math.tan(math.pi * (1 - p))
        close(dist.t_quantile(p, 1.0), cauchy)
        close(dist.t_quantile(p, 2.0), (2 * p - 1) / math.sqrt(2 * p * (1 - p)))
    assert dist.t_quantile(0.5, 1.0) == 0.0
    close(dist.chi2_quantile(p, 2.0), -2 * math.log(1 - p))   # as scipy, the upper tail is 1 - p


def test_arrays_small_loop_and_big_batch():
    x = np.linspace(0.1, 30, 12).reshape(3, 4)
    out = dist.chi2_sf(x, 3.0)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out, special.chdtrc(3.0, x), rtol=RTOL)
    big = np.linspace(-5, 5, dist.BATCH_SIZE + 1)
    np.testing.assert_array_equal(dist.t_two_sided_p(big, 7.0), 2 * special.stdtr(7.0, -np.abs(big)))
    assert isinstance(dist.normal_cdf(0.3), np.float64)
    assert np.isnan(dist.chi2_sf(np.nan, 2.0)) and np.isnan(dist.t_quantile(0.5, -1.0))
    assert np.isnan(dist.f_sf(1.0, 0.0, 3.0)) and dist.chi2_quantile(0.0, 3.0) == 0.0
    assert dist.t_quantile(1.0, 3.0) == math.inf and dist.t_quantile(1e-300, 0.5) == -math.inf


@pytest.mark.parametrize("arguments", [["pool", "studies/thirdwave.csv"],
                                       ["subgroup", "studies/thirdwave.csv", "--by", "risk_of_bias"],
                                       ["metareg", "studies/thirdwave.csv", "--mods", "risk_of_bias"],
                                       ["validate"], ["bias", "studies/thirdwave.csv"],
                                       ["selmodel", "studies/thirdwave.csv", "--steps", "0.025"]])
def test_single_fit_commands_import_no_scipy(arguments):
    code = ("import sys; from compassmeta.cli import main; "
            f"main({arguments!r}, standalone_mode=False); "
            "print(sorted(m for m in ('scipy', 'matplotlib', 'statsmodels', 'pandas') if m in sys.modules))")
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert process.stdout.strip().splitlines()[-1] == "[]", process.stdout + process.stderr
