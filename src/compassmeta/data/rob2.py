"""RoB 2 risk-of-bias judgements (``studies/rob2.csv``) and the tool's overall algorithm.

RoB 2 (Sterne et al. 2019, BMJ 366:l4898, Table 2) judges one result of a trial in five domains
(D1 randomization process, D2 deviations from intended interventions, D3 missing outcome data,
D4 measurement of the outcome, D5 selection of the reported result), each low / some concerns /
high, and derives the overall judgement:

- low: every domain low;
- high: any domain high, or some concerns "in multiple domains in a way that substantially lowers
  confidence in the result";
- some concerns: otherwise.

The second clause is a judgement; compassmeta operationalises it as some concerns in at least
:data:`SOME_CONCERNS_FOR_HIGH` (three) domains.  That rule reproduces every one of the 315 overall
judgements of the Metapsy social-anxiety database (sad-psyctr @ cc33ac16), which prints the five
domains and the overall (two or four would not: tests/test_rob2.py).  A reviewer who judges
otherwise (e.g. two domains with some concerns judged high) enters that overall with a written
``overall_justification``; a different overall without one is refused.
"""
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..common.errors import InputError
from .schema import Problem, Schema, raise_first_error, schema_problems
from .tables import read_table

RATINGS = ("low", "some concerns", "high")
DOMAINS = ("d1", "d2", "d3", "d4", "d5")
DOMAIN_NAMES = {"d1": "Randomization process", "d2": "Deviations from intended interventions",
                "d3": "Missing outcome data", "d4": "Measurement of the outcome",
                "d5": "Selection of the reported result"}
#: Some concerns in this many domains make the overall judgement high (see the module docstring).
SOME_CONCERNS_FOR_HIGH = 3


def overall_judgement(domains: Iterable[str]) -> str:
    """The RoB 2 overall judgement of five domain ratings (Sterne et al. 2019, Table 2, with the
    operational rule of :data:`SOME_CONCERNS_FOR_HIGH`)."""
    ratings = tuple(domains)
    if len(ratings) != len(DOMAINS) or any(rating not in RATINGS for rating in ratings):
        raise ValueError(f"RoB 2 needs five ratings out of {RATINGS}, got {ratings}")
    if "high" in ratings or ratings.count("some concerns") >= SOME_CONCERNS_FOR_HIGH:
        return "high"
    return "some concerns" if "some concerns" in ratings else "low"


@dataclass(frozen=True)
class Rob2Judgement:
    """One result's RoB 2 judgement: ``domains`` maps d1..d5 to a rating, ``supports`` to its note;
    ``overall`` is the entered judgement and ``derived`` the algorithm's (they differ only with a
    ``justification``); ``es_id`` None covers every row of the study and outcome."""

    study_id: str
    outcome: str
    es_id: str | None
    domains: dict[str, str]
    supports: dict[str, str]
    overall: str
    derived: str
    justification: str | None
    assessor: str
    source: str

    def covers(self, row: Mapping[str, Any]) -> bool:
        """Whether this judgement is the one of a trials.csv row."""
        if self.es_id is not None:
            return row.get("es_id") == self.es_id
        return row.get("study_id") == self.study_id and row.get("outcome") == self.outcome


def judgement_problem(row: Mapping[str, Any]) -> tuple[str, str] | None:
    """(column, message) when a typed rob2 row's entered overall breaks the algorithm without a
    justification, or carries a justification it does not need; None when it is consistent."""
    derived = overall_judgement(row[name] for name in DOMAINS)
    if row["overall"] != derived and not row.get("overall_justification"):
        ratings = ", ".join(row[name] for name in DOMAINS)
        return ("overall", f"entered '{row['overall']}' but the RoB 2 algorithm gives '{derived}' "
                f"(domains {ratings}); write the reason in overall_justification")
    if row["overall"] == derived and row.get("overall_justification"):
        return ("overall_justification", "the entered overall is the algorithm's: no justification is needed")
    return None


def rob2_problems(path: str | os.PathLike[str],
                  package: str | os.PathLike[str] | None = None) -> tuple[list, list]:
    """(problems, typed rows) of a RoB 2 table: its 'rob2' schema in the data package (default:
    datapackage.json beside it), the algorithm check of each overall, repeated judgements."""
    path = Path(path)
    package = Path(package) if package else path.parent / "datapackage.json"
    schema = Schema.load(package, "rob2")
    table = read_table(path, allow_empty=True)
    problems, typed = schema_problems(path, table.header, table.rows, schema)
    if any(problem.level == "error" for problem in problems):
        return problems, typed
    seen: dict[tuple[str, str, str | None], int] = {}
    for number, row in enumerate(typed, start=1):
        problem = judgement_problem(row)
        if problem:
            problems.append(Problem(str(path), number, problem[0], problem[1]))
        key = (row["study_id"], row["outcome"], row["es_id"])
        if key in seen:
            judged = f"{key[0]} / {key[1]} / {key[2] or 'all rows'}"
            problems.append(Problem(str(path), number, "es_id", f"a second judgement of {judged} "
                                    f"(also row {seen[key]})"))
        seen.setdefault(key, number)
    return problems, typed


def load_rob2(path: str | os.PathLike[str],
              package: str | os.PathLike[str] | None = None) -> tuple[Rob2Judgement, ...]:
    """The judgements of a RoB 2 table, checked by :func:`rob2_problems`; raise the first problem."""
    problems, typed = rob2_problems(path, package)
    raise_first_error(problems)
    return tuple(Rob2Judgement(
        study_id=row["study_id"], outcome=row["outcome"], es_id=row["es_id"],
        domains={name: row[name] for name in DOMAINS},
        supports={name: row[f"{name}_support"] or "" for name in DOMAINS},
        overall=row["overall"], derived=overall_judgement(row[name] for name in DOMAINS),
        justification=row["overall_justification"], assessor=row["assessor"], source=row["source"])
        for row in typed)


def judgement_for(judgements: Iterable[Rob2Judgement], row: Mapping[str, Any]) -> Rob2Judgement | None:
    """The judgement of a trials.csv row: one naming its es_id first, else its study and outcome."""
    exact = [j for j in judgements if j.es_id is not None and j.covers(row)]
    if exact:
        return exact[0]
    general = [j for j in judgements if j.es_id is None and j.covers(row)]
    return general[0] if general else None


def inverse_variance_weights(judgements: Sequence[Rob2Judgement], rows: Iterable[Mapping[str, Any]],
                             vi: Iterable[float], *, file: str | os.PathLike[str] | None = None) -> list:
    """Each judgement's weight for robvis's weighted summary: the sum of 1/v_i over the trials rows
    it covers (fixed-effect inverse-variance weights); a judgement covering no row is an error."""
    weights: list[float] = []
    for number, judgement in enumerate(judgements, start=1):
        covered = [1.0 / v for row, v in zip(rows, vi) if judgement_for(judgements, row) is judgement]
        if not covered:
            raise InputError(f"no row of the trials table is judged here ({judgement.study_id}, "
                             f"{judgement.outcome}, {judgement.es_id or 'all rows'})", file=file, row=number,
                             column="es_id" if judgement.es_id else "study_id")
        weights.append(sum(covered))
    return weights


def ratings_for_rows(judgements: Sequence[Rob2Judgement], rows: Iterable[Mapping[str, Any]]) -> list:
    """Per trials row (a dict with es_id, study_id, outcome): its judgement's (d1..d5, overall), or
    None where none is entered."""
    found = [judgement_for(judgements, row) for row in rows]
    return [None if j is None else (*(j.domains[name] for name in DOMAINS), j.overall) for j in found]
