"""``add --interactive``: ask for each field in turn and check every answer as it is typed.

Each answer is converted to the field's schema type and checked against its constraints
before the next question (a negative SD is asked again at once, not reported after the last
prompt); an es_id already in the table is asked again at once.  What instruments.csv answers
is not asked: the instrument's canonical name is stored (BDI-2 -> BDI-II) and
``higher_is_better`` follows from it.  Every answer is kept in a draft file (JSON) as soon as
it is given, so an interrupted entry resumes with ``--resume-draft``.  Once the row is
complete it is checked as ``add`` checks it; a field named by an error is asked again.
"""
import json
from pathlib import Path

import click

from ..common.errors import InputError
from ..common.files import write_atomically
from ..data.instruments import instrument_of, load_instruments
from ..data.measure_routes import ROUTE_MEASURES
from ..data.row_effects import SIGNED_BY_DIRECTION
from ..data.studytable import REQUIRED_STATISTICS, check_constraints, convert
from ..data.validation import UNCOMPASSIONATE_PARTS

STATISTIC_FIELDS = {name for names in REQUIRED_STATISTICS.values() for name in names} | {"g", "se", "measure"}
DRAFT_NAME = ".add-draft.json"
MAX_ROUNDS = 20   # re-asking rounds after the whole-row check before giving up


def checked_answer(spec, taken=()):
    """A click value_proc that converts and checks one answer; BadParameter asks again."""
    def check(text):
        text = str(text).strip()
        if text == "":
            if spec.get("constraints", {}).get("required"):
                raise click.BadParameter("a value is required")
            return ""
        try:
            value = convert(text, spec["type"])
        except ValueError as error:
            raise click.BadParameter(str(error)) from None
        problem = check_constraints(value, spec)
        if problem:
            raise click.BadParameter(problem)
        if text in taken:
            raise click.BadParameter(f"'{text}' is already in the table: {spec['name']} must be unique")
        return text
    return check


class Draft:
    """The answers given so far, written to a JSON file after every answer."""

    def __init__(self, path: Path, record: dict, resume: bool):
        self.path = path
        if not resume and path.exists():
            raise InputError("a draft of an earlier add --interactive is here: resume it with --resume-draft "
                             f"{path}, or delete it", file=path)
        if resume and not path.exists():
            raise InputError("no such draft", file=path)
        if resume:
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                raise InputError("not a draft of add --interactive (not JSON)", file=path) from None
            click.echo(f"Resuming the draft {path} ({len(saved)} answers).", err=True)
            record.update({key: value for key, value in saved.items() if not record.get(key)})
        self.record = record

    def save(self):
        write_atomically(self.path, json.dumps(self.record, indent=1))


def ask(draft: Draft, spec, optional=False, taken=()):
    """Prompt for one field (its description and allowed values shown), store and save the answer."""
    choices = spec.get("constraints", {}).get("enum")
    text = f"{spec['name']} ({spec.get('description', '')})"
    if choices:
        text += f" [{'/'.join(map(str, choices))}]"
    if optional:
        text += " (optional, Enter to skip)"
    draft.record[spec["name"]] = click.prompt(text, default="" if optional else None, show_default=False,
                                              value_proc=checked_answer(spec, taken))
    draft.save()


def answer_from_instrument(record, instruments):
    """Store the canonical instrument name and the direction instruments.csv gives; True if known."""
    known = instrument_of(record, instruments)
    if not known:
        return False
    typed, _, detail = record["instrument"].partition(" (")
    if typed.strip() != known.name:
        record["instrument"] = known.name + (f" ({detail}" if detail else "")
        click.echo(f"instrument: stored as {record['instrument']} (the name in instruments.csv)", err=True)
    if not record.get("higher_is_better", "").strip():
        better = known.higher_is_better != (record.get("scs_component") in UNCOMPASSIONATE_PARTS)
        record["higher_is_better"] = str(better).lower()
    return True


def prompt_row(draft: Draft, schema, instruments, taken_ids):
    """Fill the draft's record (text cells): stat_type, the required fields in the schema's order
    (higher_is_better only for an instrument not in instruments.csv), the statistics the
    stat_type needs (and direction for a t, d or g), then every optional non-statistic field.
    The SCS component is asked for SCS rows only."""
    record, by_name = draft.record, {spec["name"]: spec for spec in schema.fields}
    blank = [name for name in schema.names if not record.get(name, "").strip()]
    for name in dict.fromkeys(["stat_type"] + blank):
        if record.get(name, "").strip() or name not in by_name:
            continue
        if name == "scs_component":
            if is_scs(record, instruments):
                ask(draft, by_name[name])
        elif name == "higher_is_better" and answer_from_instrument(record, instruments):
            draft.save()
        elif by_name[name].get("constraints", {}).get("required"):
            ask(draft, by_name[name], taken=taken_ids if name == "es_id" else ())
            if name == "instrument":
                answer_from_instrument(record, instruments)
    wanted = list(REQUIRED_STATISTICS[record["stat_type"]])
    if record["stat_type"] in ROUTE_MEASURES:     # a route of another measure than g names its measure
        wanted.insert(0, "measure")
    if record["stat_type"] in SIGNED_BY_DIRECTION:
        wanted.append("direction")
    for name in wanted:
        if not record.get(name, "").strip():
            ask(draft, by_name[name])
    for name in blank:
        if not record.get(name, "").strip() and name not in STATISTIC_FIELDS | {"direction", "scs_component"}:
            ask(draft, by_name[name], optional=True)


def is_scs(record, instruments) -> bool:
    """The row's instrument is the Self-Compassion Scale (or its short form)."""
    known = instrument_of(record, instruments)
    return known is not None and known.name.startswith("SCS")


def interactive_row(record, schema, path, package, resource, draft_path=None) -> Path:
    """Ask for the row, then check it as ``add`` does, asking again every field an error of the
    new row names; returns the draft file (removed by ``add`` once the row is written)."""
    from ..data.store import new_row_problems
    from ..data.tables import read_table

    draft_file = Path(draft_path) if draft_path else Path(path).parent / DRAFT_NAME
    draft = Draft(draft_file, record, resume=bool(draft_path))
    instruments = load_instruments(package)
    taken = set(read_table(path, allow_empty=True).column("es_id")) if Path(path).exists() else set()
    prompt_row(draft, schema, instruments, taken)
    by_name = {spec["name"]: spec for spec in schema.fields}
    for _ in range(MAX_ROUNDS):
        problems, first_new = new_row_problems(path, [record], package, resource)
        errors = [p for p in problems if p.level == "error"]
        wrong = [p for p in errors if p.row == first_new and p.column in by_name
                 and (p.column != "es_id" or record["es_id"] in taken)]
        if not wrong:
            if errors:   # a finding no single answer fixes (e.g. a repeated comparison): keep the draft
                raise InputError(f"{errors[0].message}; the answers are kept in {draft.path} "
                                 "(--resume-draft)", file=errors[0].file, row=errors[0].row,
                                 column=errors[0].column)
            return draft.path
        for problem in wrong:
            click.echo(f"{problem.column}: {problem.message}: enter it again", err=True)
            ask(draft, by_name[problem.column], taken=taken if problem.column == "es_id" else ())
    raise InputError(f"still invalid after {MAX_ROUNDS} corrections; the answers are kept in {draft.path}")
