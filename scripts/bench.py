#!/usr/bin/env python3
"""Speed of compassmeta's core fit against its peers, measured in one run.

    python scripts/bench.py            # needs the 'bench' extra (PyMARE); R + metafor optional

Prints seconds per fit and ratios (peer time / compassmeta time) for
  * k = 20, REML and DL: compassmeta.pool (estimate, SE, CI, PI, Q, I^2: what rma() computes;
    the Q-profile tau^2 CI is left out as rma() leaves it to confint()), statsmodels'
    combine_effects (DL), PyMARE, and metafor's rma() timed inside R;
  * k = 1,000,000, REML (and DL): compassmeta, statsmodels, PyMARE; metafor is tried at
    k = 100,000 to show whether it can fit at all;
  * latency: each command (--version, --help, pool, subgroup, metareg, validate, bias, selmodel,
    report) as a fresh process, median of 5, against Rscript printing a metafor rma(), with the
    budgets of issue 20 (`python scripts/bench.py --latency` runs this part alone);
  * at scale: GOSH k = 20 (1,048,575 DL fits) against metafor's gosh() measured at k = 15 and
    scaled by the number of fits; 10,000 permutations of a REML meta-regression (k = 20) against
    metafor's permutest() measured on 200 permutations; 100,000 simulated REML meta-analyses
    (k = 20) against rma() in a loop measured on 500; and how compassmeta's time grows with k
    and with the number of fits.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import warnings

import numpy as np

import bench_multilevel
import bench_selection
from benchlib import (
    HAVE_R,
    R_PRELUDE,
    median_seconds,
    per_call,
    process_seconds,
    r_peers_line,
    r_seconds,
    report,
    rscript,
    timed,
)
from compassmeta import pool

warnings.filterwarnings("ignore")


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
        out = rscript(f'd <- read.csv("{path}"); '
                      f'r <- tryCatch({{ invisible(rma(d$yi, d$vi, method="{method}")); '
                      f't0 <- proc.time()[["elapsed"]]; '
                      f'for (i in seq_len({repeats})) rma(d$yi, d$vi, method="{method}"); '
                      f'cat((proc.time()[["elapsed"]] - t0) / {repeats}) }}, '
                      f'error = function(e) cat("ERROR", conditionMessage(e)))').strip()
    return out if out.startswith("ERROR") else float(out)


def bench_small():
    yi, vi = synthetic_data(20)
    for method in ("REML", "DL"):
        ours = per_call(lambda method=method: pool(yi, vi, method=method, with_tau2_ci=False))
        peers = {name: per_call(func) for name, func in peers_python(yi, vi, method).items()}
        peers["metafor rma()"] = metafor_seconds_per_fit(yi, vi, method, repeats=300)
        report(f"k = 20, {method}: time per fit", ours, peers)
        full = per_call(lambda method=method: pool(yi, vi, method=method))
        print(f"  (compassmeta with the Q-profile tau^2 CI as well: {full * 1e3:.3f} ms)")


def bench_large():
    yi, vi = synthetic_data(1_000_000)
    for method in ("REML", "DL"):
        ours = per_call(lambda method=method: pool(yi, vi, method=method, with_tau2_ci=False), min_seconds=3)
        peers = {name: per_call(func, min_seconds=3) for name, func in peers_python(yi, vi, method).items()
                 if name.startswith("statsmodels")}
        report(f"k = 1,000,000, {method}: time per fit", ours, peers)
    print("  PyMARE is not run at this k: it builds k x k matrices.")
    if HAVE_R:
        small_yi, small_vi = synthetic_data(100_000)
        result = metafor_seconds_per_fit(small_yi, small_vi, "REML", repeats=1)
        print(f"  metafor rma() at k = 100,000: {result if isinstance(result, str) else f'{result:.2f} s'}")


PROJECT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
THIRDWAVE = os.path.join("studies", "thirdwave.csv")
# (label, arguments, budget as a multiple of Rscript printing a metafor rma())
LATENCY = [("--version", ["--version"], 0.15),
           ("--help", ["--help"], 0.15),
           ("pool", ["pool", THIRDWAVE], 0.35),
           ("subgroup", ["subgroup", THIRDWAVE, "--by", "risk_of_bias"], 0.35),
           ("metareg", ["metareg", THIRDWAVE, "--mods", "risk_of_bias"], 0.35),
           ("validate", ["validate"], 0.35),
           ("bias", ["bias", THIRDWAVE], 0.35),
           ("selmodel", ["selmodel", THIRDWAVE, "--steps", "0.025"], 0.35),
           ("report (shipped tables)", ["report", "-o", "{folder}/report.html"], 1.0)]


def bench_latency(repeats=5):
    """Each command as a fresh process on the shipped tables against `Rscript -e 'library(metafor);
    print(rma(...))'` on ThirdWave, in ``repeats`` rounds that run R and every command once each (so
    that a busy machine slows both alike); medians."""
    if not HAVE_R:
        print("\nlatency: needs Rscript for the reference; skipped")
        return
    r_command = ["Rscript", "-e", R_PRELUDE + f'd <- read.csv("{THIRDWAVE}"); print(rma(d$g, sei = d$se))']
    with tempfile.TemporaryDirectory() as folder:
        ours = [[sys.executable, "-m", "compassmeta"] + [a.format(folder=folder) for a in arguments]
                for _, arguments, _ in LATENCY]
        commands = [r_command] + ours
        times = [[process_seconds(command, 1, cwd=PROJECT) for command in commands] for _ in range(repeats)]
    reference, *ours = [statistics.median(column) for column in zip(*times)]
    print(f"\nLatency, fresh process, median of {repeats} rounds (ratio = command / Rscript, budget)")
    print(f"  {'Rscript + metafor print(rma())':34s} {reference:6.2f} s")
    for (label, _, budget), seconds in zip(LATENCY, ours):
        verdict = "ok" if seconds <= budget * reference else "OVER"
        print(f"  compassmeta {label:22s} {seconds:6.2f} s   ratio {seconds / reference:5.2f} "
              f"(<= {budget:.2f}) {verdict}")


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
        f"k={k}: {timed(lambda k=k: gosh(*synthetic_data(k), method='DL')):.2f} s" for k in (12, 14, 16, 18)))

    moderator = np.random.default_rng(5).normal(size=20)
    ours = timed(lambda: permutation_test(yi, vi, {"x": list(moderator)}, permutations=10_000, seed=1))
    mod = ", ".join(repr(float(x)) for x in moderator)
    all_y, all_v = ", ".join(repr(float(x)) for x in yi), ", ".join(repr(float(x)) for x in vi)
    metafor_200 = r_seconds(f"y <- c({all_y}); v <- c({all_v}); x <- c({mod}); r <- rma(y, v, mods=~x); "
                            "t0 <- proc.time()[['elapsed']]; p <- permutest(r, iter=200, progbar=FALSE); "
                            "cat(proc.time()[['elapsed']] - t0)")
    report("10,000 permutations, REML meta-regression, k = 20 (time per run)", ours,
           {} if metafor_200 is None else {"metafor permutest(), 200 x 50": metafor_200 * 50})

    def simulation(reps, seed):
        return simulate_meta_analyses(20, 0.05, 0.4, reps, seed=seed, methods=("REML",), ci_methods=("z",))

    ours = timed(lambda: simulation(100_000, 1))
    metafor_500 = r_seconds(f"y <- c({all_y}); v <- c({all_v}); t0 <- proc.time()[['elapsed']]; "
                            "for (i in 1:500) rma(y + rnorm(20, 0, 0.2), v); "
                            "cat(proc.time()[['elapsed']] - t0)")
    report("100,000 simulated REML meta-analyses, k = 20 (time per run)", ours,
           {} if metafor_500 is None else {"metafor rma() loop, 500 x 200": metafor_500 * 200})
    print("  compassmeta simulation time by reps: " + ", ".join(
        f"{reps:,}: {timed(lambda reps=reps: simulation(reps, 2)):.2f} s"
        for reps in (10_000, 30_000, 300_000)))


def bench_report():
    """The living-evidence report of the curated table (build and render, figures included):
    issue 15's budget is 10 s; no peer writes one."""
    from compassmeta.report.html import build_report, render_html

    table = os.path.join(os.path.dirname(__file__), os.pardir, "studies", "trials.csv")
    seconds = median_seconds(lambda: render_html(build_report([table])), 3)
    print(f"\nHTML report of studies/trials.csv: {seconds:.2f} s (median of 3; budget 10 s)")


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}; {r_peers_line()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    if sys.argv[1:] == ["--latency"]:  # only the fresh-process latency table (README)
        bench_latency()
        sys.exit()
    bench_multilevel.main()  # CHE + CR2
    bench_small()
    bench_large()
    bench_latency()
    bench_scale()
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "bench_grid.py")], check=True)
    bench_selection.main()  # 3PSM against metafor selmodel()
    bench_report()
