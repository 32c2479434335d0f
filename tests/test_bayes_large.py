"""The large-k path of the Bayesian model (sums compressed onto Chebyshev nodes, models.bayes_sums):
forced on every bayesmeta reference fit, it must still match bayesmeta 3.4 (tests/fixtures/bayesmeta.json)."""
import numpy as np
import pytest

from compassmeta.models import bayes
from compassmeta.models.bayes import SUMMARY_KEYS, NormalNormal
from compassmeta.models.bayes_priors import parse_tau_prior
from compassmeta.models.bayes_sums import CHECK, CompressedSums, ExactSums
from test_bayes import FITS, close, fit_python


@pytest.fixture
def compressed(monkeypatch):
    monkeypatch.setattr(bayes, "COMPRESS_K", 1)


@pytest.mark.parametrize("index", range(len(FITS)), ids=[f"{f['data']}-{f['tau_prior']}-{f['mu_prior']}"
                                                         for f in FITS])
def test_compressed_sums_match_bayesmeta(compressed, index):
    reference = FITS[index]
    result = fit_python(reference, above=0.2)
    assert isinstance(result.densities.model.sums, CompressedSums)
    assert result.grid_size == reference["grid_size"]
    for name in ("tau", "mu", "theta_new"):
        ours, theirs = getattr(result, name).to_dict(), reference[name]
        width = theirs["hpd_upper"] - theirs["hpd_lower"]
        for key in SUMMARY_KEYS:
            atol = 1e-6 * width if key.startswith("hpd") else 1e-8
            assert close(ours[key], theirs[key], atol=atol), (name, key, ours[key], theirs[key])
    for ours, theirs in zip(result.to_dict()["shrinkage"], reference["shrinkage"]):
        for key in ("mean", "median", "sd", "ci_lower", "ci_upper"):
            assert close(ours[key], theirs[key]), (ours["es_id"], key, ours[key], theirs[key])
    assert close(result.prob_mu_above, reference["prob_mu_above_0.2"])
    for key in ("bayes_factor_tau0", "bayes_factor_mu0", "marginal_likelihood"):
        assert close(getattr(result, key), reference[key], atol=0), key


def test_compression_is_used_from_compress_k_studies():
    rng = np.random.default_rng(7)
    vi = rng.uniform(0.01, 0.2, bayes.COMPRESS_K)
    model = NormalNormal(rng.normal(0.3, np.sqrt(vi + 0.05)), np.sqrt(vi), parse_tau_prior("halfnormal:0.5"),
                         None)
    assert isinstance(model.sums, CompressedSums) and model.sums.error <= CHECK
    small = NormalNormal(model.y[:-1], model.sigma[:-1], model.tau_prior, None)
    assert isinstance(small.sums, ExactSums)


def test_compressed_sums_equal_exact_sums_over_wide_variances():
    """Variances over nine decades (five panels) and tau from 0 to 1e4: the compressed sums agree
    with the exact ones to 1e-12 of sum |c_i g| (the bound of models.bayes_sums is ~1e-19)."""
    rng = np.random.default_rng(11)
    s2 = np.exp(rng.uniform(np.log(1e-6), np.log(1e3), 5000))
    yc = rng.normal(0.0, 1.0, s2.size)
    columns = np.column_stack([np.ones_like(yc), yc, yc ** 2])
    compressed, exact = CompressedSums(s2, columns), ExactSums(s2, columns)
    assert compressed.nodes.size == 32 * 11
    tau = np.concatenate([[0.0], np.geomspace(1e-5, 1e4, 60)])
    (log_a, sums_a), (log_e, sums_e) = compressed(tau), exact(tau)
    _, scale = ExactSums(s2, np.abs(columns))(tau)
    assert np.all(np.abs(sums_a - sums_e) <= 1e-12 * scale)
    assert np.all(np.abs(log_a - log_e) <= 1e-12 * np.abs(np.log(tau[:, None] ** 2 + s2)).sum(axis=1))
    assert np.allclose(compressed.inverse(0.3), exact.inverse(0.3), rtol=1e-12, atol=0)
