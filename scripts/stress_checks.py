"""The checks of scripts/stress_writes.py: the audit log replayed on the table, each write against
the log and the table, the files whole, validate's warnings."""
import csv
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from stress_inputs import ENVIRONMENT, Write, read_csv

WARNING = re.compile(r"Warning: .*?, row (\d+), column '([^']*)': (.*)")
WRITER_TIMEOUT = 150.0     # seconds: a writer still running then is a hang (a failure)


@dataclass
class Tally:
    """What the run did and found."""

    rounds: int = 0
    writers: int = 0
    accepted: int = 0
    refused: int = 0
    conflicts: int = 0
    kills: int = 0
    kill_plans: Counter = field(default_factory=Counter)     # kills by plan -> outcome
    killed_made: int = 0
    killed_unmade: int = 0
    killed_logged_unmade: int = 0
    bad_alone: int = 0
    reads: int = 0
    bad_concurrent: int = 0
    temporaries_swept: int = 0
    locks_swept: int = 0
    failures: list = field(default_factory=list)


def last_line(output: str) -> str:
    lines = output.strip().splitlines()
    return lines[-1][:160] if lines else "(no output)"


def broken_output(write: Write) -> str | None:
    """What is wrong with a finished writer's output: a traceback or an 'unexpected' error."""
    if "Traceback" in write.output or "unexpected" in write.output.lower():
        return (f"{write.tag} ({write.bad or write.kind}): traceback or unexpected error: "
                f"{last_line(write.output)}")
    return None


# -- replaying the audit log -----------------------------------------------------------------------

class Replay:
    """The table as a round found it, with the round's logged writes applied in log order; a killed
    write's entries are taken back when a later entry or the final table shows it was logged, not made."""

    def __init__(self, header: list, rows: list, killed: set) -> None:
        self.header, self.killed = header, killed
        self.rows = {row["es_id"]: dict(row) for row in rows}
        self.order = [row["es_id"] for row in rows]
        self.applied: list = []          # (tag, es_ids, operations, entries)
        self.reverted: set = set()

    def run(self, entries: list, failures: list) -> None:
        groups: list = []
        for entry in entries:
            if groups and groups[-1][0] == entry["who"]:
                groups[-1][1].append(entry)
            else:
                groups.append((entry["who"], [entry]))
        tags = [tag for tag, _ in groups]
        failures += [f"the log entries of {tag} are not contiguous" for tag in sorted(set(tags))
                     if tags.count(tag) > 1]
        for tag, group in groups:
            ids = {entry["es_id"] for entry in group}
            while isinstance(result := self.apply(group), str):
                if not self.take_back(ids):
                    failures.append(f"log replay: {tag}: {result}")
                    break
            else:
                self.applied.append((tag, ids, result, group))

    def take_back(self, ids: set) -> bool:
        """Undo the last applied killed write touching ``ids`` (logged, not made); False if none."""
        for tag, touched, operations, _ in reversed(self.applied):
            if tag in self.killed and tag not in self.reverted and touched & ids:
                self.undo(operations)
                self.reverted.add(tag)
                return True
        return False

    def apply(self, group: list) -> list | str:
        """Apply one write's entries (all or none): its operations, or why they do not fit the table."""
        fields: dict = {}
        for entry in group:
            fields.setdefault(entry["es_id"], {})[entry["field"]] = (entry["old_value"], entry["new_value"])
        operations: list = []
        for es_id, changes in fields.items():
            if problem := self.apply_row(es_id, changes, operations):
                self.undo(operations)
                return f"{es_id}: {problem}"
        return operations

    def apply_row(self, es_id: str, changes: dict, operations: list) -> str | None:
        old_id, new_id = changes.get("es_id", (es_id, es_id))
        if old_id == "":
            if es_id in self.rows or new_id != es_id or any(old for old, _ in changes.values()):
                return "logged as added, but already present (or with old values)"
            self.rows[es_id] = {name: changes.get(name, ("", ""))[1] for name in self.header}
            self.order.append(es_id)
            operations.append(("add", es_id))
            return None
        row = self.rows.get(es_id)
        if row is None:
            return "logged as changed, but not present"
        if new_id == "":
            if any(row[name] != changes.get(name, ("", ""))[0] for name in self.header):
                return "logged as removed, but the logged cells are not the row's"
            index = self.order.index(es_id)
            operations.append(("remove", es_id, self.successor(index), self.rows.pop(es_id)))
            del self.order[index]
            return None
        for name, (old, _) in changes.items():
            if name == "es_id" or row.get(name) != old:
                return f"{name}: logged old value {old[:40]!r}, the cell held {str(row.get(name))[:40]!r}"
        for name, (old, new) in changes.items():
            operations.append(("edit", es_id, name, old))
            row[name] = new
        return None

    def undo(self, operations: list) -> None:
        for operation in reversed(operations):
            if operation[0] == "add":
                del self.rows[operation[1]]
                self.order.remove(operation[1])
            elif operation[0] == "remove":
                self.rows[operation[1]] = operation[3]
                self.put_back(operation[1], operation[2])
            else:
                self.rows[operation[1]][operation[2]] = operation[3]

    def successor(self, index: int) -> str | None:
        """The es_id after row ``index`` (None for the last): where a row taken back goes, even when
        later writes have removed rows before it since."""
        return self.order[index + 1] if index + 1 < len(self.order) else None

    def put_back(self, es_id: str, successor: str | None) -> None:
        self.order.insert(self.order.index(successor) if successor in self.rows else len(self.order), es_id)

    def reconcile(self, actual: list, failures: list) -> None:
        """Take back killed writes (last first) until the replay is the table; a failure if it never is."""
        table = {row["es_id"]: row for row in actual}
        order = [row["es_id"] for row in actual]
        while (self.rows, self.order) != (table, order):
            differing = {es_id for es_id in self.rows.keys() | table.keys()
                         if self.rows.get(es_id) != table.get(es_id)}
            if not differing or not self.take_back(differing):
                failures.append(_difference(self.rows, self.order, table, order))
                return

    def made(self) -> dict:
        """tag -> (operations, entries) of each write logged and made."""
        return {tag: (operations, group) for tag, _, operations, group in self.applied
                if tag not in self.reverted}


def _difference(rows: dict, order: list, table: dict, actual: list) -> str:
    for es_id in list(dict.fromkeys(order + actual)):
        if rows.get(es_id) != table.get(es_id):
            mine, theirs = rows.get(es_id), table.get(es_id)
            if mine is None or theirs is None:
                where = "only in the table" if mine is None else "missing from the table"
                return f"table and log disagree: {es_id} is {where}"
            cells = [name for name in mine if mine[name] != theirs.get(name)]
            return f"table and log disagree: {es_id}, cells {cells}"
    first = next(index for index, (mine, theirs) in enumerate(zip(order, actual)) if mine != theirs)
    return (f"table and log disagree on the order of the rows from row {first + 1}: the log gives "
            f"{order[first:first + 3]}, the table {actual[first:first + 3]}")


# -- the checks of a round -------------------------------------------------------------------------

def expected(write: Write, operations: list, group: list) -> str | None:
    """What is wrong with a made write's logged change, against what it was to do."""
    if write.kind in ("add", "trial", "merge"):
        added = [operation[1] for operation in operations if operation[0] == "add"]
        right = len(added) == len(operations) and sorted(added) == sorted(write.adds)
    elif write.kind == "replace":
        right = bool(operations) and {entry["es_id"] for entry in group} <= set(write.adds) and all(
            operation[0] == "add" or operation[2] == "inclusion_note" for operation in operations)
        right = right and all(write.token in entry["new_value"] for entry in group
                              if entry["field"] == "inclusion_note")
    elif write.kind == "remove":
        right = [operation[:2] for operation in operations] == [("remove", write.target)]
    else:
        right = [(entry["es_id"], entry["field"], entry["new_value"]) for entry in group] == [
            (write.target, "inclusion_note", write.token)]
    return None if right else f"{write.tag} ({write.kind}): its log entries are not its change"


def check_writes(writes: list, replay: Replay, actual: list, tally: Tally) -> None:
    """Every write against the log and the table: accepted made once, refused absent, killed all or none."""
    made, logged = replay.made(), {tag for tag, *_ in replay.applied}
    present = {row["es_id"] for row in actual}
    notes = "\n".join(row["inclusion_note"] for row in actual)
    for write in writes:
        if write.kind == "read":
            tally.reads += 1
            if write.code != 0 or "rror" in write.output:
                tally.failures.append(f"{write.tag}: validate during the writes: exit {write.code}: "
                                      f"{last_line(write.output)}")
            continue
        found = [] if write.kind == "replace" else [es_id for es_id in write.adds if es_id in present]
        if write.tag in made:
            if problem := expected(write, *made[write.tag]):
                tally.failures.append(problem)
        elif found or (write.token and write.token in notes):
            tally.failures.append(f"{write.tag} ({write.bad or write.kind}, exit {write.code}) is in the "
                                  f"table but not in the log: {found or write.token}")
        elif write.kind == "remove" and write.target not in present:
            tally.failures.append(f"{write.tag}: {write.target} was removed but the removal is not logged")
        if write.killed:
            count_kill(write, replay, tally)
        else:
            check_finished(write, made, logged, tally)


def count_kill(write: Write, replay: Replay, tally: Tally) -> None:
    made, logged = write.tag in replay.made(), any(tag == write.tag for tag, *_ in replay.applied)
    tally.kills += 1
    tally.killed_made += made
    tally.killed_logged_unmade += write.tag in replay.reverted
    tally.killed_unmade += not logged
    outcome = "made" if made else "logged, unmade" if write.tag in replay.reverted else "unmade"
    tally.kill_plans[f"{write.plan}: {outcome}"] += 1


def check_finished(write: Write, made: dict, logged: set, tally: Tally) -> None:
    """A write that ended by itself: accepted and made, or refused (a bad input, or an edit or remove
    of a row a concurrent remove took) and not logged; no traceback."""
    if problem := broken_output(write):
        tally.failures.append(problem)
    if write.code == 0 and write.kind != "bad":
        tally.accepted += 1
        if write.tag not in made:
            tally.failures.append(f"{write.tag} ({write.kind}) exited 0, its change not made and logged")
    elif write.code == 0:
        tally.failures.append(f"{write.tag}: bad input '{write.bad}' accepted: {last_line(write.output)}")
    else:
        conflict = write.kind in ("edit", "remove") and "no row with es_id" in write.output
        tally.refused += 1
        tally.conflicts += conflict
        if write.kind != "bad" and not conflict:
            tally.failures.append(f"{write.tag} ({write.kind}) refused: {last_line(write.output)}")
        if write.tag in logged:
            tally.failures.append(f"{write.tag} ({write.bad or write.kind}) refused but logged")


def warnings_of(table: Path) -> tuple[int, set, str]:
    """(exit code, {(es_id, column, message)}, output) of ``validate --all-warnings``."""
    result = subprocess.run([sys.executable, "-m", "compassmeta", "validate", str(table), "--all-warnings"],
                            env=ENVIRONMENT, capture_output=True, text=True, timeout=WRITER_TIMEOUT)
    rows = read_csv(table)[1]
    found = set()
    for line in (result.stdout + result.stderr).splitlines():
        if match := WARNING.fullmatch(line):
            found.add((rows[int(match[1]) - 1]["es_id"], match[2], match[3]))
        elif line.startswith("Warning"):
            found.add(("", "", line))
    return result.returncode, found, result.stdout + result.stderr


def check_files(table: Path, log: Path, old_log: bytes, tally: Tally) -> tuple[list, list, list] | None:
    """(header, table rows, log entries) if both files are whole CSV and the log only grew; else None."""
    try:
        header, rows = read_csv(table)
        entries = read_csv(log)[1] if log.exists() else []
    except (ValueError, UnicodeDecodeError, csv.Error) as error:
        tally.failures.append(f"torn file: {error}")
        return None
    if not (log.read_bytes() if log.exists() else b"").startswith(old_log):
        tally.failures.append("the audit log was rewritten, not appended to")
    twice = sorted(es_id for es_id, count in Counter(row["es_id"] for row in rows).items() if count > 1)
    if twice:
        tally.failures.append(f"es_ids twice in the table: {twice[:5]}")
    return header, rows, entries
