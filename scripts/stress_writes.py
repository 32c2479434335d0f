"""Stress the write path (issue 29): concurrent writers, SIGKILLs, bad inputs, on a copy of the study folder.

    python scripts/stress_writes.py                         # 12 rounds of 8 writers (about a minute)
    python scripts/stress_writes.py --rounds 20 --writers 8 --kill-rate 0.7 --seed 7
    python scripts/stress_writes.py --large --rounds 3 --writers 6   # a table over tables.LARGE_FILE
    python scripts/stress_writes.py --crlf --kills rename            # CRLF line ends; injected kills only

Each round starts ``--writers`` (at most 8) ``python -m compassmeta`` processes at once, each one
write with ``--yes`` and ``--by stress-rRwW`` (so every audit-log entry names its write): ``add`` of
one row, ``trial add`` of a 6-row trial, ``trial add --replace`` of such a trial (a token in its
inclusion_note), ``extract merge`` of 3 rows (each with es_ids of its own), ``edit`` of a present
row's inclusion_note to a token of its own, ``remove`` of a row an earlier round added, a bad input,
or a ``validate`` (which must pass while the others write).  Each writer is killed with probability
``--kill-rate``, by one of ``--kills``: ``random`` (SIGKILL at a moment drawn over the last round's run
times), ``locked`` (SIGKILL at a moment drawn over its hold of the table's lock, seen in /proc/locks)
or ``rename`` (it SIGKILLs itself before its first rename, between the log's and the table's, or
after both at the lock's release: see INJECTED).  Then ``--bad`` seeded bad inputs (a sign slip, a
decimal slip, a cell over the schema's maxLength, Unicode digits, an es_id that exists, a malformed
row or trial file: BAD_INPUTS) are run alone: each must exit non-zero with no traceback and leave
every file of the folder byte-identical.
One more edit alone (the sweep) must succeed.  The round then checks:

- both files are whole CSV (strict quoting, every record as wide as its header, a line end last)
  and the audit log only grew (the old log is a prefix of the new one);
- after the sweep no temporary file (``.trials.*.csv``, ``.changes.*.csv``) and no ``.lock`` is left;
- replaying the round's new log entries on the table as the round found it gives the table as it
  is (rows and their order): each write's entries are contiguous and each entry's old value is the
  cell's value then; no es_id twice;
- a write that exited 0 is logged and made once; a refused write is neither logged nor present; a
  killed write is wholly made and logged, wholly absent and unlogged, or (store.write_with_log renames
  the log first) logged and wholly unmade; never made and unlogged, never in part;
- ``validate --all-warnings`` exits 0 with exactly the warnings of the starting table (es_id, message).

Prints a tally and each failure; exits 1 if any check failed.  ``--large`` builds the table by
repeating the shipped rows (scripts/bench_scale.make_table) past tables.LARGE_FILE, so that every
writer reads it as columns and copies byte spans (about 15 s a round).  The checks were tried on three
broken copies of the write path (the table renamed before the log; stale temporaries kept; the lock
a no-op): each run failed, naming the writes.
"""
import argparse
import csv
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"
EXAMPLES = STUDIES / "examples"
ENVIRONMENT = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
KINDS = {"add": 0.25, "trial": 0.15, "replace": 0.05, "merge": 0.1, "edit": 0.2, "remove": 0.1, "bad": 0.1,
         "read": 0.05}
TRIAL_ROW = re.compile(r"(stressr\d+w\d+)-.*-vs-wlc-post")
TEMPORARY = re.compile(r"\.(trials|changes)\.[a-z0-9_]{8}\.csv")
WARNING = re.compile(r"Warning: .*?, row (\d+), column '([^']*)': (.*)")
WRITER_TIMEOUT = 150.0     # seconds: a writer still running then is a hang (a failure)
MAX_WRITERS = 8


@dataclass
class Write:
    """One write: its tag (the --by name), kind, arguments and what it should change."""

    tag: str
    kind: str
    argv: list
    adds: tuple = ()          # es_ids it adds
    target: str = ""          # es_id it edits or removes
    token: str = ""           # the inclusion_note an edit writes
    bad: str = ""             # the bad input's name
    code: int | None = None
    output: str = ""
    killed: bool = False
    plan: str = ""            # how it is to be killed (KILL_PLANS), if it is


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


def read_csv(path: Path) -> tuple[list, list]:
    """(header, records as dicts) of a whole CSV file; ValueError if torn (strict quoting, ragged, no last
    line end)."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        raise ValueError(f"{path.name} does not end with a line end (a half line)")
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), strict=True)
    header = next(reader, [])
    records = []
    for number, record in enumerate(reader, start=1):
        if len(record) != len(header):
            raise ValueError(f"{path.name}, row {number}: {len(record)} fields, header {len(header)}")
        records.append(dict(zip(header, record)))
    return header, records


SHIPPED = read_csv(STUDIES / "trials.csv")[1]
BASE = next(row for row in SHIPPED if row["es_id"] == "savari2021-bdi2-post")   # no warning of its own


def sets(record: dict) -> list:
    return [part for name, value in record.items() if value for part in ("-s", f"{name}={value}")]


def study_of(tag: str) -> str:
    return re.sub(r"[^a-z0-9]", "", tag)


def new_row(tag: str, **changes: str) -> dict:
    study = study_of(tag)
    return dict(BASE, es_id=f"{study}-bdi2-post", study_id=study, **changes)


@cache
def template() -> str:
    return subprocess.run([sys.executable, "-m", "compassmeta", "trial", "template"], env=ENVIRONMENT,
                          capture_output=True, text=True, check=True).stdout


def trial_file(work: Path, tag: str, study: str, extra: str = "") -> str:
    """The trial template under the study_id ``study``, with ``extra`` TOML appended, in a file of the
    write ``tag`` (two writes of one study have files of their own)."""
    path = work / f"{tag}.toml"
    path.write_text(template().replace('study_id = "tealesapach2022"', f'study_id = "{study}"') + extra,
                    encoding="utf-8")
    return str(path)


def replaceable(present: list) -> list:
    """The studies of the table that trial add entered (all six rows present)."""
    rows = Counter(match[1] for es_id in present if (match := TRIAL_ROW.fullmatch(es_id)))
    return sorted(study for study, count in rows.items() if count == 6)


def trial_ids(study: str) -> tuple:
    return tuple(f"{study}-{outcome}-{arm}-vs-wlc-post" for outcome in ("bfne-s", "lsas-sr", "sips")
                 for arm in ("sct", "ar"))


def merge_files(work: Path, study: str) -> list:
    """The shipped double extraction example (A and B checked, which agree) under its own study_id."""
    paths = []
    for suffix in ("A", "B_checked"):
        text = (EXAMPLES / f"tealesapach2022_{suffix}.csv").read_text(encoding="utf-8")
        (work / f"{study}_{suffix}.csv").write_text(text.replace("tealesapach2022", study), encoding="utf-8")
        paths.append(str(work / f"{study}_{suffix}.csv"))
    return paths


def good_write(kind: str, tag: str, work: Path, table: Path, present: list, removable: list,
               rng: random.Random) -> Write:
    """A write that should be accepted (an edit or remove may meet a concurrent remove of its row)."""
    by = ["--by", tag]
    study = study_of(tag)
    if kind == "add":
        row = new_row(tag)
        return Write(tag, kind, ["add", "--table", table, "--yes", *by, *sets(row)], adds=(row["es_id"],))
    if kind == "trial":
        path = trial_file(work, tag, study)
        return Write(tag, kind, ["trial", "add", path, "--table", table, "--yes", *by], adds=trial_ids(study))
    if kind == "merge":
        return Write(tag, kind, ["extract", "merge", *merge_files(work, study), "--into", table,
                                 "--extractors", "A,B", *by],
                     adds=tuple(f"{study}-{outcome}-post" for outcome in ("bfne-s", "lsas-sr", "sips")))
    if kind == "replace" and (studies := replaceable(present)):
        study = rng.choice(studies)
        token = f"stress replace {tag}"
        path = trial_file(work, tag, study)
        text = Path(path).read_text(encoding="utf-8")
        Path(path).write_text(text.replace('inclusion_note = """', f'inclusion_note = """{token}. '),
                              encoding="utf-8")
        return Write(tag, kind, ["trial", "add", path, "--replace", "--table", table, "--yes", *by],
                     adds=trial_ids(study), token=token)
    if kind == "read":
        return Write(tag, kind, ["validate", table])
    if kind == "remove" and removable:
        target = removable.pop(rng.randrange(len(removable)))
        return Write(tag, kind, ["remove", target, "--table", table, "--yes", *by], target=target)
    target, token = rng.choice(present), f"stress edit {tag}"
    argv = ["edit", target, "-s", f"inclusion_note={token}", "--table", table, "--yes", *by]
    return Write(tag, "edit", argv, target=target, token=token)


BAD_INPUTS = ("sign slip", "sign slip in a trial", "decimal slip", "decimal slip in an edit",
              "too long", "too long in an edit", "unicode digits", "unicode digits in an edit",
              "existing es_id", "existing es_id in an edit", "malformed row", "row cut in a quote",
              "malformed trial file")


def bad_write(name: str, tag: str, work: Path, table: Path, rng: random.Random, kept: list) -> Write:
    """A seeded bad input: every one must be refused.  ``kept`` are es_ids of the starting table that no
    write removes, the first a copy of BASE."""
    by, study = ["--by", tag], study_of(tag)
    add = ["add", "--table", table, "--yes", *by]
    edit = ["--table", table, "--yes", *by]
    row = new_row(tag)
    target, shipped = kept[0], kept[1:]
    argv = {
        "sign slip": lambda: add + sets(dict(row, stat_type="t", statistic=f"-{rng.uniform(1, 4):.2f}",
                                             direction="1", mean1="", sd1="", mean2="", sd2="")),
        "sign slip in a trial": lambda: ["trial", "add", trial_file(work, tag, study, (
            '\n[[outcomes]]\nlabel = "spin"\noutcome = "anxiety"\ninstrument = "SPIN (self-report)"\n'
            '\n[[results]]\narm = "sct"\nversus = "wlc"\noutcome = "spin"\ntimepoint = "post"\n'
            f'stat_type = "t"\nstatistic = -{rng.uniform(1, 4):.2f}\ndirection = 1\n')), *edit],
        "decimal slip": lambda: add + sets(dict(row, sd1=rng.choice(["39", "390", "0.39"]))),
        "decimal slip in an edit": lambda: ["edit", target, "-s", f"mean1={rng.choice(['162', '1620'])}",
                                            *edit],
        "too long": lambda: add + ["--from", _json_row(work, tag, dict(
            row, inclusion_note="x" * rng.randint(10_001, 300_000)))],
        "too long in an edit": lambda: ["edit", rng.choice(shipped), "-s",
                                        "inclusion_note=" + "y" * rng.randint(10_001, 120_000), *edit],
        "unicode digits": lambda: add + sets(dict(row, **rng.choice([{"n1": "٢٣"}, {"mean1": "１６.２"},
                                                                     {"mean1": "1_6.2"}, {"sd2": "６.7"}]))),
        "unicode digits in an edit": lambda: ["edit", target, "-s", rng.choice(["n1=١٥", "sd1=３.9"]), *edit],
        "existing es_id": lambda: add + sets(dict(row, es_id=rng.choice(shipped))),
        "existing es_id in an edit": lambda: ["edit", target, "-s", f"es_id={rng.choice(shipped)}", *edit],
        "malformed row": lambda: add + ["--from", _csv_rows(work, tag, ",".join(row.values()) + ",extra\n")],
        "row cut in a quote": lambda: add + ["--from", _csv_rows(work, tag,
                                                                 f'{row["es_id"]},"{study},cut\n')],
        "malformed trial file": lambda: ["trial", "add", _cut_trial(work, study, rng), *edit],
    }[name]()
    return Write(tag, "bad", argv, adds=(row["es_id"],) + trial_ids(study), bad=name)


def _json_row(work: Path, tag: str, row: dict) -> str:
    path = work / f"{tag}.json"
    path.write_text(json.dumps(row), encoding="utf-8")
    return str(path)


def _csv_rows(work: Path, tag: str, lines: str) -> str:
    path = work / f"{tag}.csv"
    path.write_text(",".join(BASE) + "\n" + lines, encoding="utf-8")
    return str(path)


def _cut_trial(work: Path, study: str, rng: random.Random) -> str:
    """A trial file cut inside its citation's triple-quoted string."""
    path = Path(trial_file(work, study, study))
    text = path.read_text(encoding="utf-8")
    start = text.index('citation = """') + 16
    path.write_text(text[:rng.randint(start, start + 80)], encoding="utf-8")
    return str(path)


# -- running the writers ---------------------------------------------------------------------------

# A writer whose kill is injected: it SIGKILLs itself at an exact point of its write, named by K: 0, at
# its first os.replace (its temporary files written and synced, none renamed); 1, at its second (the
# audit log renamed, the table not); 2, at its first os.unlink of a lock file (both renamed, the locks
# held).  The rest of its arguments are compassmeta's.
INJECTED = """
import os, runpy, signal, sys
at, renames, replace, unlink = int(sys.argv[1]), [], os.replace, os.unlink
def replacing(*arguments, **options):
    if len(renames) == at:
        os.kill(os.getpid(), signal.SIGKILL)
    renames.append(arguments)
    return replace(*arguments, **options)
def unlinking(path, *arguments, **options):
    if at == 2 and str(path).endswith(".lock"):
        os.kill(os.getpid(), signal.SIGKILL)
    return unlink(path, *arguments, **options)
os.replace, os.unlink = replacing, unlinking
sys.argv = ["compassmeta", *sys.argv[2:]]
runpy.run_module("compassmeta", run_name="__main__")
"""
KILL_PLANS = {"random": 0.4, "locked": 0.3, "rename": 0.3}


def command(write: Write) -> list:
    if write.plan.startswith("rename"):
        return [sys.executable, "-c", INJECTED, write.plan[-1], *map(str, write.argv)]
    return [sys.executable, "-m", "compassmeta", *map(str, write.argv)]


def run_together(writes: list, work: Path, run: "Run") -> tuple[list, list]:
    """Start every write at once and wait for all.  Each is killed with probability ``run.kill_rate``, by
    one of KILL_PLANS: SIGKILLed at a moment drawn uniformly over ``run.span`` (from the last round's
    run times), or at a delay drawn uniformly over ``run.hold`` (the last round's longest hold of the
    lock) after it is first seen holding a lock (/proc/locks), or by itself at an os.replace (INJECTED:
    the moments between renames are too short to aim at from outside).  Returns the run times of the
    writers that were not killed, and the times from their taking the lock to their end."""
    started, rng = time.monotonic(), run.rng
    running = []
    for write in writes:
        if write.kind != "read" and rng.random() < run.kill_rate:
            write.plan = rng.choices(list(run.plans), weights=list(run.plans.values()))[0]
            write.plan += str(rng.randrange(3)) if write.plan == "rename" else ""
        output = open(work / f"{write.tag}.out", "w+b")
        process = subprocess.Popen(command(write), env=ENVIRONMENT, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT)
        kill_at = started + rng.uniform(*run.span) if write.plan == "random" else None
        running.append([write, process, output, kill_at, None])
    durations, holds = [], []
    while running:
        now, holders = time.monotonic(), lock_holders()
        for item in list(running):
            write, process, output, kill_at, locked = item
            code = process.poll()
            if code is None and locked is None and process.pid in holders:
                item[4] = locked = now
                if write.plan == "locked":
                    item[3] = kill_at = now + rng.uniform(0, run.hold)
            if code is None and kill_at is not None and now >= kill_at:
                process.send_signal(signal.SIGKILL)
                code = process.wait()
            elif code is None and now - started > WRITER_TIMEOUT:
                process.kill()
                code = process.wait()
                run.tally.failures.append(f"{write.tag} ({' '.join(write.argv[:2])}) still running after "
                                          f"{WRITER_TIMEOUT:g} s: killed")
            if code is None:
                continue
            running.remove(item)
            write.code, write.killed = code, code == -signal.SIGKILL
            output.seek(0)
            write.output = output.read().decode("utf-8", errors="replace")
            output.close()
            if not write.killed:
                durations.append(now - started)
                holds += [now - locked] if locked is not None else []
        time.sleep(0.001)
    return durations, holds


def lock_holders() -> set:
    """The processes holding a flock (a compassmeta writer holds one only on a table's or log's lock file)."""
    with open("/proc/locks", encoding="ascii") as handle:
        return {int(fields[4]) for fields in map(str.split, handle)
                if fields[1] == "FLOCK" and fields[2] != "->"}


def snapshot(folder: Path) -> dict:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def last_line(output: str) -> str:
    lines = output.strip().splitlines()
    return lines[-1][:160] if lines else "(no output)"


def broken_output(write: Write) -> str | None:
    """What is wrong with a finished writer's output: a traceback or an 'unexpected' error."""
    if "Traceback" in write.output or "unexpected" in write.output.lower():
        return (f"{write.tag} ({write.bad or write.kind}): traceback or unexpected error: "
                f"{last_line(write.output)}")
    return None


def run_alone_refused(write: Write, folder: Path, tally: Tally) -> None:
    """A bad input run alone: exit != 0, no traceback, every file of the folder byte-identical."""
    before = snapshot(folder)
    result = subprocess.run(command(write), env=ENVIRONMENT, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=WRITER_TIMEOUT)
    write.code, write.output = result.returncode, result.stdout + result.stderr
    tally.bad_alone += 1
    if write.code == 0:
        tally.failures.append(f"{write.tag}: bad input '{write.bad}' accepted: {last_line(write.output)}")
    if problem := broken_output(write):
        tally.failures.append(problem)
    after = snapshot(folder)
    if after != before:
        changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
        tally.failures.append(f"{write.tag}: bad input '{write.bad}' (exit {write.code}) changed {changed}")


def leftovers(folder: Path) -> tuple[list, list]:
    names = [path.name for path in folder.iterdir()]
    return ([name for name in names if TEMPORARY.fullmatch(name)],
            [name for name in names if name.endswith(".lock")])


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


# -- a round, the run ------------------------------------------------------------------------------

@dataclass
class Run:
    """A run's settings and state across rounds."""

    folder: Path
    work: Path
    rng: random.Random
    writers: int
    kill_rate: float
    bad: int
    span: tuple                     # (from, to) seconds after the start over which kills are drawn
    plans: dict
    hold: float                     # seconds after a writer takes the lock over which aimed kills are drawn
    baseline: set
    kept: list = field(default_factory=list)    # es_ids of the starting table (first a copy of BASE)
    large: int = 0                  # the least size of the table (bytes), for --large
    bad_names: list = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)


def one_round(run: Run, number: int) -> str:
    """Run one round and check it; a one-line account of it."""
    table, log, rng = run.folder / "trials.csv", run.folder / "changes.csv", run.rng
    header, start = read_csv(table)
    old_log = log.read_bytes() if log.exists() else b""
    old_entries = len(read_csv(log)[1]) if log.exists() else 0
    present = [row["es_id"] for row in start]
    removable = [es_id for es_id in present if es_id.startswith("stressr")]
    writes = []
    for slot in range(run.writers):
        tag, kind = f"stress-r{number}w{slot}", rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
        writes.append(bad_write(rng.choice(BAD_INPUTS), tag, run.work, table, rng, run.kept) if kind == "bad"
                      else good_write(kind, tag, run.work, table, present, removable, rng))
    durations, holds = run_together(writes, run.work, run)
    if durations:       # kills drawn from half the fastest writer's time to the slowest's
        run.span = (min(durations) / 2, max(durations) * 1.05)
    if holds:
        run.hold = max(holds) * 1.05
    temporaries, locks = leftovers(run.folder)
    sweep = good_write("edit", f"stress-r{number}sweep", run.work, table, run.kept[:1], [], rng)
    run_alone(sweep)
    if sweep.code != 0:
        run.tally.failures.append(f"{sweep.tag}: the sweep edit failed: {last_line(sweep.output)}")
    if any(leftovers(run.folder)):
        run.tally.failures.append(f"round {number}: left after the next write: {leftovers(run.folder)}")
    run.tally.temporaries_swept += len(temporaries)
    run.tally.locks_swept += len(locks)
    for index in range(run.bad):
        if not run.bad_names:
            run.bad_names = rng.sample(BAD_INPUTS, len(BAD_INPUTS))
        bad = bad_write(run.bad_names.pop(), f"stress-r{number}b{index}", run.work, table, rng, run.kept)
        run_alone_refused(bad, run.folder, run.tally)
        writes.append(bad)
    checked = check_files(table, log, old_log, run.tally)
    if checked:
        _, rows, entries = checked
        replay = Replay(header, start, {write.tag for write in writes if write.killed})
        replay.run(entries[old_entries:], run.tally.failures)
        replay.reconcile(rows, run.tally.failures)
        check_writes(writes[:run.writers] + [sweep], replay, rows, run.tally)
        check_validate(run, table, number)
    if run.large and table.stat().st_size < run.large:
        run.tally.failures.append(f"round {number}: the table shrank below {run.large:,} bytes")
    run.tally.rounds += 1
    run.tally.writers += run.writers
    run.tally.bad_concurrent += sum(write.kind == "bad" for write in writes[:run.writers])
    kinds = Counter(write.bad and "bad" or write.kind for write in writes[:run.writers])
    killed = sum(write.killed for write in writes)
    return (f"round {number}: {dict(kinds)}, {killed} killed, {len(temporaries)} temporary and {len(locks)} "
            f"lock files swept, {run.bad} bad inputs alone, {len(run.tally.failures)} failures so far")


def run_alone(write: Write) -> None:
    result = subprocess.run(command(write), env=ENVIRONMENT, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=WRITER_TIMEOUT)
    write.code, write.output = result.returncode, result.stdout + result.stderr


def check_validate(run: Run, table: Path, number: int) -> None:
    code, found, output = warnings_of(table)
    if code != 0:
        run.tally.failures.append(f"round {number}: validate exited {code}: {last_line(output)}")
    if found != run.baseline:
        extra, gone = sorted(found - run.baseline), sorted(run.baseline - found)
        run.tally.failures.append(f"round {number}: validate's warnings changed: new {extra[:2]}, "
                                  f"gone {gone[:2]}")


def make_folder(folder: Path, large: bool, crlf: bool = False) -> int:
    """Copy the study folder (or build a table over tables.LARGE_FILE), its table's line ends made '\\r\\n'
    if ``crlf``; the table's least size for --large (else 0)."""
    folder.mkdir()
    for name in ("datapackage.json", "instruments.csv", "trials.csv"):
        shutil.copyfile(STUDIES / name, folder / name)
    size = _large_table(folder) if large else 0
    if crlf:
        table = folder / "trials.csv"
        table.write_bytes(table.read_bytes().replace(b"\n", b"\r\n"))
    return size


def _large_table(folder: Path) -> int:
    """A table of the shipped rows repeated past tables.LARGE_FILE (bench_scale.make_table); that size."""
    sys.path[:0] = [str(ROOT / "src"), str(ROOT / "scripts")]
    from bench_scale import make_table
    from compassmeta.data.tables import LARGE_FILE

    per_row = (STUDIES / "trials.csv").stat().st_size / len(SHIPPED)
    make_table(folder, int(LARGE_FILE * 1.05 / per_row))
    if (folder / "trials.csv").stat().st_size < LARGE_FILE:
        raise SystemExit("the table built is below tables.LARGE_FILE")
    return LARGE_FILE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--writers", type=int, default=8,
                        help=f"concurrent writers a round (1-{MAX_WRITERS})")
    parser.add_argument("--kill-rate", type=float, default=0.7, help="chance that a writer is SIGKILLed")
    parser.add_argument("--kills", nargs="+", choices=list(KILL_PLANS), default=list(KILL_PLANS),
                        help="how writers are killed (see run_together) [all three]")
    parser.add_argument("--bad", type=int, default=6, help="bad inputs run alone each round")
    parser.add_argument("--large", action="store_true", help="a table over tables.LARGE_FILE (columns)")
    parser.add_argument("--crlf", action="store_true", help="the starting table's line ends '\\r\\n'")
    parser.add_argument("--seed", type=int, default=None)
    arguments = parser.parse_args()
    if not 1 <= arguments.writers <= MAX_WRITERS:
        parser.error(f"--writers is 1 to {MAX_WRITERS}")
    seed = arguments.seed if arguments.seed is not None else random.randrange(10 ** 6)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stress-writes-") as temporary:
        folder, work = Path(temporary) / "studies", Path(temporary) / "inputs"
        work.mkdir()
        large = make_folder(folder, arguments.large, arguments.crlf)
        code, baseline, output = warnings_of(folder / "trials.csv")
        if code != 0:
            raise SystemExit(f"validate fails on the starting table: {last_line(output)}")
        run = Run(folder, work, random.Random(seed), arguments.writers, arguments.kill_rate, arguments.bad,
                  span=(0.2, 15.0 if large else 1.5), plans=plans(arguments.kills),
                  hold=1.0 if large else 0.05, baseline=baseline,
                  large=large)
        starting = [row["es_id"] for row in read_csv(folder / "trials.csv")[1]]
        run.kept = [next(es_id for es_id in starting if es_id.startswith(BASE["es_id"]))]
        run.kept += [es_id for es_id in starting[:500] if es_id != run.kept[0]]
        print(f"seed {seed}; {len(starting):,} rows, "
              f"{(folder / 'trials.csv').stat().st_size:,} bytes; {len(baseline)} warnings to keep",
              flush=True)
        for number in range(1, arguments.rounds + 1):
            print(one_round(run, number), flush=True)
    report(run.tally, time.monotonic() - started)
    sys.exit(1 if run.tally.failures else 0)


def plans(chosen: list) -> dict:
    return {plan: weight for plan, weight in KILL_PLANS.items() if plan in chosen}


def report(tally: Tally, seconds: float) -> None:
    print(f"{tally.rounds} rounds, {tally.writers} concurrent writes ({tally.bad_concurrent} bad inputs) "
          f"in {seconds:.0f} s: {tally.accepted} accepted (with the sweeps), {tally.refused} refused "
          f"({tally.conflicts} by a concurrent remove of their row); {tally.kills} SIGKILLs: "
          f"{tally.killed_made} made and logged, {tally.killed_unmade} neither, {tally.killed_logged_unmade} "
          f"logged and unmade; {tally.bad_alone} bad inputs alone; {tally.temporaries_swept} temporary and "
          f"{tally.locks_swept} lock files of killed writes removed by the next write; {tally.reads} "
          "validate runs among the writers")
    print("kills by plan and outcome: "
          + ", ".join(f"{key} {count}" for key, count in sorted(tally.kill_plans.items())))
    print(f"{len(tally.failures)} failures" + "".join(f"\n  {failure}" for failure in tally.failures))


if __name__ == "__main__":
    main()
