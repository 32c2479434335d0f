"""The curated study table: schema, validation, effect sizes per row, and safe appends.

The schema is a Frictionless Table Schema in ``studies/datapackage.json``; this module
enforces its types and constraints (required, unique, enum, minimum, maximum,
exclusiveMinimum, pattern) plus the rules that a schema cannot state: which statistics each
``stat_type`` needs, a CI that contains its estimate, one direction per instrument.
Every problem names the file, the row (counted from the first data row) and the column.
"""
import contextlib
import csv
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.errors import InputError, did_you_mean
from ..common.files import read_json, write_atomically
from . import effects
from .tables import read_table

REQUIRED_STATISTICS = {
    "means": ("n1", "n2", "mean1", "sd1", "mean2", "sd2"),
    "change": ("n1", "n2", "mean1", "sd1", "mean2", "sd2"),
    "pre_post": ("n1", "n2", "mean1", "sd1", "mean2", "sd2", "pre_mean1", "pre_sd1", "pre_mean2",
                 "pre_sd2", "prepost_r"),
    "t": ("n1", "n2", "statistic"),
    "f": ("n1", "n2", "statistic", "direction"),
    "p": ("n1", "n2", "statistic", "direction"),
    "g_se": ("g", "se"),
    "g_ci": ("g", "ci_lower", "ci_upper"),
    "adjusted_se": ("n1", "n2", "mean1", "se1", "mean2", "se2"),
    "adjusted_ci": ("n1", "n2", "mean1", "ci_lower1", "ci_upper1", "mean2", "ci_lower2", "ci_upper2"),
    "d": ("n1", "n2", "statistic"),
    "g_n": ("n1", "n2", "g"),
    "median_iqr": ("n1", "n2", "median1", "q1_1", "q3_1", "median2", "q1_2", "q3_2"),
    "median_range": ("n1", "n2", "median1", "min1", "max1", "median2", "min2", "max2"),
    "median_iqr_range": ("n1", "n2", "median1", "q1_1", "q3_1", "min1", "max1", "median2", "q1_2", "q3_2",
                         "min2", "max2"),
}
# SCS parts scored so that higher means less self-compassion (Neff 2003; Muris & Otgaar 2022)
UNCOMPASSIONATE_PARTS = ("uncompassionate", "self_judgment", "isolation", "over_identification")
CONVERTED_STAT_TYPES = ("median_iqr", "median_range", "median_iqr_range")
LARGE_G = 5.0


@dataclass(frozen=True)
class Problem:
    """One finding of validation; ``level`` is 'error' or 'warning'."""

    file: str
    row: int | None
    column: str | None
    message: str
    level: str = "error"

    def __str__(self):
        return str(InputError(self.message, file=self.file, row=self.row, column=self.column))


@dataclass(frozen=True)
class Schema:
    """The fields of one resource of the data package."""

    name: str
    fields: tuple
    primary_key: tuple = ()
    path: str = ""            # the resource's file, relative to the package

    @property
    def names(self):
        return tuple(f["name"] for f in self.fields)

    @classmethod
    def load(cls, package_path, resource):
        package = read_json(package_path, "data package (the schema) beside the table")
        for entry in package["resources"]:
            if entry["name"] == resource:
                schema = entry["schema"]
                return cls(name=resource, fields=tuple(schema["fields"]),
                           primary_key=tuple(schema.get("primaryKey", ())), path=entry.get("path", ""))
        raise InputError(f"no resource '{resource}' in the data package", file=package_path)


def convert(text, field_type):
    """A cell's text as its schema type; ValueError with a reason if it does not parse."""
    if field_type == "string":
        return text
    if field_type == "integer":
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(f"not a whole number: '{text}'")
        return int(text)
    if field_type == "number":
        try:
            value = float(text)
        except ValueError:
            hint = " (decimal comma? use a point)" if re.fullmatch(r"[+-]?\d+,\d+", text) else ""
            raise ValueError(f"not a number: '{text}'{hint}") from None
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: '{text}'")
        return value
    if field_type == "boolean":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise ValueError(f"not true or false: '{text}'")
    raise ValueError(f"unsupported field type {field_type}")


def check_constraints(value, spec):
    """The first constraint of a field that ``value`` breaks, as a message, or None."""
    constraints = spec.get("constraints", {})
    if "enum" in constraints and value not in constraints["enum"]:
        return f"'{value}' is not one of: {', '.join(map(str, constraints['enum']))}"
    if "minimum" in constraints and value < constraints["minimum"]:
        return f"{value} is below the minimum {constraints['minimum']}"
    if "maximum" in constraints and value > constraints["maximum"]:
        return f"{value} is above the maximum {constraints['maximum']}"
    if "exclusiveMinimum" in constraints and value <= constraints["exclusiveMinimum"]:
        return f"must be greater than {constraints['exclusiveMinimum']}, got {value}"
    if "pattern" in constraints and not re.fullmatch(constraints["pattern"], str(value)):
        return f"'{value}' does not match the pattern {constraints['pattern']}"
    return None


def typed_row(cells, schema, file, number, problems):
    """Convert one row's text cells (a dict) to typed values, recording problems."""
    row = {}
    for spec in schema.fields:
        name = spec["name"]
        text = cells.get(name, "").strip()
        if text == "":
            if spec.get("constraints", {}).get("required"):
                problems.append(Problem(file, number, name, "required value is missing"))
            row[name] = None
            continue
        try:
            value = convert(text, spec["type"])
        except ValueError as error:
            problems.append(Problem(file, number, name, str(error)))
            row[name] = None
            continue
        message = check_constraints(value, spec)
        if message:
            problems.append(Problem(file, number, name, message))
        row[name] = value
    return row


def row_effect(row):
    """Hedges' g and its variance for one typed row, oriented so positive favours the intervention."""
    kind = row["stat_type"]
    n1, n2 = row.get("n1"), row.get("n2")
    if kind in ("means", "change"):
        g, v = effects.g_from_means(row["mean1"], row["sd1"], n1, row["mean2"], row["sd2"], n2)
    elif kind == "pre_post":
        g, v = effects.g_from_pre_post(row["pre_mean1"], row["pre_sd1"], row["mean1"], row["sd1"], n1,
                                       row["pre_mean2"], row["pre_sd2"], row["mean2"], row["sd2"], n2,
                                       r=row["prepost_r"])
    elif kind == "t":
        g, v = effects.g_from_t(row["statistic"], n1, n2)
    elif kind == "f":
        g, v = effects.g_from_f(row["statistic"], n1, n2, row["direction"])
    elif kind == "p":
        g, v = effects.g_from_p(row["statistic"], n1, n2, row["direction"])
    elif kind == "g_se":
        g, v = effects.g_from_se(row["g"], row["se"])
    elif kind == "g_ci":
        g, v = effects.g_from_ci(row["g"], row["ci_lower"], row["ci_upper"])
    elif kind == "d":
        g, v = effects.g_from_d(row["statistic"], n1, n2)
    elif kind == "g_n":
        g, v = effects.g_from_g_and_ns(row["g"], n1, n2)
    else:
        g, v = effects.g_from_means(*arm_means_sds(row), convention="metafor")
    return float(effects.orient(g, row["higher_is_better"])), float(v)


def arm_means_sds(row):
    """(mean1, sd1, n1, mean2, sd2, n2) of a row whose statistics turn into means and SDs:
    adjusted means with SEs or CIs, or medians with quartiles and/or ranges (converted;
    see :func:`effects.mean_sd_from_quantiles`).  ``d`` and ``g_n`` rows give d against SD 1."""
    kind, n1, n2 = row["stat_type"], row["n1"], row["n2"]
    if kind == "adjusted_se":
        return (row["mean1"], effects.sd_from_se(row["se1"], n1), n1,
                row["mean2"], effects.sd_from_se(row["se2"], n2), n2)
    if kind == "adjusted_ci":
        return (row["mean1"], effects.sd_from_ci(row["ci_lower1"], row["ci_upper1"], n1), n1,
                row["mean2"], effects.sd_from_ci(row["ci_lower2"], row["ci_upper2"], n2), n2)
    if kind in CONVERTED_STAT_TYPES:
        quartiles, ranges = kind != "median_range", kind != "median_iqr"
        arms = []
        for arm, n in (("1", n1), ("2", n2)):
            mean, sd = effects.mean_sd_from_quantiles(
                n, row[f"median{arm}"],
                q1=row[f"q1_{arm}"] if quartiles else None, q3=row[f"q3_{arm}"] if quartiles else None,
                minimum=row[f"min{arm}"] if ranges else None, maximum=row[f"max{arm}"] if ranges else None)
            arms += [float(mean), float(sd), n]
        return tuple(arms)
    raise ValueError(f"stat_type {kind!r} has no means and SDs")


@dataclass(frozen=True)
class Instrument:
    name: str
    minimum: float
    maximum: float
    higher_is_better: bool
    items: int | None = None    # whole-number items forming the score (GRIM), if a plain sum or mean
    score: str = "other"        # sum, item_mean or other


def load_instruments(package):
    """Score ranges from the package's ``instruments`` resource, keyed by lower-case name and alias."""
    package = Path(package)
    try:
        schema = Schema.load(package, "instruments")
    except InputError:
        return {}
    path = package.parent / schema.path
    table = read_table(path)
    problems, rows = validate_text(path, table.header, table.rows, schema)
    raise_first_error(problems)
    known = {}
    for row in rows:
        instrument = Instrument(row["instrument"], row["minimum"], row["maximum"], row["higher_is_better"],
                                row["items"], row["score"])
        for name in [row["instrument"]] + (row["aliases"] or "").split(";"):
            if name.strip():
                known[name.strip().lower()] = instrument
    return known


def instrument_of(row, instruments):
    """The known instrument a row's instrument cell names (the text before ' ('), or None."""
    name = (row.get("instrument") or "").split(" (")[0].strip().lower()
    return instruments.get(name)


def instrument_problems(row, instrument, file, number):
    """Means outside the instrument's range (errors), SDs above half the range (warnings),
    and a direction that contradicts the instrument (error)."""
    problems = []
    better_high = instrument.higher_is_better != (row.get("scs_component") in UNCOMPASSIONATE_PARTS)
    if row.get("higher_is_better") is not None and row["higher_is_better"] != better_high:
        way = "higher" if better_high else "lower"
        part = f" ({row['scs_component']})" if row.get("scs_component") else ""
        problems.append(Problem(file, number, "higher_is_better",
                                f"{instrument.name}{part}: {way} scores are better, so higher_is_better must be "
                                f"{str(better_high).lower()}"))
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
            problems.append(Problem(file, number, name, f"SD {value:g} exceeds half the {instrument.name} range "
                                                        f"({half_range:g}): implausible", "warning"))
    return problems


def row_problems(row, file, number, instruments=None):
    """Rules beyond the schema for one typed row."""
    problems = []
    instrument = instrument_of(row, instruments or {})
    if instrument:
        problems.extend(instrument_problems(row, instrument, file, number))
        if any(p.level == "error" for p in problems):
            return problems
    kind = row.get("stat_type")
    if kind is None:
        return problems
    missing = [name for name in REQUIRED_STATISTICS[kind] if row.get(name) is None]
    for name in missing:
        problems.append(Problem(file, number, name, f"stat_type '{kind}' needs a value here"))
    if missing or row.get("higher_is_better") is None:
        return problems
    if kind == "g_ci" and not row["ci_lower"] < row["g"] < row["ci_upper"]:
        problems.append(Problem(file, number, "ci_lower",
                                f"the CI [{row['ci_lower']}, {row['ci_upper']}] does not contain g = {row['g']}"))
        return problems
    if kind == "p" and not 0 < row["statistic"] <= 1:
        problems.append(Problem(file, number, "statistic", f"a p value must lie in (0, 1], got {row['statistic']}"))
        return problems
    if kind == "f" and row["statistic"] < 0:
        problems.append(Problem(file, number, "statistic", f"an F statistic cannot be negative, got {row['statistic']}"))
        return problems
    g, v = row_effect(row)
    if not (math.isfinite(g) and math.isfinite(v) and v > 0):
        problems.append(Problem(file, number, "stat_type", "the statistics do not give a finite g and variance"))
    elif abs(g) > LARGE_G:
        problems.append(standard_errors_as_sds(row, g, file, number) or implausible_g_problem(row, g, file, number))
    if kind in CONVERTED_STAT_TYPES:
        problems.append(Problem(file, number, "stat_type",
                                f"converted: means and SDs estimated from {kind.removeprefix('median_')} "
                                "(Luo et al. 2018; Wan et al. 2014), assuming roughly normal scores", "warning"))
    return problems


def standard_errors_as_sds(row, g, file, number):
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


IMPLAUSIBLE_CONFIRMED = "implausible value confirmed"   # in inclusion_note: add/edit --confirm-implausible
SUSPECT_COLUMN = {"means": "sd1", "change": "sd1", "pre_post": "sd1", "g_se": "se", "g_ci": "g",
                  "t": "statistic", "f": "statistic", "p": "statistic", "d": "statistic", "g_n": "g",
                  "adjusted_se": "se1", "adjusted_ci": "ci_lower1", "median_iqr": "q1_1",
                  "median_range": "min1", "median_iqr_range": "q1_1"}


def implausible_g_problem(row, g, file, number):
    """|g| beyond LARGE_G: an error on the column most likely wrong, a warning once the row's
    inclusion_note records that a curator confirmed it."""
    confirmed = IMPLAUSIBLE_CONFIRMED in (row.get("inclusion_note") or "")
    hint = ("an SE entered as an SD, or a sum entered as a mean?" if SUSPECT_COLUMN[row["stat_type"]] == "sd1"
            else "check the reported statistics")
    message = f"g = {g:.2f} is beyond |{LARGE_G:g}|: " + (
        "confirmed in inclusion_note" if confirmed else f"{hint} If the value is right, confirm it "
        "(add/edit --confirm-implausible REASON)")
    return Problem(file, number, SUSPECT_COLUMN[row["stat_type"]], message, "warning" if confirmed else "error")


@dataclass(frozen=True)
class StudyTable:
    """A validated study table: typed rows and each row's effect size."""

    path: str
    schema: Schema
    rows: tuple
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    warnings: tuple = ()

    def column(self, name):
        return [row[name] for row in self.rows]

    def __len__(self):
        return len(self.rows)

    def to_frame(self):
        import pandas as pd

        frame = pd.DataFrame(list(self.rows), columns=self.schema.names)
        frame["yi"], frame["vi"] = self.yi, self.vi
        return frame


def validate_text(path, header, records, schema, instruments=None):
    """Every problem of a table given as header + text records; typed rows alongside.

    ``instruments`` (from :func:`load_instruments`) adds the range checks of known scales.
    """
    problems = []
    file = str(path)
    missing = [name for name in schema.names if name not in header]
    unknown = [name for name in header if name not in schema.names]
    for name in missing:
        problems.append(Problem(file, None, name, "column required by the schema is missing"))
    for name in unknown:
        hint = did_you_mean(name, missing or schema.names) or " (studies/datapackage.json)"
        problems.insert(0, Problem(file, None, name, "column is not in the schema" + hint))
    if not missing and not unknown and tuple(header) != schema.names:
        problems.append(Problem(file, None, None, "columns are not in the schema's order"))
    if missing or unknown:
        return problems, []
    typed = []
    seen_keys = {}
    directions = {}
    for number, record in enumerate(records, start=1):
        cells = dict(zip(header, record))
        row_problem_count = len(problems)
        row = typed_row(cells, schema, file, number, problems)
        for spec in schema.fields:
            if spec.get("constraints", {}).get("unique") and row[spec["name"]] is not None:
                key = (spec["name"], row[spec["name"]])
                if key in seen_keys:
                    problems.append(Problem(file, number, spec["name"],
                                            f"duplicate value '{row[spec['name']]}' (also row {seen_keys[key]})"))
                seen_keys.setdefault(key, number)
        known = instrument_of(row, instruments or {})
        if row.get("instrument") is not None and row.get("higher_is_better") is not None and not known:
            # a known instrument's direction is checked against the instrument itself
            instrument = row["instrument"].lower()
            first = directions.setdefault(instrument, (row["higher_is_better"], number))
            if first[0] != row["higher_is_better"]:
                problems.append(Problem(file, number, "higher_is_better",
                                        f"instrument '{row['instrument']}' runs the other way in row {first[1]}"))
        if len(problems) == row_problem_count:
            problems.extend(row_problems(row, file, number, instruments))
        typed.append(row)
    return problems, typed


def raise_first_error(problems):
    """Raise the first error among ``problems`` as an InputError (saying how many more there are)."""
    errors = [p for p in problems if p.level == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems: run compassmeta validate)" if len(errors) > 1 else ""
        raise InputError(first.message + more, file=first.file, row=first.row, column=first.column)


def _validated_file(path, package, resource):
    """(schema, problems, typed rows) of a table file checked against its data package."""
    path = Path(path)
    package = Path(package) if package else path.parent / "datapackage.json"
    schema = Schema.load(package, resource)
    table = read_table(path, allow_empty=True)
    problems, typed = validate_text(path, table.header, table.rows, schema, load_instruments(package))
    return schema, problems, typed


def load_study_table(path, package=None, resource="trials"):
    """Read and validate a study table; raise on the first error, keep warnings."""
    schema, problems, typed = _validated_file(path, package, resource)
    raise_first_error(problems)
    pairs = [row_effect(row) for row in typed]
    yi = np.array([g for g, _ in pairs], dtype=float)
    vi = np.array([v for _, v in pairs], dtype=float)
    return StudyTable(path=str(path), schema=schema, rows=tuple(typed), yi=yi, vi=vi,
                      warnings=tuple(p for p in problems if p.level == "warning"))


def format_record(header, record):
    """One CSV line as compassmeta writes it: minimal quoting, '\\n' line ends.

    The row is written with a '\\r\\n' terminator so that the csv module quotes any cell
    holding either character (with '\\n' alone, a bare '\\r' would go out unquoted and split
    the row when read back); the terminator is then replaced by '\\n'.
    """
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([record.get(name, "") for name in header])
    return buffer.getvalue()[:-2] + "\n"


def format_table(header, records):
    """A whole CSV table (header line, then one line per record dict) as compassmeta writes it."""
    return format_record(header, dict(zip(header, header))) + "".join(
        format_record(header, record) for record in records)


class TableLock:
    """An exclusive advisory lock on ``<table>.lock`` for the read-check-write of a change.

    The lock file is removed on release, so none is left beside the table.  A process that
    was waiting on the removed file sees that the path no longer names the file it locked
    and locks the new one instead.
    """

    def __init__(self, path):
        self.lock_path = Path(str(path) + ".lock")
        self.handle = None

    def __enter__(self):
        import fcntl

        while True:
            handle = open(self.lock_path, "a")
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                current = os.stat(self.lock_path).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                current = False
            if current:
                self.handle = handle
                return self
            handle.close()

    def __exit__(self, *exc):
        import fcntl

        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.lock_path)
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def same_trial_result(a, b):
    """Two rows that report the same result of the same trial (a duplicate under another es_id)."""
    keys = ("study_id", "outcome", "instrument", "timepoint", "stat_type", "n1", "n2", "mean1", "sd1",
            "mean2", "sd2", "statistic", "g", "se")
    return all(a.get(key) == b.get(key) for key in keys)


def check_new_row(path, record, package=None, resource="trials"):
    """Validate a new row (text cells) against the table as it is now; return its typed row,
    effect and warnings, or raise InputError naming the field."""
    path = Path(path)
    package = Path(package) if package else path.parent / "datapackage.json"
    schema = Schema.load(package, resource)
    existing = read_table(path, allow_empty=True) if path.exists() else None
    header = existing.header if existing else schema.names
    records = list(existing.rows) if existing else []
    new_number = len(records) + 1
    problems, typed = validate_text(path, header, records + [tuple(record.get(n, "") for n in header)], schema,
                                    load_instruments(package))
    errors = [p for p in problems if p.level == "error"]
    if errors:
        new_errors = [p for p in errors if p.row == new_number] or errors
        first = new_errors[0]
        where = "new row" if first.row == new_number else f"row {first.row}"
        raise InputError(f"{where}: {first.message}", file=first.file, column=first.column)
    new_row = typed[-1]
    for number, row in enumerate(typed[:-1], start=1):
        if same_trial_result(row, new_row):
            raise InputError(f"new row repeats row {number} ({row['es_id']}): same trial, outcome and statistics",
                             file=path)
    warnings = [p for p in problems if p.level == "warning" and p.row == new_number]
    return header, new_row, row_effect(new_row), warnings


def append_row(path, record, package=None, resource="trials"):
    """Append a validated row under an exclusive lock, atomically; return (g, v, warnings)."""
    path = Path(path)
    with TableLock(path):
        header, _, effect, warnings = check_new_row(path, record, package, resource)
        current = path.read_text(encoding="utf-8") if path.exists() else format_table(header, [])
        if current and not current.endswith("\n"):
            current += "\n"
        write_atomically(path, current + format_record(header, record))
    return effect[0], effect[1], warnings


def validate_file(path, package=None, resource="trials"):
    """All problems of a study table file (for ``compassmeta validate``); a trials table that
    passes the schema also gets the consistency checks of :mod:`consistency`."""
    from . import consistency

    path = Path(path)
    package = Path(package) if package else path.parent / "datapackage.json"
    _, problems, typed = _validated_file(path, package, resource)
    if resource != "trials" or any(problem.level == "error" for problem in problems):
        return problems
    table = read_table(path, allow_empty=True)
    return problems + consistency.table_problems(path, table.header, table.rows, typed,
                                                 load_instruments(package))
