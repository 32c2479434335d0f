"""Whole-trial entry (``compassmeta trial add``): a trial declared once in a TOML or JSON file
becomes every comparison row of the study table, validated together and written all or none.

The file gives the trial's description (study_id, citation, doi, year, population, source,
license, ...), its arms (label; class intervention, with intervention, intervention_class,
format, sessions; or control, with control_type and control_detail; n randomised; n analysed
per timepoint), timepoints (label, schema timepoint, weeks after baseline), outcomes
(instrument, outcome construct, SCS component) and results.  A result block either belongs to
one arm (arm, outcome, timepoint and that arm's statistics: mean and sd; with pre_mean and
pre_sd; se or ci of an adjusted mean; median with quartiles and/or range) or to one comparison
(arm, versus, outcome, timepoint and a t, F, p, d or g route).  Each intervention arm is
compared with each control arm (a shared control is recorded in ``control_arm`` of every row
that uses it), wherever both arms have results, or a comparison block gives the statistics.
"""
import json
import operator
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress, repeat
from pathlib import Path
from typing import Any

from ..common.errors import InputError
from . import store
from .audit import Author
from .cross_checks import confirmation_note
from .instruments import Instrument, instrument_of, load_instruments
from .row_effects import row_effect
from .schema import Problem
from .table_text import Patch
from .tables import Table
from .validation import UNCOMPASSIONATE_PARTS

PathLike = str | os.PathLike[str]
Spec = dict[str, Any]    # a trial file's table (TOML) or object (JSON), or one of its entries
Cells = dict[str, str]   # a generated row's text cells by column

TRIAL_KEYS = {"study_id", "citation", "doi", "year", "population", "analysis_set", "risk_of_bias", "source",
              "source_doi", "license", "inclusion_note", "prepost_r", "n_total", "arms", "timepoints",
              "outcomes", "results"}
ARM_KEYS = {"label", "class", "intervention", "intervention_class", "format", "sessions",
            "intervention_duration", "control_type", "control_detail", "n_randomised", "n_analysed"}
TIMEPOINT_KEYS = {"label", "timepoint", "weeks"}
OUTCOME_KEYS = {"label", "outcome", "instrument", "scs_component", "higher_is_better"}
# an arm's statistic in a result block -> its column (the arm's number appended: 1 or 2)
ARM_STATISTICS = {"mean": "mean{}", "sd": "sd{}", "pre_mean": "pre_mean{}", "pre_sd": "pre_sd{}",
                  "se": "se{}", "ci_lower": "ci_lower{}", "ci_upper": "ci_upper{}", "median": "median{}",
                  "q1": "q1_{}", "q3": "q3_{}", "min": "min{}", "max": "max{}", "n": "n{}"}
COMPARISON_STATISTICS = {"statistic", "direction", "g", "se", "ci_lower", "ci_upper", "n1", "n2"}
COMPARISON_ROUTES = ("t", "f", "p", "d", "g_se", "g_ci", "g_n")
BLOCK_KEYS = {"arm", "versus", "outcome", "timepoint", "stat_type", "source", "prepost_r"}


def read_trial_file(path: PathLike) -> Spec:
    """The trial declared in a ``.toml`` or ``.json`` file (a dict), as written."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such trial file", file=path) from None
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            spec = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            spec = json.loads(text)
        else:
            raise InputError("a trial is a .toml or .json file", file=path)
    except ValueError as error:   # tomllib.TOMLDecodeError and JSONDecodeError are ValueErrors
        raise InputError(f"not a valid trial file: {error}", file=path) from None
    if not isinstance(spec, dict):
        raise InputError("a trial file holds one table (TOML) or object (JSON)", file=path)
    return spec


def cell(value: object) -> str:
    """A value of the trial file as the text of a table cell (quoted numbers keep their decimals)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value).strip()


def _entries(spec: Spec, key: str, known: set[str], file: object, required: bool = True) -> list[Spec]:
    """The list ``spec[key]`` of tables, each checked for unknown keys and a label."""
    items = spec.get(key, [])
    if not isinstance(items, list) or (required and not items):
        raise InputError(f"'{key}' must be a list of tables ([[{key}]] in TOML)", file=file, column=key)
    for index, item in enumerate(items, start=1):
        where = f"{key}[{index}]"
        if not isinstance(item, dict):
            raise InputError(f"{where} must be a table", file=file, column=where)
        unknown = sorted(set(item) - known)
        if unknown:
            raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(known))}",
                             file=file, column=where)
        if key != "results" and not cell(item.get("label")):
            raise InputError(f"{where} needs a label", file=file, column=f"{where}.label")
    return items


def _by_label(items: list[Spec], key: str, file: object) -> dict[str, Spec]:
    labels = {}
    for index, item in enumerate(items, start=1):
        label = cell(item["label"])
        if label in labels:
            raise InputError(f"{key}[{index}]: label '{label}' is used twice", file=file,
                             column=f"{key}[{index}]")
        labels[label] = item
    return labels


def _arms(spec: Spec, file: object) -> tuple[dict[str, Spec], dict[str, Spec]]:
    """(intervention arms, control arms): label -> table, each with its class checked."""
    arms = _by_label(_entries(spec, "arms", ARM_KEYS, file), "arms", file)
    for label, arm in arms.items():
        if arm.get("class") not in ("intervention", "control"):
            raise InputError(f"arm '{label}': class must be intervention or control, got "
                             f"{arm.get('class')!r}",
                             file=file, column="arms.class")
        if not isinstance(arm.get("n_analysed", {}), dict):
            raise InputError(f"arm '{label}': n_analysed is a table of timepoint label = n",
                             file=file, column="arms.n_analysed")
        size = arm.get("n_randomised")   # summed into n_total: a whole number as the schema reads one
        if size is not None and (isinstance(size, float) or not re.fullmatch(r"[0-9]+", cell(size))):
            raise InputError(f"arm '{label}': n_randomised must be a whole number in ASCII digits, got "
                             f"{size!r}", file=file, column="arms.n_randomised")
    interventions = {label: arm for label, arm in arms.items() if arm["class"] == "intervention"}
    controls = {label: arm for label, arm in arms.items() if arm["class"] == "control"}
    if not interventions or not controls:
        raise InputError("a trial needs at least one intervention arm and one control arm", file=file,
                         column="arms")
    return interventions, controls


def _outcome_cells(outcome: Spec, instruments: dict[str, Instrument], file: object) -> Cells:
    """The outcome's columns; higher_is_better from instruments.csv when the file leaves it out."""
    cells = {"outcome": cell(outcome.get("outcome")), "instrument": cell(outcome.get("instrument")),
             "scs_component": cell(outcome.get("scs_component")),
             "higher_is_better": cell(outcome.get("higher_is_better"))}
    known = instrument_of(cells, instruments)
    if known and not cells["higher_is_better"]:
        better = known.higher_is_better != (cells["scs_component"] in UNCOMPASSIONATE_PARTS)
        cells["higher_is_better"] = str(better).lower()
    if not cells["higher_is_better"]:
        raise InputError(f"outcome '{cell(outcome['label'])}': instrument {cells['instrument']!r} is not in "
                         "instruments.csv; give higher_is_better", file=file,
                         column="outcomes.higher_is_better")
    return cells


def _results(spec: Spec, arms: dict[str, Spec], outcomes: dict[str, Spec], timepoints: dict[str, Spec],
             file: object) -> tuple[dict[tuple[str, ...], Spec], dict[tuple[str, ...], Spec]]:
    """(arm results: (arm, outcome, timepoint) -> block, comparison results: (arm, versus,
    outcome, timepoint) -> block), every label checked against the declared ones."""
    known = BLOCK_KEYS | set(ARM_STATISTICS) | COMPARISON_STATISTICS
    by_arm: dict[tuple[str, ...], Spec] = {}
    by_comparison: dict[tuple[str, ...], Spec] = {}
    for index, block in enumerate(_entries(spec, "results", known, file), start=1):
        where = f"results[{index}]"
        for key, declared in (("arm", arms), ("versus", arms), ("outcome", outcomes),
                              ("timepoint", timepoints)):
            if (key != "versus" or "versus" in block) and cell(block.get(key)) not in declared:
                raise InputError(f"{where}: {key} {block.get(key)!r} is not declared ({', '.join(declared)})",
                                 file=file, column=f"{where}.{key}")
        place = (cell(block["arm"]), cell(block["outcome"]), cell(block["timepoint"]))
        target, full_key = ((by_comparison, (place[0], cell(block["versus"])) + place[1:])
                            if "versus" in block else (by_arm, place))
        if full_key in target:
            raise InputError(f"{where}: a second result block for {' / '.join(full_key)}", file=file,
                             column=where)
        target[full_key] = block
    return by_arm, by_comparison


def arm_route(block: Spec) -> str:
    """The stat_type an arm's result block gives (its own ``stat_type`` first)."""
    keys = set(block) & set(ARM_STATISTICS)
    if block.get("stat_type"):
        return cell(block["stat_type"])
    if "median" in keys:
        quartiles, ranges = {"q1", "q3"} <= keys, {"min", "max"} <= keys
        return ("median_iqr_range" if quartiles and ranges else "median_iqr" if quartiles
                else "median_range")
    if "pre_mean" in keys:
        return "pre_post"
    if "se" in keys:
        return "adjusted_se"
    if "ci_lower" in keys:
        return "adjusted_ci"
    return "means"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def trial_rows(spec: Spec, instruments: dict[str, Instrument], file: object = None
               ) -> tuple[list[Cells], list[str]]:
    """(rows as dicts of text cells, notes) of a declared trial: one row per intervention arm x
    control arm x outcome x timepoint with results; notes name the comparisons left out."""
    unknown = sorted(set(spec) - TRIAL_KEYS)
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(TRIAL_KEYS))}",
                         file=file)
    interventions, controls = _arms(spec, file)
    timepoints = _by_label(_entries(spec, "timepoints", TIMEPOINT_KEYS, file), "timepoints", file)
    outcomes = _by_label(_entries(spec, "outcomes", OUTCOME_KEYS, file), "outcomes", file)
    by_arm, by_comparison = _results(spec, {**interventions, **controls}, outcomes, timepoints, file)
    common = {name: cell(spec.get(name)) for name in ("study_id", "citation", "doi", "year", "population",
                                                      "analysis_set", "risk_of_bias", "source_doi", "license",
                                                      "inclusion_note")}
    n_total = cell(spec.get("n_total")) or _n_total(interventions, controls)
    several = len(interventions) > 1 or len(controls) > 1
    rows: list[Cells] = []
    notes: list[str] = []
    for o_label, outcome in outcomes.items():
        outcome_cells = _outcome_cells(outcome, instruments, file)
        for t_label, timepoint in timepoints.items():
            for i_label, arm in interventions.items():
                for c_label, control in controls.items():
                    statistics = _comparison_statistics(spec, by_arm, by_comparison, (i_label, c_label),
                                                        (o_label, t_label), arm, control, file)
                    if statistics is None:
                        notes.append(f"no results for {i_label} vs {c_label}, {o_label} at {t_label}: "
                                     "no row")
                        continue
                    es_id = "-".join([common["study_id"], slug(o_label)]
                                     + ([slug(i_label), "vs", slug(c_label)] if several else [])
                                     + [slug(t_label)])
                    rows.append({**common, **outcome_cells, **_arm_cells(arm, control, i_label, c_label),
                                 "es_id": es_id, "timepoint": cell(timepoint.get("timepoint", t_label)),
                                 "weeks_after_baseline": cell(timepoint.get("weeks")), "n_total": n_total,
                                 **statistics})
    return rows, notes


def _n_total(interventions: dict[str, Spec], controls: dict[str, Spec]) -> str:
    """Participants randomised to the whole trial, when every arm gives its n randomised."""
    sizes: list[Any] = [arm.get("n_randomised")
                        for arm in list(interventions.values()) + list(controls.values())]
    return str(sum(int(size) for size in sizes)) if all(size is not None for size in sizes) else ""


def _arm_cells(arm: Spec, control: Spec, i_label: str, c_label: str) -> Cells:
    return {"intervention": cell(arm.get("intervention")),
            "intervention_class": cell(arm.get("intervention_class")),
            "format": cell(arm.get("format")), "sessions": cell(arm.get("sessions")),
            "intervention_duration": cell(arm.get("intervention_duration")),
            "control_type": cell(control.get("control_type")),
            "control_detail": cell(control.get("control_detail")),
            "arm": i_label, "control_arm": c_label}


def _comparison_statistics(spec: Spec, by_arm: dict[tuple[str, ...], Spec],
                           by_comparison: dict[tuple[str, ...], Spec], arms: tuple[str, str],
                           place: tuple[str, str], arm: Spec, control: Spec,
                           file: object) -> Cells | None:
    """The statistic cells of one comparison, from its comparison block or its two arm blocks."""
    o_label, t_label = place
    sizes = {"n1": cell(arm.get("n_analysed", {}).get(t_label)),
             "n2": cell(control.get("n_analysed", {}).get(t_label))}
    block = by_comparison.get(arms + place)
    if block is not None:
        route = cell(block.get("stat_type"))
        if route not in COMPARISON_ROUTES:
            raise InputError(f"result {' / '.join(arms + place)}: a comparison block needs stat_type one of "
                             f"{', '.join(COMPARISON_ROUTES)}", file=file, column="results.stat_type")
        cells = {name: cell(block.get(name)) for name in COMPARISON_STATISTICS if name in block}
        return {**sizes, **cells, "stat_type": route, "source": _source(spec, block)}
    first, second = by_arm.get((arms[0],) + place), by_arm.get((arms[1],) + place)
    if first is None or second is None:
        return None
    routes = {arm_route(first), arm_route(second)}
    if len(routes) > 1:
        raise InputError(f"{arms[0]} and {arms[1]}, {o_label} at {t_label}: the arms' results give different "
                         f"routes ({', '.join(sorted(routes))})", file=file, column="results")
    cells = dict(sizes, stat_type=routes.pop(), source=_source(spec, first, second))
    for number, block in (("1", first), ("2", second)):
        cells.update({ARM_STATISTICS[key].format(number): cell(value) for key, value in block.items()
                      if key in ARM_STATISTICS})
    if cells["stat_type"] == "pre_post":
        cells["prepost_r"] = cell(first.get("prepost_r", spec.get("prepost_r")))
    return cells


def _source(spec: Spec, *blocks: Spec) -> str:
    """The trial's source, with the result blocks' own source notes appended."""
    parts = [cell(spec.get("source"))] + [cell(block.get("source")) for block in blocks]
    return "; ".join(dict.fromkeys(part for part in parts if part))


@dataclass(frozen=True)
class CheckedTrial:
    """The generated rows of a trial as the table would hold them, before writing."""

    rows: tuple[dict[str, Any], ...]          # typed rows
    effects: tuple[tuple[float, float], ...]  # (g, v) of each
    warnings: tuple[Problem, ...]             # warnings of the new table
    replaced: int        # rows of the trial already in the table that --replace removes


def trial_records(trial_file: PathLike, table: PathLike,
                  confirm_reason: str | None = None) -> tuple[list[Cells], list[str]]:
    """(rows as text cells, notes) of the trial in ``trial_file`` for the study table ``table``
    (whose data package gives the instruments)."""
    spec = read_trial_file(trial_file)
    rows, notes = trial_rows(spec, load_instruments(Path(table).parent / "datapackage.json"), trial_file)
    if not rows:
        raise InputError("no comparison has results for both arms: nothing to add", file=trial_file)
    if confirm_reason:
        for row in rows:
            row["inclusion_note"] = confirmation_note(row.get("inclusion_note", ""), confirm_reason)
    return rows, notes


def _replacing(records: list[Cells]) -> store.Change:
    """A change for :func:`store.rewrite_table`: each generated row whose es_id the trial already has
    replaces that row in place (the audit log compares rows by es_id: a row moved to the end would
    move unlogged, and an unchanged trial would still reorder the table); the trial's other rows
    out, the other generated rows appended."""
    study_id = records[0]["study_id"]

    def change(table: Table) -> Patch:
        trial = compress(range(len(table.rows)), map(operator.eq, table.column("study_id"), repeat(study_id)))
        es_id = table.header.index("es_id")
        numbers = {table.rows[number][es_id]: number for number in trial}
        replaced: dict[int, tuple[str, ...]] = {}
        added = []
        for record in records:
            cells = tuple(record.get(name, "") for name in table.header)
            number = numbers.get(cells[es_id])
            if number is None or number in replaced:
                added.append(cells)
            else:
                replaced[number] = cells
        return Patch(dropped=frozenset(numbers.values()) - replaced.keys(), replaced=replaced,
                     added=tuple(added))
    # (store.changed_table reads the key: the check of the preview serves the write)
    change.key = ("trial", tuple(tuple(sorted(record.items())) for record in records))  # type: ignore[attr-defined]
    return change


def check_trial(path: PathLike, records: list[Cells], replace: bool,
                resource: str = "trials") -> CheckedTrial:
    """The generated rows checked with the table (every check of ``validate``); nothing written."""
    if not replace:
        _, _, rows, effects, warnings = store.check_new_rows(path, records, None, resource)
        return CheckedTrial(tuple(rows), tuple(effects), tuple(warnings), 0)
    header, patch, typed, warnings = store.changed_table(path, _replacing(records), None, resource)
    places = _new_places(patch, len(typed) - len(patch.added) + len(patch.dropped), header.index("es_id"))
    rows = [typed[places[record.get("es_id", "")]] for record in records]
    numbers = {places[record.get("es_id", "")] + 1 for record in records}
    return CheckedTrial(tuple(rows), tuple(row_effect(row) for row in rows),
                        tuple(w for w in warnings if w.row in numbers),
                        len(patch.dropped) + len(patch.replaced))


def _new_places(patch: Patch, count: int, es_id: int) -> dict[str, int]:
    """es_id (the cell numbered ``es_id``) -> where each row ``patch`` writes lies in the new table
    (0-based), of a table of ``count`` rows (the checks refused a repeated es_id)."""
    places, place = {}, 0
    for piece in patch.pieces(count):
        if isinstance(piece, range):
            place += len(piece)
        else:
            places[piece[es_id]] = place
            place += 1
    return places


def write_trial(path: PathLike, records: list[Cells], replace: bool, resource: str = "trials",
                on_wait: Callable[[str], None] | None = None, author: Author | None = None) -> None:
    """Write the generated rows (all or none), appended or replacing the trial's rows, logged."""
    if replace:
        store.rewrite_table(path, _replacing(records), None, resource, on_wait=on_wait, author=author)
    else:
        store.append_rows(path, records, None, resource, on_wait=on_wait, author=author)
