"""Every statistic route of the study table against metafor's escalc (SMD).

Reference values: ``scripts/metafor_effects_reference.R`` -> ``tests/fixtures/metafor_effects.json``.
Each case goes through the table's own path (a typed row -> ``row_effect``).
"""
import json
from pathlib import Path

import numpy as np
import pytest

from compassmeta.data import effects
from compassmeta.data.studytable import Schema, row_effect

ROOT = Path(__file__).resolve().parents[1]
CASES = json.loads((ROOT / "tests" / "fixtures" / "metafor_effects.json").read_text())["cases"]
SCHEMA = Schema.load(ROOT / "studies" / "datapackage.json", "trials")


def typed(row):
    full = dict.fromkeys(SCHEMA.names)
    full.update(row, higher_is_better=True)
    return full


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_route_matches_escalc(case):
    g, v = row_effect(typed(case["row"]))
    assert g == pytest.approx(case["yi"], rel=1e-10, abs=1e-12)
    assert v == pytest.approx(case["vi"], rel=1e-10)


def test_every_stat_type_has_a_reference_case():
    enum = next(f for f in SCHEMA.fields if f["name"] == "stat_type")["constraints"]["enum"]
    covered = {case["row"]["stat_type"] for case in CASES}
    # g_se and g_ci carry their own variance (tested in test_effects.py)
    # the routes of other measures (events, correlation, pre_post_smcr): test_measure_routes.py
    assert set(enum) - covered == {"g_se", "g_ci", "events", "correlation", "pre_post_smcr"}


def test_expected_range_matches_wan_table_1():
    """xi(n) as printed in Wan et al. (2014), Table 1 (three decimals)."""
    printed = {2: 1.128, 3: 1.693, 10: 3.078, 11: 3.173, 20: 3.735, 33: 4.165, 50: 4.498}
    ours = effects.expected_normal_range(list(printed))
    assert np.round(ours, 3).tolist() == list(printed.values())


def test_a_median_alone_is_refused():
    with pytest.raises(ValueError, match="quartiles, its range"):
        effects.mean_sd_from_quantiles(20, 10.0)


def test_median_rows_are_flagged_as_converted():
    from compassmeta.data.studytable import validate_text

    record = {"es_id": "x-post", "study_id": "x", "citation": "constructed", "intervention": "CFT",
              "intervention_class": "cft-cmt", "control_type": "passive", "control_detail": "waitlist",
              "population": "clinical", "outcome": "depression", "instrument": "other scale",
              "higher_is_better": "false", "timepoint": "post", "stat_type": "median_iqr",
              "n1": "35", "n2": "32",
              "median1": "12", "q1_1": "8", "q3_1": "17", "median2": "16", "q1_2": "11", "q3_2": "22",
              "source": "constructed", "license": "none", "inclusion_note": "test"}
    row = tuple(record.get(n, "") for n in SCHEMA.names)
    problems, _ = validate_text("t.csv", SCHEMA.names, [row], SCHEMA)
    assert [(p.column, p.level) for p in problems] == [("stat_type", "warning")]
    assert problems[0].message.startswith("converted: means and SDs estimated from iqr (Luo et al. 2018")
