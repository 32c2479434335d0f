"""The Frictionless Table Schema of the study tables (``studies/datapackage.json``): fields,
their types and constraints (required, unique, enum, minimum, maximum, exclusiveMinimum,
pattern), and the typing of a table's text cells against them.

Every problem names the file, the row (counted from the first data row) and the column.
"""
import math
import re
from dataclasses import dataclass

from ..common.errors import InputError, did_you_mean
from ..common.files import read_json


@dataclass(frozen=True)
class Problem:
    """One finding of validation; ``level`` is 'error' or 'warning'."""

    file: str
    row: int | None
    column: str | None
    message: str
    level: str = "error"

    def __str__(self) -> str:
        return str(InputError(self.message, file=self.file, row=self.row, column=self.column))


@dataclass(frozen=True)
class Schema:
    """The fields of one resource of the data package."""

    name: str
    fields: tuple
    primary_key: tuple = ()
    path: str = ""            # the resource's file, relative to the package

    @property
    def names(self) -> tuple:
        return tuple(f["name"] for f in self.fields)

    @classmethod
    def load(cls, package_path, resource: str) -> "Schema":
        package = read_json(package_path, "data package (the schema) beside the table")
        for entry in package["resources"]:
            if entry["name"] == resource:
                schema = entry["schema"]
                return cls(name=resource, fields=tuple(schema["fields"]),
                           primary_key=tuple(schema.get("primaryKey", ())), path=entry.get("path", ""))
        raise InputError(f"no resource '{resource}' in the data package", file=package_path)


def convert(text: str, field_type: str):
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


def check_constraints(value, spec: dict) -> str | None:
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


def typed_row(cells: dict, schema: Schema, file: str, number: int, problems: list) -> dict:
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


def header_problems(file: str, header, schema: Schema) -> list:
    """Columns missing from, or unknown to, the schema, or out of its order."""
    problems = []
    missing = [name for name in schema.names if name not in header]
    unknown = [name for name in header if name not in schema.names]
    for name in missing:
        problems.append(Problem(file, None, name, "column required by the schema is missing"))
    for name in unknown:
        hint = did_you_mean(name, missing or schema.names) or " (studies/datapackage.json)"
        problems.insert(0, Problem(file, None, name, "column is not in the schema" + hint))
    if not missing and not unknown and tuple(header) != schema.names:
        problems.append(Problem(file, None, None, "columns are not in the schema's order"))
    return problems


def unique_problems(row: dict, schema: Schema, file: str, number: int, seen: dict) -> list:
    """Values of ``unique`` fields already seen in an earlier row (``seen`` is updated)."""
    problems = []
    for spec in schema.fields:
        if spec.get("constraints", {}).get("unique") and row[spec["name"]] is not None:
            key = (spec["name"], row[spec["name"]])
            if key in seen:
                problems.append(Problem(file, number, spec["name"],
                                        f"duplicate value '{row[spec['name']]}' (also row {seen[key]})"))
            seen.setdefault(key, number)
    return problems


def raise_first_error(problems) -> None:
    """Raise the first error among ``problems`` as an InputError (saying how many more there are)."""
    errors = [p for p in problems if p.level == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems: run compassmeta validate)" if len(errors) > 1 else ""
        raise InputError(first.message + more, file=first.file, row=first.row, column=first.column)


def schema_problems(path, header, records, schema: Schema) -> tuple:
    """(problems, typed rows) of a table checked against its schema alone: the header, each
    cell's type and constraints, unique fields."""
    file = str(path)
    problems = header_problems(file, header, schema)
    if any(problem.column for problem in problems):
        return problems, []
    typed, seen = [], {}
    for number, record in enumerate(records, start=1):
        row = typed_row(dict(zip(header, record)), schema, file, number, problems)
        problems.extend(unique_problems(row, schema, file, number, seen))
        typed.append(row)
    return problems, typed
