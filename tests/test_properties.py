"""Numerical extremes and invariances of the engine (hypothesis property tests).

Expected values here are mathematical identities (shifting effects shifts the estimate,
scaling effects by s and variances by s^2 scales the estimate by s and tau^2 by s^2, ...),
not numbers the code printed about itself.
"""
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from compassmeta import ConvergenceError, pool
from compassmeta.cli import main
from compassmeta.models import tau2_iterative as tau2

METHODS = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
#: R: f <- function(t) as.numeric(logLik(rma(y, v, tau2 = t, method = "REML")));
#:    optimize(f, c(0, 1), maximum = TRUE, tol = 1e-12)$maximum   (metafor 3.8.1)
R_OPTIMIZE_REML_TAU2 = 0.0539395187543482


@st.composite
def meta_data(draw, min_k=3, max_k=25):
    k = draw(st.integers(min_k, max_k))
    yi = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=k, max_size=k))
    vi = draw(st.lists(st.floats(0.005, 1.0, allow_nan=False), min_size=k, max_size=k))
    return np.array(yi), np.array(vi)


def close(a, b, rel=1e-7, abs_=1e-9):
    return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


@settings(max_examples=40, deadline=None)
@given(meta_data(), st.sampled_from(METHODS), st.randoms(use_true_random=False))
def test_row_order_does_not_matter(data, method, random):
    yi, vi = data
    order = list(range(yi.size))
    random.shuffle(order)
    a, b = pool(yi, vi, method=method), pool(yi[order], vi[order], method=method)
    for key in ("estimate", "se", "tau2", "q", "i2", "tau2_ci_upper"):
        assert close(getattr(a, key), getattr(b, key)), key


@settings(max_examples=40, deadline=None)
@given(meta_data(), st.sampled_from(METHODS), st.floats(-1e3, 1e3))
def test_shifting_effects_shifts_the_estimate(data, method, shift):
    yi, vi = data
    a, b = pool(yi, vi, method=method), pool(yi + shift, vi, method=method)
    assert close(b.estimate, a.estimate + shift, abs_=1e-8 * max(1.0, abs(shift)))
    assert close(b.tau2, a.tau2, rel=1e-6, abs_=1e-8)
    assert close(b.se, a.se, rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(meta_data(), st.sampled_from(METHODS), st.sampled_from([1e-6, 1e-3, 0.5, 7.0, 1e3, 1e6]))
def test_scaling_effects_scales_estimate_and_tau2(data, method, scale):
    """Variances then span about 1e-12 to 1e12."""
    yi, vi = data
    a, b = pool(yi, vi, method=method), pool(yi * scale, vi * scale ** 2, method=method)
    assert close(b.estimate, a.estimate * scale, abs_=1e-9 * scale)
    assert close(b.tau2, a.tau2 * scale ** 2, rel=1e-6, abs_=1e-9 * scale ** 2)
    assert close(b.i2, a.i2, rel=1e-6, abs_=1e-7)


@settings(max_examples=40, deadline=None)
@given(meta_data(), st.sampled_from(METHODS[1:]))
def test_random_effects_equals_fixed_effect_when_tau2_is_zero(data, method):
    yi, vi = data
    random_effects = pool(yi, vi, method=method)
    if random_effects.tau2 == 0:
        fixed = pool(yi, vi, method="FE")
        assert close(random_effects.estimate, fixed.estimate, rel=1e-12, abs_=1e-14)
        assert close(random_effects.se, fixed.se, rel=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_all_equal_effects_give_tau2_zero(method):
    result = pool([0.4] * 6, [0.02, 0.05, 0.04, 0.03, 0.06, 0.1], method=method)
    assert result.tau2 == 0 and result.estimate == pytest.approx(0.4, rel=1e-14)
    assert result.q == pytest.approx(0, abs=1e-20)


@pytest.mark.parametrize("method", METHODS)
def test_one_study_with_almost_all_weight(method):
    yi = np.array([0.30, 0.80, -0.20, 0.55, 1.10])
    vi = np.array([1e-6, 0.2, 0.25, 0.3, 0.2])  # the first study carries > 99.9% of the fixed-effect weight
    fixed = pool(yi, vi, method="FE")
    assert 1 / vi[0] / np.sum(1 / vi) > 0.999
    assert fixed.estimate == pytest.approx(0.3, abs=1e-3)
    assert np.isfinite(pool(yi, vi, method=method).estimate)


def test_effects_of_a_million():
    yi = np.array([0.1, 0.5, 0.3, 0.9, -0.2, 0.4]) + 1e6
    vi = np.array([0.04, 0.05, 0.03, 0.06, 0.05, 0.02])
    shifted, plain = pool(yi, vi), pool(yi - 1e6, vi)
    assert shifted.estimate - 1e6 == pytest.approx(plain.estimate, abs=1e-8)
    assert shifted.tau2 == pytest.approx(plain.tau2, rel=1e-6)


def test_k_equals_two_for_every_method():
    for method in METHODS:
        result = pool([0.2, 0.6], [0.04, 0.05], method=method, ci_method="knha")
        assert result.df == 1 and np.isfinite(result.ci_lower)


def test_a_million_studies():
    rng = np.random.default_rng(1)
    vi = rng.uniform(0.01, 0.2, 1_000_000)
    yi = rng.normal(0.3, np.sqrt(vi + 0.04))
    result = pool(yi, vi, method="REML", with_tau2_ci=False)
    assert result.converged and result.k == 1_000_000
    assert result.tau2 == pytest.approx(0.04, rel=0.02) and result.estimate == pytest.approx(0.3, abs=0.002)


def test_oscillating_fisher_scoring_falls_back_to_a_root_search():
    """metafor's rma(method="REML") stops here ("Fisher scoring algorithm did not converge");
    the REML maximum is found by R's optimize() over metafor's restricted log-likelihood."""
    yi = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 0]
    vi = [1.0] * 12 + [0.0625]
    result = pool(yi, vi, method="REML")
    assert result.tau2 == pytest.approx(R_OPTIMIZE_REML_TAU2, rel=1e-6)
    assert "bracketed root search" in result.notes[0]


def test_non_convergence_is_an_error_not_a_number(monkeypatch, tmp_path):
    def failing_search(*args, **kwargs):
        raise ConvergenceError("no sign change")

    monkeypatch.setattr(tau2, "MAX_ITERATIONS", 1)
    monkeypatch.setattr(tau2, "bracketed_root", failing_search)
    yi, vi = [0.1, 0.9, 0.4, 1.3, -0.2], [0.02, 0.03, 0.05, 0.04, 0.02]
    with pytest.raises(ConvergenceError, match="did not converge"):
        pool(yi, vi, method="REML")
    path = tmp_path / "d.csv"
    path.write_text("yi,vi\n" + "".join(f"{y},{v}\n" for y, v in zip(yi, vi)))
    result = CliRunner().invoke(main, ["pool", str(path)])
    assert result.exit_code == 2 and "did not converge" in result.output
    assert len(result.output.splitlines()) == 1
