#!/usr/bin/env python3
"""Speed of the Bayesian random-effects model: one full fit (tau, mu, theta_new summaries, shrinkage
estimates) on k = 20 against R's bayesmeta() timed inside R in the same run, and one fit on
k = 100,000.

    python scripts/bench_bayes.py

bayesmeta is searched in /opt/rlib-current first (install it from its public source); without R
or bayesmeta only compassmeta's times are printed.
"""
import os
import tempfile

import numpy as np

from benchlib import median_seconds, r_seconds
from compassmeta.models.bayes import bayes_meta


def data(k, seed=20261204):
    """k studies: variances U(0.01, 0.2), effects N(0.4, v + 0.05)."""
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.2, k)
    return rng.normal(0.4, np.sqrt(vi + 0.05)), vi


def bayesmeta_seconds(yi, vi, repeats):
    """Median seconds of bayesmeta(y, sigma, tau.prior = half-normal(0.5)) inside R; None without it."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "d.csv")
        np.savetxt(path, np.column_stack([yi, vi]), delimiter=",", header="yi,vi", comments="")
        return r_seconds(f'suppressMessages(library(bayesmeta)); d <- read.csv("{path}"); '
                         'fit <- function() bayesmeta(d$yi, sqrt(d$vi), '
                         'tau.prior = function(t) dhalfnormal(t, scale = 0.5)); invisible(fit()); '
                         f'times <- sapply(seq_len({repeats}), function(i) {{ '
                         't0 <- proc.time()[["elapsed"]]; fit(); proc.time()[["elapsed"]] - t0 }); '
                         'cat(median(times))')


def main():
    yi, vi = data(20)
    fit = lambda: bayes_meta(yi, vi, "halfnormal:0.5")  # noqa: E731
    fit()
    ours = median_seconds(fit, 10)
    theirs = bayesmeta_seconds(yi, vi, 3)
    print("\nBayesian random-effects model, half-normal(0.5) prior, k = 20: time per full fit")
    print(f"  compassmeta bayes_meta   {ours * 1e3:10.1f} ms")
    if theirs is not None:
        print(f"  bayesmeta()              {theirs * 1e3:10.1f} ms   "
              f"ratio {theirs / ours:6.1f}x (target >= 50x)")
    big_yi, big_vi = data(100_000)
    big = median_seconds(lambda: bayes_meta(big_yi, big_vi, "halfnormal:0.5"), 1)
    print(f"k = 100,000: {big:.2f} s per full fit (target < 2 s)")


if __name__ == "__main__":
    main()
