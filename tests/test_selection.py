"""Selection models against metafor 5.1's selmodel() (tests/fixtures/metafor_selmodel.json, written
by scripts/metafor_selmodel_reference.R)."""
import numpy as np
import pytest

from compassmeta.analyses.selection import _Likelihood, selection_model, three_psm_or_note
from compassmeta.common.errors import ConvergenceError, InputError
from conftest import assert_close, load_fixture

REFERENCE = load_fixture("metafor_selmodel.json")
DATA = {d["name"]: d for d in REFERENCE["datasets"]}


def as_list(value):
    return None if value is None else (value if isinstance(value, list) else [value])


def case_id(case):
    return f"{case['data']}-{case['method']}-{case['type']}-{as_list(case['steps'])}-{case['alternative']}"


_FITS = {}


def fit(case):
    """The fit of a case (its id names every argument), made once per test process: the smooth-type
    cases are checked against both metafor fits, by two tests."""
    if case_id(case) not in _FITS:
        data = DATA[case["data"]]
        _FITS[case_id(case)] = selection_model(data["yi"], data["vi"], type=case["type"],
                                               steps=as_list(case["steps"]), method=case["method"],
                                               alternative=case["alternative"])
    return _FITS[case_id(case)]


# An empty first interval (possible with alternative "less") leaves delta_2 unidentified: it runs to
# its bound of 100 in both programs and is tested separately.
STEP_CASES = [c for c in REFERENCE["cases"] if c["type"] == "stepfun" and "error" not in c["tight"]
              and 0 not in as_list(c["tight"]["interval_k"])]
EMPTY_FIRST = [c for c in REFERENCE["cases"] if c["type"] == "stepfun" and "error" not in c["tight"]
               and as_list(c["tight"]["interval_k"])[0] == 0]
# metafor >= 4.6 fits a model with a later p-value interval that holds no study, with a warning
# (3.x refused it)
EMPTY_LATER = [c for c in REFERENCE["cases"]
               if c not in EMPTY_FIRST and "error" not in c.get("tight", {"error": 0})
               and any("not contain any observed p-values" in w for w in as_list(c["warnings"]))]


@pytest.mark.parametrize("case", STEP_CASES, ids=case_id)
def test_step_function_matches_metafor(case):
    """3PSM/4PSM: estimates, tau^2, deltas, logLik and LRT to 1e-5 relative (metafor with optim's
    reltol = 1e-13; where its estimate is near zero and the likelihood flat, as in the FE fits of
    bangertdrowns2004, it stops up to 2e-6 (deltas 5e-6) away with a lower logLik); SEs to 1e-3."""
    tight, result = case["tight"], fit(case)
    assert result.log_likelihood >= tight["log_likelihood"] - 1e-12
    for key in ("estimate", "tau2", "log_likelihood", "log_likelihood_unadjusted", "lrt", "lrt_p"):
        assert_close(getattr(result, key), tight[key], key, rel=1e-5, abs_=2e-6)
    for j, value in enumerate(as_list(tight["delta"])):
        assert_close(result.delta[j], value, f"delta[{j}]", rel=1e-5, abs_=5e-6)
    assert result.lrt_df == tight["lrt_df"]
    assert list(result.studies_per_interval) == as_list(tight["interval_k"])
    assert_close(result.se, tight["se"], "se", rel=1e-3)
    assert_close(result.ci_lower, tight["ci_lower"], "ci_lower", rel=1e-3, abs_=1e-4)
    for j, value in enumerate(as_list(tight["delta_se"])):
        if value is None:
            assert result.delta_se[j] != result.delta_se[j]  # fixed delta_1: NaN, null in JSON
        else:
            assert_close(result.delta_se[j], value, f"delta_se[{j}]", rel=1e-3)
    if case["method"] == "ML":
        assert_close(result.tau2_se, tight["tau2_se"], "tau2_se", rel=1e-3, abs_=1e-6)
        assert_close(result.lrt_tau2, tight["lrt_tau2"], "lrt_tau2", rel=1e-5, abs_=1e-6)


@pytest.mark.parametrize("case", STEP_CASES, ids=case_id)
def test_step_function_close_to_metafor_default(case):
    """Against metafor's default fit the agreement is that of its optimiser's stop (~1e-5; 6.3e-5 on
    bangertdrowns2004's 3PSM, where metafor 5.1's default BFGS stops a little earlier than 3.8's)."""
    result = fit(case)
    assert_close(result.estimate, case["estimate"], "estimate", rel=1e-4, abs_=1e-6)
    assert result.log_likelihood >= case["log_likelihood"] - 1e-9


def test_fixture_is_current_metafor():
    assert REFERENCE["metafor_version"].startswith("5.1") and len(EMPTY_LATER) == 12


@pytest.mark.parametrize("case", EMPTY_LATER, ids=case_id)
def test_empty_interval_is_fitted_with_a_warning_as_metafor_5(case):
    """metafor >= 4.6 fits a model with an interval that holds no p-value, with a warning (3.x
    refused it).  That interval's delta is not identified and runs to its bound of 0: against
    metafor's tight fit, log L at least as high, the estimate within 1e-5 relative (1e-4 where the
    likelihood is flat: thirdwave, 4PSM at 0.05 and 0.5, estimate -1.88 with SE 7.1), the SE within
    1e-3 relative, and both warn."""
    tight, result = case["tight"], fit(case)
    flat = case_id(case) == "thirdwave-ML-stepfun-[0.05, 0.5]-greater"
    assert result.log_likelihood >= tight["log_likelihood"] - 1e-9
    assert_close(result.estimate, tight["estimate"], "estimate", rel=1e-4 if flat else 1e-5)
    assert_close(result.se, tight["se"], "se", rel=1e-3)
    assert any("no observed p-value in the interval" in w for w in result.warnings)


@pytest.mark.parametrize("case", EMPTY_FIRST, ids=case_id)
def test_empty_first_interval_is_fitted_as_in_metafor(case):
    """metafor fits a stepfun model whose first interval (delta fixed at 1) is empty; delta_2 then
    runs to its bound (compassmeta warns) and the estimate follows from the other studies."""
    result = fit(case)
    assert result.studies_per_interval[0] == 0
    assert result.log_likelihood >= case["tight"]["log_likelihood"] - 1e-9
    assert_close(result.estimate, case["tight"]["estimate"], "estimate", rel=1e-4)
    assert any("bound" in w for w in result.warnings)


def test_too_few_studies():
    with pytest.raises(InputError, match="too small"):
        selection_model([0.5, 0.1], [0.01, 0.04], type="stepfun", steps=[0.025], method="ML")


def test_unknown_type_and_method():
    data = DATA["hackshaw1998"]
    with pytest.raises(InputError, match="unknown selection model type"):
        selection_model(data["yi"], data["vi"], type="cauchy")
    with pytest.raises(InputError, match="by ML"):
        selection_model(data["yi"], data["vi"], type="stepfun", steps=[0.025], method="REML")
    with pytest.raises(InputError, match="steps"):
        selection_model(data["yi"], data["vi"], type="stepfun")


def test_three_psm_note_when_it_cannot_be_fitted():
    notes = []
    assert three_psm_or_note([3.0, 2.5, 4.0], [0.01, 0.01, 0.01], notes=notes) is None
    assert "no observed p-value" in notes[0]


SMOOTH_CASES = [c for c in REFERENCE["cases"]
                if c["type"] != "stepfun" and "error" not in c and not c["warnings"]]


@pytest.mark.parametrize("case", SMOOTH_CASES, ids=case_id)
def test_smooth_weight_functions_against_metafor(case):
    """metafor integrates A_i with integrate() (rel.tol 1.2e-4) and stops BFGS at reltol 1e-8, so
    its smooth-type estimates are only near the maximum: compassmeta (exact quadrature) must find a
    log-likelihood at least as high as its own at metafor's estimates, and agree within 5e-3
    (estimates), 1e-4 (logLik) and 5e-2 (SEs, from Hessians of metafor's noisy likelihood)."""
    data, result = DATA[case["data"]], fit(case)
    likelihood = _Likelihood(np.array(data["yi"]), np.array(data["vi"]), case["type"],
                             result.steps, case["alternative"], 0.0 if case["method"] == "FE" else None)
    at_metafor = likelihood(case["estimate"], case["tau2"], np.array(as_list(case["delta"])))
    assert result.log_likelihood >= at_metafor - 1e-9
    on_bound = any("bound" in warning for warning in result.warnings)
    assert on_bound == (case_id(case) in DELTA_ON_BOUND)
    if on_bound:  # metafor stops inside the bound (its bound check is looser): only log L is compared
        return
    assert_close(result.estimate, case["estimate"], "estimate", rel=5e-3, abs_=1e-4)
    assert_close(result.log_likelihood, case["log_likelihood"], "logLik", rel=0, abs_=2e-3)
    assert_close(result.lrt, case["lrt"], "lrt", rel=5e-3, abs_=1e-3)
    if case_id(case) not in FLAT_HESSIANS:
        assert_close(result.se, case["se"], "se", rel=5e-2)


# Fits whose delta compassmeta stops at its bound, with a warning.
DELTA_ON_BOUND = {"hackshaw1998-ML-halfnorm-None-less", "hackshaw1998-ML-halfnorm-[0.05]-less",
                  "bangertdrowns2004-ML-halfnorm-None-less", "bangertdrowns2004-ML-halfnorm-[0.05]-less",
                  "bangertdrowns2004-FE-halfnorm-None-greater", "bangertdrowns2004-FE-power-None-greater",
                  "bangertdrowns2004-FE-halfnorm-[0.05]-greater", "thirdwave-ML-halfnorm-None-less",
                  "thirdwave-FE-halfnorm-None-less"}


# Where the likelihood is flat, metafor's numerical Hessian (numDeriv over integrate() results)
# gives SEs 17% to 3x from compassmeta's, which are stable to 1e-4 under a 100-fold change of
# the difference step (checked when this list was made): not compared.
FLAT_HESSIANS = {"hackshaw1998-FE-halfnorm-[0.05]-greater", "bangertdrowns2004-ML-power-None-greater",
                 "bangertdrowns2004-ML-halfnorm-[0.05]-greater", "bangertdrowns2004-FE-negexp-None-greater",
                 "bangertdrowns2004-FE-negexp-[0.05]-greater", "hackshaw1998-FE-negexp-[0.05]-greater",
                 "thirdwave-ML-halfnorm-None-greater"}


# metafor refitted with integrate() at rel.tol 1e-12 and optim's reltol 1e-14 (where that stops with an
# error, the looser retry recorded in tight["control"]); cases whose default fit fails are not refitted.
SMOOTH_TIGHT = [c for c in REFERENCE["cases"]
                if c["type"] != "stepfun" and "error" not in c.get("tight", {"error": 0})]


# metafor's Hessian at each tight fit's estimates, recomputed as selmodel() computes it with
# integrate() at rel.tol 1e-8, 1e-10 and 1e-12 (scripts/metafor_selmodel_hessian.R): where the
# three differ, metafor's own SE is undetermined at that precision.
HESSIANS = {case_id(c): c for c in load_fixture("metafor_selmodel_hessian.json")["cases"]}


def metafor_se_range(case, n_parameters):
    """Per parameter (estimate, tau^2 under ML, deltas): the lowest and highest SE metafor gives at
    its tight estimates over the integrate() tolerances, and from the tight fit itself."""
    tight = case["tight"]
    fitted = [tight["se"]] + ([tight["tau2_se"]] if case["method"] == "ML" else []) + \
        (as_list(tight["delta_se"]) or [None] * (n_parameters - 1 - (case["method"] == "ML")))
    rows = [fitted] + [row if row is not None else [None] * n_parameters
                       for row in HESSIANS[case_id(case)]["se_by_rel_tol"].values()]
    table = np.array([[np.nan if v is None else v for v in as_list(row)] for row in rows], dtype=float)
    return np.nanmin(table, axis=0), np.nanmax(table, axis=0)


@pytest.mark.parametrize("case", SMOOTH_TIGHT, ids=case_id)
def test_smooth_weight_functions_match_tightly_fitted_metafor(case):
    """Against the tight metafor fit: estimates, tau^2, deltas, logLik and LRT to 1e-5 relative
    (2e-6 absolute for values near zero: a delta on its lower bound of 0, an estimate of 0.005 on a
    flat likelihood); each SE within 1e-3 of the range metafor's own Hessian gives at its estimates
    (its values agree within 1e-3 in 60 of the 66 cases, 1e-6 in 34).  FLAT_LIKELIHOODS and
    TAU2_ON_ITS_BOUND are the explained exceptions."""
    data, tight, result = DATA[case["data"]], case["tight"], fit(case)
    likelihood = _Likelihood(np.array(data["yi"]), np.array(data["vi"]), case["type"],
                             result.steps, case["alternative"], 0.0 if case["method"] == "FE" else None)
    at_metafor = likelihood(tight["estimate"], tight["tau2"], np.array(as_list(tight["delta"])))
    assert result.log_likelihood >= at_metafor - 1e-9
    flat = case_id(case) in FLAT_LIKELIHOODS
    if flat:  # both estimates are maxima to the precision of log L itself
        assert result.log_likelihood - at_metafor < 1e-9
    for key in ("estimate", "tau2", "log_likelihood", "lrt"):
        assert_close(getattr(result, key), tight[key], key, rel=5e-5 if flat else 1e-5, abs_=2e-6)
    for j, value in enumerate(as_list(tight["delta"])):
        assert_close(result.delta[j], value, f"delta[{j}]", rel=5e-5 if flat else 1e-5, abs_=2e-6)
    ours = [result.se] + ([result.tau2_se] if case["method"] == "ML" else []) + list(result.delta_se)
    lowest, highest = metafor_se_range(case, len(ours))
    for j, (value, low, high) in enumerate(zip(ours, lowest, highest)):
        if case_id(case) in TAU2_ON_ITS_BOUND and j == 1:
            continue
        assert low * (1 - 1e-3) <= value <= high * (1 + 1e-3), \
            f"SE {j}: {value} outside metafor's [{low}, {high}]"


# The likelihood is so flat that both programs' estimates are maxima to the precision of log L
# (ours at most 4e-10 higher than at metafor's estimates; metafor's integrate() values differ from
# the exact log L by up to 1e-7 there): the estimates agree to 1.1e-5 - 2.4e-5 relative.
FLAT_LIKELIHOODS = {"bangertdrowns2004-ML-beta-None-greater", "thirdwave-ML-beta-None-greater",
                    "thirdwave-ML-negexp-[0.05]-greater"}
# tau^2 = 4e-12 sits on its bound 0, where log L is flat for tau^2 < 0 (taken as 0): the numerical
# second derivative straddles the bound, so the tau^2 SE is a product of the difference steps
# (metafor 2.0e-4 with numDeriv's six rounds, compassmeta 4.0e-4 with four); the others agree.
TAU2_ON_ITS_BOUND = {"baskerville2012-ML-beta-None-greater"}


def test_metafor_hessian_fixture_covers_every_tight_case():
    assert set(HESSIANS) == {case_id(c) for c in SMOOTH_TIGHT}


def test_power_model_on_thirdwave_flags_the_flat_likelihood():
    """metafor stops here (optim convergence = 1); compassmeta reaches a maximum far outside the
    data and says so instead of reporting the number silently."""
    data = DATA["thirdwave"]
    result = selection_model(data["yi"], data["vi"], type="power", method="ML")
    assert any("outside the range of the observed effects" in w for w in result.warnings)


METAFOR_FAILURES = [c for c in REFERENCE["cases"] if "error" in c]


@pytest.mark.parametrize("case", METAFOR_FAILURES, ids=case_id)
def test_where_metafor_fails_compassmeta_refuses_or_warns(case):
    """metafor's optimiser stops on these (recorded in the fixture); compassmeta either raises a
    ConvergenceError or returns its maximum with a warning, never a number without comment."""
    try:
        result = fit(case)
    except ConvergenceError:
        return
    assert result.warnings


def test_steps_outside_zero_one_or_only_one_refused():
    data = DATA["hackshaw1998"]
    for steps in ([1.0], [0.025, 1.5]):
        with pytest.raises(InputError, match="step"):
            selection_model(data["yi"], data["vi"], type="stepfun", steps=steps)
