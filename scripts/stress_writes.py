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
a no-op): each run failed, naming the writes.  The writes are built in stress_inputs.py, checked in
stress_checks.py (the log replay: tests/test_stress_writes.py).
"""
import argparse
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
from pathlib import Path

from stress_checks import (
    WRITER_TIMEOUT,
    Replay,
    Tally,
    broken_output,
    check_files,
    check_writes,
    last_line,
    warnings_of,
)
from stress_inputs import (
    BAD_INPUTS,
    BASE,
    ENVIRONMENT,
    ROOT,
    SHIPPED,
    STUDIES,
    Write,
    bad_write,
    good_write,
    read_csv,
)

KINDS = {"add": 0.25, "trial": 0.15, "replace": 0.05, "merge": 0.1, "edit": 0.2, "remove": 0.1, "bad": 0.1,
         "read": 0.05}
TEMPORARY = re.compile(r"\.(trials|changes)\.[a-z0-9_]{8}\.csv")
MAX_WRITERS = 8


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
