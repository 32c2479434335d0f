"""The study table's routes of other measures than g: 2x2 counts (OR, RR, RD), correlations (COR,
ZCOR) and pre-post changes standardised by the pre-test SD (SMCR), each from a published source.

Every table below is built in a temporary folder (beside a copy of studies/datapackage.json) from
metafor's own example data as the committed escalc reference holds it
(``scripts/metafor_escalc_reference.R`` -> ``tests/fixtures/metafor_escalc.json``, metafor 5.1-12,
metadat 1.2.0): dat.bcg (Colditz et al. 1994), dat.molloy2014 (Molloy et al. 2014) and the
five studies of Morris (2008, Table 1) as metafor's morris2008 analysis example prints them.  The
table's yi and vi are checked against escalc's at 1e-10.
"""
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from compassmeta.common.errors import InputError
from compassmeta.data.loading import load_effects
from compassmeta.data.studytable import Schema, load_study_table

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "studies" / "datapackage.json"
REFERENCE = json.loads((ROOT / "tests" / "fixtures" / "metafor_escalc.json").read_text())
DATA = REFERENCE["datasets"]
SOURCES = {"bcg": "metadat 1.2.0 dat.bcg (Colditz et al. 1994, JAMA 271:698-702), row {}",
           "molloy2014": "metadat 1.2.0 dat.molloy2014 (Molloy et al. 2014, Ann Behav Med 47:92-101), row {}",
           "morris2008": "Morris 2008, Organizational Research Methods 11:364-386, Table 1, study {} "
                         "(as metafor's analyses:morris2008 example prints it)"}


def reference(measure, dataset):
    case = next(c for c in REFERENCE["cases"] if c["measure"] == measure and c["dataset"] == dataset
                and c["vtype"] == "LS" and c["add"] is None)
    return np.array(case["yi"], dtype=float), np.array(case["vi"], dtype=float)


def base_row(source, number, **statistics):
    row = {"es_id": f"{source}-{number}", "study_id": f"{source}-{number}",
           "citation": SOURCES[source].format(number),
           "intervention": "as in the source", "intervention_class": "other", "control_type": "passive",
           "control_detail": "as in the source", "population": "nonclinical", "outcome": "other",
           "instrument": f"{source} outcome", "higher_is_better": "true", "timepoint": "unspecified",
           "source": SOURCES[source].format(number), "license": "GPL-2 | GPL-3 (metadat)",
           "inclusion_note": "test row: a published example data set, not a self-compassion trial"}
    row.update({name: str(value) for name, value in statistics.items()})
    return row


def write_table(folder, rows):
    shutil.copy(PACKAGE, folder / "datapackage.json")
    shutil.copy(ROOT / "studies" / "instruments.csv", folder / "instruments.csv")
    names = Schema.load(PACKAGE, "trials").names
    path = folder / "table.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows({name: row.get(name, "") for name in names} for row in rows)
    return path


def bcg_rows(measure, higher_is_better="false"):
    """Tuberculosis cases among vaccinated (arm 1) and unvaccinated (arm 2) participants: an event
    that is bad, so higher_is_better false (a positive effect favours the vaccine)."""
    bcg = DATA["bcg"]
    return [base_row("bcg", i + 1, stat_type="events", measure=measure, events1=int(a), n1=int(a + b),
                     events2=int(c), n2=int(c + d), higher_is_better=higher_is_better)
            for i, (a, b, c, d) in enumerate(zip(bcg["ai"], bcg["bi"], bcg["ci"], bcg["di"]))]


@pytest.mark.parametrize("measure", ["OR", "RR", "RD"])
def test_2x2_counts_match_escalc(tmp_path, measure):
    table = load_study_table(write_table(tmp_path, bcg_rows(measure)))
    yi, vi = reference(measure, "bcg")
    np.testing.assert_allclose(table.yi, -yi, rtol=1e-10)   # TB is the bad outcome: sign flipped
    np.testing.assert_allclose(table.vi, vi, rtol=1e-10)


def molloy_rows(measure):
    molloy = DATA["molloy2014"]
    return [base_row("molloy2014", i + 1, stat_type="correlation", measure=measure, correlation=r,
                     correlation_n=int(n)) for i, (r, n) in enumerate(zip(molloy["ri"], molloy["ni"]))]


@pytest.mark.parametrize("measure", ["COR", "ZCOR"])
def test_correlations_match_escalc(tmp_path, measure):
    table = load_study_table(write_table(tmp_path, molloy_rows(measure)))
    yi, vi = reference(measure, "molloy2014")
    np.testing.assert_allclose(table.yi, yi, rtol=1e-10)
    np.testing.assert_allclose(table.vi, vi, rtol=1e-10)


def morris_rows():
    treated, control = DATA["morris2008_pre"], DATA["morris2008_control_pre"]
    return [base_row("morris2008", i + 1, stat_type="pre_post_smcr", measure="SMCR",
                     mean1=treated["m1i"][i], pre_mean1=treated["m2i"][i], pre_sd1=treated["sd1i"][i],
                     n1=int(treated["ni"][i]), mean2=control["m1i"][i], pre_mean2=control["m2i"][i],
                     pre_sd2=control["sd1i"][i], n2=int(control["ni"][i]), prepost_r=treated["ri"][i])
            for i in range(len(treated["ni"]))]


def test_smcr_difference_matches_escalc(tmp_path):
    """Becker (1988) / Morris (2008) d_ppc1: SMCR of the treated minus SMCR of the controls."""
    table = load_study_table(write_table(tmp_path, morris_rows()))
    expected = REFERENCE["morris2008_smcr_difference"]
    np.testing.assert_allclose(table.yi, expected["yi"], rtol=1e-10)
    np.testing.assert_allclose(table.vi, expected["vi"], rtol=1e-10)


def test_rows_of_two_measures_are_not_pooled(tmp_path):
    path = write_table(tmp_path, bcg_rows("OR")[:3] + bcg_rows("RR")[3:5])
    with pytest.raises(InputError) as error:
        load_effects(path)
    assert (error.value.row, error.value.column) == (4, "measure")
    assert "--where 'measure=OR'" in str(error.value)
    loaded = load_effects(path, where=["measure=RR"])
    np.testing.assert_allclose(loaded.yi, -reference("RR", "bcg")[0][3:5], rtol=1e-10)


@pytest.mark.parametrize("change, column, message", [
    ({"events1": "700"}, "events1", "events1 = 700 exceeds n1"),
    ({"events2": "-1"}, "events2", "below the minimum 0"),
    ({"events1": "2.5"}, "events1", "whole number"),
    ({"measure": ""}, "measure", "needs a measure: OR or RR or RD"),
    ({"measure": "ZCOR"}, "measure", "gives OR or RR or RD, not ZCOR"),
    ({"stat_type": "means", "mean1": "1", "sd1": "1", "mean2": "0", "sd2": "1"}, "measure",
     "gives SMD, not OR"),
])
def test_bad_2x2_rows_name_row_and_column(tmp_path, change, column, message):
    rows = bcg_rows("OR")
    rows[1].update(change)
    with pytest.raises(InputError, match=message) as error:
        load_study_table(write_table(tmp_path, rows))
    assert (error.value.row, error.value.column) == (2, column)


@pytest.mark.parametrize("measure, change, column, message", [
    ("COR", {"correlation": "1"}, "correlation", "strictly between -1 and 1"),
    ("COR", {"correlation": "-1.2"}, "correlation", "below the minimum -1"),
    ("ZCOR", {"correlation_n": "3"}, "correlation_n", "more than 3"),
    ("COR", {"measure": "SMCR"}, "measure", "gives COR or ZCOR"),
])
def test_bad_correlation_rows_name_row_and_column(tmp_path, measure, change, column, message):
    rows = molloy_rows(measure)
    rows[2].update(change)
    with pytest.raises(InputError, match=message) as error:
        load_study_table(write_table(tmp_path, rows))
    assert (error.value.row, error.value.column) == (3, column)


@pytest.mark.parametrize("change, column, message", [
    ({"prepost_r": "1"}, "prepost_r", "strictly between -1 and 1"),
    ({"pre_sd2": "0"}, "pre_sd2", "greater than 0"),
    ({"prepost_r": ""}, "prepost_r", "needs a value here"),
])
def test_bad_smcr_rows_name_row_and_column(tmp_path, change, column, message):
    rows = morris_rows()
    rows[0].update(change)
    with pytest.raises(InputError, match=message) as error:
        load_study_table(write_table(tmp_path, rows))
    assert (error.value.row, error.value.column) == (1, column)


def test_the_report_refuses_rows_that_are_not_g(tmp_path):
    from compassmeta.report.rows import load_rows

    path = write_table(tmp_path, bcg_rows("RR")[:2])
    refused = "measure is RR but the pool's is SMD.*the report pools Hedges' g"
    with pytest.raises(InputError, match=refused) as error:
        load_rows([path])
    assert (error.value.row, error.value.column) == (1, "measure")


def test_example_tables_outside_the_schema_take_the_same_routes():
    """studies/examples/*_rows.csv: the same metadat rows, read from their statistics columns alone."""
    bcg = load_effects(ROOT / "studies" / "examples" / "bcg_events_rows.csv")
    yi, vi = reference("RR", "bcg")
    np.testing.assert_allclose(bcg.yi, -yi, rtol=1e-10)
    np.testing.assert_allclose(bcg.vi, vi, rtol=1e-10)
    molloy = load_effects(ROOT / "studies" / "examples" / "molloy2014_correlation_rows.csv")
    np.testing.assert_allclose(molloy.yi, reference("ZCOR", "molloy2014")[0], rtol=1e-10)
    np.testing.assert_allclose(molloy.vi, reference("ZCOR", "molloy2014")[1], rtol=1e-10)


@pytest.mark.parametrize("change, number, column, message", [
    ({1: {"events1": "400"}}, 2, "events1", "events1 = 400 exceeds n1 = 306"),
    ({1: {"measure": ""}}, 2, "measure", "needs a measure"),
    ({3: {"measure": "OR"}}, 4, "measure", "measure is OR but the pool's is RR"),
])
def test_tables_outside_the_schema_are_checked_too(tmp_path, change, number, column, message):
    source = ROOT / "studies" / "examples" / "bcg_events_rows.csv"
    rows = list(csv.DictReader(source.open()))
    for index, cells in change.items():
        rows[index].update(cells)
    path = tmp_path / "rows.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(InputError, match=message) as error:
        load_effects(path)
    assert (error.value.row, error.value.column) == (number, column)


def test_add_describes_the_row_on_its_scale_and_states_an_assumed_r(tmp_path):
    from click.testing import CliRunner

    from compassmeta.cli import main

    table = write_table(tmp_path, [])
    rows = {"events": bcg_rows("RR")[0], "smcr": dict(morris_rows()[1], prepost_r="")}
    args = {name: ["add", "--table", str(table), "--yes"] + [f"-s{key}={value}" for key, value in row.items()]
            for name, row in rows.items()}
    result = CliRunner().invoke(main, args["events"])
    assert result.exit_code == 0, result.output
    assert f"bcg-1: log RR = {-reference('RR', 'bcg')[0][0]:.4f}" in result.output
    result = CliRunner().invoke(main, args["smcr"])
    assert result.exit_code == 0, result.output
    assert "assuming a pre-post correlation of 0.5" in result.stderr
    assert load_study_table(table).rows[-1]["prepost_r"] == 0.5


def test_prepost_r_sensitivity_recomputes_smcr_rows(tmp_path):
    """pool --prepost-r on pre_post_smcr rows: each fit is metafor's REML pool of the SMCR differences
    at r, and the rows recomputed at r are metafor's."""
    from click.testing import CliRunner

    from compassmeta.cli import main

    table = write_table(tmp_path, morris_rows())
    result = CliRunner().invoke(main, ["pool", str(table), "--prepost-r", "0.3,0.5,0.7", "--format", "json"])
    assert result.exit_code == 0, result.output
    sensitivity = json.loads(result.output)["prepost_sensitivity"]
    assert sensitivity["k_pre_post"] == 5
    for fit, expected in zip(sensitivity["fits"], REFERENCE["morris2008_smcr_at_r"], strict=True):
        assert fit["prepost_r"] == expected["r"]
        for key in ("estimate", "ci_lower", "ci_upper", "tau2"):
            assert fit[key] == pytest.approx(expected[key], rel=1e-10), key
    rows = [dict(row, prepost_r=0.3) for row in morris_rows()]
    table_at_r = load_study_table(write_table(tmp_path, rows))
    np.testing.assert_allclose(table_at_r.vi, REFERENCE["morris2008_smcr_at_r"][0]["vi"], rtol=1e-10)
    refused = CliRunner().invoke(main, ["pool", str(table), "--prepost-r", "0.5,1"])
    assert refused.exit_code != 0 and "strictly inside (-1, 1)" in refused.output
