"""The rules of a study table beyond its schema: which statistics each ``stat_type`` needs, a
CI that contains its estimate, one direction per instrument, scores within the instrument's
range, a plausible g; and :func:`all_problems`, every check of ``compassmeta validate``
(schema, these rules and the consistency checks of :mod:`consistency`) in one call.
Every problem names the file, the row (counted from the first data row) and the column.
"""
import math
import os
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..common.formatting import fmt_g
from . import consistency, cross_checks
from .columns import TypedRows, coded_mask, codes_of, columns_of, numbers_of, present
from .instruments import Instrument, instrument_codes, instrument_of, instrument_ranges, row_instruments
from .measure_routes import ROUTE_MEASURES, route_problems
from .row_effects import (
    CONVERTED_STAT_TYPES,
    REQUIRED_STATISTICS,
    SIGNED_BY_DIRECTION,
    row_effect,
    table_effects,
)
from .schema import Problem, Schema, header_problems, typed_rows
from .tables import paused_gc

# SCS parts scored so that higher means less self-compassion (Neff 2003; Muris & Otgaar 2022)
UNCOMPASSIONATE_PARTS = ("uncompassionate", "self_judgment", "isolation", "over_identification")
LARGE_G = 5.0


def instrument_problems(row: dict, instrument: Instrument, file: str, number: int) -> list:
    """Means outside the instrument's range (errors), SDs above half the range (warnings),
    and a direction that contradicts the instrument (error)."""
    problems = []
    better_high = instrument.higher_is_better != (row.get("scs_component") in UNCOMPASSIONATE_PARTS)
    if row.get("higher_is_better") is not None and row["higher_is_better"] != better_high:
        way = "higher" if better_high else "lower"
        part = f" ({row['scs_component']})" if row.get("scs_component") else ""
        problems.append(Problem(file, number, "higher_is_better",
                                f"{instrument.name}{part}: {way} scores are better, so "
                                f"higher_is_better must be {str(better_high).lower()}"))
    if row.get("stat_type") not in ("means", "pre_post"):
        return problems
    half_range = (instrument.maximum - instrument.minimum) / 2
    for name in ("mean1", "mean2", "pre_mean1", "pre_mean2"):
        value = row.get(name)
        if value is not None and not instrument.minimum <= value <= instrument.maximum:
            problems.append(Problem(file, number, name, f"{value:g} lies outside the {instrument.name} range "
                                                        f"{instrument.minimum:g}-{instrument.maximum:g}"))
    for name in ("sd1", "sd2", "pre_sd1", "pre_sd2"):
        value = row.get(name)
        if value is not None and value > half_range:
            problems.append(Problem(file, number, name, f"SD {value:g} exceeds half the {instrument.name} "
                                                        f"range ({half_range:g}): implausible", "warning"))
    return problems


UNKNOWN = object()


def row_problems(row: dict, file: str, number: int, instruments: dict | None = None,
                 effect: tuple | None = None,
                 instrument: Any = UNKNOWN) -> list:  # Instrument, None or UNKNOWN
    """Rules beyond the schema for one typed row (``effect``: its (g, v) and ``instrument``: its
    known instrument or None, if already found)."""
    problems: list[Problem] = []
    if instrument is UNKNOWN:
        instrument = instrument_of(row, instruments or {})
    if instrument:
        problems.extend(instrument_problems(row, instrument, file, number))
        if any(p.level == "error" for p in problems):
            return problems
    kind = row.get("stat_type")
    if kind is None:
        return problems
    missing = missing_statistics(row, file, number)
    problems.extend(missing)
    if missing or row.get("higher_is_better") is None:
        return problems
    routed = route_problems(row, file, number)
    if routed:
        return problems + routed
    contradiction = sign_problem(row, file, number)
    if contradiction:
        return problems + [contradiction]
    if kind == "g_ci" and not row["ci_lower"] < row["g"] < row["ci_upper"]:
        problems.append(Problem(file, number, "ci_lower", f"the CI [{row['ci_lower']}, {row['ci_upper']}] "
                                                          f"does not contain g = {row['g']}"))
        return problems
    if kind == "p" and not 0 < row["statistic"] <= 1:
        problems.append(Problem(file, number, "statistic",
                                f"a p value must lie in (0, 1], got {row['statistic']}"))
        return problems
    if kind == "f" and row["statistic"] < 0:
        problems.append(Problem(file, number, "statistic",
                                f"an F statistic cannot be negative, got {row['statistic']}"))
        return problems
    found = effect_problem(row, file, number, effect)
    if found:
        problems.append(found)
    if kind in CONVERTED_STAT_TYPES:
        problems.append(Problem(file, number, "stat_type",
                                f"converted: means and SDs estimated from {kind.removeprefix('median_')} "
                                "(Luo et al. 2018; Wan et al. 2014), assuming roughly normal scores",
                                "warning"))
    return problems


def missing_statistics(row: dict, file: str, number: int, reported: Container[str] = ()) -> list:
    """A problem for each statistic the row's stat_type needs that is blank (columns in
    ``reported`` already have a problem and are left out)."""
    kind = row.get("stat_type")
    if kind not in REQUIRED_STATISTICS:    # blank, or a stat_type refused on its own cell
        return []
    return [Problem(file, number, name, f"stat_type '{kind}' needs a value here")
            for name in REQUIRED_STATISTICS[kind] if row.get(name) is None and name not in reported]


def sign_problem(row: dict, file: str, number: int) -> Problem | None:
    """A negative t, d or g on a row whose ``direction`` says the intervention arm scored higher
    (+1): the two disagree on the sign, so the row is refused; else None."""
    name = SIGNED_BY_DIRECTION.get(row["stat_type"])
    if name is None or row.get("direction") != 1 or row[name] >= 0:
        return None
    return Problem(file, number, name,
                   f"{name} {row[name]:g} is negative but direction is +1 (intervention arm higher): enter "
                   "the value unsigned with its direction, or correct the sign")


def effect_problem(row: dict, file: str, number: int, effect: tuple | None = None) -> Problem | None:
    """A row whose statistics give no finite g and variance, overflow floating point (an SD of
    1e308 would give g = 0), or give an implausibly large g; else None.  ``effect``: the row's
    (g, v) computed without overflow (:func:`row_effects.table_effects`), if known."""
    if effect is None:
        with np.errstate(over="raise", divide="raise"):
            try:
                effect = row_effect(row)
            except (FloatingPointError, OverflowError, ZeroDivisionError):
                return overflow_problem(row, file, number)
    g, v = effect
    if not (math.isfinite(g) and math.isfinite(v) and v > 0):
        return Problem(file, number, "stat_type", "the statistics do not give a finite g and variance")
    if abs(g) > LARGE_G:
        return standard_errors_as_sds(row, g, file, number) or implausible_g_problem(row, g, file, number)
    return None


def overflow_problem(row: dict, file: str, number: int) -> Problem:
    """The statistic of a row farthest from 1 in magnitude, named as too large or small to compute with."""
    numbers = [name for name in REQUIRED_STATISTICS[row["stat_type"]]
               if isinstance(row[name], float) and row[name]]
    if not numbers:
        return Problem(file, number, "stat_type", "the statistics are too large to compute g with")
    extreme = max(numbers, key=lambda name: abs(math.log10(abs(row[name]))))
    return Problem(file, number, extreme,
                   f"{row[extreme]:g} is too large or too small to compute g with (the arithmetic overflows)")


def standard_errors_as_sds(row: Mapping[str, Any], g: float, file: str, number: int) -> Problem | None:
    """An error when a means row's g is implausibly large (beyond LARGE_G) but becomes plausible
    once its SDs are read as standard errors of the means (SD = SE sqrt(n)); else None."""
    if row["stat_type"] not in ("means", "change"):
        return None
    as_sds = dict(row, stat_type="adjusted_se", se1=row["sd1"], se2=row["sd2"])
    g_if_se, _ = row_effect(as_sds)
    if abs(g_if_se) > LARGE_G:
        return None
    return Problem(file, number, "sd1",
                   f"sd1 and sd2 look like standard errors, not SDs: they give g = {g:.2f}, read as SEs "
                   f"(SD = SE sqrt(n)) g = {g_if_se:.2f}; enter the SDs, or the SEs in se1/se2 with "
                   "stat_type adjusted_se")


IMPLAUSIBLE_CONFIRMED = cross_checks.CONFIRMED   # in inclusion_note: add/edit --confirm-implausible
SUSPECT_COLUMN = {"means": "sd1", "change": "sd1", "pre_post": "sd1", "g_se": "se", "g_ci": "g",
                  "t": "statistic", "f": "statistic", "p": "statistic", "d": "statistic", "g_n": "g",
                  "adjusted_se": "se1", "adjusted_ci": "ci_lower1", "median_iqr": "q1_1",
                  "median_range": "min1", "median_iqr_range": "q1_1", "events": "events1",
                  "correlation": "correlation", "pre_post_smcr": "pre_sd1"}


def implausible_g_problem(row: Mapping[str, Any], g: float, file: str, number: int) -> Problem:
    """|g| beyond LARGE_G: an error on the column most likely wrong, a warning once the row's
    inclusion_note records that a curator confirmed it."""
    confirmed = IMPLAUSIBLE_CONFIRMED in (row.get("inclusion_note") or "")
    hint = ("an SE entered as an SD, or a sum entered as a mean?" if SUSPECT_COLUMN[row["stat_type"]] == "sd1"
            else "check the reported statistics.")
    message = f"g = {fmt_g(g)} is beyond |{LARGE_G:g}|: " + (
        "confirmed in inclusion_note" if confirmed else f"{hint} If the value is right, confirm it "
        "(add/edit --confirm-implausible REASON)")
    return Problem(file, number, SUSPECT_COLUMN[row["stat_type"]], message,
                   "warning" if confirmed else "error")



def direction_problem(row: dict, known: Instrument | None, file: str, number: int,
                      directions: dict) -> Problem | None:
    """An unknown instrument whose direction differs from its first row's, or None (``directions``
    is updated); a known instrument's direction is checked against the instrument itself."""
    if row.get("instrument") is None or row.get("higher_is_better") is None or known:
        return None
    first = directions.setdefault(row["instrument"].lower(), (row["higher_is_better"], number))
    if first[0] == row["higher_is_better"]:
        return None
    return Problem(file, number, "higher_is_better",
                   f"instrument '{row['instrument']}' runs the other way in row {first[1]}")


def validate_text(path: str | os.PathLike[str], header: Sequence[str], records: Sequence[Sequence[str]],
                  schema: Schema, instruments: dict | None = None) -> tuple:
    """Every problem of a table given as header + text records; typed rows alongside.

    ``instruments`` (from :func:`instruments.load_instruments`) adds the range checks of known scales.
    """
    problems, typed, _ = checked_text(path, header, records, schema, instruments)
    return problems, typed


def checked_text(path: str | os.PathLike[str], header: Sequence[str], records: Sequence[Sequence[str]],
                 schema: Schema, instruments: dict | None = None) -> tuple:
    """(problems, typed rows, (g, v, done) as :func:`row_effects.table_effects` gives them, or None
    for a table without ``stat_type``): :func:`validate_text` with the effects it computed."""
    file = str(path)
    problems = header_problems(file, header, schema)
    if any(problem.column for problem in problems):
        return problems, [], None
    with paused_gc():
        typed, cell_problems, columns = typed_rows(header, records, schema, file)
        typed = TypedRows(typed, columns)
        effects = table_effects(typed, columns) if "stat_type" in schema.names else None
        known = row_instruments(typed, instruments or {})
        unknowns = directed_unknowns(typed, known)
        directions = first_directions(unknowns)
        g, v, done = (effects[0].tolist(), effects[1].tolist(), effects[2].tolist()) if effects else ((),) * 3
        ruled = rows_to_check(typed, known, effects) if effects else np.ones(len(typed), dtype=bool)
        looked_at = ruled | _contrary_directions(unknowns)
        looked_at[[number - 1 for number in cell_problems]] = True
        for number in (np.flatnonzero(looked_at) + 1).tolist():
            row = typed[number - 1]
            found = cell_problems.get(number, [])
            direction = direction_problem(row, known[number - 1], file, number, directions)
            if direction:
                found.append(direction)
            if not found and ruled[number - 1]:
                effect = (g[number - 1], v[number - 1]) if done and done[number - 1] else None
                found = row_problems(row, file, number, instruments, effect, known[number - 1])
            elif found:   # list every missing statistic with the row's other problems, in one run
                found.extend(missing_statistics(row, file, number, {problem.column for problem in found}))
            problems.extend(found)
    return problems, typed, effects


class DirectedUnknowns(NamedTuple):
    """The rows :func:`direction_problem` compares: those that name an instrument that is not a
    known one and give a direction."""

    rows: np.ndarray         # the rows, counted from 0
    names: list[str]         # the instruments they name, in lower case, each once
    name_codes: np.ndarray   # each row's instrument as a position in ``names``
    ways: np.ndarray         # each row's direction, 1 or 0
    firsts: np.ndarray       # the position among ``rows`` of each instrument's first row
    table_size: int          # rows in the table


def directed_unknowns(rows: Sequence[Any], known: Sequence[Instrument | None]) -> DirectedUnknowns:
    """The :class:`DirectedUnknowns` of a table's typed ``rows`` (``known``: their instruments)."""
    codes, texts = codes_of(rows, "instrument")
    lowered = {text: text.lower() for text in texts if text is not None}
    names = list(dict.fromkeys(lowered.values()))
    name_codes = {name: code for code, name in enumerate(names)}
    row_names = np.array([name_codes[lowered[text]] if text is not None else -1 for text in texts],
                         dtype=np.intp)
    scale_codes, scales = instrument_codes(known)
    way = numbers_of(rows, "higher_is_better")
    directed = np.flatnonzero((row_names[codes] >= 0) & ~np.isnan(way)
                              & coded_mask(scale_codes, scales, lambda scale: scale is None))
    directed_names = row_names[codes[directed]]
    firsts = np.unique(directed_names, return_index=True)[1]
    return DirectedUnknowns(directed, names, directed_names, way[directed], firsts, len(known))


def first_directions(directed: DirectedUnknowns) -> dict:
    """{instrument in lower case: (direction, row number)} of the first row of each unknown
    instrument with a direction: what :func:`direction_problem` records as it meets the rows in
    order, found beforehand so that it need meet only the rows that contradict it."""
    return {directed.names[directed.name_codes[at]]: (bool(directed.ways[at]), int(directed.rows[at]) + 1)
            for at in directed.firsts.tolist()}


def _contrary_directions(directed: DirectedUnknowns) -> np.ndarray:
    """Rows naming an unknown instrument against the direction of its first row: those
    :func:`direction_problem` flags."""
    first_ways = np.empty(len(directed.names))
    first_ways[directed.name_codes[directed.firsts]] = directed.ways[directed.firsts]
    contrary = np.zeros(directed.table_size, dtype=bool)
    contrary[directed.rows[directed.ways != first_ways[directed.name_codes]]] = True
    return contrary


def rows_to_check(rows: Sequence[Any], known: Sequence[Instrument | None], effects: tuple) -> np.ndarray:
    """Which rows :func:`row_problems` could find a problem in: the conditions of its rules
    evaluated over whole columns, a superset of the rows they flag (a known instrument's range
    and direction, a statistic missing or uncomputable, a measure, a sign against direction, a
    CI, p or F out of range, a g not finite or beyond LARGE_G, a converted stat_type).  The rules
    themselves then judge these rows alone, so each message comes from one implementation."""
    g, v, done = effects
    codes, kinds = codes_of(rows, "stat_type")
    length = len(done)

    def of_kind(names: Container[str | None]) -> np.ndarray:
        return coded_mask(codes, kinds, names.__contains__)

    def number(name: str) -> np.ndarray:
        return numbers_of(rows, name)

    try:
        check = ~done & ~of_kind((None,))
        with np.errstate(invalid="ignore"):
            check |= done & ~(np.isfinite(g) & np.isfinite(v) & (v > 0) & (np.abs(g) <= LARGE_G))
        check |= of_kind(CONVERTED_STAT_TYPES + tuple(ROUTE_MEASURES))
        check |= present(columns_of(rows, ("measure",))["measure"])
        for column in ("statistic", "g"):
            signed_here = of_kind({kind for kind, name in SIGNED_BY_DIRECTION.items() if name == column})
            check |= signed_here & (number("direction") == 1) & (number(column) < 0)
        statistic, estimate = number("statistic"), number("g")
        check |= of_kind(("g_ci",)) & ~((number("ci_lower") < estimate) & (estimate < number("ci_upper")))
        check |= of_kind(("p",)) & ~((statistic > 0) & (statistic <= 1)) | of_kind(("f",)) & (statistic < 0)
        scored = of_kind(("means", "pre_post"))
        return check | _instrument_rows(codes_of(rows, "scs_component"), known, scored, number)
    except OverflowError:      # a number beyond floating point: let the rules look at every row
        return np.ones(length, dtype=bool)


def _instrument_rows(components: tuple[np.ndarray, list], known: Sequence[Instrument | None],
                     scored: np.ndarray, number: Callable[[str], np.ndarray]) -> np.ndarray:
    """Rows whose known instrument is contradicted by their direction or, on ``scored`` rows, by
    its range (:func:`instrument_problems`); ``components``: the scs_component column's codes."""
    codes, scales = instrument_codes(known)
    part_codes, parts = components
    better_high = coded_mask(codes, scales, lambda scale: scale and scale.higher_is_better)
    reversed_part = coded_mask(part_codes, parts, UNCOMPASSIONATE_PARTS.__contains__)
    way = number("higher_is_better")      # 1, 0 or nan (blank)
    check = coded_mask(codes, scales, bool) & ~np.isnan(way) & ((way == 1) != (better_high != reversed_part))
    low, high = instrument_ranges(known)
    outside = np.zeros(len(known), dtype=bool)
    for name in ("mean1", "mean2", "pre_mean1", "pre_mean2"):
        outside |= (number(name) < low) | (number(name) > high)
    for name in ("sd1", "sd2", "pre_sd1", "pre_sd2"):
        outside |= number(name) > (high - low) / 2
    return check | scored & outside


def all_problems(path: str | os.PathLike[str], header: Sequence[str], records: Sequence[Sequence[str]],
                 schema: Schema, instruments: dict) -> tuple:
    """(problems, typed rows): every check of ``compassmeta validate`` on a table given as text.
    A trials table that passes the schema and the row rules also gets the consistency checks, the
    checks across rows and the plausibility checks (:mod:`cross_checks`)."""
    problems, typed = validate_text(path, header, records, schema, instruments)
    if schema.name != "trials" or any(problem.level == "error" for problem in problems):
        return problems, typed
    with paused_gc():
        found = consistency.table_problems(path, header, records, typed, instruments)
        return problems + found + cross_checks.table_problems(typed, path, instruments), typed
