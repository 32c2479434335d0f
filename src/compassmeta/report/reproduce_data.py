"""The data sets ``compassmeta reproduce`` recomputes from: a study table of studies/, or the
Goldberg et al. (2018) comparisons built from the MetaCIH database, as effect sizes with the
columns a target's selection can filter on."""
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import InputError
from ..data import datasets
from ..data.aggregate import aggregate_by
from ..data.studytable import load_study_table

#: Goldberg et al. (2018) reproduction settings (see studies/README.md).
GOLDBERG_TIERS = ("no treatment", "minimal treatment", "non-specific active control",
                  "specific active control", "ebt")
GOLDBERG_CORRELATION = 0.5
NOT_DISORDER_SPECIFIC = re.compile(
    r"mindful|ffmq|kims|maas|cams|\bfmi\b|\btmi\b|self-compassion|\bscs\b|quality of life|\bqol\b|"
    r"whoqol|sf-?36|sf-?12", re.IGNORECASE)


@dataclass(frozen=True)
class EffectData:
    """Effect sizes with the columns a target's selection can filter on."""

    yi: np.ndarray
    vi: np.ndarray
    columns: dict[str, list[Any]]
    description: str
    labels: tuple[str, ...]

    def select(self, selection: str | None) -> "EffectData":
        keep = np.ones(self.yi.size, dtype=bool)
        for clause in filter(None, (part.strip() for part in (selection or "").split("&"))):
            name, _, value = clause.partition("=")
            if name not in self.columns:
                raise InputError(f"selection names an unknown column '{name}'")
            keep &= np.array([str(cell) == value for cell in self.columns[name]])
        columns = {name: [c for c, k in zip(cells, keep) if k] for name, cells in self.columns.items()}
        return EffectData(self.yi[keep], self.vi[keep], columns, self.description,
                          tuple(label for label, k in zip(self.labels, keep) if k))


def table_data(path: Path, resource: str) -> EffectData:
    table = load_study_table(path, resource=resource)
    columns = {name: table.column(name) for name in table.schema.names}
    labels = tuple(f"{citation.split(' (')[0]}" if resource == "thirdwave"
                   else f"{study} {instrument.split(' (')[0]}"
                   for citation, study, instrument in zip(columns["citation"], columns["study_id"],
                                                          columns["instrument"]))
    return EffectData(table.yi, table.vi, columns, f"{path.name} ({len(table)} rows)", labels)


def metacih_data(mirror: str | os.PathLike[str] | None = None) -> EffectData:
    """Goldberg et al. (2018) comparisons from MetaCIH: one composite effect per study,
    comparator tier and time point (see studies/README.md for every choice)."""
    path = datasets.require("metacih-mbi", mirror)
    rows = [row for row in datasets.read_metapsy(path)
            if row.get(".g") and row.get(".g_se") and row.get("primary_study") == "1"
            and row.get("condition_arm2") in GOLDBERG_TIERS
            and not NOT_DISORDER_SPECIFIC.search(row.get("instrument", ""))]
    timepoints = {"post": "post", "fu": "follow-up", "fu1": "follow-up"}
    rows = [row for row in rows if row.get("time") in timepoints]
    keys = [(row["study"], row["condition_arm2"], timepoints[row["time"]]) for row in rows]
    yi = [datasets.metapsy_number(row[".g"]) for row in rows]
    vi = [datasets.metapsy_number(row[".g_se"]) ** 2 for row in rows]
    combined = aggregate_by(keys, yi, vi, r=GOLDBERG_CORRELATION)
    return EffectData(np.array([c[1] for c in combined]), np.array([c[2] for c in combined]),
                      {"study": [c[0][0] for c in combined], "comparator": [c[0][1] for c in combined],
                       "timepoint": [c[0][2] for c in combined]},
                      f"MetaCIH ({len(rows)} effect sizes in {len(combined)} study comparisons)",
                      tuple(c[0][0] for c in combined))
