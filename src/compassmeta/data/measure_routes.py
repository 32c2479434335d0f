"""Study-table routes whose effect size is not Hedges' g: 2x2 counts (``events``: OR, RR, RD),
correlations (``correlation``: COR, ZCOR) and pre-post changes standardised by the pre-test SD
(``pre_post_smcr``: SMCR).  Every number comes from the measures registry (:mod:`.measures`,
metafor's escalc() formulas); this module maps a row's columns onto escalc's arguments, checks
what a reviewer expects of them, and records the measure of each row so that rows on different
scales are never pooled together.
"""
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..common.errors import InputError
from .measures import lookup
from .measures.registry import Array, Correction, continuity_corrected, finish
from .schema import Problem

#: the measures each route may give (the first is not a default: the row must name its measure)
ROUTE_MEASURES: dict[str, tuple[str, ...]] = {"events": ("OR", "RR", "RD"), "correlation": ("COR", "ZCOR"),
                                              "pre_post_smcr": ("SMCR",)}
#: the measure of every other route: Hedges' g
DEFAULT_MEASURE = "SMD"


def row_measure(row: Mapping[str, Any]) -> str:
    """The measure of a typed row: its ``measure`` cell, else SMD (Hedges' g)."""
    return row.get("measure") or DEFAULT_MEASURE


def route_effect(row: Mapping[str, Any], kind: str) -> tuple[Array, Array]:
    """(yi, vi) of one row, or of columns of rows, of a route in :data:`ROUTE_MEASURES`, before
    orientation: metafor's escalc() for the row's measure with its default vtype (LS) and
    continuity correction (1/2 added to the cells of a table with a zero cell, ``to="only0"``).

    * ``events``: ai = events1, bi = n1 - events1, ci = events2, di = n2 - events2;
    * ``correlation``: ri = correlation, ni = correlation_n;
    * ``pre_post_smcr``: SMCR of each arm (m1i post mean, m2i pre mean, sd1i pre-test SD, ni, ri =
      prepost_r), intervention minus control with the variances added: Becker (1988), Morris
      (2008) d_ppc1.
    A row whose measure is missing or not one of the route's gives NaN (validation names it).
    """
    shape = np.shape(row["n1"] if kind != "correlation" else row["correlation_n"])
    measures = np.broadcast_to(np.asarray(row.get("measure"), dtype=object), shape).ravel()
    yi, vi = np.full(measures.size, np.nan), np.full(measures.size, np.nan)
    for measure in ROUTE_MEASURES[kind]:
        chosen = measures == measure
        if chosen.any():
            yi[chosen], vi[chosen] = _route_values(row, kind, measure, chosen)
    return yi.reshape(shape), vi.reshape(shape)


def _route_values(row: Mapping[str, Any], kind: str, measure: str, chosen: Array) -> tuple[Array, Array]:
    def column(name: str) -> Array:
        return np.atleast_1d(np.asarray(row[name], dtype=float))[chosen]

    if kind == "events":
        n1, n2, a, c = column("n1"), column("n2"), column("events1"), column("events2")
        return _escalc(measure, {"ai": a, "bi": n1 - a, "ci": c, "di": n2 - c})
    if kind == "correlation":
        return _escalc(measure, {"ri": column("correlation"), "ni": column("correlation_n")})
    arms = [_escalc(measure, {"m1i": column(f"mean{arm}"), "m2i": column(f"pre_mean{arm}"),
                              "sd1i": column(f"pre_sd{arm}"), "ni": column(f"n{arm}"),
                              "ri": column("prepost_r")}) for arm in ("1", "2")]
    return arms[0][0] - arms[1][0], arms[0][1] + arms[1][1]


def _escalc(measure: str, values: dict[str, Array]) -> tuple[Array, Array]:
    """yi, vi of a registered measure with metafor's defaults (vtype LS, add 1/2 to="only0")."""
    spec = lookup(measure)
    corrected = continuity_corrected(spec, values, Correction(spec.default_add, "only0"))
    with np.errstate(divide="ignore", invalid="ignore"):
        return finish(*spec.compute(corrected, spec.vtypes[0]))


def route_problems(row: Mapping[str, Any], file: str, number: int) -> list[Problem]:
    """What a reviewer expects of a row's measure and of the statistics of the routes above:
    a measure the route gives (and none other than SMD on the g routes), events within 0..n,
    a correlation strictly inside (-1, 1) with n > 3 for ZCOR, a pre-post correlation strictly
    inside (-1, 1) for SMCR (pre-test SDs > 0 are the schema's)."""
    kind, measure = row.get("stat_type"), row.get("measure")
    allowed = " or ".join(ROUTE_MEASURES.get(str(kind), (DEFAULT_MEASURE,)))
    if kind in ROUTE_MEASURES and measure is None:
        return [Problem(file, number, "measure", f"stat_type '{kind}' needs a measure: {allowed}")]
    if measure is not None and measure not in allowed.split(" or "):
        return [Problem(file, number, "measure", f"stat_type '{kind}' gives {allowed}, not {measure}")]
    problems = []
    for events, total in (("events1", "n1"), ("events2", "n2")) if kind == "events" else ():
        if row[events] > row[total]:
            problems.append(Problem(file, number, events,
                                    f"{events} = {row[events]} exceeds {total} = {row[total]}"))
    if kind == "correlation" and abs(row["correlation"]) >= 1:
        problems.append(Problem(file, number, "correlation", "a correlation must lie strictly between "
                                                             f"-1 and 1, got {row['correlation']:g}"))
    if kind == "correlation" and measure == "ZCOR" and row["correlation_n"] <= 3:
        problems.append(Problem(file, number, "correlation_n", "ZCOR needs more than 3 participants "
                                                               f"(variance 1/(n - 3)), got "
                                                               f"{row['correlation_n']}"))
    if kind == "pre_post_smcr" and abs(row["prepost_r"]) >= 1:
        problems.append(Problem(file, number, "prepost_r", "SMCR needs a pre-post correlation strictly "
                                                           f"between -1 and 1, got {row['prepost_r']:g}"))
    return problems


def check_one_measure(rows: Sequence[Mapping[str, Any]], file: object, numbers: ArrayLike | None = None,
                      expected: str | None = None, advice: str | None = None) -> None:
    """Refuse to pool rows of different measures (a log odds ratio is not a g): an error naming the
    first row whose measure differs from ``expected`` (default: the first row's).  Converting
    between scales (e.g. a log odds ratio to d by sqrt(3)/pi, Chinn 2000) is not offered, so the
    rows must be selected by measure (``advice`` says how; default: with --where).  ``numbers``:
    the rows' 1-based numbers in the file (default 1, 2, ...)."""
    if not rows:
        return
    first = expected or row_measure(rows[0])
    for index, row in enumerate(rows):
        measure = row_measure(row)
        if measure != first:
            number = np.asarray(numbers)[index] if numbers is not None else index + 1
            where = "measure missing" if first == DEFAULT_MEASURE else f"measure={first}"
            raise InputError(f"this row's measure is {measure} but the pool's is {first}: effect sizes "
                             "on different scales are never pooled together (no conversion is offered); "
                             + (advice or f"select one measure, e.g. --where '{where}'"), file=file,
                             row=int(number), column="measure")
