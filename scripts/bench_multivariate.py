#!/usr/bin/env python3
"""Speed of the bivariate (UN) model against its peers, measured in one run.

    python scripts/bench_multivariate.py

Model: rma.mv(yi, vcalc(vi, trial, type = outcome, rho = 0.5), mods = ~ 0 + outcome,
random = ~ outcome | trial, struct = "UN") (REML): two outcomes per trial, the
compassionate / uncompassionate SCS components of issue 23.
  * k = 1,000 rows in 500 trials: compassmeta against metafor rma.mv (Rscript, timed inside R)
    and pimeta (PyPI; rma_mv), run from the Python given by $PIMETA_PYTHON (default
    /tmp/mv/pimeta-venv/bin/python; install pimeta in a separate venv, never in compassmeta's);
  * k = 100,000 rows in 50,000 trials: compassmeta's time (target < 3 s) and peak memory at
    k = 50,000 and 100,000 (linear in k: the ratio should be about 2).
Prints seconds, ratios (peer time / compassmeta time) and the estimates, so that the programs
are seen to fit the same model.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

from bench_multilevel import peak_megabytes
from benchlib import HAVE_R, R_PRELUDE, r_peers_line
from benchlib import median_seconds as seconds
from compassmeta import multivariate

RHO = 0.5
PIMETA_PYTHON = os.environ.get("PIMETA_PYTHON", "/tmp/mv/pimeta-venv/bin/python")


def bivariate_data(n_trials, seed=5):
    """Two outcomes per trial: true effects 0.5 and -0.3, tau 0.3 and 0.2, correlation 0.6."""
    rng = np.random.default_rng(seed)
    G = np.array([[0.09, 0.036], [0.036, 0.04]])
    u = rng.multivariate_normal([0.5, -0.3], G, n_trials)
    vi = rng.uniform(0.02, 0.2, (n_trials, 2))
    e1 = rng.normal(0, 1, n_trials)
    e2 = RHO * e1 + np.sqrt(1 - RHO ** 2) * rng.normal(0, 1, n_trials)
    yi = u + np.sqrt(vi) * np.column_stack([e1, e2])
    trial = np.repeat(np.arange(n_trials), 2)
    outcome = np.tile(["compassionate", "uncompassionate"], n_trials)
    return yi.ravel(), vi.ravel(), trial, outcome


def ours(yi, vi, trial, outcome):
    return multivariate(yi, vi, cluster=trial, inner=outcome, struct="UN", rho=RHO,
                        moderators={"outcome": outcome}, intercept=False)


R_SCRIPT = R_PRELUDE + """
d <- read.csv("%s")
t0 <- proc.time()[["elapsed"]]
V <- vcalc(vi, cluster = trial, type = outcome, rho = %r, data = d)
fit <- rma.mv(yi, V, mods = ~ outcome - 1, random = ~ outcome | trial, struct = "UN", data = d)
elapsed <- proc.time()[["elapsed"]] - t0
cat(fit$b[1], fit$tau2[1], fit$rho, elapsed, "\\n")
"""

PIMETA_SCRIPT = """
import csv, sys, time, numpy as np, pimeta
rows = list(csv.DictReader(open(sys.argv[1])))
yi = np.array([float(r["yi"]) for r in rows]); vi = np.array([float(r["vi"]) for r in rows])
trial = np.array([int(r["trial"]) for r in rows])
x = np.array([r["outcome"] == "uncompassionate" for r in rows], dtype=float)
t0 = time.perf_counter()
V = pimeta.vcalc(vi, cluster=trial, obs=np.arange(len(rows)), rho=%r)
fit = pimeta.rma_mv(yi, V=V, mods=np.column_stack([1 - x, x]), intercept=False,
                    data={"trial": trial, "x": x}, random="~ x | trial", struct="GEN")
elapsed = time.perf_counter() - t0
print(fit.beta[0], fit.tau2[0], float("nan"), elapsed)
"""
#: pimeta 1.1 has no struct = "UN"; its "GEN" (random = ~ x | trial, x the second outcome's
#: dummy) is the same bivariate model in another parameterisation (tau2[0] is the first
#: outcome's tau^2; its rho is the intercept-slope correlation, not printed).  It forms k x k
#: matrices: at k = 1,000 it is stopped after PIMETA_TIMEOUT seconds and the ratio is a lower bound.
PIMETA_TIMEOUT = 240
PIMETA_SMALL_TRIALS = 50


def peer_run(command, timeout=1800):
    """(estimate, tau2_1, rho, seconds) printed by a peer, or the reason it did not run."""
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return timeout
    except OSError as error:
        return f"did not run ({type(error).__name__})"
    out = run.stdout.split()
    try:
        if len(out) >= 4:
            return tuple(float(x) for x in out[-4:])
    except ValueError:
        pass
    return "did not run: " + (run.stderr.strip().splitlines() or ["no output"])[-1][:200]


def _write(path, yi, vi, trial, outcome):
    with open(path, "w") as handle:
        handle.write("yi,vi,trial,outcome\n")
        for row in zip(yi, vi, trial + 1, outcome):
            handle.write(f"{float(row[0])!r},{float(row[1])!r},{row[2]},{row[3]}\n")


def _report(name, measured, elapsed):
    if isinstance(measured, str):
        print(f"  {name}: {measured}")
    elif isinstance(measured, (int, float)):
        print(f"  {name}: stopped after {measured} s, ratio > {measured / elapsed:,.0f}x")
    else:
        estimate, tau2, rho, peer_seconds = measured
        print(f"  {name}: {peer_seconds:.3f} s, ratio {peer_seconds / elapsed:,.0f}x "
              f"(estimate {estimate:.6f}, tau2_1 {tau2:.6f}" + (f", rho {rho:.6f})" if rho == rho else ")"))


def _ours_timed(n_trials):
    data = bivariate_data(n_trials)
    result = ours(*data)
    elapsed = seconds(lambda: ours(*data), repeats=10)
    print(f"UN bivariate, k = {2 * n_trials:,} in {n_trials} trials: compassmeta {elapsed * 1000:.1f} ms "
          f"(estimate {result.coefficients[0].estimate:.6f}, tau2_1 {result.tau2[0]:.6f}, "
          f"rho {result.rho[0]:.6f})")
    return data, elapsed


def bench_against_peers():
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "bivariate.csv")
        data, elapsed = _ours_timed(500)
        _write(path, *data)
        if HAVE_R:
            _report("metafor rma.mv (Rscript)", peer_run(["Rscript", "-e", R_SCRIPT % (path, RHO)]), elapsed)
        if not os.path.exists(PIMETA_PYTHON):
            print(f"  pimeta: not installed ({PIMETA_PYTHON})")
            return
        pimeta = [PIMETA_PYTHON, "-c", PIMETA_SCRIPT % RHO, path]
        _report("pimeta rma_mv struct GEN", peer_run(pimeta, PIMETA_TIMEOUT), elapsed)
        data, elapsed = _ours_timed(PIMETA_SMALL_TRIALS)
        _write(path, *data)
        _report("pimeta rma_mv struct GEN", peer_run(pimeta, PIMETA_TIMEOUT), elapsed)


def bench_scale():
    data = bivariate_data(50_000)
    ours(*data)  # warm-up
    elapsed = seconds(lambda: ours(*data), repeats=2)
    print(f"\nUN bivariate, k = 100,000 in 50,000 trials: {elapsed:.2f} s (target < 3 s)")
    small, large = peak_megabytes(lambda: ours(*bivariate_data(25_000))), peak_megabytes(lambda: ours(*data))
    print(f"  peak memory: k = 50,000: {small:.0f} MB, k = 100,000: {large:.0f} MB "
          f"(ratio {large / small:.2f}; a k x k matrix would be 80 GB)")


def main():
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}; {r_peers_line()}")
    bench_against_peers()
    bench_scale()


if __name__ == "__main__":
    main()
