"""The Frictionless Table Schema of the study tables (``studies/datapackage.json``): fields,
their types and constraints (required, unique, enum, minimum, maximum, exclusiveMinimum,
pattern), and the typing of a table's text cells against them.

Every problem names the file, the row (counted from the first data row) and the column.
"""
import operator
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any

from ..common.errors import InputError, did_you_mean
from ..common.files import read_json
from .columnar import ColumnRecords
from .tables import number_value, shown, whole_value


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
    def find(cls, package_path: str | os.PathLike[str], resource: str) -> "Schema | None":
        """The resource's schema, None if the package has no such resource; the package's
        structure is checked first (:func:`package_resources`)."""
        for entry in package_resources(package_path):
            if entry["name"] == resource:
                schema = entry["schema"]
                return cls(name=resource, fields=tuple(schema["fields"]),
                           primary_key=tuple(schema.get("primaryKey", ())), path=entry.get("path", ""))
        return None

    @classmethod
    def load(cls, package_path: str | os.PathLike[str], resource: str) -> "Schema":
        found = cls.find(package_path, resource)
        if found is None:
            raise InputError(f"no resource '{resource}' in the data package", file=package_path)
        return found


FIELD_TYPES = ("string", "integer", "number", "boolean")
CONSTRAINT_TYPES = {"required": (bool,), "unique": (bool,), "enum": (list,), "minimum": (int, float),
                    "maximum": (int, float), "exclusiveMinimum": (int, float), "pattern": (str,),
                    "maxLength": (int,)}


def package_resources(package_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The resources of a data package, each checked to have what compassmeta reads (a name, a path,
    fields with a name, a known type and well-formed constraints); a one-line error naming the file
    and the place in it otherwise."""
    package = read_json(package_path, "data package (the schema) beside the table")
    if not isinstance(package, dict) or not isinstance(package.get("resources"), list):
        raise InputError("not a data package: no 'resources' list", file=package_path)
    for index, entry in enumerate(package["resources"]):
        where = f"resources[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InputError(f"{where}: a resource needs a 'name'", file=package_path)
        where = f"{where} ('{entry['name']}')"
        if not isinstance(entry.get("path", ""), str):
            raise InputError(f"{where}: 'path' must be a file name", file=package_path)
        schema = entry.get("schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list) or not schema["fields"]:
            raise InputError(f"{where}: needs a 'schema' with a list of 'fields'", file=package_path)
        names = [_checked_field(spec, f"{where}, field {number}", package_path)
                 for number, spec in enumerate(schema["fields"], start=1)]
        repeated = next((name for name in names if names.count(name) > 1), None)
        if repeated:
            raise InputError(f"{where}: field '{repeated}' is defined twice", file=package_path)
    return package["resources"]


def _checked_field(spec: object, where: str, package_path: str | os.PathLike[str]) -> str:
    """The name of a well-formed field description (see :func:`package_resources`)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise InputError(f"{where}: a field needs a 'name'", file=package_path)
    where = f"{where} ('{spec['name']}')"
    if spec.get("type") not in FIELD_TYPES:
        raise InputError(f"{where}: type {spec.get('type')!r} is not one of {', '.join(FIELD_TYPES)}",
                         file=package_path)
    constraints = spec.get("constraints", {})
    if not isinstance(constraints, dict):
        raise InputError(f"{where}: 'constraints' must be an object", file=package_path)
    for key, value in constraints.items():
        if key not in CONSTRAINT_TYPES:
            raise InputError(f"{where}: constraint '{key}' is not one compassmeta checks "
                             f"({', '.join(CONSTRAINT_TYPES)})", file=package_path)
        expected = CONSTRAINT_TYPES[key]
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            raise InputError(f"{where}: constraint '{key}' has the wrong kind of value ({value!r})",
                             file=package_path)
    if "pattern" in constraints:
        try:
            re.compile(constraints["pattern"])
        except re.error as error:
            raise InputError(f"{where}: pattern is not a regular expression ({error})",
                             file=package_path) from None
    return spec["name"]


def unencodable(text: str) -> bool:
    """Text no UTF-8 file can hold: a lone surrogate, as Python makes of command-line bytes that are
    not UTF-8, or a JSON escape such as \\udc80 (a table read from a file never has one)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def convert(text: str, field_type: str) -> str | int | float | bool:
    """A cell's text as its schema type; ValueError with a reason if it does not parse."""
    if field_type == "string":
        if unencodable(text):
            place = next(i for i, char in enumerate(text, start=1) if "\ud800" <= char <= "\udfff")
            raise ValueError(f"not text a UTF-8 file can hold: a lone surrogate at character {place} "
                             "(bytes that are not UTF-8?)")
        return text
    if field_type == "integer":
        return whole_value(text)
    if field_type == "number":
        return number_value(text)
    if field_type == "boolean":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise ValueError(f"not true or false: '{shown(text)}'")
    raise ValueError(f"unsupported field type {field_type}")


def check_constraints(value: Any, spec: dict) -> str | None:
    """The first constraint of a field that ``value`` breaks, as a message, or None."""
    constraints = spec.get("constraints", {})
    if "maxLength" in constraints and isinstance(value, str) and len(value) > constraints["maxLength"]:
        return f"{len(value):,} characters: longer than the schema's maxLength {constraints['maxLength']:,}"
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


class RowView(Mapping):
    """One row as a read-only mapping of field name to value, sharing its name -> position index
    with every row of the table: a tenth of a dict's memory, for tables of 10^5 rows."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict, values: Sequence[Any]):
        self._index, self._values = index, values

    def __getitem__(self, name: str) -> Any:
        return self._values[self._index[name]]

    def get(self, name: str, default: Any = None) -> Any:
        position = self._index.get(name)
        return default if position is None else self._values[position]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return repr(dict(self))


class ColumnRowView(RowView):
    """Row ``row`` of a table held as columns (one list per field, in ``index`` order): a typed
    row that costs one small object, its values staying in the columns."""

    __slots__ = ("_row",)

    def __init__(self, index: dict, columns: list, row: int):
        self._index, self._values, self._row = index, columns, row    # no super() call: 10^5 rows

    def __getitem__(self, name: str) -> Any:
        return self._values[self._index[name]][self._row]

    def get(self, name: str, default: Any = None) -> Any:
        position = self._index.get(name)
        return default if position is None else self._values[position][self._row]


def rows_as_columns(rows: Sequence[Any], names: Iterable[str]) -> dict:  # rows: mappings (see the fast path)
    """{name: the values of that field across ``rows``}; the columns themselves when ``rows`` are
    every row of one table held as columns (as :func:`typed_rows` makes them)."""
    first = rows[0] if rows else None
    if isinstance(first, ColumnRowView) and len(first._values[0]) == len(rows) and all(
            row._values is first._values and row._row == number for number, row in enumerate(rows)):
        return {name: first._values[first._index[name]] if name in first._index else (None,) * len(rows)
                for name in names}
    return {name: tuple(row.get(name) for row in rows) for name in names}


def typed_row(cells: dict, schema: Schema, file: str, number: int, problems: list) -> dict:
    """Convert one row's text cells (a dict) to typed values, recording problems."""
    columns, found = typed_columns(tuple(cells), [tuple(cells.values())], schema, file)
    problems.extend(found.get(1, ()))
    return {spec["name"]: column[0] for spec, column in zip(schema.fields, columns)}


def _cell_outcome(text: str, spec: dict) -> tuple:
    """(typed value, problem message or None) of one stripped cell under its field."""
    if text == "":
        required = spec.get("constraints", {}).get("required")
        return None, "required value is missing" if required else None
    try:
        value = convert(text, spec["type"])
    except ValueError as error:
        return None, str(error)
    return value, check_constraints(value, spec)


ONE_SET_REPEATED = re.compile(r"\[\^?[^\[\]\\]+\]\+")     # a pattern such as [A-Za-z0-9_.-]+


def _all_match(pattern: str, texts: list[str]) -> bool:
    """True when every non-empty text is known to match ``pattern`` in full from one match of
    them all joined: so when the pattern is one set of characters repeated (``[...]+``, as the
    ids' is), since a text matches it exactly when each of its characters is in the set.  False
    otherwise (the caller matches the texts one by one)."""
    return bool(ONE_SET_REPEATED.fullmatch(pattern) and re.fullmatch(pattern, "".join(texts)))


def _outcomes(texts: set, spec: dict) -> tuple[dict, dict]:
    """({text: typed value}, {text: problem message}) for the distinct cell ``texts`` of a column.
    Strings are checked a constraint at a time over all texts (a column of 10^5 distinct es_ids),
    only those that break one go through :func:`_cell_outcome` for its message, and their values
    hold only the texts whose value is not the text itself (stripped, or None when empty)."""
    if spec["type"] != "string":
        outcomes = {text: _cell_outcome(text.strip(), spec) for text in texts}
        return ({text: value for text, (value, _) in outcomes.items()},
                {text: message for text, (_, message) in outcomes.items() if message})
    constraints = spec.get("constraints", {})
    distinct = list(texts)
    stripped = list(map(str.strip, distinct))
    changed = list(map(operator.ne, stripped, distinct))
    values = dict(zip(compress(distinct, changed), compress(stripped, changed)))
    suspects: set[str] = set()
    if not all(stripped):
        suspects.update(compress(distinct, map(operator.not_, stripped)))
    if not "".join(stripped).isascii():
        suspects.update(compress(distinct, map(unencodable, stripped)))
    if "maxLength" in constraints and max(map(len, stripped), default=0) > constraints["maxLength"]:
        suspects.update(compress(distinct, map(constraints["maxLength"].__lt__, map(len, stripped))))
    if "enum" in constraints:
        allowed = set(constraints["enum"])
        suspects.update(compress(distinct, map(operator.not_, map(allowed.__contains__, stripped))))
    if "pattern" in constraints and not _all_match(constraints["pattern"], stripped):
        match = re.compile(constraints["pattern"]).fullmatch
        suspects.update(compress(distinct, map(operator.not_, map(match, stripped))))
    messages = {}
    for text in suspects:
        values[text], message = _cell_outcome(text.strip(), spec)
        if message:
            messages[text] = message
    return values, messages


def _blank(cells: Sequence[str]) -> bool:
    """Every cell is empty text: counted at C speed (a reader's empty cells are one object; any()
    tests each cell's truth, ten times slower on the many empty columns of a table)."""
    return not (cells and cells[0]) and cells.count("") == len(cells)


def typed_columns(header: Sequence[str], records: Sequence[Sequence[str]], schema: Schema,
                  file: str) -> tuple:
    """(one list of typed values per schema field, {row number: [Problem, ...]}) of text records.

    Column by column: each distinct text of a column is converted and checked once, so a
    table of 10^5 rows costs a few passes over lists rather than a dict per row.  A row's
    problems come in the schema's field order, as a row-by-row reading would give them.
    """
    positions = {name: index for index, name in enumerate(header)}
    transposed: list[Any] = (list(records.columns) if isinstance(records, ColumnRecords)
                             else list(zip(*records)) if records else [()] * len(header))
    problems: dict[int, list[Problem]]
    columns: list[list[Any]]
    problems, columns = {}, []
    for spec in schema.fields:
        name = spec["name"]
        index = positions.get(name)
        cells = ("",) * len(records) if index is None else transposed[index]
        if _blank(cells) and not spec.get("constraints", {}).get("required"):
            columns.append([None] * len(records))     # an empty column (most are, in most rows)
            continue
        values, messages = _outcomes(set(cells), spec)
        columns.append(list(map(values.get, cells, cells)) if values else list(cells))
        if index is not None:
            transposed[index] = None      # each column's text is read once: let it go
        for number, text in enumerate(cells, start=1) if messages else ():
            if text in messages:
                problems.setdefault(number, []).append(Problem(file, number, name, messages[text]))
    return columns, problems


def header_problems(file: str, header: Sequence[str], schema: Schema) -> list:
    """Columns missing from, or unknown to, the schema, or out of its order."""
    problems: list[Problem] = []
    missing = [name for name in schema.names if name not in header]
    unknown = [name for name in header if name not in schema.names]
    for name in missing:
        problems.append(Problem(file, None, name, "column required by the schema is missing"))
    for name in unknown:
        hint = (did_you_mean(name, missing or schema.names)
                or f" of the data package (resource '{schema.name}')")
        problems.insert(0, Problem(file, None, name, "column is not in the schema" + hint))
    if not missing and not unknown and tuple(header) != schema.names:
        problems.append(Problem(file, None, None, "columns are not in the schema's order"))
    return problems


def unique_problems(columns: Sequence[Sequence[Any]], schema: Schema, file: str) -> dict:
    """{row number: [Problem, ...]}: values of ``unique`` fields already seen in an earlier row
    (``columns`` as :func:`typed_columns` gives them)."""
    problems: dict[int, list[Problem]] = {}
    for spec, values in zip(schema.fields, columns):
        if not spec.get("constraints", {}).get("unique"):
            continue
        present = [value for value in values if value is not None]
        if len(set(present)) == len(present):
            continue
        seen: dict[Any, int] = {}
        for number, value in enumerate(values, start=1):
            if value is None:
                continue
            if value in seen:
                message = f"duplicate value '{value}' (also row {seen[value]})"
                problems.setdefault(number, []).append(Problem(file, number, spec["name"], message))
            seen.setdefault(value, number)
    return problems


def typed_rows(header: Sequence[str], records: Sequence[Sequence[str]], schema: Schema, file: str) -> tuple:
    """(typed rows as :class:`RowView`, {row number: [Problem, ...]}, {field: its values}) of text
    records: each cell's type and constraints, then unique fields, in that order within a row."""
    columns, problems = typed_columns(header, records, schema, file)
    for number, found in unique_problems(columns, schema, file).items():
        problems.setdefault(number, []).extend(found)
    index = {name: position for position, name in enumerate(schema.names)}
    rows = [ColumnRowView(index, columns, row) for row in range(len(records))]
    return rows, problems, dict(zip(schema.names, columns))


def raise_first_error(problems: Iterable[Problem]) -> None:
    """Raise the first error among ``problems`` as an InputError (saying how many more there are)."""
    errors = [p for p in problems if p.level == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems: run compassmeta validate)" if len(errors) > 1 else ""
        raise InputError(first.message + more, file=first.file, row=first.row, column=first.column)


def schema_problems(path: str | os.PathLike[str], header: Sequence[str], records: Sequence[Sequence[str]],
                    schema: Schema) -> tuple:
    """(problems, typed rows) of a table checked against its schema alone: the header, each
    cell's type and constraints, unique fields."""
    file = str(path)
    problems = header_problems(file, header, schema)
    if any(problem.column for problem in problems):
        return problems, []
    typed, found, _ = typed_rows(header, records, schema, file)
    for number in sorted(found):
        problems.extend(found[number])
    return problems, typed
