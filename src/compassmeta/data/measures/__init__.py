"""Effect sizes of every measure of metafor's ``escalc()`` that compassmeta implements.

``escalc("OR", {"ai": ..., "bi": ..., "ci": ..., "di": ...})`` returns an :class:`Escalc` with yi
and vi.  Inputs use metafor's argument names; ``vtype``, ``add`` and ``to`` mean what they mean
in metafor, with its defaults per measure.  The measures live in one module per family (means,
change, correlations, tables2x2, proportions, rates), registered in :mod:`.registry`.
"""
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...common.errors import InputError
from ...common.results import Result
from . import change, correlations, means, proportions, rates, tables2x2  # noqa: F401  (registers the measures)
from .registry import (
    CONTINUITY_TARGETS,
    MEASURES,
    Array,
    Correction,
    Measure,
    Values,
    continuity_corrected,
    finish,
    lookup,
)

__all__ = ["MEASURES", "Escalc", "Measure", "describe_measures", "escalc", "lookup"]

# a column that can stand in for a missing input: the input is the difference of the two
TOTALS = {"bi": ("n1i", "ai"), "di": ("n2i", "ci"), "mi": ("ni", "xi")}
NONNEGATIVE = ("ai", "bi", "ci", "di", "xi", "mi", "x1i", "x2i", "sd1i", "sd2i")
POSITIVE = ("n1i", "n2i", "ni", "ti", "t1i", "t2i")


@dataclass(frozen=True)
class Escalc(Result):
    """yi and vi of ``measure`` (with its ``vtype`` and continuity correction ``add``/``to``;
    None for measures without counts)."""

    measure: str
    vtype: str
    add: float | None
    to: str | None
    yi: tuple[float, ...]
    vi: tuple[float, ...]
    notes: tuple[str, ...] = ()


_BIAS_CORRECTED = ("yi carries the second-order bias correction that metafor >= 5.0 applies by default "
                   "(escalc correct = TRUE); metafor 3.x and 4.x gave the uncorrected value")
_VARIANCE_ADJUSTED = ("vi as metafor >= 4.6 computes it (its sampling variance was adjusted then); "
                      "metafor 3.x gave other values")
#: measures whose yi or vi a metafor 3.x user sees differently (metafor NEWS.md, 4.0 to 5.1)
METAFOR_3_NOTES = {"ROM": _BIAS_CORRECTED, "ROMC": _BIAS_CORRECTED, "CVR": _BIAS_CORRECTED,
                   "SMDH": _VARIANCE_ADJUSTED, "SMCRH": _VARIANCE_ADJUSTED}


def escalc(measure: str, data: Mapping[str, Any], *, vtype: str | None = None, add: float | None = None,
           to: str = "only0", file: object = None) -> Escalc:
    """yi and vi of ``measure`` from the columns in ``data`` (metafor's argument names).

    Errors name ``file``, the 1-based row and the column.  ``add`` defaults to metafor's default
    for the measure (1/2, or 0 for AS, PAS, PFT, IRS, IRFT, IRSD).
    """
    spec = lookup(measure)
    vtype = (vtype or spec.vtypes[0]).upper()
    if vtype not in spec.vtypes:
        raise InputError(f"vtype '{vtype}' is not defined for {spec.name} "
                         f"(choose from {', '.join(spec.vtypes)})")
    if to not in CONTINUITY_TARGETS:
        raise InputError(f"unknown 'to' {to!r} (choose from {', '.join(CONTINUITY_TARGETS)})")
    values = _inputs(spec, data, file)
    correction = Correction(spec.default_add if add is None else float(add), to)
    with np.errstate(divide="ignore", invalid="ignore"):  # undefined values become NA, as in metafor
        yi, vi = finish(*spec.compute(continuity_corrected(spec, values, correction), vtype))
    notes = (METAFOR_3_NOTES[spec.name],) if spec.name in METAFOR_3_NOTES else ()
    if not spec.counts:
        return Escalc(spec.name, vtype, None, None, tuple(yi), tuple(vi), notes)
    return Escalc(spec.name, vtype, correction.add, to, tuple(yi), tuple(vi), notes)


def describe_measures() -> str:
    """One line per registered measure: name, family, vtypes (default first), what it is."""
    families = ("means", "change", "correlations", "2x2", "proportions", "rates")
    ordered = sorted(MEASURES.values(), key=lambda m: families.index(m.family))
    return "\n".join(f"{m.name:<6} {m.family:<13} vtype {'/'.join(m.vtypes):<18} {m.description}"
                     for m in ordered)


def _inputs(spec: Measure, data: Mapping[str, Any], file: object) -> Values:
    """The measure's inputs as float arrays: derived from totals or from alternative statistics
    (di, ti, pi, ri) where a row gives those, and checked."""
    alternatives = spec.alternatives
    optional = (alternatives.columns + alternatives.replaces) if alternatives else ()
    values: Values = {}
    for name in dict.fromkeys(spec.inputs + optional):
        if name in data:
            values[name] = np.asarray(data[name], dtype=float)
        elif name in TOTALS and all(other in data for other in TOTALS[name]):
            values[name] = _from_total(name, data, file)
        elif name not in optional:
            raise InputError(f"{spec.name} needs column '{name}'{_instead(spec, name)}; it needs "
                             f"{', '.join(spec.inputs)}", file=file, column=name)
    lengths = {name: column.size for name, column in values.items()}
    if len(set(lengths.values())) > 1:
        raise InputError(f"the inputs differ in length: {lengths}", file=file)
    for name, column in values.items():
        _check_range(name, column, spec, file)
    if alternatives:
        absent = np.full(next(iter(lengths.values()), 0), np.nan)
        values = alternatives.fill({name: values.get(name, absent) for name in optional} | values)
    for name in spec.inputs:
        missing = np.isnan(values[name])
        if missing.any():
            given = f" and the row gives none of {', '.join(alternatives.columns)}" if (
                alternatives and name in alternatives.replaces) else ""
            raise InputError(f"value is missing{given}", file=file, row=int(np.flatnonzero(missing)[0]) + 1,
                             column=name)
    return {name: values[name] for name in spec.inputs}


def _instead(spec: Measure, name: str) -> str:
    """' (or ...)': what can stand in for input ``name``."""
    if name in TOTALS:
        return f" (or {' and '.join(TOTALS[name])})"
    if spec.alternatives and name in spec.alternatives.replaces:
        return f" (or {', '.join(spec.alternatives.columns)})"
    return ""


def _from_total(name: str, data: Mapping[str, Any], file: object) -> Array:
    total, part = (np.asarray(data[column], dtype=float) for column in TOTALS[name])
    total_name, part_name = TOTALS[name]
    _check_part(part, total, part_name, total_name, file)
    return total - part


def _check_part(part: Array, total: Array, part_name: str, total_name: str, file: object) -> None:
    """A count must not exceed its total (ai <= n1i, ci <= n2i, xi <= ni)."""
    over = np.flatnonzero(part > total)
    if over.size:
        row = int(over[0])
        raise InputError(f"{part_name} = {part[row]:g} exceeds {total_name} = {total[row]:g}",
                         file=file, row=row + 1, column=part_name)


def _check_range(name: str, column: Array, spec: Measure, file: object) -> None:
    """Counts and SDs >= 0, sizes and person-times > 0, correlations in [-1, 1], p values in
    [-1, 1] (signed); t statistics (ti of SMD, SMCC, COR) are not person-times."""
    positive = POSITIVE if name in spec.inputs else ()
    rules = [(NONNEGATIVE, column < 0, "must not be negative"), (positive, column <= 0, "must be positive"),
             (("ri",), np.abs(column) > 1, "a correlation must lie in [-1, 1]"),
             (("pi",), np.abs(column) > 1, "a signed two-sided p value must lie in [-1, 1]")]
    for names, bad, message in rules:
        if name in names and bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"{message}, got {column[row]:g}", file=file, row=row + 1, column=name)
