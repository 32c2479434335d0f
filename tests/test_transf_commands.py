"""--transf on metareg, bias and sensitivity against metafor 5.1-12 (scripts/metafor_transf_reference.R):
predict(rma(yi, vi, mods = ~ ablat), newmods =, transf = exp), leave1out(transf = exp),
cumul(transf = exp) and predict(trimfill(), transf = exp) on the BCG log risk ratios (dat.bcg)."""
import json

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from conftest import load_fixture

REFERENCE = load_fixture("metafor_transf.json")
OTHERS = REFERENCE["others"]
METAFOR = {"estimate_transf": ("pred", "estimate"), "ci_lower_transf": ("ci.lb",),
           "ci_upper_transf": ("ci.ub",), "pi_lower_transf": ("pi.lb",), "pi_upper_transf": ("pi.ub",)}


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def expected(reference, key, index):
    name = next((name for name in METAFOR[key] if name in reference), None)
    return None if name is None else reference[name][index]


def assert_matches(entries, reference):
    """Every entry's *_transf equals metafor's at 1e-10 (and has no PI where metafor gives none)."""
    assert len(entries) == len(reference["ci.lb"])
    for index, entry in enumerate(entries):
        for key in METAFOR:
            value = expected(reference, key, index)
            if value is None:
                assert key not in entry, key
            else:
                assert entry[key] == pytest.approx(value, rel=1e-10, abs=0), (index, key)


@pytest.fixture
def bcg_csv(tmp_path):
    bcg = REFERENCE["bcg_rr"]
    path = tmp_path / "bcg_rr.csv"
    rows = enumerate(zip(bcg["yi"], bcg["vi"], bcg["ablat"]), start=1)
    path.write_text("study,yi,vi,ablat\n" + "".join(f"s{n},{y!r},{v!r},{a}\n" for n, (y, v, a) in rows))
    return path


def test_metareg_predictions_back_transformed(bcg_csv):
    newmods = [f"--newmods=ablat={value}" for value in OTHERS["metareg"]["ablat"]]
    code, output = run("metareg", bcg_csv, "--mods", "ablat", *newmods, "--transf", "exp", "--format", "json")
    assert code == 0, output
    data = json.loads(output)
    assert data["transf"] == "exp"
    assert_matches(data["predictions"], OTHERS["metareg"])
    assert all("estimate_transf" not in coefficient for coefficient in data["coefficients"])
    code, output = run("metareg", bcg_csv, "--mods", "ablat", newmods[0], "--transf", "exp")
    assert code == 0
    assert "Back-transformed (exp):\n  predictions[ablat=10]: estimate 0.9612, CI [0.6668, " in output


def test_sensitivity_leave_one_out_and_cumulative_back_transformed(bcg_csv):
    code, output = run("sensitivity", bcg_csv, "--label", "study", "--transf", "exp", "--format", "json")
    assert code == 0, output
    data = json.loads(output)
    assert_matches(data["leave_one_out"], OTHERS["leave1out"])
    assert_matches(data["cumulative"], OTHERS["cumul"])
    code, output = run("sensitivity", bcg_csv, "--label", "study", "--transf", "exp")
    first = OTHERS["leave1out"]
    assert code == 0 and (f"leave_one_out[s1]: estimate {first['estimate'][0]:.4f}, "
                          f"CI [{first['ci.lb'][0]:.4f}, {first['ci.ub'][0]:.4f}]") in output


def test_bias_trim_and_fill_back_transformed(bcg_csv):
    code, output = run("bias", bcg_csv, "--transf", "exp", "--format", "json")
    assert code == 0, output
    trimmed = json.loads(output)["trim_and_fill"]
    assert_matches([trimmed["adjusted"]], {key: [value] for key, value in OTHERS["trimfill"].items()})
    assert trimmed["estimate_transf"] == pytest.approx(OTHERS["trimfill"]["pred"], rel=1e-10)


@pytest.mark.parametrize("args, message", [
    (("sensitivity", "--transf", "ipft.hm"), "--transf ipft.hm is for pool"),
    (("bias", "--transf", "log"), "unknown --transf 'log'"),
    (("metareg", "--mods", "ablat", "--transf", "exp", "--permutations", "50"),
     "not combined with --permutations"),
    (("sensitivity", "--mods", "ablat", "--transf", "exp"), "not combined with --mods"),
])
def test_transf_refusals_are_one_line(bcg_csv, args, message):
    code, output = run(args[0], bcg_csv, *args[1:])
    assert code == 2 and message in output
