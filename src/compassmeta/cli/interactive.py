"""``add --interactive``: ask for each field in turn and check every answer as it is typed.

Each answer is converted to the field's schema type and checked against its constraints
before the next question (a negative SD is asked again at once, not reported after the last
prompt); then every optional descriptive field is offered (Enter skips it).
"""
import click

from ..data.studytable import REQUIRED_STATISTICS, check_constraints, convert

STATISTIC_FIELDS = {name for names in REQUIRED_STATISTICS.values() for name in names} | {"g", "se"}


def checked_answer(spec):
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
        return text
    return check


def ask(record, spec, optional=False):
    """Prompt for one field (its description and allowed values shown) and store the answer."""
    choices = spec.get("constraints", {}).get("enum")
    text = f"{spec['name']} ({spec.get('description', '')})"
    if choices:
        text += f" [{'/'.join(map(str, choices))}]"
    if optional:
        text += " (optional, Enter to skip)"
    record[spec["name"]] = click.prompt(text, default="" if optional else None, show_default=False,
                                        value_proc=checked_answer(spec))


def prompt_row(record, schema):
    """Fill ``record`` (text cells): stat_type, required fields, the statistics the stat_type
    needs, then every optional field that is not a statistic."""
    by_name = {spec["name"]: spec for spec in schema.fields}
    blank = [name for name in schema.names if not record.get(name, "").strip()]
    if "stat_type" in blank:
        ask(record, by_name["stat_type"])
    for name in blank:
        if by_name[name].get("constraints", {}).get("required") and name != "stat_type":
            ask(record, by_name[name])
    for name in REQUIRED_STATISTICS[record["stat_type"]]:
        if not record.get(name, "").strip():
            ask(record, by_name[name])
    for name in blank:
        if not record.get(name, "").strip() and name not in STATISTIC_FIELDS:
            ask(record, by_name[name], optional=True)
