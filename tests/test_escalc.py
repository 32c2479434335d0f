"""Every escalc measure x vtype (and add/to variants with zero cells) against metafor 5.1-12's escalc()
on metafor's own example data (scripts/metafor_escalc_reference.R)."""
import numpy as np
import pytest

from compassmeta.common.errors import InputError
from compassmeta.data import effects, measures
from compassmeta.data.measures import escalc
from conftest import load_fixture

REFERENCE = load_fixture("metafor_escalc.json")
# GSL's 2F1, which metafor's UCOR calls, errs by 1.3e-3 at r = 0.05, n = 8 (cor_edge row 6): those
# cases are compared with metafor's escalc run with Euler's integral for 2F1 (exact_2F1) instead
GSL_CORNER = "cor_edge"
CASES = [c for c in REFERENCE["cases"] if not (c["measure"] == "UCOR" and c["dataset"] == GSL_CORNER)]
EXACT_2F1 = REFERENCE["exact_2F1"]


def _id(case):
    extra = "" if case["to"] is None else f"-add{case['add']:.3g}-{case['to']}"
    return f"{case['measure']}-{case['vtype']}-{case['dataset']}{extra}"


def test_reference_is_current_metafor():
    assert REFERENCE["metafor_version"] == "5.1.12"


def test_every_registered_measure_and_vtype_is_in_the_reference():
    covered = {(case["measure"], case["vtype"]) for case in CASES + EXACT_2F1}
    registered = {(m.name, vtype) for m in measures.MEASURES.values() for vtype in m.vtypes}
    assert registered == covered


@pytest.mark.parametrize("case", CASES + EXACT_2F1, ids=_id)
def test_matches_metafor(case):
    data = REFERENCE["datasets"][case["dataset"]]
    result = escalc(case["measure"], data, vtype=case["vtype"], add=case["add"], to=case["to"] or "only0")
    for name in ("yi", "vi"):
        expected = np.array([np.nan if x is None else x for x in case[name]], dtype=float)
        np.testing.assert_array_equal(np.isnan(np.array(getattr(result, name))),
                                      np.isnan(expected), err_msg=f"{name}: NA pattern")
        np.testing.assert_allclose(getattr(result, name), expected, rtol=1e-10, atol=0, err_msg=name)


def test_gsl_corner_differs_from_metafor_in_that_row_only():
    for exact in (c for c in EXACT_2F1 if c["measure"] == "UCOR"):
        gsl = next(c for c in REFERENCE["cases"] if (c["measure"], c["vtype"], c["dataset"])
                   == (exact["measure"], exact["vtype"], GSL_CORNER))
        ours = escalc("UCOR", REFERENCE["datasets"][GSL_CORNER], vtype=exact["vtype"])
        assert abs(ours.yi[5] / gsl["yi"][5] - 1) > 1e-3  # metafor (GSL) 0.0566248, exact 0.0565535
        np.testing.assert_allclose(ours.yi[2:5], gsl["yi"][2:5], rtol=1e-10)
        if exact["vtype"] != "AV":  # AV's mean yi takes in the corner row
            np.testing.assert_allclose(ours.vi[2:5], gsl["vi"][2:5], rtol=1e-10)


def test_counts_from_totals_equal_counts_from_cells():
    cells = escalc("OR", {"ai": [4, 0], "bi": [119, 116], "ci": [11, 3], "di": [128, 114]})
    totals = escalc("OR", {"ai": [4, 0], "n1i": [123, 116], "ci": [11, 3], "n2i": [139, 117]})
    assert cells == totals


@pytest.mark.parametrize("measure, data, row, column, message", [
    ("OR", {"ai": [4, -1], "bi": [1, 2], "ci": [3, 3], "di": [5, 5]}, 2, "ai", "must not be negative"),
    ("OR", {"ai": [4, 9], "n1i": [10, 8], "ci": [3, 3], "n2i": [5, 5]}, 2, "ai", "exceeds n1i"),
    ("COR", {"ri": [0.2, 1.5], "ni": [10, 10]}, 2, "ri", "[-1, 1]"),
    ("SMD", {"m1i": [1], "m2i": [0], "sd1i": [1], "sd2i": [1], "n1i": [0], "n2i": [5]}, 1, "n1i", "positive"),
    ("IRR", {"x1i": [1], "x2i": [2], "t1i": [10], "t2i": [0]}, 1, "t2i", "positive"),
])
def test_bad_values_name_row_and_column(measure, data, row, column, message):
    with pytest.raises(InputError) as error:
        escalc(measure, data, file="studies.csv")
    assert (error.value.file, error.value.row, error.value.column) == ("studies.csv", row, column)
    assert message in error.value.message


def test_inputs_of_different_length_are_an_error():
    with pytest.raises(InputError, match="the inputs differ in length"):
        escalc("COR", {"ri": [0.1, 0.2], "ni": [10]})


def test_missing_column_unknown_measure_and_vtype_are_errors():
    with pytest.raises(InputError, match="needs column 'bi' \\(or n1i and ai\\)"):
        escalc("RR", {"ai": [1], "ci": [2], "di": [3]})
    with pytest.raises(InputError, match="unknown measure 'XYZ'"):
        escalc("XYZ", {})
    with pytest.raises(InputError, match="vtype 'UB' is not defined for OR"):
        escalc("OR", {"ai": [1], "bi": [1], "ci": [1], "di": [1]}, vtype="UB")


def test_effects_smd_routes_use_the_registry_smd():
    case = next(c for c in CASES if (c["measure"], c["vtype"], c["dataset"]) == ("SMD", "LS", "normand1999"))
    data = REFERENCE["datasets"]["normand1999"]
    g, v = effects.g_from_means(*(data[name] for name in ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")))
    np.testing.assert_allclose(g, case["yi"], rtol=1e-10)
    np.testing.assert_allclose(v, case["vi"], rtol=1e-10)
