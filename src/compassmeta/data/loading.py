"""Effect sizes of an input table for the analyses: which route a table takes, ``--where``
row filtering, complete cases for moderators.  Warnings are returned as text (the command
line prints them), so a library user gets the same rows, numbers and warnings.

Routes: a study table in the project's schema (``es_id`` and ``stat_type`` columns, its data
package beside it) is validated and gets each row's g from its statistics; a study-like table
outside the schema (``data import`` output) gets them from its statistics columns alone; any
other CSV names its yi and vi (or sei) columns.
"""
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import compress
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import InputError
from .columnar import ColumnRecords
from .measure_routes import check_one_measure
from .statistics_only import IMPORTED_COLUMN, effects_from_statistics
from .studytable import load_study_table
from .tables import Table, effect_columns, read_table
from .where import is_missing, matching_rows


@dataclass(frozen=True)
class LoadedEffects:
    """The rows kept, their effect sizes and sampling variances, and what the reader should know:
    ``notes`` (how the effects were obtained) and ``warnings`` (one line each, no prefix);
    ``mixing_warnings`` / ``mixing_notes``: the analysis plan's remarks on rows that mix timepoint
    windows or SCS parts, as warnings, or as notes where mixing was allowed (one line each)."""

    table: Table
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    warnings: tuple = ()
    notes: tuple = ()
    mixing_warnings: tuple = ()
    mixing_notes: tuple = ()


def resource_for(path: str | os.PathLike[str]) -> str:
    """The data-package resource of a study table file (thirdwave.csv or else trials)."""
    return "thirdwave" if Path(path).stem == "thirdwave" else "trials"


def load_effects(data: str | os.PathLike[str], yi_column: str | None = None, vi_column: str | None = None,
                 sei_column: str | None = None, where: Sequence[str] = (),
                 cluster_column: str | None = None, allow_mixed: bool = False) -> LoadedEffects:
    """The table ``data``, its effect sizes and sampling variances, restricted by ``where`` clauses
    (see :mod:`where`).  Rows that share a ``study_id`` while no ``cluster_column`` is given
    draw a warning; rows of a study table that mix timepoint windows or SCS parts draw the
    analysis plan's warnings (:func:`mixing_messages`; notes instead with ``allow_mixed``)."""
    loaded = _table_effects(data, yi_column, vi_column, sei_column, where)
    warnings = loaded.warnings
    if cluster_column is None and "study_id" in loaded.table.header:
        shared = shared_trials_warning(loaded.table)
        warnings += (shared,) if shared else ()
    mixing = mixing_messages(loaded.table, allow_mixed)
    return replace(loaded, warnings=warnings, mixing_warnings=() if allow_mixed else mixing,
                   mixing_notes=mixing if allow_mixed else ())


def mixing_messages(table: Table, allow_mixed: bool = False) -> tuple:
    """The analysis plan's warnings (:func:`compassmeta.data.plan.mixing_warnings`) when the rows
    of a study table mix timepoint windows or SCS parts, each ending with how to silence it; with
    ``allow_mixed``, notes that the rows were pooled as asked."""
    if not {"study_id", "timepoint"} <= set(table.header):
        return ()
    from .plan import MIXING_COLUMNS, column_mixing_warnings, load_plan

    blank = (None,) * len(table)    # a column the table lacks, as rows lacking the field
    columns = {name: table.column(name) if name in table.header else blank for name in MIXING_COLUMNS}
    warnings = column_mixing_warnings(columns, load_plan())
    if allow_mixed:
        return tuple(f"--allow-mixed: pooled as asked although {warning.split('; select')[0]}"
                     for warning in warnings)
    return tuple(f"{warning} (--allow-mixed silences this warning)" for warning in warnings)


def _table_effects(data: str | os.PathLike[str], yi_column: str | None, vi_column: str | None,
                   sei_column: str | None, where: Sequence[str]) -> LoadedEffects:
    """The rows ``where`` keeps, with their effect sizes (see :func:`load_effects`)."""
    table = read_table(data)
    keep = where_mask(table, where, data)
    if yi_column is None and {"es_id", "stat_type"} <= set(table.header):
        if in_curated_schema(data, table):
            study = load_study_table(data, resource=resource_for(data), table=table)
            kept = np.flatnonzero(keep)
            check_one_measure([study.rows[number] for number in kept], data, kept + 1)
            return LoadedEffects(subset(table, keep), study.yi[keep], study.vi[keep],
                                 tuple(str(warning) for warning in study.warnings))
        table = subset(table, keep)
        note = (f"{data} is not a curated study table (no data package beside it, or 'data import' "
                "output); effect sizes come from its statistics columns alone")
        yi, vi, warnings = effects_from_statistics(table)
        if "measure" in table.header:
            measures = [{"measure": cell.strip() or None} for cell in table.column("measure")]
            check_one_measure(measures, data, np.flatnonzero(keep) + 1)
        return LoadedEffects(table, yi, vi, tuple(str(warning) for warning in warnings), (note,))
    yi, vi, _, _ = effect_columns(table, yi=yi_column, vi=vi_column, sei=sei_column)
    return LoadedEffects(subset(table, keep), yi[keep], vi[keep])


def where_mask(table: Table, where: Sequence[str], data: str | os.PathLike[str]) -> np.ndarray:
    """Boolean mask of the rows every ``where`` clause keeps (an error when none does)."""
    keep = np.array(matching_rows(table, where), dtype=bool)
    if where and not keep.any():
        raise InputError(f"no rows match {' and '.join(where)}", file=data)
    return keep


def subset(table: Table, keep: Iterable[bool]) -> Table:
    """The rows of ``table`` where the mask ``keep`` is true (``table`` itself when every one is);
    a large file's columns (:class:`ColumnRecords`) stay columns, their kept cells copied (building
    10^5 row tuples to select from took 0.3 s)."""
    mask = np.fromiter(keep, dtype=bool, count=len(table))
    if mask.all():
        return table
    kept = mask.tolist()
    rows: Sequence[tuple[str, ...]] = (
        ColumnRecords([list(compress(column, kept)) for column in table.rows.columns])
        if isinstance(table.rows, ColumnRecords) else tuple(compress(table.rows, kept)))
    return Table(path=table.path, header=table.header, rows=rows)


def in_curated_schema(data: str | os.PathLike[str], table: Table) -> bool:
    """A curated study table: its data package lies beside it and it is not ``data import``
    output (which carries the database's own g for cross-checking)."""
    return (Path(data).parent / "datapackage.json").exists() and IMPORTED_COLUMN not in table.header


def complete_cases(table: Table, yi: np.ndarray, vi: np.ndarray, columns: Sequence[str]) -> LoadedEffects:
    """Drop rows with an empty (or NA) cell in any of ``columns``, warning how many, as
    metafor's rma() does for missing moderators ("k studies with NAs omitted")."""
    present = np.ones(len(table), dtype=bool)
    for name in columns:
        cells = table.column(name)
        missing = {cell for cell in set(cells) if is_missing(cell)}    # each distinct cell judged once
        present &= ~np.fromiter(map(missing.__contains__, cells), dtype=bool, count=len(cells))
    omitted = int((~present).sum())
    warnings: tuple[str, ...] = ()
    if omitted:
        warnings = (f"{omitted} row(s) with a missing {' or '.join(columns)} omitted "
                    f"({int(present.sum())} of {len(table)} used)",)
    if not present.any():
        raise InputError(f"every row lacks {' or '.join(columns)}", file=table.path, column=columns[0])
    return LoadedEffects(subset(table, present), yi[present], vi[present], warnings)


def shared_trials_warning(table: Table) -> str | None:
    """A warning when rows of one trial would be pooled as independent studies, else None."""
    trials = {cell.strip() for cell in table.column("study_id")}
    if len(trials) < len(table):
        return (f"{len(table)} rows come from {len(trials)} trials (study_id) and are treated as "
                "independent; --cluster study_id fits the multilevel model (pool, subgroup, metareg).")
    return None


def selected_study_rows(data: str | os.PathLike[str], where: Sequence[str]) -> list[Mapping[str, Any]]:
    """The typed rows of the curated study table ``data`` that ``--where`` keeps."""
    table = read_table(data)
    if not ({"es_id", "stat_type"} <= set(table.header) and in_curated_schema(data, table)):
        raise InputError("--prepost-r recomputes the pre_post rows of a curated study table (stat_type, "
                         "prepost_r, its datapackage.json beside it); this file is not one", file=data)
    rows = load_study_table(data, resource=resource_for(data), table=table).rows
    return [row for row, kept in zip(rows, matching_rows(table, where)) if kept]
