"""Plain-text tables of results, as a researcher would paste them into a paper, and CSV.

The JSON format is ``result.to_dict()`` itself; nothing here changes a number.  The tables of
results live beside the code that makes them (``models.printing``, ``analyses.printing``), so
that ``print(result)`` shows the same text; generic number formatting is in ``common.formatting``.
"""
from collections.abc import Iterable, Mapping
from typing import Any

from ..analyses.printing import bias_table, grid_table, permutation_lines, sensitivity_table, simulation_table
from ..common.formatting import aligned
from ..models.printing import (
    metareg_table,
    multilevel_metareg_table,
    multilevel_pool_table,
    multilevel_subgroup_table,
    pool_table,
    subgroup_table,
)

__all__ = ["metareg_table", "pool_table", "subgroup_table", "multilevel_pool_table",
           "multilevel_metareg_table", "multilevel_subgroup_table", "bias_table", "sensitivity_table",
           "grid_table", "permutation_lines", "simulation_table", "csv_text", "aligned"]


SPREADSHEET_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A CSV cell that spreadsheet programs will not run as a formula (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(SPREADSHEET_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def csv_text(records: Iterable[Mapping[str, Any]]) -> str:
    """CSV of a list of flat dicts (lists are joined with '; '), formula cells escaped; the
    header is every key in order of first appearance (rows lacking one leave it empty)."""
    from ..data.studytable import format_table

    header = list(dict.fromkeys(key for record in records for key in record))
    return format_table(header, [
        {key: safe_cell("; ".join(map(str, value)) if isinstance(value, list) else value)
         for key, value in record.items()} for record in records])


def section_records(d: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every value of a nested result dict in long format: one CSV row per number, with its
    ``section`` (top-level key, '' for top-level scalars), ``row`` (position in a list of
    rows, 1-based, else empty), ``field`` (nested keys joined by '.') and ``value``."""
    records: list[dict[str, Any]] = []

    def walk(value: Any, section: str, row: int | None, field: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, section, row, f"{field}.{key}" if field else key)
        elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
            for number, item in enumerate(value, start=1):
                walk(item, section, number, field)
        else:
            records.append({"section": section, "row": row, "field": field, "value": value})

    def is_section(value: object) -> bool:
        return isinstance(value, dict) or isinstance(value, list) and any(isinstance(v, dict) for v in value)

    for key, value in d.items():
        walk(value, *((key, None, "") if is_section(value) else ("", None, key)))
    return records
