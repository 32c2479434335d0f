"""pool --prepost-r: pre_post rows recomputed at each assumed correlation, against metafor's escalc +
rma() (scripts/metafor_prepost_reference.R; constructed inputs)."""
import csv
import json
import math
import shutil

import pytest
from click.testing import CliRunner

from compassmeta.analyses.backtransform import back_transform
from compassmeta.analyses.prepost import prepost_sensitivity
from compassmeta.cli import main
from compassmeta.common.errors import InputError
from compassmeta.data.studytable import Schema, row_effect
from compassmeta.models.pooling import pool
from conftest import PROJECT, load_fixture

REFERENCE = load_fixture("metafor_prepost.json")
SCHEMA = Schema.load(PROJECT / "studies" / "datapackage.json", "trials")
KEYS = ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper", "tau2")


def typed_rows():
    rows = [dict(row, stat_type="means") for row in REFERENCE["means_rows"]]
    rows += [dict(row, stat_type="pre_post") for row in REFERENCE["pre_post_rows"]]
    return [{**dict.fromkeys(SCHEMA.names), **row} for row in rows]


def reference(method, r):
    return next(f for f in REFERENCE["fits"] if f["method"] == method and f["prepost_r"] == r)


@pytest.mark.parametrize("method", ["REML", "DL"])
def test_each_assumed_r_matches_metafor(method):
    rows = typed_rows()
    yi, vi = zip(*(row_effect(row) for row in rows))
    own = reference(method, None)
    assert list(yi) == pytest.approx(own["yi"], rel=1e-10) and list(vi) == pytest.approx(own["vi"], rel=1e-10)
    result = pool(yi, vi, method=method)
    sensitivity = prepost_sensitivity(rows, yi, vi, [0.3, 0.5, 0.7, 0.9],
                                      lambda y, v: pool(y, v, method=method), result).to_dict()
    assert sensitivity["estimate"] == pytest.approx(own["estimate"], rel=1e-10)
    assert sensitivity["prepost_sensitivity"]["k_pre_post"] == 4
    for fit in sensitivity["prepost_sensitivity"]["fits"]:
        expected = reference(method, fit["prepost_r"])
        for key in KEYS:
            assert fit[key] == pytest.approx(expected[key], rel=1e-10), (fit["prepost_r"], key)


def test_back_transformation_reaches_every_fit():
    rows = typed_rows()
    yi, vi = zip(*(row_effect(row) for row in rows))
    sensitivity = prepost_sensitivity(rows, yi, vi, [0.3], lambda y, v: pool(y, v), pool(yi, vi))
    fit = back_transform(sensitivity, "exp").to_dict()["prepost_sensitivity"]["fits"][0]
    assert fit["estimate_transf"] == pytest.approx(math.exp(reference("REML", 0.3)["estimate"]), rel=1e-10)


def test_a_correlation_outside_minus_one_one_is_refused():
    with pytest.raises(InputError, match="must lie in \\[-1, 1\\], got 1.5"):
        prepost_sensitivity([], [], [], [1.5], pool, None)


@pytest.fixture
def study_table(tmp_path):
    """studies/ copied, with the reference rows in place of the trials."""
    shutil.copytree(PROJECT / "studies", tmp_path / "studies")
    path = tmp_path / "studies" / "trials.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header, template = reader.fieldnames, next(reader)
    records = []
    for number, row in enumerate(REFERENCE["means_rows"] + REFERENCE["pre_post_rows"], start=1):
        record = {**template, **{k: str(v) for k, v in row.items()}, "es_id": f"constructed{number}-post",
                  "study_id": f"constructed{number}", "citation": "constructed inputs (tests)",
                  "stat_type": "pre_post" if "prepost_r" in row else "means",
                  "instrument": "scale A" if row["higher_is_better"] else "scale B",
                  "higher_is_better": str(row["higher_is_better"]).lower(), "doi": "", "year": "2024"}
        records.append(record)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(records)
    return path


def test_cli_prepost_r(study_table):
    args = ["pool", str(study_table), "--prepost-r", "0.3,0.5,0.7"]
    result = CliRunner().invoke(main, args + ["--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert data["estimate"] == pytest.approx(reference("REML", None)["estimate"], rel=1e-10)
    assert [fit["prepost_r"] for fit in data["prepost_sensitivity"]["fits"]] == [0.3, 0.5, 0.7]
    for fit in data["prepost_sensitivity"]["fits"]:
        assert fit["estimate"] == pytest.approx(reference("REML", fit["prepost_r"])["estimate"], rel=1e-10)
    text = CliRunner().invoke(main, args).output
    assert "Pre-post correlation sensitivity (4 pre_post row(s) recomputed at each r):" in text
    assert f"{reference('REML', 0.7)['estimate']:>9.4f}" in text
