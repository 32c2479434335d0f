"""Scale of the study-table commands (issue 29): wall-clock seconds and peak memory (the child
process's maximum resident set, from os.wait4) of ``validate``, ``pool``, one ``add``, one
``edit`` and ``report`` (page and JSON) on study tables of 10^4 and 10^5 rows (any ``--rows``).

The tables are the shipped rows of studies/trials.csv repeated, each copy with its own es_id
and study_id (suffix ``-cN``) and its weeks_after_baseline perturbed, so every check of
``validate`` runs on every row; the data package and instruments are the shipped ones.
Each command runs as a fresh process (start-up included), ``--repeat`` times (the table restored
from a pristine copy before each run of a write); the median is printed with the range of the
runs, as one command's wall time varies by up to 30% from run to run on a shared machine.  The
edit changes one cell of the first row (its inclusion_note), so it is written and logged; the
load average (1 minute) is printed beside each, as the 2 cores may be shared.

    python scripts/bench_scale.py [--rows 1000 10000 100000] [--commands report] [--repeat 5]
"""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "studies"
LIMIT_SECONDS, LIMIT_MB = 5.0, 500.0
REPORT_LIMITS = {10_000: 30.0, 100_000: 120.0}   # report wall seconds (issue 29)


def make_table(folder: Path, rows: int) -> Path:
    """A study table of ``rows`` rows in ``folder``, beside copies of the data package and instruments."""
    for name in ("datapackage.json", "instruments.csv"):
        shutil.copy(STUDIES / name, folder / name)
    with open(STUDIES / "trials.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header, shipped = reader.fieldnames, list(reader)
    path = folder / "trials.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, header, lineterminator="\n")
        writer.writeheader()
        for number in range(rows):
            copy, row = divmod(number, len(shipped))
            record = dict(shipped[row], es_id=f"{shipped[row]['es_id']}-c{copy}",
                          study_id=f"{shipped[row]['study_id']}-c{copy}")
            if record["weeks_after_baseline"]:
                record["weeks_after_baseline"] = f"{float(record['weeks_after_baseline']) + copy % 7:g}"
            writer.writerow(record)
    return path


def run(arguments: list) -> tuple:
    """(wall seconds, CPU seconds, peak MB, exit code) of one compassmeta command as a fresh process."""
    environment = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "compassmeta", *arguments], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        print(f"  ({' '.join(arguments[:2])} exited {process.returncode}: "
              f"{stderr.decode(errors='replace').strip().splitlines()[-1:]})")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode


def commands(path: Path) -> dict:
    """The five commands measured, on the table ``path`` (the report written beside it)."""
    with open(path, newline="", encoding="utf-8") as handle:
        first = next(csv.DictReader(handle))
    added = [f"-s{name}={value}" for name, value in first.items() if value]
    added = [item for item in added if not item.startswith(("-ses_id=", "-sstudy_id="))]
    return {
        "validate": ["validate", str(path)],
        "pool": ["pool", str(path), "--cluster", "study_id"],
        "add": ["add", "--table", str(path), "--yes", "-s", "es_id=bench-new-row", "-s",
                "study_id=benchnew"] + [part for item in added for part in ("-s", item[2:])],
        "edit": ["edit", first["es_id"], "--table", str(path), "--yes", "-s",
                 f"inclusion_note={first['inclusion_note']} (edited by bench_scale)"],
        "report": ["report", str(path), "-o", str(path.parent / "report.html")],
    }


def measured(arguments: list, repeat: int, pristine: Path, table: Path) -> tuple:
    """(wall, CPU, peak MB) lists of ``repeat`` runs of one command, and whether every run succeeded;
    the table is restored from ``pristine`` before each run, so every write starts from the same file."""
    walls, cpus, peaks, succeeded = [], [], [], True
    for _ in range(repeat):
        shutil.copyfile(pristine, table)
        seconds, cpu, megabytes, code = run(arguments)
        walls.append(seconds), cpus.append(cpu), peaks.append(megabytes)
        succeeded &= code == 0
    return walls, cpus, peaks, succeeded


def summary(values: list) -> str:
    """The median of ``values``, with their range when there are several."""
    median = f"{statistics.median(values):.2f}"
    return median if len(values) == 1 else f"{median} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--commands", nargs="+", choices=["validate", "pool", "add", "edit", "report"],
                        help="only these commands [all]")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command [1]: median (range)")
    options = parser.parse_args()
    print(f"{'rows':>8} {'command':<9} {'wall s':>18} {'CPU s':>18} {'peak MB':>8} {'load':>6}  "
          f"(limits at 10^5 rows: < {LIMIT_SECONDS:g} s, < {LIMIT_MB:g} MB; report: < 30 s at 10^4, "
          "< 120 s at 10^5; CPU s is user + system, what a loaded machine's wall time hides; load: the "
          "1-minute load average after)")
    for rows in options.rows:
        with tempfile.TemporaryDirectory() as folder:
            path = make_table(Path(folder), rows)
            pristine = path.with_name("pristine.csv")
            shutil.copyfile(path, pristine)
            for name, arguments in commands(path).items():
                if options.commands and name not in options.commands:
                    continue
                walls, cpus, peaks, succeeded = measured(arguments, options.repeat, pristine, path)
                flag = "" if succeeded else "  FAILED"
                limit = (REPORT_LIMITS.get(rows) if name == "report"
                         else LIMIT_SECONDS if rows >= 100_000 else None)
                if limit and max(walls) >= limit:
                    flag += f"  a run over {limit:g} s"
                if name != "report" and rows >= 100_000 and max(peaks) >= LIMIT_MB:
                    flag += f"  a run over {LIMIT_MB:g} MB"
                print(f"{rows:>8} {name:<9} {summary(walls):>18} {summary(cpus):>18} {max(peaks):>8.0f} "
                      f"{os.getloadavg()[0]:>6.1f}{flag}", flush=True)


if __name__ == "__main__":
    main()
