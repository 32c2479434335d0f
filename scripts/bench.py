#!/usr/bin/env python3
"""Speed of compassmeta's core fit against its peers, measured in one run.

    python scripts/bench.py            # needs the 'bench' extra (PyMARE); R + metafor optional

Prints seconds per fit and ratios (peer time / compassmeta time) for
  * k = 20, REML and DL: compassmeta.pool (estimate, SE, CI, PI, Q, I^2: what rma() computes;
    the Q-profile tau^2 CI is left out as rma() leaves it to confint()), statsmodels'
    combine_effects (DL), PyMARE, and metafor's rma() timed inside R;
  * k = 1,000,000, REML (and DL): compassmeta, statsmodels, PyMARE; metafor is tried at
    k = 100,000 to show whether it can fit at all;
  * start-up: `compassmeta pool` on a 20-row CSV as a fresh process vs Rscript running rma().
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


def simulate(k, seed=20261121):
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
    yi, vi = simulate(20)
    for method in ("REML", "DL"):
        ours = per_call(lambda: pool(yi, vi, method=method, with_tau2_ci=False))
        peers = {name: per_call(func) for name, func in peers_python(yi, vi, method).items()}
        peers["metafor rma()"] = metafor_seconds_per_fit(yi, vi, method, repeats=300)
        report(f"k = 20, {method}: time per fit", ours, peers)
        full = per_call(lambda: pool(yi, vi, method=method))
        print(f"  (compassmeta with the Q-profile tau^2 CI as well: {full * 1e3:.3f} ms)")


def bench_large():
    yi, vi = simulate(1_000_000)
    for method in ("REML", "DL"):
        ours = per_call(lambda: pool(yi, vi, method=method, with_tau2_ci=False), min_seconds=3)
        peers = {name: per_call(func, min_seconds=3) for name, func in peers_python(yi, vi, method).items()
                 if name.startswith("statsmodels")}
        report(f"k = 1,000,000, {method}: time per fit", ours, peers)
    print("  PyMARE is not run at this k: it builds k x k matrices.")
    if HAVE_R:
        small_yi, small_vi = simulate(100_000)
        result = metafor_seconds_per_fit(small_yi, small_vi, "REML", repeats=1)
        print(f"  metafor rma() at k = 100,000: {result if isinstance(result, str) else f'{result:.2f} s'}")


def bench_startup():
    yi, vi = simulate(20)
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


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, R: {'yes' if HAVE_R else 'not installed'}")
    bench_small()
    bench_large()
    bench_startup()
