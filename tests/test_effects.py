"""Effect sizes against metafor's escalc() and the Metapsy databases' own .g column."""
import numpy as np
import pandas as pd
import pytest

from compassmeta.data import effects
from conftest import load_fixture

ESCALC = load_fixture("metafor_core.json")["effects"]


def test_g_from_means_matches_escalc():
    c = ESCALC["means"]
    g, v = effects.g_from_means(c["m1"], c["sd1"], c["n1"], c["m2"], c["sd2"], c["n2"])
    np.testing.assert_allclose(g, c["yi"], rtol=1e-10)
    np.testing.assert_allclose(v, c["vi"], rtol=1e-10)


def test_g_from_t_matches_escalc():
    c = ESCALC["t_statistic"]
    g, v = effects.g_from_t(c["t"], c["n1"], c["n2"])
    np.testing.assert_allclose(g, c["yi"], rtol=1e-10)
    np.testing.assert_allclose(v, c["vi"], rtol=1e-10)


def test_g_from_f_and_p_agree_with_t():
    c = ESCALC["t_statistic"]
    t = np.asarray(c["t"])
    g_f, v_f = effects.g_from_f(t ** 2, c["n1"], c["n2"], direction=np.sign(t))
    np.testing.assert_allclose(g_f, c["yi"], rtol=1e-10)
    df = np.asarray(c["n1"]) + np.asarray(c["n2"]) - 2
    from scipy import stats
    p = 2 * stats.t.sf(np.abs(t), df)
    g_p, v_p = effects.g_from_p(p, c["n1"], c["n2"], direction=np.sign(t))
    np.testing.assert_allclose(g_p, c["yi"], rtol=1e-9)
    np.testing.assert_allclose(v_p, c["vi"], rtol=1e-9)


def test_pre_post_with_correlation_matches_escalc_on_change_scores():
    c = ESCALC["pre_post"]
    g, v = effects.g_from_pre_post(c["pre1"], c["sdpre1"], c["post1"], c["sdpost1"], c["n1"],
                                   c["pre2"], c["sdpre2"], c["post2"], c["sdpost2"], c["n2"], r=c["r"])
    np.testing.assert_allclose(g, c["yi"], rtol=1e-10)
    np.testing.assert_allclose(v, c["vi"], rtol=1e-10)


def test_hedges_correction_known_value():
    # J(10) = Gamma(5) / (sqrt(5) Gamma(4.5)), Gamma(4.5) = 3.5 * 2.5 * 1.5 * 0.5 * sqrt(pi)
    gamma_4_5 = 3.5 * 2.5 * 1.5 * 0.5 * np.sqrt(np.pi)
    assert effects.hedges_correction(10) == pytest.approx(24 / (np.sqrt(5) * gamma_4_5), rel=1e-12)


def test_precomputed_g_from_ci():
    g, v = effects.g_from_ci(0.5, 0.1080072, 0.8919928)
    assert np.sqrt(v) == pytest.approx(0.2, rel=1e-6)


def test_orient_flips_lower_is_better():
    np.testing.assert_array_equal(effects.orient([0.3, 0.3], [True, False]), [0.3, -0.3])


@pytest.mark.parametrize("name", ["depression-psyctr", "sad-psyctr", "grief-psyctr", "ed-digital-psyctr"])
def test_metapsy_mean_sd_rows(shared_data, name):
    """Metapsy's .g uses the approximate correction; exact g agrees to ~1e-3."""
    data = pd.read_csv(shared_data / "metapsy" / f"{name}.csv", sep=";", decimal=",",
                       na_values="NA", low_memory=False)
    rows = data.dropna(subset=["mean_arm1", "sd_arm1", "n_arm1", "mean_arm2", "sd_arm2", "n_arm2", ".g"])
    args = [rows[c] for c in ["mean_arm1", "sd_arm1", "n_arm1", "mean_arm2", "sd_arm2", "n_arm2"]]
    # Metapsy orients .g so that positive favours arm 1, whichever way the scale runs.
    metapsy_g, metapsy_v = effects.g_from_means(*args, convention="metapsy")
    exact_g, _ = effects.g_from_means(*args)
    same = (np.isclose(np.abs(metapsy_g), np.abs(rows[".g"]), rtol=0, atol=1e-10)
            & np.isclose(np.sqrt(metapsy_v), rows[".g_se"], rtol=1e-10, atol=0))
    # A handful of depression rows take .g from other statistics than the post means.
    assert same.mean() > 0.98
    assert np.max(np.abs(np.abs(exact_g[same]) - np.abs(rows[".g"][same]))) < 2e-3
