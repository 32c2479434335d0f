#!/usr/bin/env python3
"""Speed of compassmeta's core fit against its peers, measured in one run.

    python scripts/bench.py            # needs the 'bench' extra (PyMARE); R + metafor optional

Prints seconds per fit and ratios (peer time / compassmeta time) for
  * k = 20, REML and DL: compassmeta.pool (estimate, SE, CI, PI, Q, I^2: what rma() computes;
    the Q-profile tau^2 CI is left out as rma() leaves it to confint()), statsmodels'
    combine_effects (DL), PyMARE, and metafor's rma() timed inside R;
  * k = 1,000,000, REML (and DL): compassmeta, statsmodels, PyMARE; metafor is tried at
    k = 100,000 to show whether it can fit at all;
  * start-up: `compassmeta pool` on a 20-row CSV as a fresh process vs Rscript running rma();
  * at scale: GOSH k = 20 (1,048,575 DL fits) against metafor's gosh() measured at k = 15 and
    scaled by the number of fits; 10,000 permutations of a REML meta-regression (k = 20) against
    metafor's permutest() measured on 200 permutations; 100,000 simulated REML meta-analyses
    (k = 20) against rma() in a loop measured on 500; and how compassmeta's time grows with k
    and with the number of fits.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from compassmeta import pool

warnings.filterwarnings("ignore")
HAVE_R = shutil.which("Rscript") is not None


def per_call(func, min_seconds=1.0):
    """Median seconds per call over batches lasting at least ``min_seconds`` in total."""
    func()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds / 5:
        func()
        calls += 1
    batch = max(1, calls)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(batch):
            func()
        times.append((time.perf_counter() - t0) / batch)
    return statistics.median(times)


def synthetic_data(k, seed=20261121):
    """Effects and variances of k studies (mean 0.4, tau^2 0.05)."""
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.02, 0.2, k)
    yi = rng.normal(0.4, np.sqrt(vi + 0.05))
    return yi, vi


def peers_python(yi, vi, method):
    """Peer fits as callables: statsmodels (DL only) and PyMARE."""
    peers = {}
    if method == "DL":
        from statsmodels.stats.meta_analysis import combine_effects

        peers["statsmodels combine_effects"] = lambda: combine_effects(yi, vi, method_re="dl")
    try:
        from pymare import estimators
    except ImportError:
        return peers
    X, y, v = np.ones((yi.size, 1)), yi[:, None], vi[:, None]
    if method == "DL":
        peers["PyMARE DerSimonianLaird"] = lambda: estimators.DerSimonianLaird().fit(y=y, v=v, X=X)
    else:
        peers["PyMARE REML"] = lambda: estimators.VarianceBasedLikelihoodEstimator(
            method="REML").fit(y=y, v=v, X=X)
    return peers


def metafor_seconds_per_fit(yi, vi, method, repeats):
    """Time rma() inside R (no process start-up); None without R, the error text on failure."""
    if not HAVE_R:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "d.csv")
        np.savetxt(path, np.column_stack([yi, vi]), delimiter=",", header="yi,vi", comments="")
        script = (f'suppressMessages(library(metafor)); d <- read.csv("{path}"); '
                  f'r <- tryCatch({{ invisible(rma(d$yi, d$vi, method="{method}")); '
                  f't0 <- proc.time()[["elapsed"]]; '
                  f'for (i in seq_len({repeats})) rma(d$yi, d$vi, method="{method}"); '
                  f'cat((proc.time()[["elapsed"]] - t0) / {repeats}) }}, '
                  f'error = function(e) cat("ERROR", conditionMessage(e)))')
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True).stdout.strip()
    return out if out.startswith("ERROR") else float(out)


def report(label, ours, peers):
    print(f"\n{label}")
    print(f"  {'compassmeta':32s} {ours * 1e3:10.3f} ms")
    for name, seconds in peers.items():
        if isinstance(seconds, str):
            print(f"  {name:32s} {seconds}")
        elif seconds is not None:
            print(f"  {name:32s} {seconds * 1e3:10.3f} ms   ratio {seconds / ours:8.1f}x")


def bench_small():
    yi, vi = synthetic_data(20)
    for method in ("REML", "DL"):
        ours = per_call(lambda: pool(yi, vi, method=method, with_tau2_ci=False))
        peers = {name: per_call(func) for name, func in peers_python(yi, vi, method).items()}
        peers["metafor rma()"] = metafor_seconds_per_fit(yi, vi, method, repeats=300)
        report(f"k = 20, {method}: time per fit", ours, peers)
        full = per_call(lambda: pool(yi, vi, method=method))
        print(f"  (compassmeta with the Q-profile tau^2 CI as well: {full * 1e3:.3f} ms)")


def bench_large():
    yi, vi = synthetic_data(1_000_000)
    for method in ("REML", "DL"):
        ours = per_call(lambda: pool(yi, vi, method=method, with_tau2_ci=False), min_seconds=3)
        peers = {name: per_call(func, min_seconds=3) for name, func in peers_python(yi, vi, method).items()
                 if name.startswith("statsmodels")}
        report(f"k = 1,000,000, {method}: time per fit", ours, peers)
    print("  PyMARE is not run at this k: it builds k x k matrices.")
    if HAVE_R:
        small_yi, small_vi = synthetic_data(100_000)
        result = metafor_seconds_per_fit(small_yi, small_vi, "REML", repeats=1)
        print(f"  metafor rma() at k = 100,000: {result if isinstance(result, str) else f'{result:.2f} s'}")


def bench_startup():
    yi, vi = synthetic_data(20)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "d.csv")
        np.savetxt(path, np.column_stack([yi, vi]), delimiter=",", header="yi,vi", comments="")
        command = [shutil.which("compassmeta") or "compassmeta", "pool", path]
        ours = statistics.median(_wall(command) for _ in range(7))
        peers = {}
        if HAVE_R:
            r_command = ["Rscript", "-e", f'suppressMessages(library(metafor)); d <- read.csv("{path}"); '
                                          'print(rma(d$yi, d$vi))']
            peers["Rscript + metafor rma()"] = statistics.median(_wall(r_command) for _ in range(5))
        report("start-up: `compassmeta pool` on a 20-row CSV as a fresh process", ours, peers)


def _wall(command):
    t0 = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - t0


def r_seconds(script):
    """Seconds printed by an R snippet that times itself; None without R."""
    if not HAVE_R:
        return None
    out = subprocess.run(["Rscript", "-e", "suppressMessages(library(metafor)); " + script],
                         capture_output=True, text=True).stdout.strip().splitlines()
    return float(out[-1]) if out else None


def timed(func):
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def bench_scale():
    from compassmeta.analyses.gosh import gosh
    from compassmeta.analyses.permutation import permutation_test
    from compassmeta.analyses.simulate import simulate as simulate_meta_analyses

    yi, vi = synthetic_data(20)
    ours = timed(lambda: gosh(yi, vi, method="DL"))
    data = ", ".join(repr(float(x)) for x in yi[:15]), ", ".join(repr(float(x)) for x in vi[:15])
    metafor_k15 = r_seconds(f"y <- c({data[0]}); v <- c({data[1]}); r <- rma(y, v, method='DL'); "
                            "t0 <- proc.time()[['elapsed']]; g <- gosh(r, progbar=FALSE); "
                            "cat(proc.time()[['elapsed']] - t0)")
    peers = {}
    if metafor_k15 is not None:
        peers["metafor gosh() at k = 15, x 32 fits"] = metafor_k15 * ((2 ** 20 - 1) / (2 ** 15 - 1))
        print(f"\n(metafor gosh() measured at k = 15, 32,767 fits: {metafor_k15:.2f} s)")
    report("GOSH k = 20, DL, all 1,048,575 subsets (time per run)", ours, peers)
    print("  compassmeta GOSH (DL) time by k: " + ", ".join(
        f"k={k}: {timed(lambda: gosh(*synthetic_data(k), method='DL')):.2f} s" for k in (12, 14, 16, 18)))

    moderator = np.random.default_rng(5).normal(size=20)
    ours = timed(lambda: permutation_test(yi, vi, {"x": list(moderator)}, permutations=10_000, seed=1))
    mod = ", ".join(repr(float(x)) for x in moderator)
    all_y, all_v = ", ".join(repr(float(x)) for x in yi), ", ".join(repr(float(x)) for x in vi)
    metafor_200 = r_seconds(f"y <- c({all_y}); v <- c({all_v}); x <- c({mod}); r <- rma(y, v, mods=~x); "
                            "t0 <- proc.time()[['elapsed']]; p <- permutest(r, iter=200, progbar=FALSE); "
                            "cat(proc.time()[['elapsed']] - t0)")
    report("10,000 permutations, REML meta-regression, k = 20 (time per run)", ours,
           {} if metafor_200 is None else {"metafor permutest(), 200 x 50": metafor_200 * 50})

    ours = timed(lambda: simulate_meta_analyses(20, 0.05, 0.4, 100_000, seed=1, methods=("REML",), ci_methods=("z",)))
    metafor_500 = r_seconds(f"y <- c({all_y}); v <- c({all_v}); t0 <- proc.time()[['elapsed']]; "
                            "for (i in 1:500) rma(y + rnorm(20, 0, 0.2), v); cat(proc.time()[['elapsed']] - t0)")
    report("100,000 simulated REML meta-analyses, k = 20 (time per run)", ours,
           {} if metafor_500 is None else {"metafor rma() loop, 500 x 200": metafor_500 * 200})
    print("  compassmeta simulation time by reps: " + ", ".join(
        f"{reps:,}: {timed(lambda: simulate_meta_analyses(20, 0.05, 0.4, reps, seed=2, methods=('REML',), ci_methods=('z',))):.2f} s"
        for reps in (10_000, 30_000, 300_000)))


def bench_report():
    """The living-evidence report of the curated table (build and render, figures included):
    issue 15's budget is 10 s; no peer writes one."""
    from compassmeta.report.html import build_report, render_html

    table = os.path.join(os.path.dirname(__file__), os.pardir, "studies", "trials.csv")
    seconds = statistics.median(timed(lambda: render_html(build_report([table]))) for _ in range(3))
    print(f"\nHTML report of studies/trials.csv: {seconds:.2f} s (median of 3; budget 10 s)")


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, R: {'yes' if HAVE_R else 'not installed'}")
    __import__("bench_multilevel").main()  # scripts/bench_multilevel.py: CHE + CR2
    bench_small()
    bench_large()
    bench_startup()
    bench_scale()
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "bench_grid.py")], check=True)
    __import__("bench_selection").main()  # 3PSM against metafor selmodel()
    bench_report()
