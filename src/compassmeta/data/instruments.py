"""The instruments of the data package (``studies/instruments.csv``): each scale's score range,
direction, item count and scoring, keyed by name and alias."""
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import InputError
from .columns import codes_of, value_codes
from .schema import Schema, raise_first_error, schema_problems
from .tables import read_table


@dataclass(frozen=True)
class Instrument:
    name: str
    minimum: float
    maximum: float
    higher_is_better: bool
    items: int | None = None    # whole-number items forming the score (GRIM), if a plain sum or mean
    score: str = "other"        # sum, item_mean or other


def load_instruments(package: str | os.PathLike[str]) -> dict[str, Instrument]:
    """Score ranges from the package's ``instruments`` resource, keyed by lower-case name and alias."""
    package = Path(package)
    schema = Schema.find(package, "instruments")
    if schema is None:
        return {}
    path = package.parent / schema.path
    table = read_table(path)
    problems, rows = schema_problems(path, table.header, table.rows, schema)
    raise_first_error(problems)
    for number, row in enumerate(rows, start=1):
        if row["maximum"] <= row["minimum"]:
            raise InputError(f"maximum {row['maximum']:g} is not above minimum {row['minimum']:g}", file=path,
                             row=number, column="maximum")
    known: dict[str, Instrument] = {}
    for row in rows:
        instrument = Instrument(row["instrument"], row["minimum"], row["maximum"], row["higher_is_better"],
                                row["items"], row["score"])
        for name in [row["instrument"]] + (row["aliases"] or "").split(";"):
            if name.strip():
                known[name.strip().lower()] = instrument
    return known


def instrument_of(row: Mapping[str, Any], instruments: dict) -> Instrument | None:
    """The known instrument a row's instrument cell names (the text before ' ('), or None."""
    name = (row.get("instrument") or "").split(" (")[0].strip().lower()
    return instruments.get(name)


class RowInstruments(list):
    """Each row's known instrument or None (:func:`row_instruments`), with ``codes``, each row's
    position among the table's distinct instrument cells, and ``scales``, the instrument each
    of those names: a rule over whole columns then judges each distinct instrument once."""

    def __init__(self, codes: np.ndarray, scales: list):
        super().__init__(map(scales.__getitem__, codes.tolist()))
        self.codes, self.scales = codes, scales


def row_instruments(rows: Sequence[Mapping[str, Any]], instruments: dict) -> RowInstruments:
    """The known instrument of each typed row (:func:`instrument_of`), each distinct cell looked up once."""
    codes, texts = codes_of(rows, "instrument")
    return RowInstruments(codes, [instrument_of({"instrument": text}, instruments) for text in texts])


def instrument_codes(known: Sequence[Instrument | None]) -> tuple[np.ndarray, list]:
    """(each row's code, the instrument or None of each code) as :func:`columns.value_codes` gives
    them: those :class:`RowInstruments` carry, else found by identity (a frozen dataclass's hash
    is slow)."""
    if isinstance(known, RowInstruments) and len(known.codes) == len(known):
        return known.codes, known.scales
    ids = list(map(id, known))
    codes, distinct = value_codes(ids)
    return codes, list(map(dict(zip(ids, known)).__getitem__, distinct))


def instrument_ranges(known: Sequence[Instrument | None]) -> tuple[np.ndarray, np.ndarray]:
    """(minimum, maximum) of each row's known instrument (:func:`row_instruments`); nan without one."""
    codes, scales = instrument_codes(known)
    minimum = np.array([scale.minimum if scale else np.nan for scale in scales], dtype=float)
    maximum = np.array([scale.maximum if scale else np.nan for scale in scales], dtype=float)
    return minimum[codes], maximum[codes]
