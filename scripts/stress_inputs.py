"""The writes of scripts/stress_writes.py: each writer's arguments and what it should change (good
writes of every write command, and the seeded bad inputs that must be refused)."""
import csv
import io
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"
EXAMPLES = STUDIES / "examples"
ENVIRONMENT = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
TRIAL_ROW = re.compile(r"(stressr\d+w\d+)-.*-vs-wlc-post")


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
