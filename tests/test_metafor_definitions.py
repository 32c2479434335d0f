"""escalc measures whose yi or vi changed in metafor after 3.8.1 (ROM, ROMC, CVR: bias correction by
default in 5.0; SMDH, SMCRH: sampling variances in 4.6): compassmeta gives metafor 5.1-12's values
(tests/fixtures/metafor_escalc.json, to 1e-10) and says so in the result's notes."""
import csv

import numpy as np
import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.data.measures import METAFOR_3_NOTES, escalc
from conftest import load_fixture

REFERENCE = load_fixture("metafor_escalc.json")
CHANGED = [c for c in REFERENCE["cases"] if c["measure"] in ("ROM", "ROMC", "CVR", "SMDH", "SMCRH")]


def test_the_changed_measures_are_the_noted_ones():
    assert {c["measure"] for c in CHANGED} == set(METAFOR_3_NOTES)
    assert REFERENCE["metafor_version"] == "5.1.12"


@pytest.mark.parametrize("case", CHANGED, ids=lambda c: f"{c['measure']}-{c['vtype']}-{c['dataset']}")
def test_changed_measures_match_metafor_5_and_say_so(case):
    result = escalc(case["measure"], REFERENCE["datasets"][case["dataset"]], vtype=case["vtype"])
    for name in ("yi", "vi"):
        np.testing.assert_allclose(getattr(result, name), np.array(case[name], dtype=float), rtol=1e-10)
    (note,) = result.notes
    assert ("metafor >= 5.0" if case["measure"] in ("ROM", "ROMC", "CVR") else "metafor >= 4.6") in note
    assert "metafor 3.x" in note


def test_unchanged_measure_has_no_note():
    case = next(c for c in REFERENCE["cases"] if c["measure"] == "SMD")
    assert escalc("SMD", REFERENCE["datasets"][case["dataset"]], vtype=case["vtype"]).notes == ()


def test_cli_escalc_prints_the_note(tmp_path):
    data = REFERENCE["datasets"]["normand1999"]
    names = ["m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"]
    path = tmp_path / "normand.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(zip(*(data[name] for name in names)))
    result = CliRunner().invoke(main, ["escalc", str(path), "--measure", "ROM"])
    assert result.exit_code == 0, result.output
    assert "Note: ROM: yi carries the second-order bias correction" in result.stderr
