#!/usr/bin/env python3
"""Write studies/thirdwave.csv from dmetar's ThirdWave data in the project's schema.

    python scripts/make_thirdwave_table.py [../shared/data/dmetar/ThirdWave.csv]

ThirdWave (MIT, github MathiasHarrer/dmetar, data/ThirdWave.rda @ 89dbcac1, converted to
CSV with values unchanged) holds 18 precomputed SMDs (TE, seTE) of third-wave interventions
for perceived stress in college students.  Cells are copied as text, so the numbers in
studies/thirdwave.csv are the source's digits.  The mapping of its codes is below.
"""
import csv
import json
import re
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = PROJECT.parent / "shared" / "data" / "dmetar" / "ThirdWave.csv"
SOURCE = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE

# the analysis plan's intervention classes
INTERVENTION_CLASS = {"mindfulness": "mindfulness-based", "ACT": "act", "PCI": "other"}
CONTROL_DETAIL = {"WLC": "waitlist (ThirdWave code WLC)",
                  "no intervention": "no treatment (ThirdWave code no intervention)",
                  "information only": "minimal treatment (ThirdWave code information only)"}
FORMAT = {"group": "group", "online": "online", "book": "self-help"}
CITATION = ("{author} (label in dmetar's ThirdWave teaching data; Harrer, Cuijpers, Furukawa & Ebert 2021, "
            "Doing Meta-Analysis with R: A Hands-On Guide, Chapman & Hall/CRC)")


def main():
    fields = [f["name"] for f in json.loads((PROJECT / "studies" / "datapackage.json").read_text())
              ["resources"][1]["schema"]["fields"]]
    with open(SOURCE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for line, row in enumerate(rows, start=2):
        slug = re.sub(r"[^a-z0-9]+", "", row["Author"].lower().replace("et al.", ""))
        out.append({
            "es_id": f"thirdwave-{slug}", "study_id": f"thirdwave-{slug}",
            "citation": CITATION.format(author=row["Author"]),
            "intervention": row["InterventionType"],
            "intervention_class": INTERVENTION_CLASS[row["InterventionType"]],
            "control_type": "passive", "control_detail": CONTROL_DETAIL[row["TypeControlGroup"]],
            "population": "nonclinical", "outcome": "stress",
            "instrument": "perceived stress (instrument not coded in ThirdWave)",
            "higher_is_better": "true", "timepoint": "unspecified",
            "format": FORMAT[row["ModeOfDelivery"]],
            "intervention_duration": row["InterventionDuration"],
            "risk_of_bias": row["RiskOfBias"],
            "stat_type": "g_se", "g": row["TE"], "se": row["seTE"],
            "source": "dmetar ThirdWave.csv (data/ThirdWave.rda @ 89dbcac19e6e261225703f8a526b10ec6c49e21d), "
                      f"line {line}: TE, seTE",
            "license": "MIT (dmetar)",
            "inclusion_note": "ThirdWave teaching data, carried whole for the reproduction of Harrer et al. "
                              "(2021) ch. 4 and 7; TE is already oriented so that positive favours the "
                              "intervention. Intervention, duration and risk of bias are ThirdWave's own "
                              "codes.",
        })
    with open(PROJECT / "studies" / "thirdwave.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in out:
            writer.writerow({name: row.get(name, "") for name in fields})
    print(f"wrote {len(out)} rows to studies/thirdwave.csv")


if __name__ == "__main__":
    main()
