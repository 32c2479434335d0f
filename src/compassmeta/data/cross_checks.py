"""Checks across the rows of one trial and plausibility checks of entered statistics
(``compassmeta validate`` and every write; called from :func:`validation.all_problems`).

Across rows (errors):

* a trial (``study_id``) has one citation, year and population; an intervention arm
  (``study_id``, ``arm``) one format and one number of sessions;
* an arm's n at one assessment (timepoint and weeks) is the same in every row that uses it
  (``n1`` of its ``arm``, ``n2`` of its ``control_arm``);
* no two rows report the same comparison: (trial, outcome, instrument, SCS component, arm,
  control arm, timepoint, weeks).

Plausibility (errors on the cell most likely mistyped; warnings once the row's
``inclusion_note`` records a curator's confirmation, ``--confirm-implausible REASON``):

* the SDs of the two arms differ by more than a factor of ``SD_RATIO`` (a decimal slip:
  0.68 for 6.8); the smaller SD is named, unless baseline SDs show which arm moved;
* an adjusted mean outside its own confidence interval;
* q1 > q3, min > max, or a median outside its quartiles or range.

* an SD derived from an adjusted mean's SE or CI, or from a median's quartiles or range, above
  the largest any sample of n scores within the instrument's range can have (Bhatia & Davis
  2000: SD <= sqrt((M - a)(b - M) n / (n - 1))).

The same bound on an SD entered as such is in :mod:`consistency`: there it is impossible, not
implausible, so it stays an error that no confirmation lifts.
"""
import math
import operator
import os
from collections.abc import Sequence
from itertools import compress
from typing import Any

import numpy as np

from .columns import columns_of, numbers_of
from .instruments import Instrument, instrument_of
from .row_effects import arm_means_sds
from .schema import Problem

Row = dict[str, Any]    # a typed row of the study table
Rows = Sequence[Row]

SD_RATIO = 4.0
CONFIRMED = "implausible value confirmed"   # validation.IMPLAUSIBLE_CONFIRMED (no import: no cycle)
TRIAL_FIELDS = ("citation", "year", "population")
ARM_FIELDS = ("format", "sessions")
COMPARISON_KEY = ("study_id", "outcome", "instrument", "scs_component", "arm", "control_arm", "timepoint",
                  "weeks_after_baseline")


def confirmation_note(note: str, reason: str) -> str:
    """``note`` with a curator's confirmation of an implausible value appended."""
    return f"{note.strip()} [{CONFIRMED}: {reason.strip()}]".strip()


def confirmed(row: Row) -> bool:
    """The row's inclusion_note records that a curator confirmed an implausible value."""
    return CONFIRMED in (row.get("inclusion_note") or "")


def implausible(row: Row, file: str, number: int, column: str, message: str) -> Problem:
    """An error on ``column``, or a warning when the row records a confirmation."""
    if confirmed(row):
        return Problem(file, number, column, f"{message} (confirmed in inclusion_note)", "warning")
    return Problem(file, number, column, f"{message}; if the value is right, confirm it "
                                         "(add/edit --confirm-implausible REASON)")


def first_rows(keys: Sequence[Any]) -> list[int]:
    """Each row's first row (counted from 0) with the same key (one pass of dict.setdefault)."""
    first: dict[Any, int] = {}
    return list(map(first.setdefault, keys, range(len(keys))))


def shared_value_problems(rows: Rows, file: str, key_fields: tuple[str, ...], fields: tuple[str, ...],
                          what: str) -> list[Problem]:
    """Rows that disagree with the first row of their group (``key_fields``) on one of ``fields``.
    Column at a time: each row's group is found once and each field compared in one pass (a
    blank key cell is its own value: a typed cell is never empty text)."""
    fields = tuple(name for name in fields if rows and name in rows[0])
    columns = columns_of(rows, ("study_id", *key_fields, *fields))
    keys = list(zip(*map(columns.__getitem__, key_fields))) if len(key_fields) > 1 else columns[key_fields[0]]
    group, trials = first_rows(keys), columns["study_id"]
    found: list[tuple[int, int, int, str]] = []
    for order, name in enumerate(fields):
        values = columns[name]
        differing = compress(range(len(group)), map(operator.ne, values, map(values.__getitem__, group)))
        found.extend((number, order, group[number], name) for number in differing
                     if trials[number] is not None)
    problems: list[Problem] = []
    for number, _, reference, name in sorted(found):
        values = columns[name]
        label = " ".join(str(columns[part][number] or "") for part in key_fields if columns[part][number])
        problems.append(Problem(file, number + 1, name,
                                f"{what} {label}: {name} {shown(values[number])} differs from row "
                                f"{reference + 1} ({shown(values[reference])})"))
    return problems


def shown(value: object) -> str:
    return "(blank)" if value is None else f"'{value}'"


def arm_size_problems(rows: Rows, file: str) -> list[Problem]:
    """An arm whose n differs between rows at one assessment (n1 of ``arm``, n2 of ``control_arm``)."""
    columns = columns_of(rows, ("study_id", "arm", "control_arm", "n1", "n2", "timepoint",
                                     "weeks_after_baseline"))
    seen: dict[tuple[Any, ...], tuple[int, Any]] = {}
    problems: list[Problem] = []
    for number, (trial, arm, control, n1, n2, timepoint, weeks) in enumerate(zip(*columns.values()), start=1):
        if trial is None:
            continue
        for name, size, where in (("n1", n1, arm), ("n2", n2, control)):
            if where is None or size is None:
                continue
            first = seen.setdefault((trial, where, timepoint, weeks), (number, size))
            if first[1] != size:
                problems.append(Problem(file, number, name,
                                        f"{trial} arm {where} at {timepoint}: {name} {size} differs from "
                                        f"row {first[0]} ({first[1]}); an arm has one n per assessment"))
    return problems


def duplicate_problems(rows: Rows, file: str) -> list[Problem]:
    """Rows reporting the same comparison as an earlier row (same trial, outcome, instrument,
    component, arms and assessment)."""
    columns = columns_of(rows, (*COMPARISON_KEY, "es_id"))
    keys = list(zip(*(columns[name] for name in COMPARISON_KEY)))
    first, es_ids = first_rows(keys), columns["es_id"]
    return [Problem(file, number + 1, "es_id",
                    f"{es_ids[number]} repeats row {first[number] + 1} ({es_ids[first[number]]}): the "
                    "same trial, outcome, instrument, component, arm, control arm and timepoint")
            for number in compress(range(len(keys)), map(operator.ne, first, range(len(keys))))
            if keys[number][0] is not None]


def sd_ratio_problems(row: Row, file: str, number: int) -> list[Problem]:
    """Two arms' SDs more than SD_RATIO apart (post and baseline pairs)."""
    problems: list[Problem] = []
    for prefix in ("", "pre_"):
        sd1, sd2 = row.get(f"{prefix}sd1"), row.get(f"{prefix}sd2")
        if sd1 is None or sd2 is None or max(sd1, sd2) <= SD_RATIO * min(sd1, sd2):
            continue
        column = suspect_sd(row, prefix)
        problems.append(implausible(row, file, number, column,
                                    f"{prefix}sd1 {sd1:g} and {prefix}sd2 {sd2:g} differ by more than a "
                                    f"factor of {SD_RATIO:g}: a decimal slip?"))
    return problems


def sd_ratio_rows(rows: Rows) -> np.ndarray:
    """Rows :func:`sd_ratio_problems` flags, over whole columns (the same comparison; blank: nan)."""
    apart = np.zeros(len(rows), dtype=bool)
    try:
        for prefix in ("", "pre_"):
            sd1, sd2 = (numbers_of(rows, f"{prefix}sd{arm}") for arm in ("1", "2"))
            apart |= np.maximum(sd1, sd2) > SD_RATIO * np.minimum(sd1, sd2)
    except OverflowError:      # a number beyond floating point: let the rule look at every row
        apart[:] = True
    return apart


def suspect_sd(row: Row, prefix: str) -> str:
    """The SD most likely mistyped: at post, the arm whose SD moved most from its baseline SD
    when both baselines are given; else the smaller SD."""
    if not prefix and all(row.get(name) for name in ("pre_sd1", "pre_sd2")):
        moved = [abs(row[f"sd{arm}"] / row[f"pre_sd{arm}"] - 1) for arm in ("1", "2")]
        return "sd1" if moved[0] >= moved[1] else "sd2"
    return f"{prefix}sd1" if row[f"{prefix}sd1"] < row[f"{prefix}sd2"] else f"{prefix}sd2"


def adjusted_ci_problems(row: Row, file: str, number: int) -> list[Problem]:
    """An adjusted mean outside its own confidence interval."""
    problems: list[Problem] = []
    for arm in ("1", "2"):
        mean, low, high = (row.get(f"{name}{arm}") for name in ("mean", "ci_lower", "ci_upper"))
        if mean is not None and low is not None and high is not None and not low <= mean <= high:
            problems.append(implausible(row, file, number, f"mean{arm}",
                                        f"adjusted mean {mean:g} lies outside its own CI "
                                        f"[{low:g}, {high:g}]"))
    return problems


def quantile_problems(row: Row, file: str, number: int) -> list[Problem]:
    """Quartiles or a range out of order, or a median outside them."""
    problems: list[Problem] = []
    for arm in ("1", "2"):
        median = row.get(f"median{arm}")
        for low_name, high_name in ((f"q1_{arm}", f"q3_{arm}"), (f"min{arm}", f"max{arm}")):
            low, high = row.get(low_name), row.get(high_name)
            if low is None or high is None:
                continue
            if low > high:
                problems.append(implausible(row, file, number, low_name,
                                            f"{low_name} {low:g} is above {high_name} {high:g}"))
            elif median is not None and not low <= median <= high:
                problems.append(implausible(row, file, number, f"median{arm}",
                                            f"median {median:g} lies outside [{low_name}, {high_name}] = "
                                            f"[{low:g}, {high:g}]"))
    return problems


DERIVED_SD_CELL = {"adjusted_se": "se{}", "adjusted_ci": "ci_lower{}", "median_iqr": "q1_{}",
                   "median_range": "min{}", "median_iqr_range": "q1_{}"}


def derived_sd_problems(row: Row, instrument: Instrument, file: str, number: int) -> list[Problem]:
    """Derived SDs above the Bhatia-Davis bound of the instrument's range (at the derived mean)."""
    a, b = instrument.minimum, instrument.maximum
    mean1, sd1, n1, mean2, sd2, n2 = arm_means_sds(row)
    problems: list[Problem] = []
    for arm, mean, sd, n in (("1", mean1, sd1, n1), ("2", mean2, sd2, n2)):
        bound = math.sqrt(max((mean - a) * (b - mean), 0.0) * n / (n - 1))
        if sd > bound:
            column = DERIVED_SD_CELL[row["stat_type"]].format(arm)
            problems.append(implausible(row, file, number, column,
                                        f"the SD these statistics give ({sd:.3g}) exceeds the largest "
                                        f"{n} {instrument.name} scores in {a:g}-{b:g} with mean {mean:.3g} "
                                        f"can have ({bound:.3g}; Bhatia & Davis 2000)"))
    return problems


def plausibility_problems(rows: Rows, file: str,
                          instruments: dict[str, Instrument] | None = None) -> list[Problem]:
    """Every plausibility finding of the rows (see the module docstring)."""
    problems: list[Problem] = []
    kinds = columns_of(rows, ("stat_type",))["stat_type"]
    apart = sd_ratio_rows(rows).tolist()
    for number in [number for number, (kind, far) in enumerate(zip(kinds, apart), start=1)
                   if kind in DERIVED_SD_CELL or far and kind in ("means", "change", "pre_post")]:
        row, kind = rows[number - 1], kinds[number - 1]
        if kind in ("means", "change", "pre_post"):
            problems.extend(sd_ratio_problems(row, file, number))
            continue
        found = (adjusted_ci_problems(row, file, number) if kind == "adjusted_ci"
                 else quantile_problems(row, file, number) if kind in DERIVED_SD_CELL else [])
        problems.extend(found)
        instrument = instrument_of(row, instruments or {})
        whole_score = row.get("scs_component") in (None, "total")
        if kind in DERIVED_SD_CELL and instrument and whole_score and not found:
            problems.extend(derived_sd_problems(row, instrument, file, number))
    return problems


def cross_row_problems(rows: Rows, file: str | os.PathLike[str]) -> list[Problem]:
    """Every finding across the rows of a table: trial and arm descriptions, arm sizes, duplicates."""
    file = str(file)
    return (shared_value_problems(rows, file, ("study_id",), TRIAL_FIELDS, "trial")
            + shared_value_problems(rows, file, ("study_id", "arm"), ARM_FIELDS, "trial and arm")
            + arm_size_problems(rows, file) + duplicate_problems(rows, file))


def table_problems(rows: Rows, file: str | os.PathLike[str],
                   instruments: dict[str, Instrument] | None = None) -> list[Problem]:
    """Cross-row and plausibility findings of a typed table (``instruments`` for the SD bound)."""
    return cross_row_problems(rows, file) + plausibility_problems(rows, str(file), instruments)
