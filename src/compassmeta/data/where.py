"""Row selection for ``--where``: one clause names a column, a comparison and a value.

Syntax (all clauses given must hold):

* ``COL=VALUE``, ``COL!=VALUE``: text equality (cells and value stripped);
* ``COL<N``, ``COL<=N``, ``COL>N``, ``COL>=N``: numeric comparison (rows with an empty
  cell do not match; a cell that is not a number is an error naming its row);
* ``COL in A,B,C``, ``COL not in A,B,C``: membership in a comma-separated list;
* ``COL present``, ``COL missing``: the cell is filled / empty (or NA).
"""
import re
from collections.abc import Callable, Iterable

from ..common.errors import InputError
from .tables import Table, number_value, parse_number

WHERE_SYNTAX = ("COL=V, COL!=V, COL<N, COL<=N, COL>N, COL>=N, 'COL in A,B', 'COL not in A,B', "
                "'COL present', 'COL missing'")
MISSING_TEXT = ("", "NA", "NAN")
_COMPARISON = re.compile(r"^\s*([^!<>=\s]+)\s*(!=|<=|>=|=|<|>)\s*(.*?)\s*$")
_MEMBERSHIP = re.compile(r"^\s*(\S+)\s+(not in|in)\s+(.+?)\s*$")
_PRESENCE = re.compile(r"^\s*(\S+)\s+(present|missing)\s*$")


def is_missing(cell: str) -> bool:
    """An empty or NA cell."""
    return cell.strip().upper() in MISSING_TEXT


def _numeric_test(operator: str, value: str, clause: str) -> Callable[[float], bool]:
    try:
        bound = number_value(value)     # the schema's number grammar, as the cells it is compared with
    except ValueError as error:
        raise InputError(f"--where '{clause}': {operator} needs a number ({error})") from None
    return {"<": lambda x: x < bound, "<=": lambda x: x <= bound,
            ">": lambda x: x > bound, ">=": lambda x: x >= bound}[operator]


def clause_matches(table: Table, clause: str) -> list[bool]:
    """One boolean per row of ``table``: does the row satisfy ``clause``?"""
    presence = _PRESENCE.match(clause)
    if presence:
        name, word = presence.groups()
        return [is_missing(cell) == (word == "missing") for cell in table.column(name)]
    membership = _MEMBERSHIP.match(clause)
    if membership:
        name, word, values = membership.groups()
        allowed = {value.strip() for value in values.split(",")}
        return [(cell.strip() in allowed) == (word == "in") for cell in table.column(name)]
    comparison = _COMPARISON.match(clause)
    if not comparison:
        raise InputError(f"--where '{clause}' is not one of: {WHERE_SYNTAX}")
    name, operator, value = comparison.groups()
    cells = table.column(name)
    if operator in ("=", "!="):
        return [(cell.strip() == value) == (operator == "=") for cell in cells]
    test = _numeric_test(operator, value, clause)
    return [not is_missing(cell) and test(parse_number(cell, file=table.path, row=number, column=name))
            for number, cell in enumerate(cells, start=1)]


def matching_rows(table: Table, clauses: Iterable[str]) -> list[bool]:
    """One boolean per row: every clause holds."""
    keep = [True] * len(table)
    for clause in clauses:
        keep = [k and match for k, match in zip(keep, clause_matches(table, clause))]
    return keep
