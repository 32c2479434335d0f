"""Timing helpers shared by the benchmarks in scripts/ (bench.py, bench_selection.py,
bench_multilevel.py, bench_grid.py, bench_bayes.py): wall-clock timers, fresh-process timing and
R snippets run with metafor from the private library (.libPaths, as the reference scripts do)."""
import functools
import shutil
import statistics
import subprocess
import time

HAVE_R = shutil.which("Rscript") is not None
# metafor's current version lives in /opt/rlib-current; Debian's older one is the fallback
R_LIBRARY = "/opt/rlib-current"
R_PRELUDE = f'.libPaths(c("{R_LIBRARY}", .libPaths())); suppressMessages(library(metafor)); '
CURRENT_METAFOR = (5, 1)  # the version the README's tables and the fixtures are measured against


@functools.lru_cache(maxsize=1)
def metafor_version() -> str | None:
    """Version of the metafor the R peers load (after R_PRELUDE); None without R or metafor."""
    if not HAVE_R:
        return None
    run = subprocess.run(["Rscript", "-e", R_PRELUDE + 'cat(packageDescription("metafor")$Version)'],
                         capture_output=True, text=True)
    return run.stdout.strip() or None


def r_peers_line() -> str:
    """One line saying which R peer runs: metafor's version, and whether it is the current one."""
    if not HAVE_R:
        return "R: not installed (the metafor peers are skipped)"
    version = metafor_version()
    if version is None:
        return "R: installed, but metafor does not load (the metafor peers print nothing)"
    current = tuple(int(part) for part in version.replace("-", ".").split(".")[:2]) >= CURRENT_METAFOR
    return f"R peers: metafor {version}" + (
        "" if current else f" (not {CURRENT_METAFOR[0]}.{CURRENT_METAFOR[1]}: {R_LIBRARY} is missing; "
        "the README's ratios are against the current metafor)")


def timed(func) -> float:
    """Seconds one call of ``func`` takes."""
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def median_seconds(func, repeats: int) -> float:
    """Median seconds of ``repeats`` calls."""
    return statistics.median(timed(func) for _ in range(repeats))


def best_seconds(func, repeats: int = 3) -> float:
    """Least seconds of ``repeats`` calls."""
    return min(timed(func) for _ in range(repeats))


def per_call(func, min_seconds: float = 1.0) -> float:
    """Median seconds per call over 5 batches lasting at least ``min_seconds`` in total."""
    func()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds / 5:
        func()
        calls += 1
    batch = max(1, calls)
    return statistics.median(timed(lambda: [func() for _ in range(batch)]) / batch for _ in range(5))


def process_seconds(command: list, repeats: int = 5, **run_options) -> float:
    """Median wall-clock seconds of ``command`` run as a fresh process (start-up included)."""
    return median_seconds(lambda: subprocess.run(command, check=True, capture_output=True, **run_options),
                          repeats)


def rscript(script: str, timeout: float | None = None) -> str:
    """Standard output of an R snippet run after R_PRELUDE (metafor loaded); '' without R."""
    if not HAVE_R:
        return ""
    return subprocess.run(["Rscript", "-e", R_PRELUDE + script], capture_output=True, text=True,
                          timeout=timeout).stdout


def r_seconds(script: str) -> float | None:
    """Seconds printed (last line) by an R snippet that times itself; None without R or output."""
    out = rscript(script).strip().splitlines()
    return float(out[-1]) if out else None


def report(label: str, ours: float, peers: dict) -> None:
    """Print compassmeta's time and each peer's with the ratio peer / compassmeta."""
    print(f"\n{label}")
    print(f"  {'compassmeta':32s} {ours * 1e3:10.3f} ms")
    for name, seconds in peers.items():
        if isinstance(seconds, str):
            print(f"  {name:32s} {seconds}")
        elif seconds is not None:
            print(f"  {name:32s} {seconds * 1e3:10.3f} ms   ratio {seconds / ours:8.1f}x")
