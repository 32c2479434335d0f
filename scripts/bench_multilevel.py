#!/usr/bin/env python3
"""Speed of the CHE model with CR2 inference against its peers, measured in one run.

    python scripts/bench_multilevel.py     # also run by python scripts/bench.py

Model: rma.mv(yi, vcalc(vi, cluster, obs, rho = 0.6), random = ~ 1 | cluster/es) (REML) with
clubSandwich CR2 standard errors and Satterthwaite df (coef_test).
  * k = 100,000 effects in 20,000 clusters: compassmeta's time (target < 2 s) and peak memory
    at k = 50,000 and 100,000 (linear in k: the ratio should be about 2);
  * k = 500 in 100 clusters: compassmeta against metafor rma.mv + clubSandwich (Rscript, timed
    inside R) and pimeta (PyPI; rma_mv + robust(clubSandwich = True)), run from the Python
    given by $PIMETA_PYTHON (default /tmp/i12_peers/bin/python; install pimeta and pymare in a
    separate venv, never in compassmeta's).  PyMARE has no three-level or CHE model (its
    cluster_robust_cov takes a univariate fit with diagonal weights), so it is reported as
    unable to fit this model.
Prints seconds and ratios (peer time / compassmeta time), and the estimates, so that the
programs are seen to fit the same model.
"""
import os
import subprocess
import sys
import tempfile
import tracemalloc

import numpy as np

from benchlib import HAVE_R, R_PRELUDE, best_seconds, r_peers_line
from compassmeta.models.pooling import pool

RHO = 0.6
PIMETA_PYTHON = os.environ.get("PIMETA_PYTHON", "/tmp/i12_peers/bin/python")


def clustered_data(k, n_clusters, seed=3):
    """k effects in n_clusters clusters of random sizes (at least 1), mean 0.4."""
    rng = np.random.default_rng(seed)
    sizes = 1 + rng.multinomial(k - n_clusters, np.full(n_clusters, 1.0 / n_clusters))
    cluster = np.repeat(np.arange(n_clusters), sizes)
    vi = rng.uniform(0.02, 0.2, k)
    yi = 0.4 + rng.normal(0, 0.2, n_clusters)[cluster] + rng.normal(0, np.sqrt(vi + 0.05))
    return yi, vi, cluster


def ours(yi, vi, cluster):
    return pool(yi, vi, cluster=cluster, rho=RHO, ci_method="cr2")


def peak_megabytes(func):
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


R_SCRIPT = """
suppressMessages(library(clubSandwich))
d <- read.csv("%s")
t0 <- proc.time()[["elapsed"]]
V <- vcalc(vi, cluster = cluster, obs = es, rho = %r, data = d)
fit <- rma.mv(yi, V, random = ~ 1 | cluster / es, data = d)
ct <- coef_test(fit, vcov = vcovCR(fit, cluster = d$cluster, type = "CR2"), test = "Satterthwaite")
elapsed <- proc.time()[["elapsed"]] - t0
cat(fit$b[1], ct$SE[1], ct$df_Satt[1], elapsed, "\\n")
"""

PIMETA_SCRIPT = """
import sys, time, numpy as np, pimeta
d = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
yi, vi, cluster, es = d[:, 0], d[:, 1], d[:, 2].astype(int), d[:, 3].astype(int)
t0 = time.perf_counter()
V = pimeta.vcalc(vi, cluster=cluster, obs=es, rho=%r)
fit = pimeta.rma_mv(yi, V=V, data={"yi": yi, "cluster": cluster, "es": es}, random="~ 1 | cluster/es")
rob = pimeta.robust(fit, cluster=cluster, clubSandwich=True)
print(rob["beta"][0], rob["se"][0], rob["dfs"][0], time.perf_counter() - t0)
"""


def peer_run(command):
    """(estimate, se, df, seconds) printed by a peer, or None when it did not run."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=1800).stdout.split()
        return tuple(float(x) for x in out[-4:]) if len(out) >= 4 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def bench_scale():
    yi, vi, cluster = clustered_data(100_000, 20_000)
    ours(yi, vi, cluster)  # warm-up
    elapsed = best_seconds(lambda: ours(yi, vi, cluster))
    print(f"CHE + CR2, k = 100,000 in 20,000 clusters: {elapsed:.2f} s (target < 2 s)")
    half = clustered_data(50_000, 10_000)
    small, large = peak_megabytes(lambda: ours(*half)), peak_megabytes(lambda: ours(yi, vi, cluster))
    print(f"  peak memory: k = 50,000: {small:.0f} MB, k = 100,000: {large:.0f} MB "
          f"(ratio {large / small:.2f}; a k x k matrix would be 80 GB)")


def bench_against_peers():
    yi, vi, cluster = clustered_data(500, 100)
    result = ours(yi, vi, cluster)
    elapsed = best_seconds(lambda: ours(yi, vi, cluster), repeats=20)
    print(f"\nCHE + CR2, k = 500 in 100 clusters: compassmeta {elapsed * 1000:.1f} ms "
          f"(estimate {result.estimate:.6f}, se {result.se:.6f}, df {result.df:.3f})")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "che.csv")
        # 1-based labels: metafor vcalc() returns NA for obs = 0
        np.savetxt(path, np.column_stack([yi, vi, cluster + 1, np.arange(1, yi.size + 1)]), delimiter=",",
                   header="yi,vi,cluster,es", comments="", fmt=["%.17g", "%.17g", "%d", "%d"])
        peers = {}
        if HAVE_R:
            peers["metafor rma.mv + clubSandwich (Rscript)"] = peer_run(
                ["Rscript", "-e", R_PRELUDE + R_SCRIPT % (path, RHO)])
        if os.path.exists(PIMETA_PYTHON):
            peers["pimeta rma_mv + robust(clubSandwich=True)"] = peer_run(
                [PIMETA_PYTHON, "-c", PIMETA_SCRIPT % RHO, path])
    for name, measured in peers.items():
        if measured is None:
            print(f"  {name}: did not run")
            continue
        estimate, se, df, peer_seconds = measured
        print(f"  {name}: {peer_seconds:.2f} s, ratio {peer_seconds / elapsed:,.0f}x "
              f"(estimate {estimate:.6f}, se {se:.6f}, df {df:.3f})")
    print("  PyMARE: no three-level or CHE model (CR2 only for univariate fits), not comparable")


def main():
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}; {r_peers_line()}")
    bench_scale()
    bench_against_peers()


if __name__ == "__main__":
    main()
