"""The audit log of a study table: ``changes.csv`` beside it, one line per changed cell.

Every write of the table (add, trial add, edit, remove, extract merge) appends, in the same
locked step as the table write (:mod:`store`), one entry per cell it changed: time (UTC), who,
command, es_id, field, old value, new value and reason.  An added row logs each of its filled
cells (old value empty), a removed row each of its filled cells (new value empty), an edit
the cells that changed.  ``compassmeta history [ES_ID]`` prints the log.
"""
import getpass
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..common.errors import InputError
from ..common.results import Result
from .schema import unencodable
from .tables import read_table

if TYPE_CHECKING:
    import pandas as pd

Entry = dict[str, str]

LOG_NAME = "changes.csv"
LOG_HEADER = ("time", "who", "command", "es_id", "field", "old_value", "new_value", "reason")


@dataclass(frozen=True)
class Author:
    """Who makes a change, with which command, and why (``reason`` may be empty)."""

    command: str
    who: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        for column, text in (("who", self.who), ("reason", self.reason)):   # --by; --reason (or --extractors)
            if unencodable(text):
                raise InputError("not text a UTF-8 file can hold: a lone surrogate (bytes that are not "
                                 "UTF-8?)", file=LOG_NAME, column=column)

    @property
    def name(self) -> str:
        if self.who:
            return self.who
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"


def log_path(table: str | os.PathLike[str]) -> Path:
    """The audit log beside a study table."""
    return Path(table).parent / LOG_NAME


def entries(header: Sequence[str], old_records: Iterable[Sequence[str]], new_records: Iterable[Sequence[str]],
            author: Author) -> list[Entry]:
    """The log entries (dicts) of a change of a table from ``old_records`` to ``new_records``
    (text records whose first cell is the es_id; a writer passes only the records it dropped or
    replaced and those it wrote, a record equal in both logs nothing), in the new records' order,
    removals last."""
    time = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = {"time": time, "who": author.name, "command": author.command, "reason": author.reason}
    old = {record[0]: tuple(record) for record in old_records}
    new = {record[0]: tuple(record) for record in new_records}
    found = []
    for es_id in list(new) + [key for key in old if key not in new]:
        old_record, new_record = old.get(es_id), new.get(es_id)
        if old_record == new_record:
            continue
        before, after = dict(zip(header, old_record or ())), dict(zip(header, new_record or ()))
        for name in header:
            old_value, new_value = before.get(name, ""), after.get(name, "")
            if old_value != new_value:
                found.append(dict(base, es_id=es_id, field=name, old_value=old_value, new_value=new_value))
    return found


def appended_log(table: str | os.PathLike[str], new_entries: Iterable[Entry],
                 format_record: Callable[[Sequence[str], Entry], str]) -> str:
    """The text of the audit log with ``new_entries`` appended (the header written first if new)."""
    path = log_path(table)
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if not current:
        current = format_record(LOG_HEADER, dict(zip(LOG_HEADER, LOG_HEADER)))
    elif not current.endswith("\n"):
        current += "\n"
    return current + "".join(format_record(LOG_HEADER, entry) for entry in new_entries)


@dataclass(frozen=True)
class History(Result):
    """The audit log of a study table (``compassmeta history``), optionally of one es_id."""

    log: str
    es_id: str
    entries: tuple[Entry, ...]

    def to_frame(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame(list(self.entries), columns=list(LOG_HEADER))

    def __str__(self) -> str:
        """One line per changed row and write: an added or removed row with its count of cells,
        an edit with each field's old -> new (--format csv or json gives every cell)."""
        if not self.entries:
            return f"{self.log}: no changes recorded" + (f" for {self.es_id}" if self.es_id else "")
        groups: dict[tuple[str, ...], list[Entry]] = {}
        for entry in self.entries:
            key = tuple(entry[name] for name in ("time", "who", "command", "es_id", "reason"))
            groups.setdefault(key, []).append(entry)
        return "\n".join(_group_line(key, group) for key, group in groups.items())


def _group_line(key: tuple[str, ...], group: list[Entry]) -> str:
    time, who, command, es_id, reason = key
    fields = {entry["field"] for entry in group}
    if "es_id" in fields and all(not entry["old_value"] for entry in group):
        what = f"added ({len(group)} cells)"
    elif "es_id" in fields and all(not entry["new_value"] for entry in group):
        what = f"removed ({len(group)} cells)"
    else:
        what = "; ".join(f"{e['field']}: {e['old_value'] or '(empty)'} -> {e['new_value'] or '(empty)'}"
                         for e in group)
    return f"{time}  {who}  {command}  {es_id}  {what}" + (f"  ({reason})" if reason else "")


def history(table: str | os.PathLike[str], es_id: str | None = None) -> History:
    """The entries of the audit log beside ``table`` (of ``es_id`` only, when given)."""
    path = log_path(table)
    # the table reader: a one-line error for a damaged log, and no limit on a cell's length (a log
    # keeps the over-long cell a repair replaced)
    log = read_table(path, allow_empty=True) if path.exists() and path.stat().st_size else None
    if log is not None and log.header != LOG_HEADER:
        raise InputError(f"not an audit log: the header is not {','.join(LOG_HEADER)}", file=path, row=0)
    found = [dict(zip(LOG_HEADER, row)) for row in (log.rows if log is not None else ())]
    if es_id:
        found = [entry for entry in found if entry["es_id"] == es_id]
    return History(log=str(path), es_id=es_id or "", entries=tuple(found))
