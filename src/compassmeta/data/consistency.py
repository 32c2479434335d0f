"""Consistency checks of entered statistics (``compassmeta validate``); findings are reported
with file, row and column and never fixed.

* GRIM (Brown & Heathers 2017, Soc Psychol Personal Sci 8(4):363-369): a mean of n whole-number
  scores (or of n x k whole-number item scores) printed to D decimals must be T / N rounded
  for some whole T.  Applies where the instrument table gives the items and the score is a
  plain sum or item mean.  Only observed means of completers must lie on the grid (an ITT
  mean may be imputed or model-estimated), so it is an error for analysis_set completers and
  a warning otherwise.
* A printed between-group t, F or p (``printed_test``, ``printed_value``) must follow from the
  entered means, SDs and ns (Student's t with the pooled SD, df = n1 + n2 - 2) for some
  values of those inputs within their printed rounding, and the printed value within its own.
* SD against the instrument's range: a sample of n scores in [a, b] with mean M has
  SD <= sqrt((M - a)(b - M) n / (n - 1)) (Bhatia & Davis 2000, Amer Math Monthly 107(4):353-357).
* n per arm against the trial's total (``n_total``): the arms of one trial (each intervention
  arm and each control arm counted once) cannot hold more participants than were randomised.
* SCS rows name their component; the sum-score ranges hold for the total only.
"""
import functools
import math
import operator
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..common import distributions as dist
from .columnar import column_cells
from .columns import coded_mask, codes_of, columns_of, numbers_of, present, record_view
from .instruments import Instrument, instrument_codes, instrument_ranges, row_instruments
from .schema import Problem

FLOAT_SLACK = 1e-9     # floating-point slack on top of half a printed unit


@functools.lru_cache(maxsize=4096)     # a column holds few distinct texts; 10^5 rows ask again and again
def decimals(text: str | None) -> int:
    """Decimals printed in a number's text ('3.40' -> 2)."""
    text = (text or "").strip()
    return len(text.split(".")[1]) if "." in text else 0


@functools.lru_cache(maxsize=4096)
def half_unit(text: str | None) -> float:
    """Half a unit in the last printed decimal: how far the true value may lie from the text."""
    return 0.5 * 10.0 ** -decimals(text) + FLOAT_SLACK


@functools.lru_cache(maxsize=65536)     # means and ns repeat across a table's rows
def grim_message(mean_text: str, n: int, items_per_person: int, score_label: str) -> str | None:
    """The GRIM finding for one printed mean, or None when it is possible (or GRIM cannot tell)."""
    places = decimals(mean_text)
    granularity = n * items_per_person
    if places == 0 or granularity >= 10 ** places:
        return None                      # every printed value is reachable: GRIM cannot tell
    mean = float(mean_text)
    nearest = round(mean * granularity)
    if abs(nearest / granularity - mean) <= half_unit(mean_text):
        return None
    below, above = math.floor(mean * granularity), math.ceil(mean * granularity)
    return (f"GRIM: {mean_text} is not a possible mean of {score_label} (n = {n}): the nearest "
            f"possible means are {below / granularity:.{places}f} and {above / granularity:.{places}f} "
            "(Brown & Heathers 2017)")


def grim_scoring(kind: str | None, component: str | None, instrument: Instrument | None) -> tuple | None:
    """(whole-number scores per person, what they are) of rows whose post means GRIM checks: means
    of an instrument that is a plain sum or mean of whole-number items, its total; else None."""
    if kind not in ("means", "pre_post") or not instrument or not instrument.items:
        return None
    if instrument.score == "other" or component not in (None, "total"):
        return None                      # the instrument's item count is the total's
    items = instrument.items if instrument.score == "item_mean" else 1
    return items, (f"{instrument.items} whole-number item scores per person" if items > 1
                   else f"whole-number {instrument.name} sums")


def t_range(cells: Mapping[str, str]) -> tuple[float, float]:
    """Smallest and largest |t| that the means, SDs and ns allow within their printed rounding."""
    value = {name: float(cells[name]) for name in ("mean1", "sd1", "mean2", "sd2")}
    slack = {name: half_unit(cells[name]) for name in value}
    n1, n2 = float(cells["n1"]), float(cells["n2"])
    scale = math.sqrt(1 / n1 + 1 / n2)

    def t(difference: float, sd1: float, sd2: float) -> float:
        pooled = math.sqrt(((n1 - 1) * sd1 ** 2 + (n2 - 1) * sd2 ** 2) / (n1 + n2 - 2))
        return difference / (pooled * scale)

    difference = abs(value["mean1"] - value["mean2"])
    spread = slack["mean1"] + slack["mean2"]
    largest = t(difference + spread, max(value["sd1"] - slack["sd1"], 1e-12),
                max(value["sd2"] - slack["sd2"], 1e-12))
    smallest = t(max(difference - spread, 0.0), value["sd1"] + slack["sd1"], value["sd2"] + slack["sd2"])
    return smallest, largest


def printed_test_problem(row: Mapping[str, Any], cells: Mapping[str, str], file: str,
                         number: int) -> Problem | None:
    """A printed t, F or p that the entered means, SDs and ns cannot give, or None."""
    test, printed_text = row.get("printed_test"), cells.get("printed_value", "")
    if not test:
        return None
    if row["stat_type"] != "means" or row.get("printed_value") is None:
        return Problem(file, number, "printed_test",
                       "a printed test is checked against means, SDs and ns: needs stat_type means and "
                       "printed_value")
    low, high = t_range(cells)
    df = row["n1"] + row["n2"] - 2
    if test == "t":
        implied, printed = (low, high), abs(row["printed_value"])
    elif test == "f":
        implied, printed = (low ** 2, high ** 2), row["printed_value"]
    else:
        implied = (float(dist.t_two_sided_p(high, df)), float(dist.t_two_sided_p(low, df)))
        printed = row["printed_value"]
    slack = half_unit(printed_text)
    if printed + slack >= implied[0] and printed - slack <= implied[1]:
        return None
    name = {"t": "|t|", "f": "F", "p": "p"}[test]
    places = max(decimals(printed_text), 2)
    return Problem(file, number, "printed_value",
                   f"printed {test} = {printed_text} does not follow from the means, SDs and ns: they give "
                   f"{name} between {implied[0]:.{places + 1}f} and {implied[1]:.{places + 1}f} "
                   f"(Student's t, df = {df}, inputs at their printed decimals)")


def sd_bound_problems(row: Mapping[str, Any], cells: Mapping[str, str], instrument: Instrument, file: str,
                      number: int) -> list[Problem]:
    """SDs larger than any sample of n scores within the instrument's range can have (Bhatia-Davis)."""
    if row["stat_type"] not in ("means", "pre_post"):
        return []
    problems: list[Problem] = []
    a, b = instrument.minimum, instrument.maximum
    prefixes = ("", "pre_") if row["stat_type"] == "pre_post" else ("",)
    for prefix in prefixes:
        for arm in ("1", "2"):
            mean_name, sd_name, n = f"{prefix}mean{arm}", f"{prefix}sd{arm}", row[f"n{arm}"]
            if row.get(mean_name) is None or row.get(sd_name) is None or n is None or n < 2:
                continue
            mean, slack = row[mean_name], half_unit(cells[mean_name])
            closest_to_middle = min(max((a + b) / 2, mean - slack), mean + slack)
            bound = math.sqrt(max((closest_to_middle - a) * (b - closest_to_middle), 0.0) * n / (n - 1))
            if row[sd_name] - half_unit(cells[sd_name]) > bound:
                problems.append(Problem(file, number, sd_name,
                                        f"SD {cells[sd_name]} is impossible for {n} {instrument.name} scores "
                                        f"in {a:g}-{b:g} with mean {cells[mean_name]}: at most {bound:.3g} "
                                        "(Bhatia & Davis 2000)"))
    return problems


def scs_problems(component: str | None, instrument: Instrument | None, file: str,
                 number: int) -> list[Problem]:
    """The SCS component is named on SCS rows only, and sum ranges are the total's."""
    is_scs = bool(instrument) and instrument.name.startswith("SCS")
    if component and not is_scs:
        return [Problem(file, number, "scs_component",
                        "scs_component is for Self-Compassion Scale rows (instrument SCS or SCS-SF) only")]
    if is_scs and not component:
        return [Problem(file, number, "scs_component",
                        f"{instrument.name} row: name the component (total, compassionate, uncompassionate "
                        "or a facet)")]
    if is_scs and instrument.score == "sum" and component != "total":
        return [Problem(file, number, "scs_component",
                        f"{instrument.name} ranges are for the total; enter the {component} score as an item "
                        "mean (instrument SCS or SCS-SF)")]
    return []


def arm_size_problems(rows: Sequence[Mapping[str, Any]], file: str) -> list[Problem]:
    """n per arm against the trial's total, per trial (each arm and control arm counted once), on
    the trials :func:`trials_to_check` picks."""
    names = ("study_id", "n_total", "n1", "n2", "arm", "control_arm")
    columns = columns_of(rows, names)
    trials: dict[str, list[tuple]] = {}
    for number0 in np.flatnonzero(trials_to_check(rows)).tolist():
        trials.setdefault(columns["study_id"][number0], []).append(
            (number0 + 1, *(columns[name][number0] for name in names[1:])))
    problems: list[Problem] = []
    for study_id, members in trials.items():
        problems.extend(trial_size_problems(study_id, members, file))
    return problems


def trials_to_check(rows: Sequence[Any]) -> np.ndarray:
    """The rows with an n_total of the trials :func:`trial_size_problems` could flag, over whole
    columns: a trial whose n_total varies, that has a row whose n1 + n2 exceed its n_total, or
    whose arms' largest n1 and control arms' largest n2 add up to more than its least n_total."""
    total = numbers_of(rows, "n_total")
    trial_codes, trials = codes_of(rows, "study_id")
    member = ~np.isnan(total) & coded_mask(trial_codes, trials, bool)
    trial_of, total = trial_codes[member], total[member]
    n1, n2 = (np.nan_to_num(numbers_of(rows, name)[member]) for name in ("n1", "n2"))
    least, most = np.full(len(trials), np.inf), np.full(len(trials), -np.inf)
    np.minimum.at(least, trial_of, total)
    np.maximum.at(most, trial_of, total)
    in_arms = np.zeros(len(trials))
    for name, size in (("arm", n1), ("control_arm", n2)):
        arm_codes, arms = codes_of(rows, name)
        groups, group = np.unique(trial_of * len(arms) + arm_codes[member], return_inverse=True)
        largest = np.zeros(len(groups))
        np.maximum.at(largest, group.reshape(-1), size)
        np.add.at(in_arms, groups // len(arms), largest)
    flagged = (least < most) | (in_arms > least)
    flagged[trial_of[n1 + n2 > total]] = True
    return member & flagged[trial_codes]


def trial_size_problems(study_id: str, members: Sequence[tuple], file: str) -> list[Problem]:
    """The size findings of one trial's rows, each (row number, n_total, n1, n2, arm, control_arm)."""
    first_number, total = members[0][:2]
    arms: dict[str, int]
    controls: dict[str, int]
    arms, controls = {}, {}
    for number, n_total, n1, n2, arm, control in members:
        if n_total != total:
            return [Problem(file, number, "n_total",
                            f"{study_id}: n_total {n_total} differs from row {first_number} ({total})")]
        n1, n2 = n1 or 0, n2 or 0
        if n1 + n2 > total:
            return [Problem(file, number, "n1", f"n1 + n2 = {n1 + n2} exceeds the trial's n_total {total}")]
        arm, control = arm or "", control or ""
        arms[arm], controls[control] = max(arms.get(arm, 0), n1), max(controls.get(control, 0), n2)
    in_arms = sum(arms.values()) + sum(controls.values())
    if in_arms <= total:
        return []
    return [Problem(file, members[-1][0], "n_total",
                    f"{study_id}: its arms hold {in_arms} participants ({len(arms)} intervention and "
                    f"{len(controls)} control arm(s), each at its largest n) but n_total is {total}")]


def sd_bound_rows(rows: Sequence[Any], known: Sequence[Instrument | None]) -> np.ndarray:
    """Rows :func:`sd_bound_problems` could flag, over whole columns: an SD above the Bhatia-Davis
    bound at the printed mean itself (the rule's bound, at the point of the mean's rounding
    interval nearest the middle, is never lower, and it subtracts the SD's rounding)."""
    length = len(known)
    low, high = instrument_ranges(known)
    check = np.zeros(length, dtype=bool)
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            for prefix in ("", "pre_"):
                for arm in ("1", "2"):
                    n, mean, sd = (numbers_of(rows, name) for name in (f"n{arm}", f"{prefix}mean{arm}",
                                                                        f"{prefix}sd{arm}"))
                    spread = np.maximum((mean - low) * (high - mean), 0.0) * n / (n - 1)
                    check |= (n >= 2) & (sd * sd > spread * (1.0 - 1e-9))
    except OverflowError:          # a number beyond floating point: let the rule look at every row
        check[:] = True
    return check


TABLE_COLUMNS = ("stat_type", "scs_component", "analysis_set", "printed_test", "n1", "n2")


def rule_groups(rows: Sequence[Any], known: Sequence[Instrument | None]) -> tuple[list[tuple], np.ndarray]:
    """(the distinct (stat_type, scs_component, instrument) of the rows, each row's position among
    them): the rules that depend on these alone (the SCS component, GRIM's scoring) run once per
    group."""
    kind_codes, kinds = codes_of(rows, "stat_type")
    part_codes, parts = codes_of(rows, "scs_component")
    scale_codes, scales = instrument_codes(known)
    combined = (kind_codes * len(parts) + part_codes) * len(scales) + scale_codes
    distinct, group = np.unique(combined, return_inverse=True)
    return [(kinds[code // (len(parts) * len(scales))], parts[code // len(scales) % len(parts)],
             scales[code % len(scales)]) for code in distinct.tolist()], group.reshape(-1)


def grim_messages(texts: Sequence[str], sizes: Sequence[Any], scorings: Sequence[tuple | None],
                  group: np.ndarray) -> dict[int, str]:
    """{row (from 0): its GRIM finding} for one arm's printed mean ``texts`` and ns, on the rows
    whose group (:func:`rule_groups`) has a scoring (:func:`grim_scoring`): worked out once per
    distinct (mean text, n, group), so the rows GRIM passes are never visited one by one."""
    scored = np.flatnonzero(coded_mask(group, scorings, bool)).tolist()
    keys = list(zip(map(texts.__getitem__, scored), map(sizes.__getitem__, scored), group[scored].tolist()))
    found = {key: grim_message(key[0], key[1], *scorings[key[2]]) for key in set(keys)}
    return {row: message for row, message in zip(scored, map(found.__getitem__, keys)) if message}


def table_problems(file: str | os.PathLike[str], header: Sequence[str], records: Sequence[Sequence[str]],
                   rows: Sequence[Mapping[str, Any]], instruments: dict) -> list[Problem]:
    """Every consistency finding of a validated table (typed ``rows`` beside their text ``records``):
    per row its SCS component, GRIM, SD bounds and printed test, then the arm sizes.  Each rule
    runs on the rows it applies to (found from the columns); the SCS rule and GRIM's scoring once
    per distinct (stat_type, component, instrument), GRIM once per distinct printed mean and n;
    the findings are then put in row order, a row's in the order of the rules."""
    file = str(file)
    known, columns = row_instruments(rows, instruments), columns_of(rows, TABLE_COLUMNS)
    keys, group = rule_groups(rows, known)
    scs = [scs_problems(part, scale, file, 0) for _, part, scale in keys]
    scorings = [grim_scoring(*key) for key in keys]
    groups, levels = group.tolist(), columns["analysis_set"]
    findings = [(number0, 0, replace(problem, row=number0 + 1))
                for number0 in np.flatnonzero(coded_mask(group, scs, bool)).tolist()
                for problem in scs[groups[number0]]]
    for order, arm in enumerate(("1", "2"), start=1):      # GRIM: only rows with a stat_type are scored
        means = column_cells(records, list(header).index(f"mean{arm}"))
        found = grim_messages(means, columns[f"n{arm}"], scorings, group)
        findings.extend((number0, order, Problem(file, number0 + 1, f"mean{arm}", message,
                                                 "error" if levels[number0] == "completers" else "warning"))
                        for number0, message in found.items())
    findings.extend(_printed_cell_findings(header, records, rows, known, columns, file))
    findings.sort(key=operator.itemgetter(0, 1))      # stable: a rule's findings in a row keep their order
    return [problem for _, _, problem in findings] + arm_size_problems(rows, file)


def _printed_cell_findings(header: Sequence[str], records: Sequence[Sequence[str]], rows: Sequence[Any],
                           known: Sequence[Instrument | None], columns: Mapping[str, Sequence[Any]],
                           file: str) -> list[tuple[int, int, Problem]]:
    """(row from 0, 3 or 4, problem): the SD bounds (:func:`sd_bound_problems`, on the rows
    :func:`sd_bound_rows` picks) and the printed test of the rows with a stat_type, which read
    the row's printed text."""
    index = {name: position for position, name in enumerate(header)}
    bounded, tested = sd_bound_rows(rows, known), present(columns["printed_test"])
    findings: list[tuple[int, int, Problem]] = []
    for number0 in np.flatnonzero(present(columns["stat_type"]) & (bounded | tested)).tolist():
        row, instrument, cells = rows[number0], known[number0], record_view(index, records, number0)
        if instrument and bounded[number0]:
            findings.extend((number0, 3, problem)
                            for problem in sd_bound_problems(row, cells, instrument, file, number0 + 1))
        printed = printed_test_problem(row, cells, file, number0 + 1) if tested[number0] else None
        if printed:
            findings.append((number0, 4, printed))
    return findings
